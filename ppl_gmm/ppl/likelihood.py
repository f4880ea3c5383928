"""What the probabilistic program says: likelihoods computed from `gmm_model` by enumeration.

Nothing here re-types the mixture density. Each number is the model's log density
with the discrete ``z`` summed out by funsor (``numpyro.contrib.funsor.log_density``
under the ``enum`` handler); ``numpyro.infer.util.log_likelihood`` would not sum out
enumerated sites.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from numpyro.contrib.funsor import enum
from numpyro.contrib.funsor import log_density as enumerated_log_density

from .._validation import check_data, check_params
from .model import gmm_model, params_to_sites, resolve_prior

# Plates nest at most once ("obs"), so enumeration dimensions start at -2.
_FIRST_ENUM_DIM = -2


def model_log_density(sites, X, n_components, covariance_type="full", prior=None):
    """log p(X, sites) of `gmm_model` with z summed out (traceable, not jitted).

    Parameters
    ----------
    sites : dict
        Values of the model's parameter sites (see :func:`ppl_gmm.model.params_to_sites`).
    X : array, shape (n, d)
    n_components : int
    covariance_type : str
    prior : ResolvedPrior or None
        None gives the log-likelihood; a prior gives the log joint.
    """
    model = enum(gmm_model, first_available_dim=_FIRST_ENUM_DIM)
    kwargs = {"n_components": n_components, "covariance_type": covariance_type, "prior": prior}
    value, _ = enumerated_log_density(model, (X,), kwargs, sites)
    return value


@functools.partial(jax.jit, static_argnames=("n_components", "covariance_type"))
def _log_density_jit(sites, X, prior, n_components, covariance_type):
    return model_log_density(sites, X, n_components, covariance_type, prior)


@functools.partial(jax.jit, static_argnames=("n_components",))
def _pointwise_jit(sites, X, n_components):
    def one_row(x):
        return model_log_density(sites, x[None, :], n_components)

    return jax.vmap(one_row)(X)


def marginal_log_likelihood(params, X) -> float:
    """log p(X | params) = sum_i log sum_k pi_k N(x_i | mu_k, Sigma_k), from the model.

    Parameters
    ----------
    params : GMMParams
    X : array-like, shape (n, d)

    Returns
    -------
    float
    """
    X = check_data(X)
    params = check_params(params, n_features=X.shape[1])
    sites = params_to_sites(params)
    return float(_log_density_jit(sites, jnp.asarray(X), None, params.n_components, "full"))


def pointwise_log_likelihood(params, X):
    """log p(x_i | params) for each observation, shape (n,), from the model.

    Each row is the enumerated log density of the model run on that row alone
    (vectorised with ``jax.vmap``); these are the terms LOO and WAIC need.
    """
    X = check_data(X)
    params = check_params(params, n_features=X.shape[1])
    sites = params_to_sites(params)
    return jax.device_get(_pointwise_jit(sites, jnp.asarray(X), params.n_components))


def log_joint(params, X, prior, covariance_type: str = "full") -> float:
    """log p(X, params) = log p(X | params) + log p(params), from the model.

    Parameters
    ----------
    params : GMMParams
    X : array-like, shape (n, d)
    prior : Prior, ResolvedPrior or None
        A :class:`ppl_gmm.Prior` is resolved against X (its data-dependent defaults).
        None gives the log-likelihood.
    covariance_type : str
        Which structure's covariance prior applies (the prior is on that structure's
        free parameters, see :class:`ppl_gmm.Prior`).
    """
    X = check_data(X)
    params = check_params(params, n_features=X.shape[1])
    resolved = resolve_prior(prior, X, params.n_components)
    sites = params_to_sites(params, covariance_type)
    return float(
        _log_density_jit(sites, jnp.asarray(X), resolved, params.n_components, covariance_type)
    )
