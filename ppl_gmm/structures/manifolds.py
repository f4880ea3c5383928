"""The supports of a decomposed covariance's free parameters, as NumPyro constraints.

An eigen-decomposed covariance lambda D A D^T (:mod:`.parsimonious`) has three
parameters with supports NumPyro does not ship:

- the **shape** A: a positive diagonal with |A| = 1 (:data:`unit_volume`); its
  unconstrained coordinates are u in R^(d-1), A = exp(u_1, ..., u_{d-1}, -sum u);
- the **orientation** D: a rotation (:data:`rotation`, SO(d)); its unconstrained
  coordinates are the d(d-1)/2 entries above the diagonal of a skew-symmetric S, through
  the **Cayley transform** D = (I + S)^{-1} (I - S).

Why Cayley: it is rational (one linear solve, differentiable by JAX without an
eigendecomposition or a series), its inverse is closed form, S = (I + D)^{-1} (I - D),
and it has no branch cuts to track, unlike the matrix exponential of a skew matrix
(whose inverse needs a matrix logarithm) or a product of Householder reflections
(whose factorisation is not unique and depends on a pivoting order). Its one gap, the
rotations with an eigenvalue -1, costs nothing here: flipping the sign of a column of D
leaves D A D^T unchanged, and every orthogonal matrix has a choice of column signs that
puts it in the Cayley image (:func:`cayley_representative` picks the best conditioned).

Both are registered with ``numpyro.distributions.transforms.biject_to``, so the model's
``numpyro.param`` sites carry their supports and the cross-check's gradient is taken on
these unconstrained coordinates: the model's real free parameters.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
from numpyro.distributions import constraints
from numpyro.distributions.transforms import Transform, biject_to

# Enumerate column signs exhaustively below this dimension when the quick choice is
# ill conditioned (2^d sign patterns).
_EXHAUSTIVE_SIGNS_MAX_D = 12
_WELL_CONDITIONED = 1e-3


class _UnitVolume(constraints.Constraint):
    """Positive vectors (last axis) whose product is 1."""

    event_dim = 1

    def __call__(self, x):
        return jnp.all(x > 0, axis=-1) & (jnp.abs(jnp.sum(jnp.log(x), axis=-1)) < 1e-6)

    def feasible_like(self, prototype):
        return jnp.ones_like(prototype)


class _Rotation(constraints.Constraint):
    """Orthogonal matrices (last two axes) with determinant +1."""

    event_dim = 2

    def __call__(self, x):
        eye = jnp.eye(x.shape[-1], dtype=x.dtype)
        orthogonal = jnp.all(jnp.abs(jnp.swapaxes(x, -1, -2) @ x - eye) < 1e-6, axis=(-2, -1))
        return orthogonal & (jnp.linalg.det(x) > 0)

    def feasible_like(self, prototype):
        return jnp.broadcast_to(jnp.eye(prototype.shape[-1], dtype=prototype.dtype),
                                prototype.shape)


unit_volume = _UnitVolume()
rotation = _Rotation()


class UnitVolumeTransform(Transform):
    """u in R^(d-1) -> exp(u, -sum u): a positive d-vector with product 1."""

    domain = constraints.real_vector
    codomain = unit_volume

    def __call__(self, x):
        return jnp.exp(jnp.concatenate([x, -jnp.sum(x, axis=-1, keepdims=True)], axis=-1))

    def _inverse(self, y):
        return jnp.log(y[..., :-1])

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        # The map is into a (d-1)-dimensional manifold of R^d: there is no square
        # Jacobian. Only maximum likelihood uses these sites (no density on them).
        raise NotImplementedError("unit_volume sites carry no prior density.")

    def forward_shape(self, shape):
        return (*shape[:-1], shape[-1] + 1)

    def inverse_shape(self, shape):
        return (*shape[:-1], shape[-1] - 1)


def _dimension_of_skew(m: int) -> int:
    """d with d(d-1)/2 = m."""
    return round((1 + np.sqrt(1 + 8 * m)) / 2)


class CayleyTransform(Transform):
    """d(d-1)/2 reals -> the rotation (I + S)^{-1} (I - S), S skew with them above the diagonal."""

    domain = constraints.real_vector
    codomain = rotation

    def __call__(self, x):
        d = _dimension_of_skew(x.shape[-1])
        rows, cols = np.triu_indices(d, 1)
        upper = jnp.zeros((*x.shape[:-1], d, d), x.dtype).at[..., rows, cols].set(x)
        skew = upper - jnp.swapaxes(upper, -1, -2)
        eye = jnp.eye(d, dtype=x.dtype)
        return jnp.linalg.solve(eye + skew, eye - skew)

    def _inverse(self, y):
        d = y.shape[-1]
        eye = jnp.eye(d, dtype=y.dtype)
        skew = jnp.linalg.solve(eye + y, eye - y)
        rows, cols = np.triu_indices(d, 1)
        return skew[..., rows, cols]

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        raise NotImplementedError("rotation sites carry no prior density.")

    def forward_shape(self, shape):
        m = shape[-1]
        d = _dimension_of_skew(m)
        return (*shape[:-1], d, d)

    def inverse_shape(self, shape):
        d = shape[-1]
        return (*shape[:-2], d * (d - 1) // 2)


@biject_to.register(type(unit_volume))
def _unit_volume_bijection(constraint):
    return UnitVolumeTransform()


@biject_to.register(type(rotation))
def _rotation_bijection(constraint):
    return CayleyTransform()


def cayley_signs(orientation):
    """The quick, traceable choice of :func:`cayley_representative`: column signs that
    make the diagonal non-negative, the smallest diagonal entry's flipped back when the
    determinant would be -1."""
    diagonal = jnp.diagonal(orientation, axis1=-2, axis2=-1)
    signs = jnp.where(diagonal < 0, -1.0, 1.0)
    flipped = orientation * signs[..., None, :]
    smallest = jnp.argmin(jnp.abs(diagonal), axis=-1)
    fix = jnp.where(jnp.linalg.det(flipped) < 0, -1.0, 1.0)
    column = jnp.arange(orientation.shape[-1]) == smallest[..., None]
    return flipped * jnp.where(column, fix[..., None], 1.0)[..., None, :]


def cayley_representative(orientation) -> np.ndarray:
    """The orthogonal matrix with the columns of `orientation` sign-flipped so that it is
    a rotation in the Cayley image, as far from its edge as the signs allow.

    D and D diag(s) give the same D A D^T for any signs s, so the choice is free. The
    quick choice makes the diagonal non-negative (and fixes the determinant with the
    smallest diagonal entry); when I + D is then nearly singular, every sign pattern with
    determinant +1 is tried (d <= 12) and the one with the largest smallest singular value
    of I + D kept.
    """
    orientation = np.asarray(orientation, np.float64)
    if orientation.ndim > 2:
        return np.stack([cayley_representative(o) for o in orientation])
    d = orientation.shape[-1]
    signs = np.where(np.diag(orientation) < 0, -1.0, 1.0)
    if np.linalg.det(orientation * signs) < 0:
        signs[np.argmin(np.abs(np.diag(orientation)))] *= -1.0
    best = orientation * signs

    def margin(candidate):
        return np.linalg.svd(np.eye(d) + candidate, compute_uv=False)[-1]

    if margin(best) < _WELL_CONDITIONED and d <= _EXHAUSTIVE_SIGNS_MAX_D:
        for pattern in itertools.product((1.0, -1.0), repeat=d):
            candidate = orientation * np.asarray(pattern)
            if np.linalg.det(candidate) > 0 and margin(candidate) > margin(best):
                best = candidate
    return best


__all__ = [
    "CayleyTransform",
    "UnitVolumeTransform",
    "cayley_representative",
    "cayley_signs",
    "rotation",
    "unit_volume",
]
