"""Model selection: the (K, structure) grid from one compiled program and the criteria table."""

from .table import CRITERIA, Selection, select

__all__ = ["CRITERIA", "Selection", "select"]
