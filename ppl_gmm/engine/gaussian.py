"""Closed-form Gaussian pieces EM uses: Cholesky factors, whitened residuals, log densities.

log N(x | mu, Sigma) = -d/2 log(2 pi) - log|L| - ||y||^2 / 2,  y = L^{-1} (x - mu),
with Sigma = L L^T. For all components at once, y is one matrix product
``X @ [P_1 ... P_K]`` with P_k = L_k^{-T}, the Cholesky factor of the precision
(a triangular solve, never an explicit inverse of Sigma).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
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


# --- The E-step's form: log pi_k N(x | mu_k, Sigma_k) as a linear function of features ---
#
# log pi_k N(x | mu_k, Sigma_k) = c_k + x^T Lambda_k mu_k - x^T Lambda_k x / 2, with
# Lambda_k = P_k P_k^T built from the Cholesky factor (never inv(Sigma)). With the
# design row f(x) = (z(x), x, 1), z(x) = (x_i x_j)_{i <= j} the packed outer products,
# all K log densities of a block are one matrix product F W^T, and the E-step's
# statistics (second moments, first moments, counts) are one more, R^T F: no (n, K, d)
# temporary. The expansion subtracts terms of size |x|^2 / sigma_k^2, so it runs in the
# standardised internal coordinates of :mod:`ppl_gmm.fit.driver`.


def packed_indices(d: int):
    """Row and column indices of the upper triangle (i <= j), as static NumPy arrays."""
    return np.triu_indices(d)


def design_width(d: int) -> int:
    """Columns of a design row (z(x), x, 1): d(d+1)/2 packed products, d features, 1."""
    return d * (d + 1) // 2 + d + 1


def outer_features(X):
    """z_i = (x_ij x_il)_{j <= l}: packed outer products of the rows, shape (n, d(d+1)/2).

    In the order of :func:`packed_indices`, built from static slices (a gather by index
    arrays is several times slower on a CPU).
    """
    d = X.shape[-1]
    return jnp.concatenate([X[..., j:] * X[..., j:j + 1] for j in range(d)], axis=-1)


def design_matrix(X):
    """f_i = (z_i, x_i, 1), shape (n, d(d+1)/2 + d + 1): the E-step's features of each row."""
    ones = jnp.ones((*X.shape[:-1], 1), X.dtype)
    return jnp.concatenate([outer_features(X), X, ones], axis=-1)


def unpack_symmetric(packed, d: int):
    """(..., d(d+1)/2) upper-triangle values -> (..., d, d) symmetric matrices."""
    rows, cols = packed_indices(d)
    upper = jnp.zeros((*packed.shape[:-1], d, d), packed.dtype).at[..., rows, cols].set(packed)
    return upper + jnp.swapaxes(upper, -1, -2) - upper * jnp.eye(d, dtype=packed.dtype)


def log_joint_coefficients(weights, means, factors: CholeskyFactors):
    """W, shape (K, d(d+1)/2 + d + 1): the K log densities as linear functions of the
    design rows, log pi_k N(x | mu_k, Sigma_k) = (F @ W.T)[:, k] (:func:`design_matrix`).

    Row k is (quadratic_k, linear_k, constant_k): -Lambda_k / 2 packed with the
    off-diagonal entries doubled, Lambda_k mu_k, and the normalising constant.
    """
    return offset_log_density_coefficients(jnp.log(weights), means, factors)


def offset_log_density_coefficients(offsets, means, factors: CholeskyFactors):
    """W of :func:`log_joint_coefficients` for c_k + log N(x | mu_k, Sigma_k), any
    offsets c_k (log pi_k for EM; variational Bayes's expected log weight and precision
    terms, :mod:`ppl_gmm.engine.variational`)."""
    d = means.shape[-1]
    precision = factors.precision_tril_t @ jnp.swapaxes(factors.precision_tril_t, -1, -2)
    rows, cols = packed_indices(d)
    doubled = np.where(rows == cols, 1.0, 2.0)
    linear = jnp.einsum("kij,kj->ki", precision, means)
    constant = (offsets - factors.half_log_det - 0.5 * d * jnp.log(2.0 * jnp.pi)
                - 0.5 * jnp.sum(means * linear, axis=-1))
    quadratic = -0.5 * precision[..., rows, cols] * doubled
    return jnp.concatenate([quadratic, linear, constant[:, None]], axis=-1)
