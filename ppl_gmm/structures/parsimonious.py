"""mclust's eigen-decomposed models: Sigma_k = lambda_k D_k A_k D_k^T.

Banfield & Raftery (1993) and Celeux & Govaert (1995) write each covariance as a
volume lambda_k = |Sigma_k|^(1/d), a shape A_k (diagonal, |A_k| = 1) and an orientation
D_k (orthogonal); each of the three is the identity (I), equal across components (E) or
variable (V), which gives mclust's three-letter names (volume, shape, orientation).

This module holds the maximum-likelihood covariance updates of the eight models that
:mod:`ppl_gmm.structures.registry` does not write as a pooled scatter over a
denominator. Each minimises, over the model's family,

    Q(Sigma) = sum_k [ N_k log |Sigma_k| + tr(W_k Sigma_k^{-1}) ]

(minus twice the expected complete-data log-likelihood up to a constant), W_k the
weighted scatter of component k about its mean and N_k its count:

- closed form (Celeux & Govaert 1995): EVI, EEV, EVV;
- coordinate descent, each half-step exact (mclust's fixed-point iterations): VEI and
  VEV (the volumes given the shape, then the shape given the volumes; VEV's orientations
  are the eigenvectors of W_k whatever the shape, as long as both are sorted
  decreasingly), VEE (the volumes, then the shared matrix C = D A D^T);
- the MM algorithm of Browne & McNicholas (2014) for a shared orientation D (EVE, VVE):
  with w_k the largest eigenvalue of W_k, tr(D^T W_k D Lambda_k) lies below its
  linearisation at D_t (it is concave in D once W_k is shifted by -w_k I, which adds
  the constant w_k tr(Lambda_k) on orthogonal D), so the polar factor of
  F = sum_k (w_k I - W_k) D_t Lambda_k never increases Q; the shapes and volumes given D
  are closed form.

The iterative updates start from the previous covariances (so every M-step is at least
as good as the parameters it replaces: generalised EM, the objective never decreases)
and stop when Q changes by less than :data:`INNER_TOL` relative, or after
:data:`INNER_MAX_ITER` sweeps. A dead component (``live`` False: the padding of K, whose counts are
rounding-level, not 0) takes no part in the shared parameters; its own parameters are
placeholders the caller masks.

References
----------
Banfield, J. D. and Raftery, A. E. (1993). Model-based Gaussian and non-Gaussian
clustering. Biometrics 49, 803-821.
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models. Pattern
Recognition 28, 781-793.
Browne, R. P. and McNicholas, P. D. (2014). Estimating common principal components in
high dimensions. Advances in Data Analysis and Classification 8, 217-226.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

#: Relative change of Q below which an iterative M-step stops. mclust's
#: ``emControl()$tol[2]`` is sqrt(eps) ~ 1.5e-8, which leaves the M-step's gradient at
#: ~1e-2 on Q ~ 1e3; sweeps cost O(K d^3), so running them to rounding is cheap and makes
#: each M-step the family's maximiser, not an approximation of it.
INNER_TOL = 1e-13
#: Sweeps an iterative M-step makes at most; warm-started, it usually needs a few.
INNER_MAX_ITER = 500


class Decomposition(NamedTuple):
    """Sigma_k = volume_k * orientation_k @ diag(shape_k) @ orientation_k^T.

    Attributes
    ----------
    volume : (K,)
        lambda_k = |Sigma_k|^(1/d).
    shape : (K, d)
        The diagonal of A_k, |A_k| = 1, sorted decreasingly when the orientation is
        variable or the identity is not imposed by the model.
    orientation : (K, d, d)
        D_k, orthogonal; columns are the principal axes.
    """

    volume: jnp.ndarray
    shape: jnp.ndarray
    orientation: jnp.ndarray


# ------------------------------------------------------------------ small pieces


def geometric_mean(values, axis=-1):
    """(prod values)^(1 / len): the volume of a positive diagonal, in log space."""
    return jnp.exp(jnp.mean(jnp.log(values), axis=axis))


def descending_eigh(matrices):
    """Eigenvalues (decreasing) and eigenvectors (columns in the same order)."""
    values, vectors = jnp.linalg.eigh(matrices)
    return values[..., ::-1], vectors[..., ::-1]


def rotated_diagonals(scatter, orientation):
    """diag(D^T W_k D) for a shared orientation D, shape (K, d)."""
    return jnp.einsum("ji,kjl,li->ki", orientation, scatter, orientation)


def compose(volume, shape, orientation):
    """lambda_k D_k diag(A_k) D_k^T, broadcasting shared parts, shape (K, d, d)."""
    return volume[..., None, None] * jnp.einsum("...ij,...j,...kj->...ik", orientation, shape,
                                                orientation)


def _safe_scatter(scatter, live):
    """A dead component's (zero) scatter replaced by the identity, so logs stay finite."""
    eye = jnp.eye(scatter.shape[-1], dtype=scatter.dtype)
    return jnp.where(live[:, None, None], scatter, eye)


def _iterate(sweep, objective, start, tol=INNER_TOL, max_iter=INNER_MAX_ITER):
    """Repeat ``state = sweep(state)`` until Q(state) changes by < tol relative (at
    least two sweeps, at most `max_iter`).

    Every sweep must not increase `objective` (each is an exact or MM minimisation),
    so stopping early is still an improvement on `start`. A state carries what its
    objective needs (the volumes given the shape, the rotated diagonals given the
    orientation), so each sweep computes them once; `sweep` and `objective` appear once
    each in the traced program (inside the loop), which keeps these M-steps cheap to
    compile.
    """

    def keep_going(carry):
        _, previous, current, iteration = carry
        changing = jnp.abs(previous - current) > tol * jnp.abs(current)
        return (iteration < 2) | ((iteration < max_iter) & changing)

    def body(carry):
        state, _, current, iteration = carry
        new = sweep(state)
        return new, current, objective(new), iteration + 1

    nan = jnp.full((), jnp.nan, jax.tree.leaves(start)[0].dtype)
    state, _, _, _ = lax.while_loop(keep_going, body, (start, nan, nan, 0))
    return state


# ------------------------------------------------------------------ closed forms


def update_evi(scatter, counts, live):
    """EVI: Sigma_k = lambda A_k, A_k diagonal. A_k = diag(W_k) / |diag(W_k)|^(1/d),
    lambda = sum_k |diag(W_k)|^(1/d) / n."""
    diagonal = jnp.diagonal(_safe_scatter(scatter, live), axis1=-2, axis2=-1)
    volumes = geometric_mean(diagonal)
    shape = diagonal / volumes[:, None]
    volume = jnp.sum(jnp.where(live, volumes, 0.0)) / jnp.sum(jnp.where(live, counts, 0.0))
    eye = jnp.eye(scatter.shape[-1], dtype=scatter.dtype)
    return volume * shape[:, None, :] * eye


def update_eev(scatter, counts, live):
    """EEV: Sigma_k = lambda D_k A D_k^T. D_k the eigenvectors of W_k (eigenvalues
    Omega_k, decreasing), A = sum_k Omega_k normalised, lambda = |sum_k Omega_k|^(1/d) / n."""
    values, vectors = descending_eigh(_safe_scatter(scatter, live))
    pooled = jnp.sum(jnp.where(live[:, None], values, 0.0), axis=0)
    scale = geometric_mean(pooled)
    volume = jnp.full(counts.shape, scale / jnp.sum(jnp.where(live, counts, 0.0)))
    return compose(volume, pooled / scale, vectors)


def update_evv(scatter, counts, live):
    """EVV: Sigma_k = lambda C_k, |C_k| = 1. C_k = W_k / |W_k|^(1/d),
    lambda = sum_k |W_k|^(1/d) / n."""
    safe = _safe_scatter(scatter, live)
    values = jnp.linalg.eigvalsh(safe)
    volumes = geometric_mean(values)
    volume = jnp.sum(jnp.where(live, volumes, 0.0)) / jnp.sum(jnp.where(live, counts, 0.0))
    return volume * safe / volumes[:, None, None]


# ------------------------------------------------------------------ iterative


def _volumes_given_shape(diagonals, shape, counts, live):
    """lambda_k = tr(W_k D_k A^{-1} D_k^T) / (d N_k), from the rotated diagonals of W_k."""
    d = diagonals.shape[-1]
    return jnp.where(live, jnp.sum(diagonals / shape, axis=-1) / (d * jnp.where(live, counts, 1.0)),
                     1.0)


def _shape_given_volumes(diagonals, volumes, live):
    """A = sum_k diag_k / lambda_k, normalised to |A| = 1."""
    pooled = jnp.sum(jnp.where(live[:, None], diagonals / volumes[:, None], 0.0), axis=0)
    return pooled / geometric_mean(pooled)


def _variable_volume_equal_shape(diagonals, counts, live, shape):
    """VEI / VEV's fixed point on rotated diagonals (K, d) from a starting shape (d,):
    the state is (shape, its volumes)."""
    d = diagonals.shape[-1]

    def objective(state):
        _, volumes = state
        # tr(W_k Sigma_k^{-1}) = d N_k at the optimal volumes: Q = sum N_k d log lambda_k + d n.
        return jnp.sum(jnp.where(live, counts * d * jnp.log(volumes), 0.0))

    def sweep(state):
        new_shape = _shape_given_volumes(diagonals, state[1], live)
        return new_shape, _volumes_given_shape(diagonals, new_shape, counts, live)

    shape, volumes = _iterate(sweep, objective,
                              (shape, _volumes_given_shape(diagonals, shape, counts, live)))
    return volumes, shape


def update_vei(scatter, counts, live, shape):
    """VEI: Sigma_k = lambda_k A (A diagonal, shared), from the starting shape (d,)."""
    diagonals = jnp.diagonal(_safe_scatter(scatter, live), axis1=-2, axis2=-1)
    volumes, shape = _variable_volume_equal_shape(diagonals, counts, live, shape)
    eye = jnp.eye(scatter.shape[-1], dtype=scatter.dtype)
    return volumes[:, None, None] * shape * eye


def update_vev(scatter, counts, live, shape):
    """VEV: Sigma_k = lambda_k D_k A D_k^T, from the starting shape (d,) (decreasing)."""
    values, vectors = descending_eigh(_safe_scatter(scatter, live))
    volumes, shape = _variable_volume_equal_shape(values, counts, live, shape)
    return compose(volumes, jnp.broadcast_to(shape, values.shape), vectors)


def update_vee(scatter, counts, live, shared):
    """VEE: Sigma_k = lambda_k C, |C| = 1 shared, from the starting matrix C (d, d).

    lambda_k = tr(C^{-1} W_k) / (d N_k); C = S / |S|^(1/d), S = sum_k W_k / lambda_k. The
    state is (C, its volumes).
    """
    safe = _safe_scatter(scatter, live)
    d = scatter.shape[-1]
    safe_counts = jnp.where(live, counts, 1.0)

    def volumes(matrix):
        factor = jnp.linalg.cholesky(matrix)
        solved = jnp.linalg.solve(factor, jnp.linalg.solve(factor, safe).swapaxes(-1, -2))
        return jnp.where(live, jnp.trace(solved, axis1=-2, axis2=-1) / (d * safe_counts), 1.0)

    def objective(state):
        return jnp.sum(jnp.where(live, counts * d * jnp.log(state[1]), 0.0))

    def sweep(state):
        pooled = jnp.sum(jnp.where(live[:, None, None], safe / state[1][:, None, None], 0.0),
                         axis=0)
        pooled = 0.5 * (pooled + pooled.T)
        matrix = pooled / geometric_mean(jnp.linalg.eigvalsh(pooled))
        return matrix, volumes(matrix)

    shared, lambdas = _iterate(sweep, objective, (shared, volumes(shared)))
    return lambdas[:, None, None] * shared


def _common_orientation_mm(safe, counts, live, orientation, diagonal_covariances):
    """EVE / VVE: minimise Q over a shared orientation D by MM, the diagonal parts
    (``diagonal_covariances(rotated diagonals) -> (K, d)``, lambda_k A_k) in closed form.
    The state is (D, diag(D^T W_k D), lambda_k A_k)."""
    largest = jnp.linalg.eigvalsh(safe)[:, -1]
    eye = jnp.eye(safe.shape[-1], dtype=safe.dtype)
    shifted = jnp.where(live[:, None, None], largest[:, None, None] * eye - safe, 0.0)

    def with_diagonals(orientation):
        diagonals = rotated_diagonals(safe, orientation)
        return orientation, diagonals, diagonal_covariances(diagonals)

    def objective(state):
        _, diagonals, deltas = state
        per_component = counts * jnp.sum(jnp.log(deltas), -1) + jnp.sum(diagonals / deltas, -1)
        return jnp.sum(jnp.where(live, per_component, 0.0))

    def sweep(state):
        orientation, _, deltas = state
        f = jnp.einsum("kij,jl,kl->il", shifted, orientation, 1.0 / deltas)
        u, _, vt = jnp.linalg.svd(f)
        return with_diagonals(u @ vt)

    orientation, _, deltas = _iterate(sweep, objective, with_diagonals(orientation))
    return compose(jnp.ones(counts.shape, safe.dtype), deltas,
                   jnp.broadcast_to(orientation, safe.shape))


def update_eve(scatter, counts, live, orientation):
    """EVE: Sigma_k = lambda D A_k D^T, from the starting orientation D (d, d).

    Given D: A_k = diag(D^T W_k D) normalised, lambda = sum_k |diag(D^T W_k D)|^(1/d) / n.
    """
    total = jnp.sum(jnp.where(live, counts, 0.0))

    def diagonal_covariances(diagonals):
        volumes = geometric_mean(diagonals)
        volume = jnp.sum(jnp.where(live, volumes, 0.0)) / total
        return volume * diagonals / volumes[:, None]

    return _common_orientation_mm(_safe_scatter(scatter, live), counts, live, orientation,
                                  diagonal_covariances)


def update_vve(scatter, counts, live, orientation):
    """VVE: Sigma_k = lambda_k D A_k D^T, from the starting orientation D (d, d).

    Given D: lambda_k A_k = diag(D^T W_k D) / N_k.
    """
    safe_counts = jnp.where(live, counts, 1.0)

    def diagonal_covariances(diagonals):
        return diagonals / safe_counts[:, None]

    return _common_orientation_mm(_safe_scatter(scatter, live), counts, live, orientation,
                                  diagonal_covariances)


# ------------------------------------------------------------------ decompositions


def decompose(covariances) -> Decomposition:
    """lambda_k, A_k and D_k of each (K, d, d) covariance by its eigendecomposition
    (eigenvalues decreasing); a diagonal covariance keeps the identity orientation."""
    values, vectors = descending_eigh(covariances)
    volume = geometric_mean(values)
    return Decomposition(volume, values / volume[..., None], vectors)


def diagonal_decomposition(covariances) -> Decomposition:
    """The decomposition of diagonal covariances with D_k = I (the axes in data order)."""
    values = jnp.diagonal(covariances, axis1=-2, axis2=-1)
    volume = geometric_mean(values)
    eye = jnp.broadcast_to(jnp.eye(values.shape[-1], dtype=values.dtype), covariances.shape)
    return Decomposition(volume, values / volume[..., None], eye)


def common_orientation(covariances, counts):
    """An orthogonal D diagonalising every Sigma_k of a shared-orientation model
    (`counts`: the components' weights, 0 for dead ones).

    The eigenvectors of sum_k c_k Sigma_k with generic positive c_k: equal to the common
    D up to order and sign whenever the sum's eigenvalues are distinct, which weights
    that differ from component to component make the usual case.
    """
    k = covariances.shape[-3]
    generic = counts * (1.0 + 0.618034 * jnp.arange(k, dtype=covariances.dtype) / k)
    combined = jnp.einsum("k,kij->ij", jnp.where(counts > 0, generic, 0.0), covariances)
    return descending_eigh(combined)[1]


__all__ = [
    "INNER_MAX_ITER",
    "INNER_TOL",
    "Decomposition",
    "common_orientation",
    "compose",
    "decompose",
    "diagonal_decomposition",
    "geometric_mean",
    "update_eev",
    "update_eve",
    "update_evi",
    "update_evv",
    "update_vee",
    "update_vei",
    "update_vev",
    "update_vve",
]


# ------------------------------------------------------------------ warm starts


def _largest_component(covariances, counts, live):
    """The covariance of the live component with the most weight."""
    return covariances[jnp.argmax(jnp.where(live, counts, -1.0))]


def _unit_volume(values):
    return values / geometric_mean(values)


def _pooled(scatter, live):
    return jnp.sum(jnp.where(live[:, None, None], scatter, 0.0), axis=0)


def ml_vei(scatter, counts, live, previous=None):
    """VEI's update, warm-started from the previous covariances' shape (cold: the pooled
    scatter's diagonal)."""
    start = (_pooled(scatter, live) if previous is None
             else _largest_component(previous, counts, live))
    return update_vei(scatter, counts, live, _unit_volume(jnp.diagonal(start)))


def ml_vev(scatter, counts, live, previous=None):
    """VEV's update, warm-started from the previous covariances' shape (cold: the sum of
    the scatters' eigenvalues)."""
    if previous is None:
        values = descending_eigh(_safe_scatter(scatter, live))[0]
        start = jnp.sum(jnp.where(live[:, None], values, 0.0), axis=0)
    else:
        start = descending_eigh(_largest_component(previous, counts, live))[0]
    return update_vev(scatter, counts, live, _unit_volume(start))


def ml_vee(scatter, counts, live, previous=None):
    """VEE's update, warm-started from the previous shared matrix (cold: the pooled
    scatter)."""
    start = (_pooled(scatter, live) if previous is None
             else _largest_component(previous, counts, live))
    return update_vee(scatter, counts, live, start / geometric_mean(jnp.linalg.eigvalsh(start)))


def _orientation_start(scatter, live, previous):
    if previous is None:
        return descending_eigh(_pooled(scatter, live))[1]
    return common_orientation(previous, live.astype(previous.dtype))


def ml_eve(scatter, counts, live, previous=None):
    """EVE's update, warm-started from the previous orientation (cold: the pooled
    scatter's eigenvectors)."""
    return update_eve(scatter, counts, live, _orientation_start(scatter, live, previous))


def ml_vve(scatter, counts, live, previous=None):
    """VVE's update, warm-started from the previous orientation (cold: the pooled
    scatter's eigenvectors)."""
    return update_vve(scatter, counts, live, _orientation_start(scatter, live, previous))


def ml_evi(scatter, counts, live, previous=None):
    """EVI's closed form (`previous` unused)."""
    return update_evi(scatter, counts, live)


def ml_eev(scatter, counts, live, previous=None):
    """EEV's closed form (`previous` unused)."""
    return update_eev(scatter, counts, live)


def ml_evv(scatter, counts, live, previous=None):
    """EVV's closed form (`previous` unused)."""
    return update_evv(scatter, counts, live)


__all__ += ["ml_eev", "ml_eve", "ml_evi", "ml_evv", "ml_vee", "ml_vei", "ml_vev", "ml_vve"]


# ------------------------------------------------------------------ mclust's prior
#
# mclust's conjugate prior (Fraley & Raftery 2007; ``priorControl()``) for VEI, EVI, EEV and
# VEV, as its Fortran M-steps (me*p) compute it: the ML update above run on the scatter
# B_k + P (B_k already holding the means' shrinkage term; P = diag(Psi) for the diagonal
# models, Psi for the others) with counts raised as each model's denominator says. Each
# is the exact maximiser of the expected complete-data log-likelihood plus the log
# density below (an unnormalised density on the model's own parameters, up to a
# constant): so EM's optimum is a stationary point of the model's log joint.
# lambda is |Sigma_k|^(1/d) (one value for EVI and EEV); G the live components.


def _mean_prior(covariances, means, prior):
    """sum_k log N(mu_k | m0, Sigma_k / kappa)."""
    import numpyro.distributions as dist

    scale_tril = jnp.linalg.cholesky(covariances / prior.shrinkage)
    return dist.MultivariateNormal(prior.mean, scale_tril=scale_tril).log_prob(means)


def _traces(matrix, covariances):
    """tr(P Sigma_k^{-1}) per component."""
    return jnp.trace(jnp.linalg.solve(covariances, jnp.broadcast_to(matrix, covariances.shape)),
                     axis1=-2, axis2=-1)


def _log_volumes(covariances):
    return jnp.linalg.slogdet(covariances)[1] / covariances.shape[-1]


def log_prior_evi(covariances, means, prior, live):
    """EVI: sum_k log N(mu_k | m0, Sigma_k / kappa) - d (nu + 2 - G) / 2 log lambda
    - tr(diag(Psi) Sigma_k^{-1}) / 2 summed over k (denominator n + nu + 2)."""
    d = covariances.shape[-1]
    g = jnp.sum(live)
    log_volume = jnp.sum(jnp.where(live, _log_volumes(covariances), 0.0)) / g
    per_component = (_mean_prior(covariances, means, prior)
                     - 0.5 * _traces(jnp.diag(jnp.diagonal(prior.scale)), covariances))
    return (jnp.sum(jnp.where(live, per_component, 0.0))
            - 0.5 * d * (prior.dof + 2 - g) * log_volume)


def log_prior_vei(covariances, means, prior, live):
    """VEI: sum_k [log N(mu_k | m0, Sigma_k / kappa) - (nu + 3 - d) / 2 log lambda_k
    - tr(diag(Psi) Sigma_k^{-1}) / 2] (denominator d N_k + nu + 3)."""
    d = covariances.shape[-1]
    per_component = (_mean_prior(covariances, means, prior)
                     - 0.5 * (prior.dof + 3 - d) * _log_volumes(covariances)
                     - 0.5 * _traces(jnp.diag(jnp.diagonal(prior.scale)), covariances))
    return jnp.sum(jnp.where(live, per_component, 0.0))


def log_prior_eev(covariances, means, prior, live):
    """EEV: sum_k [log N(mu_k | m0, Sigma_k / kappa) - tr(Psi Sigma_k^{-1}) / 2]
    - d (nu + d + 2 - G) / 2 log lambda (denominator n + nu + d + 2)."""
    d = covariances.shape[-1]
    g = jnp.sum(live)
    log_volume = jnp.sum(jnp.where(live, _log_volumes(covariances), 0.0)) / g
    per_component = (_mean_prior(covariances, means, prior)
                     - 0.5 * _traces(prior.scale, covariances))
    return (jnp.sum(jnp.where(live, per_component, 0.0))
            - 0.5 * d * (prior.dof + d + 2 - g) * log_volume)


def log_prior_vev(covariances, means, prior, live):
    """VEV: -sum_k tr((Psi + kappa (mu_k - m0)(mu_k - m0)^T) Sigma_k^{-1}) / 2: mclust's
    VEV prior has no determinant term (its volumes divide by d N_k alone) and no nu."""
    offset = means - prior.mean
    shrink = prior.shrinkage * offset[:, :, None] * offset[:, None, :]
    per_component = -0.5 * _traces(prior.scale + shrink, covariances)
    return jnp.sum(jnp.where(live, per_component, 0.0))


def _spread_over_live(extra, counts, live):
    """Raise the total count by `extra`, shared equally by the live components (for
    models whose update reads the counts only through their sum)."""
    return jnp.where(live, counts + extra / jnp.sum(live), counts)


def map_counts_evi(counts, live, d, dof):
    """EVI's MAP denominator n + nu + 2."""
    return _spread_over_live(dof + 2.0, counts, live)


def map_counts_vei(counts, live, d, dof):
    """VEI's MAP volumes divide by d N_k + nu + 3."""
    return jnp.where(live, counts + (dof + 3.0) / d, counts)


def map_counts_eev(counts, live, d, dof):
    """EEV's MAP denominator n + nu + d + 2."""
    return _spread_over_live(dof + d + 2.0, counts, live)


def map_counts_vev(counts, live, d, dof):
    """VEV's MAP volumes divide by d N_k, as for maximum likelihood."""
    return counts


__all__ += ["log_prior_eev", "log_prior_evi", "log_prior_vei", "log_prior_vev",
            "map_counts_eev", "map_counts_evi", "map_counts_vei", "map_counts_vev"]
