"""Covariance structures: one registry entry per model of Sigma_k (:mod:`.registry`);
mclust's eigen-decomposed models' M-steps (:mod:`.parsimonious`) and the supports of
their free parameters (:mod:`.manifolds`)."""

from .parsimonious import Decomposition
from .registry import (
    COVARIANCE_TYPES,
    MCLUST_MODELS,
    CovarianceStructure,
    get_structure,
    n_parameters,
)

__all__ = ["COVARIANCE_TYPES", "MCLUST_MODELS", "CovarianceStructure", "Decomposition",
           "get_structure", "n_parameters"]
