"""ArviZ InferenceData from NUTS runs on `gmm_model`, with the marginal pointwise
log-likelihood.

Why the log_likelihood group is computed here
---------------------------------------------
LOO and WAIC need log p(x_i | theta_s) for every draw s and observation i, with the
assignment z_i summed out. ``numpyro.infer.util.log_likelihood`` (what
``arviz.from_numpyro`` calls) does not sum out enumerated sites: it would sample z
or fail. :func:`pointwise_log_likelihood_draws` evaluates the model's own enumerated
density (:func:`ppl_gmm.ppl.likelihood.model_log_density`), row by row (``jax.vmap``)
and draw by draw (``lax.map`` in whole batches, see :mod:`ppl_gmm.bayes.draws`): the
same numbers as :func:`ppl_gmm.pointwise_log_likelihood`.

ArviZ version
-------------
ArviZ is pinned to ``>=0.21,<0.24`` (tested with 0.23.4) on purpose: ArviZ 1.x needs
Python >= 3.12 and replaced ``InferenceData`` by xarray's ``DataTree`` with a new
API (arviz-base / arviz-stats / arviz-plots), while this package supports Python
3.11 and 3.12. Moving to 1.x is a separate, deliberate step.
"""

from __future__ import annotations

import functools

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from ..params import GMMParams
from ..ppl.likelihood import model_log_density
from ..ppl.model import params_to_sites
from ..structures.registry import get_structure
from .draws import padded_batches, posterior_draws

__all__ = [
    "feature_names_for",
    "model_dims",
    "pointwise_log_likelihood_draws",
    "to_inference_data",
]


# ----------------------------------------------------------------------------------------
# Pointwise marginal log-likelihood over draws
# ----------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("n_components", "batch_size"))
def _pointwise_by_draw(weights, means, covariances, X, n_components, batch_size):
    """log p(x_i | theta_s), shape (S, n): the model's enumerated density on each row alone."""

    def one_draw(draw):
        sites = params_to_sites(GMMParams(*draw), "full")
        return jax.vmap(lambda x: model_log_density(sites, x[None, :], n_components))(X)

    return jax.lax.map(one_draw, (weights, means, covariances), batch_size=batch_size)


def pointwise_log_likelihood_draws(weights, means, covariances, X) -> np.ndarray:
    """log p(x_i | theta) at many parameter values at once, from the model.

    Parameters
    ----------
    weights : array (..., K)
    means : array (..., K, d)
    covariances : array (..., K, d, d)
        Leading axes (e.g. chain, draw) are shared by the three.
    X : array (n, d)

    Returns
    -------
    ndarray (..., n)
        For every draw, what :func:`ppl_gmm.pointwise_log_likelihood` gives.
    """
    weights, means, covariances = (np.asarray(a, np.float64)
                                   for a in (weights, means, covariances))
    lead = weights.shape[:-1]
    k, d = means.shape[-2:]
    flat = (weights.reshape(-1, k), means.reshape(-1, k, d), covariances.reshape(-1, k, d, d))
    (w, m, c), batch, count = padded_batches(flat)
    out = _pointwise_by_draw(jnp.asarray(w), jnp.asarray(m), jnp.asarray(c),
                             jnp.asarray(X, jnp.float64), k, batch)
    return np.asarray(out)[:count].reshape(*lead, -1)


# ----------------------------------------------------------------------------------------
# Conversion
# ----------------------------------------------------------------------------------------


def model_dims(covariance_type: str) -> dict:
    """ArviZ dims of every variable of `gmm_model` (plate names become dimensions).

    The covariance site's dims are its structure's (``site_dims`` in the registry).
    """
    structure = get_structure(covariance_type)
    return {
        "weights": ["component"],
        "means": ["component", "feature"],
        "covariances": ["component", "feature", "feature_bis"],
        "x": ["obs", "feature"],
        structure.site: list(structure.site_dims),
    }


def feature_names_for(feature_names, d: int) -> list:
    """Coordinates of the "feature" dimension: the given names, or x0, x1, ..."""
    if feature_names is None:
        return [f"x{j}" for j in range(d)]
    names = [str(f) for f in feature_names]
    if len(names) != d or len(set(names)) != d:
        raise ValueError(f"feature_names must be {d} distinct names, got {feature_names!r}.")
    return names


def to_inference_data(mcmc, X, *, n_components: int, covariance_type: str = "full",
                      reference: GMMParams | None = None, posterior_predictive=None,
                      feature_names=None, attrs: dict | None = None) -> az.InferenceData:
    """InferenceData from a finished NumPyro MCMC run on `gmm_model`.

    Parameters
    ----------
    mcmc : numpyro.infer.MCMC
        Run on `gmm_model` with data X (extra fields become ``sample_stats``).
    X : array (n, d)
    n_components : int
    covariance_type : str
    reference : GMMParams, optional
        The MAP solution; stored in ``constant_data`` as ``map_weights``, ``map_means``,
        ``map_covariances`` (the default relabelling reference).
    posterior_predictive : array (chain, draw, n, d), optional
        Replicated data.
    feature_names : sequence of str, optional
    attrs : dict, optional
        Added to ``posterior.attrs``.

    Returns
    -------
    arviz.InferenceData
        ``posterior``, ``sample_stats`` and ``observed_data`` by ``arviz.from_numpyro``
        (dims ``component``, ``feature``, ``feature_bis``, ``obs``); ``log_likelihood``
        with the pointwise *marginal* log-likelihood ``x`` (chain, draw, obs);
        ``posterior_predictive`` and ``constant_data`` when given.
    """
    n, d = X.shape
    names = feature_names_for(feature_names, d)
    coords = {"component": np.arange(n_components), "feature": names, "feature_bis": names,
              "obs": np.arange(n)}
    dims = model_dims(covariance_type)
    # log_likelihood=False: ArviZ would call numpyro.infer.log_likelihood, which does not
    # sum out the enumerated z; the group is computed from the model below.
    idata = az.from_numpyro(mcmc, log_likelihood=False, coords=coords, dims=dims)
    post = idata.posterior
    log_lik = pointwise_log_likelihood_draws(*posterior_draws(post), X)
    library = {"library": numpyro}
    groups = {"log_likelihood": az.dict_to_dataset({"x": log_lik}, coords=coords,
                                                   dims={"x": ["obs"]}, **library)}
    if posterior_predictive is not None:
        groups["posterior_predictive"] = az.dict_to_dataset(
            {"x": np.asarray(posterior_predictive)}, coords=coords,
            dims={"x": ["obs", "feature"]}, **library)
    if reference is not None:
        groups["constant_data"] = az.dict_to_dataset(
            {"map_weights": np.asarray(reference.weights),
             "map_means": np.asarray(reference.means),
             "map_covariances": np.asarray(reference.covariances)},
            coords=coords, default_dims=[], **library,
            dims={"map_weights": ["component"], "map_means": ["component", "feature"],
                  "map_covariances": ["component", "feature", "feature_bis"]})
    idata.add_groups(groups)
    idata.posterior.attrs.update({"n_components": n_components,
                                  "covariance_type": covariance_type, "relabelled": 0,
                                  **(attrs or {})})
    return idata
