"""The model the Bayesian side runs: `gmm_model` with its static options bound, under a
resolved prior (a posterior needs one)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ..ppl.model import gmm_model
from ..prior import resolve_prior
from ..structures.registry import get_structure, pooled_structures

__all__ = ["bound_model", "resolved_posterior_prior"]


@functools.cache
def bound_model(n_components: int, covariance_type: str):
    """`gmm_model` with `n_components` and `covariance_type` bound.

    Cached, so that its identity (and the programs NumPyro compiles keyed on it)
    survives between calls.
    """
    return functools.partial(gmm_model, n_components=n_components,
                             covariance_type=covariance_type)


def resolved_posterior_prior(prior, X, n_components: int, covariance_type: str = "full"):
    """`prior` resolved against X as JAX arrays; an error when it resolves to None, or
    when the structure's free parameters are not sample sites.

    Raises
    ------
    ValueError
        With ``prior`` resolving to None the parameters would be ``numpyro.param`` sites:
        there is no posterior to sample or maximise. A decomposed model (VEI, EVI, EEV,
        VEV under mclust's prior) has its volume, shape and orientation as parameters
        with a prior factor, which MAP-EM maximises but NUTS and SVI cannot sample.
    """
    structure = get_structure(covariance_type)
    if structure.decomposed:
        raise ValueError(
            f"covariance_type={structure.name!r}: its prior is mclust's factor on the "
            "volume, shape and orientation, for MAP-EM (fit_em(..., prior=...)); NUTS and "
            "SVI need a normalised prior on every parameter. Use one of "
            f"{', '.join(pooled_structures())}.")
    resolved = resolve_prior(prior, X, n_components, covariance_type=covariance_type)
    if resolved is None:
        raise ValueError(
            "prior=None has no posterior (the parameters would be numpyro.param sites); "
            "pass prior=ppl_gmm.Prior() or your own Prior."
        )
    return jax.tree.map(jnp.asarray, resolved)
