"""The probabilistic program: `gmm_model`, its likelihoods by enumeration, sampling, and
the cross-check of EM against it."""

from .crosscheck import CrossCheck, cross_check, ppl_gradient
from .likelihood import log_joint, marginal_log_likelihood, pointwise_log_likelihood
from .model import gmm_model, log_prior_density
from .sampling import sample, sample_prior_predictive

__all__ = [
    "CrossCheck",
    "cross_check",
    "gmm_model",
    "log_joint",
    "log_prior_density",
    "marginal_log_likelihood",
    "pointwise_log_likelihood",
    "ppl_gradient",
    "sample",
    "sample_prior_predictive",
]
