"""Fitting by EM: the `fit_em` driver, initialisations, K-means, restarts, the landscape."""

from .driver import (
    DEFAULT_BLOCK_SIZE,
    ConvergenceWarning,
    EmptyComponentWarning,
    SingularCovarianceError,
    em_parameter_path,
    fit_em,
    initial_parameters,
)
from .kmeans import KMeansResult, fit_kmeans
from .labels import align_labels, matching_cost, permute
from .landscape import Landscape, Optimum, group_optima, likelihood_landscape

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "ConvergenceWarning",
    "EmptyComponentWarning",
    "KMeansResult",
    "Landscape",
    "Optimum",
    "SingularCovarianceError",
    "align_labels",
    "em_parameter_path",
    "fit_em",
    "fit_kmeans",
    "group_optima",
    "initial_parameters",
    "likelihood_landscape",
    "matching_cost",
    "permute",
]
