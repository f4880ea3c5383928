"""Model selection: the (K, structure) grid from one compiled program, the criteria table,
and mclust's sequential bootstrap likelihood-ratio test for the number of components."""

from .bootstrap import BootstrapLRT, bootstrap_lrt
from .table import CRITERIA, MCLUST_CRITERIA, Selection, select

__all__ = ["CRITERIA", "MCLUST_CRITERIA", "BootstrapLRT", "Selection", "bootstrap_lrt", "select"]
