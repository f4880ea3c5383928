"""What the probabilistic program says: `gmm_model` run at given parameter values.

This module is the one place that runs the model with values fixed ("substitute, then
trace or evaluate"); everything else in the package that needs the model's numbers goes
through these functions:

- :func:`run_model`: the trace of `gmm_model` with its parameter sites fixed (ancestral
  sampling, reading off each site's support);
- :func:`model_log_density`: log p(X, sites), with the discrete ``z`` summed out by funsor
  (``numpyro.contrib.funsor.log_density`` under the ``enum`` handler), or with z fixed
  to given assignments; ``numpyro.infer.util.log_likelihood`` would not sum out
  enumerated sites;
- :func:`discrete_assignments`: z maximised or drawn from p(z | X, sites) by
  ``infer_discrete`` on the model.

Nothing here re-types the mixture density. The public likelihoods
(:func:`marginal_log_likelihood`, :func:`pointwise_log_likelihood`, :func:`log_joint`)
are these functions, compiled, on :class:`ppl_gmm.GMMParams`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from numpyro import handlers
from numpyro.contrib.funsor import enum, infer_discrete
from numpyro.contrib.funsor import log_density as enumerated_log_density
from numpyro.infer.util import log_density

from .._validation import check_data, check_params
from ..prior import resolve_prior
from .model import gmm_model, params_to_sites

__all__ = [
    "FIRST_ENUM_DIM",
    "MAX_PLATE_NESTING",
    "discrete_assignments",
    "log_joint",
    "marginal_log_likelihood",
    "model_log_density",
    "pointwise_log_likelihood",
    "run_model",
]

#: Plates of `gmm_model` nest at most once ("obs"; "component" is never around z).
MAX_PLATE_NESTING = 1
#: The first tensor dimension (from the right) free for enumerating z: left of the plates.
FIRST_ENUM_DIM = -1 - MAX_PLATE_NESTING


def _model_kwargs(n_components, covariance_type, prior, n_features=None, n_obs=None,
                  weight_prior="dirichlet_distribution"):
    kwargs = {"n_components": n_components, "covariance_type": covariance_type, "prior": prior,
              "weight_prior": weight_prior}
    if n_features is not None or n_obs is not None:
        kwargs.update(n_features=n_features, n_obs=n_obs)
    return kwargs


def _fixed(sites, assignments=None):
    """`gmm_model` with its parameter sites fixed to `sites`, and z to `assignments` if given."""
    model = handlers.substitute(gmm_model, data=sites)
    if assignments is not None:
        model = handlers.condition(model, data={"z": assignments})
    return model


def run_model(sites, X=None, *, n_components: int, covariance_type: str = "full", prior=None,
              n_features: int | None = None, n_obs: int | None = None, key=None):
    """Run `gmm_model` with its parameter sites fixed to `sites`; return its trace.

    Parameters
    ----------
    sites : dict
        Values of (some of) the model's parameter sites (see
        :func:`ppl_gmm.ppl.model.params_to_sites`); sites left out are drawn from the
        prior (which needs `key` and a prior).
    X : array (n, d), optional
        Observations; None to draw them (then give `n_features` and `n_obs`).
    n_components : int
    covariance_type : str
    prior : ResolvedPrior or None
    n_features, n_obs : int, optional
        d and n when X is None.
    key : jax.random key, optional
        Seeds the sample sites that are neither fixed nor observed (z, x when X is None,
        parameters missing from `sites`).

    Returns
    -------
    collections.OrderedDict
        NumPyro's trace: site name -> site (``"value"``, ``"fn"``, ``"type"``, ...).
    """
    model = _fixed(sites)
    if key is not None:
        model = handlers.seed(model, key)
    kwargs = _model_kwargs(n_components, covariance_type, prior, n_features, n_obs)
    return handlers.trace(model).get_trace(X, **kwargs)


def model_log_density(sites, X, n_components, covariance_type="full", prior=None,
                      assignments=None, weight_prior="dirichlet_distribution"):
    """log p(X, sites) of `gmm_model`, z summed out or fixed (traceable, not jitted).

    Parameters
    ----------
    sites : dict
        Values of the model's parameter sites (see :func:`ppl_gmm.ppl.model.params_to_sites`).
    X : array, shape (n, d)
    n_components : int
    covariance_type : str
    prior : ResolvedPrior or None
        None gives the log-likelihood; a prior gives the log joint.
    assignments : int array (n,), optional
        None: z is enumerated and summed out, log p(X, sites). Given: z is conditioned on
        them, log p(X, z, sites) (the classification log-likelihood / log joint).
    weight_prior : {"dirichlet_distribution", "dirichlet_process"}
        `gmm_model`'s: with stick-breaking weights the sites hold ``sticks``, not
        ``weights``.
    """
    kwargs = _model_kwargs(n_components, covariance_type, prior, weight_prior=weight_prior)
    if assignments is None:
        model = enum(_fixed(sites), first_available_dim=FIRST_ENUM_DIM)
        value, _ = enumerated_log_density(model, (X,), kwargs, {})
    else:
        value, _ = log_density(_fixed(sites, assignments), (X,), kwargs, {})
    return value


def discrete_assignments(sites, X, n_components, covariance_type="full", prior=None, *,
                         temperature: int = 0, key=None):
    """z from p(z | X, sites) by ``infer_discrete`` on `gmm_model` (traceable).

    Parameters
    ----------
    sites, X, n_components, covariance_type, prior
        As in :func:`model_log_density`.
    temperature : {0, 1}
        0: the MAP assignments argmax_z p(z | X, sites); 1: a draw from p(z | X, sites).
    key : jax.random key
        Needed at temperature 1.

    Returns
    -------
    int array (n,)
    """
    model = infer_discrete(_fixed(sites), first_available_dim=FIRST_ENUM_DIM,
                           temperature=temperature, rng_key=key)
    kwargs = _model_kwargs(n_components, covariance_type, prior)
    return handlers.trace(model).get_trace(X, **kwargs)["z"]["value"]


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
    resolved = resolve_prior(prior, X, params.n_components, covariance_type=covariance_type)
    sites = params_to_sites(params, covariance_type)
    return float(
        _log_density_jit(sites, jnp.asarray(X), resolved, params.n_components, covariance_type)
    )
