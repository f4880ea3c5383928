"""Ancestral sampling through `gmm_model` itself: from fitted parameters or from the prior."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_n_components, check_params, check_positive_int
from ..params import GMMParams
from ..prior import Prior, resolve_prior
from ..structures.registry import get_structure, pooled_structures
from .likelihood import run_model
from .model import params_to_sites

#: The fewest draws compiled for (any n up to it shares one program); more are padded to
#: the next power of two.
MIN_DRAWS = 1024


@functools.partial(jax.jit, static_argnames=("n_samples", "n_components", "n_features",
                                             "covariance_type"))
def _draw_compiled(key, sites, prior, *, n_samples, n_components, n_features,
                   covariance_type):
    trace = run_model(sites, None, n_components=n_components, covariance_type=covariance_type,
                      prior=prior, n_features=n_features, n_obs=n_samples, key=key)
    return {name: site["value"] for name, site in trace.items() if "value" in site}


def _draw(key, sites, n_samples, n_components, n_features, covariance_type, prior):
    """Every site's value after running the model forward with `sites` fixed.

    One compiled program per power of two of draws: the model draws the padded number of
    rows and the first `n_samples` are kept. With JAX's partitionable random keys (the
    default) the first n rows of the padded draw are exactly the n-row draw, so padding
    changes nothing but the compile count (a new n does not recompile).
    """
    padded = max(MIN_DRAWS, 1 << (n_samples - 1).bit_length())
    values = jax.device_get(_draw_compiled(
        key, sites, prior, n_samples=padded, n_components=n_components,
        n_features=n_features, covariance_type=covariance_type))
    return {name: (value[:n_samples] if name in ("x", "z") else value)
            for name, value in values.items()}


def sample(params, n_samples: int, seed: int = 0):
    """Draw ``z_i ~ Categorical(pi)``, ``x_i ~ N(mu_{z_i}, Sigma_{z_i})`` by running the model.

    Parameters
    ----------
    params : GMMParams
    n_samples : int
    seed : int

    Returns
    -------
    X : ndarray, shape (n_samples, d)
    z : ndarray, shape (n_samples,)
    """
    params = check_params(params)
    n_samples = check_positive_int(n_samples, "n_samples")
    values = _draw(jax.random.key(seed), params_to_sites(params), n_samples,
                        params.n_components, params.n_features, "full", None)
    return np.asarray(values["x"]), np.asarray(values["z"])


def sample_prior_predictive(n_samples: int, n_components: int, n_features: int = 2, *,
                            prior=None, covariance_type: str = "full", seed: int = 0):
    """Draw parameters from the prior, then data from them, all by running `gmm_model`.

    Parameters
    ----------
    n_samples, n_components, n_features : int
    prior : Prior or ResolvedPrior, optional
        Defaults to ``Prior(mean=0, scale=I)`` resolved for K and d: with kappa = 0.01
        the means spread about 10 times wider than the components, so clusters are
        usually well separated.
    covariance_type : str
    seed : int

    Returns
    -------
    X : ndarray (n, d), z : ndarray (n,), params : GMMParams
    """
    structure = get_structure(covariance_type)
    if structure.decomposed:
        raise ValueError(
            f"sample_prior_predictive(covariance_type={structure.name!r}): the model's volume, "
            "shape and orientation carry mclust's prior factor (or none), not a normalised "
            "distribution to draw from. Use one of "
            f"{', '.join(pooled_structures())}.")
    n_samples = check_positive_int(n_samples, "n_samples")
    n_components = check_n_components(n_components)
    n_features = check_positive_int(n_features, "n_features")
    if prior is None:
        prior = Prior(mean=np.zeros(n_features), scale=np.eye(n_features))
    resolved = resolve_prior(prior, None, n_components, n_features, covariance_type)
    resolved = jax.tree.map(jnp.asarray, resolved)
    values = _draw(jax.random.key(seed), {}, n_samples, n_components, n_features,
                        covariance_type, resolved)
    params = GMMParams(values["weights"], values["means"], values["covariances"])
    return np.asarray(values["x"]), np.asarray(values["z"]), params.to_numpy()
