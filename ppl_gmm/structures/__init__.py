"""Covariance structures: one registry entry per model of Sigma_k (:mod:`.registry`)."""

from .registry import COVARIANCE_TYPES, CovarianceStructure, get_structure, n_parameters

__all__ = ["COVARIANCE_TYPES", "CovarianceStructure", "get_structure", "n_parameters"]
