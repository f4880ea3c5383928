"""The probabilistic program: `gmm_model`, its likelihoods by enumeration, sampling, and
the cross-checks of EM and variational Bayes against it."""

from .crosscheck import CrossCheck, cross_check, ppl_gradient
from .likelihood import log_joint, marginal_log_likelihood, pointwise_log_likelihood
from .model import gmm_model, log_prior_density
from .sampling import sample, sample_prior_predictive
from .variational_check import (
    ElboTerms,
    VariationalCrossCheck,
    elbo_terms,
    monte_carlo_elbo,
    variational_cross_check,
    variational_guide,
)

__all__ = [
    "CrossCheck",
    "ElboTerms",
    "VariationalCrossCheck",
    "cross_check",
    "elbo_terms",
    "gmm_model",
    "log_joint",
    "log_prior_density",
    "marginal_log_likelihood",
    "monte_carlo_elbo",
    "pointwise_log_likelihood",
    "ppl_gradient",
    "sample",
    "sample_prior_predictive",
    "variational_cross_check",
    "variational_guide",
]
