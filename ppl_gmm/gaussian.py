"""Closed-form Gaussian pieces EM uses: Cholesky factors, whitened residuals, log densities.

log N(x | mu, Sigma) = -d/2 log(2 pi) - log|L| - ||y||^2 / 2,  y = L^{-1} (x - mu),
with Sigma = L L^T. For all components at once, y is one matrix product
``X @ [P_1 ... P_K]`` with P_k = L_k^{-T}, the Cholesky factor of the precision
(a triangular solve, never an explicit inverse of Sigma).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular


class CholeskyFactors(NamedTuple):
    """Per-component factors of the covariances.

    Attributes
    ----------
    scale_tril : (K, d, d)
        L_k with Sigma_k = L_k L_k^T.
    precision_tril_t : (K, d, d)
        P_k = L_k^{-T}, so that ``(x - mu_k) @ P_k`` is the whitened residual.
    half_log_det : (K,)
        log |L_k| = log |Sigma_k| / 2.
    finite : (K,) bool
        False where the Cholesky factorisation failed (JAX returns NaN, it does not raise).
    """

    scale_tril: jnp.ndarray
    precision_tril_t: jnp.ndarray
    half_log_det: jnp.ndarray
    finite: jnp.ndarray


def cholesky_factors(covariances) -> CholeskyFactors:
    """Factorise ``(K, d, d)`` covariances; failures are flagged, not raised."""
    scale_tril = jnp.linalg.cholesky(covariances)
    eye = jnp.broadcast_to(jnp.eye(covariances.shape[-1], dtype=covariances.dtype),
                           covariances.shape)
    inverse_tril = solve_triangular(scale_tril, eye, lower=True)
    diagonal = jnp.diagonal(scale_tril, axis1=-2, axis2=-1)
    finite = jnp.all(jnp.isfinite(inverse_tril), axis=(-2, -1)) & jnp.all(diagonal > 0, axis=-1)
    return CholeskyFactors(
        scale_tril=scale_tril,
        precision_tril_t=jnp.swapaxes(inverse_tril, -1, -2),
        half_log_det=jnp.sum(jnp.log(diagonal), axis=-1),
        finite=finite,
    )


def whitened_residuals(X, means, factors: CholeskyFactors):
    """y[i, k] = L_k^{-1} (x_i - mu_k), shape (n, K, d), as one matrix product."""
    k, d = means.shape
    stacked = jnp.transpose(factors.precision_tril_t, (1, 0, 2)).reshape(d, k * d)
    projected_means = jnp.einsum("kd,kde->ke", means, factors.precision_tril_t)
    return (X @ stacked).reshape(X.shape[0], k, d) - projected_means


def log_gaussian_from_whitened(y, factors: CholeskyFactors):
    """log N(x_i | mu_k, Sigma_k), shape (n, K), from whitened residuals y (n, K, d)."""
    d = y.shape[-1]
    return (
        -0.5 * d * jnp.log(2.0 * jnp.pi)
        - factors.half_log_det
        - 0.5 * jnp.sum(y * y, axis=-1)
    )


def component_log_joint(X, weights, means, factors: CholeskyFactors):
    """log pi_k + log N(x_i | mu_k, Sigma_k), shape (n, K), and the whitened residuals."""
    y = whitened_residuals(X, means, factors)
    return jnp.log(weights) + log_gaussian_from_whitened(y, factors), y
