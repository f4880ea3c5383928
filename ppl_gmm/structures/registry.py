"""Covariance structures: one entry each, as scikit-learn names them.

Every structure's M-step has the same closed form

    Sigma_k = pool(B)_k / denominator_k + diag(reg_covar)

where ``B_k`` is component k's weighted scatter about its mean (plus the prior's terms
under MAP, see :mod:`ppl_gmm.em`), ``pool`` projects it onto the structure and the
denominator counts the powers of |Sigma_k| in the objective:

==========  =======================  ==================  ===============================
structure   pool(B)_k                ML denominator      MAP denominator (prior nu)
==========  =======================  ==================  ===============================
full        B_k                      N_k                 N_k + nu + d + 2
diag        diag(B_k)                N_k                 N_k + nu + 3
spherical   tr(B_k) I                d N_k               d (N_k + nu + 1) + 2
tied        sum_j B_j (every k)      n                   n + K + nu + d + 1
==========  =======================  ==================  ===============================

The MAP column is the mode under the conjugate priors of :class:`ppl_gmm.Prior`:
inverse-Wishart(nu, Psi) for full and tied, inverse-gamma(nu/2, Psi_jj/2) per feature
for diag, inverse-gamma(d nu/2, tr(Psi)/2) for spherical, each with the mean prior
mu_k | Sigma_k ~ N(m0, Sigma_k / kappa).

mclust's 14 structures (volume/shape/orientation) fit the same table: a pool and a
denominator, with an inner iteration where no closed form exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


@dataclass(frozen=True)
class CovarianceStructure:
    """How one covariance structure constrains Sigma_k.

    Attributes
    ----------
    name : str
    pool : callable
        ``(K, d, d) -> (K, d, d)``: project per-component scatter matrices onto the
        structure (for "tied", sum them and give every component the sum).
    ml_denominator, map_denominator : callable
        ``(counts, total, d, K[, dof]) -> (K,)`` divisors of the pooled scatter.
    n_covariance_parameters : callable
        ``(K, d) -> int`` free covariance parameters, for BIC.
    """

    name: str
    pool: Callable
    ml_denominator: Callable
    map_denominator: Callable
    n_covariance_parameters: Callable


def _diagonal_part(b):
    return jnp.eye(b.shape[-1], dtype=b.dtype) * jnp.diagonal(b, axis1=-2, axis2=-1)[..., None, :]


def _trace_times_identity(b):
    trace = jnp.trace(b, axis1=-2, axis2=-1)
    return trace[..., None, None] * jnp.eye(b.shape[-1], dtype=b.dtype)


def _pooled(b):
    return jnp.broadcast_to(jnp.sum(b, axis=0, keepdims=True), b.shape)


STRUCTURES = {
    "full": CovarianceStructure(
        name="full",
        pool=lambda b: b,
        ml_denominator=lambda counts, total, d, k: counts,
        map_denominator=lambda counts, total, d, k, dof: counts + dof + d + 2,
        n_covariance_parameters=lambda k, d: k * d * (d + 1) // 2,
    ),
    "diag": CovarianceStructure(
        name="diag",
        pool=_diagonal_part,
        ml_denominator=lambda counts, total, d, k: counts,
        map_denominator=lambda counts, total, d, k, dof: counts + dof + 3,
        n_covariance_parameters=lambda k, d: k * d,
    ),
    "spherical": CovarianceStructure(
        name="spherical",
        pool=_trace_times_identity,
        ml_denominator=lambda counts, total, d, k: d * counts,
        map_denominator=lambda counts, total, d, k, dof: d * (counts + dof + 1) + 2,
        n_covariance_parameters=lambda k, d: k,
    ),
    "tied": CovarianceStructure(
        name="tied",
        pool=_pooled,
        ml_denominator=lambda counts, total, d, k: jnp.full_like(counts, total),
        map_denominator=lambda counts, total, d, k, dof: jnp.full_like(
            counts, total + k + dof + d + 1
        ),
        n_covariance_parameters=lambda k, d: d * (d + 1) // 2,
    ),
}


def get_structure(covariance_type: str) -> CovarianceStructure:
    """Look up a covariance structure by its scikit-learn name.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    try:
        return STRUCTURES[covariance_type]
    except (KeyError, TypeError):
        raise ValueError(
            f"covariance_type={covariance_type!r} is not known; "
            f"use one of {', '.join(map(repr, COVARIANCE_TYPES))}."
        ) from None


def n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of a K-component mixture: K - 1 weights, K d means, covariances."""
    structure = get_structure(covariance_type)
    k, d = n_components, n_features
    return (k - 1) + k * d + structure.n_covariance_parameters(k, d)
