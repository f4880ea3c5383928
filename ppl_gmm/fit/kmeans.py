"""K-means: Lloyd's algorithm as a kernel in JAX, k-means++ seeding, batched restarts.

K-means is the sigma -> 0 limit of EM for a mixture whose components share one
*fixed* covariance sigma^2 I (``fit_em(..., covariance_type="spherical",
fixed_variance=sigma**2)``): responsibilities become one-hot nearest-centre
assignments and the M-step for the means becomes the centroid update.

Lloyd's iteration, as scikit-learn's ``KMeans(algorithm="lloyd")`` runs it:

1. assign every row to its nearest centre (squared Euclidean distance);
2. move every centre to the weighted mean of its rows; a cluster left empty takes
   the row farthest from its own centre (scikit-learn's relocation rule);
3. stop when the assignments no longer change ("strict convergence"), when the
   summed squared centre shift is <= tol * mean feature variance, or at `max_iter`.

The inertia is sum_i w_i ||x_i - c_{l_i}||^2 with the labels l_i of the final
centres. From the same initial centres this is the same fixed point as
scikit-learn's, so the inertias agree to rounding. K-means is not scale invariant
(Euclidean distances), so unlike EM it runs on the user's units, only centred.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._validation import (
    check_data,
    check_feature_scales,
    check_n_components,
    check_positive_int,
    check_positive_number,
    check_seed,
)
from ..engine.kernel import EMKernel
from ..engine.schedule import run_restarts, run_single
from ..params import GMMParams
from .restarts import restart_keys, restart_table


def squared_distances(X, centres):
    """||x_i - c_k||^2, shape (n, K), by the expansion x.x - 2 x.c + c.c (clipped at 0)."""
    sq = (jnp.sum(X * X, axis=1)[:, None] - 2.0 * X @ centres.T
          + jnp.sum(centres * centres, axis=1)[None, :])
    return jnp.maximum(sq, 0.0)


def nearest_centre(X, centres):
    """Index of the closest centre for each row (squared Euclidean distance)."""
    sq = (jnp.sum(X * X, axis=1)[:, None] - 2.0 * X @ centres.T
          + jnp.sum(centres * centres, axis=1)[None, :])
    return jnp.argmin(sq, axis=1)


def kmeans_plus_plus_centres(key, X, w, n_components: int):
    """k-means++ seeding (Arthur & Vassilvitskii, 2007): D^2-weighted sampling of rows.

    The first centre is a row drawn with probability w_i / sum w; each next one a row
    drawn with probability proportional to w_i D(x_i)^2, D the distance to the
    nearest centre chosen so far.
    """
    keys = jax.random.split(key, n_components)
    n = X.shape[0]
    first = jax.random.choice(keys[0], n, p=w / jnp.sum(w))
    centres = jnp.zeros((n_components, X.shape[1]), X.dtype).at[0].set(X[first])
    sq_dist = jnp.sum((X - X[first]) ** 2, axis=1)

    def add_centre(i, carry):
        centres, sq_dist = carry
        p = w * sq_dist
        # All remaining points coincide with a centre: fall back to uniform sampling.
        p = jnp.where(jnp.sum(p) > 0, p, w)
        index = jax.random.choice(keys[i], n, p=p / jnp.sum(p))
        centre = X[index]
        sq_dist = jnp.minimum(sq_dist, jnp.sum((X - centre) ** 2, axis=1))
        return centres.at[i].set(centre), sq_dist

    centres, _ = lax.fori_loop(1, n_components, add_centre, (centres, sq_dist))
    return centres


def random_rows_centres(key, X, w, n_components: int):
    """K distinct rows drawn uniformly (probability w_i / sum w), scikit-learn's "random"."""
    rows = jax.random.choice(key, X.shape[0], (n_components,), replace=False, p=w / jnp.sum(w))
    return X[rows]


def lloyd_update(X, w, centres, labels):
    """New centres from assignments, with scikit-learn's relocation of empty clusters.

    An empty cluster j takes the row farthest from its assigned centre (the
    farthest for the first empty cluster, the second farthest for the next, ...);
    that row leaves its old cluster's sum. Then centre = weighted sum / weight.
    """
    k = centres.shape[0]
    onehot = jax.nn.one_hot(labels, k, dtype=X.dtype) * w[:, None]
    counts = jnp.sum(onehot, axis=0)
    sums = onehot.T @ X
    empty = counts <= 0
    distance = jnp.where(w > 0, jnp.sum((X - centres[labels]) ** 2, axis=1), -jnp.inf)
    farthest_first = jnp.argsort(-distance)
    rank = jnp.cumsum(empty) - 1
    mover = jnp.where(empty, farthest_first[jnp.clip(rank, 0, X.shape[0] - 1)], 0)
    mover_w = jnp.where(empty, w[mover], 0.0)
    mover_x = X[mover] * mover_w[:, None]
    old = labels[mover]
    sums = sums.at[old].add(-mover_x)
    counts = counts.at[old].add(-mover_w)
    sums = jnp.where(empty[:, None], mover_x, sums)
    counts = jnp.where(empty, mover_w, counts)
    safe = jnp.where(counts > 0, counts, 1.0)
    return jnp.where((counts > 0)[:, None], sums / safe[:, None], centres)


class LloydState(NamedTuple):
    """State of the Lloyd kernel: centres, the last assignments, counters, flags.

    ``iteration``, ``converged`` and ``failed_component`` are the fields the restart
    scheduler (:mod:`ppl_gmm.engine.schedule`) reads; ``strict`` says the assignments
    stopped changing, ``shift`` is the last summed squared centre move.
    """

    centres: jnp.ndarray
    labels: jnp.ndarray
    iteration: jnp.ndarray
    strict: jnp.ndarray
    shift: jnp.ndarray
    converged: jnp.ndarray
    failed_component: jnp.ndarray


class LloydEntries(NamedTuple):
    """The trace row of one Lloyd iterate: the summed squared centre shift."""

    shift: jnp.ndarray


def lloyd_kernel(X, w, tol) -> EMKernel:
    """Lloyd's iteration as a kernel (``init`` / ``step``, :class:`ppl_gmm.engine.kernel.EMKernel`).

    X : (n, d), w : (n,) row weights (0 on padding); tol: absolute bound on
    sum_k ||c_k^new - c_k||^2 (0: only strict convergence). A run fails (component 0
    reported) when its centres stop being finite.
    """
    n = X.shape[0]

    def init(centres):
        no_labels = jnp.full(n, -1, dtype=jnp.argmin(centres[:, 0]).dtype)
        state = LloydState(centres, no_labels, jnp.asarray(0), jnp.asarray(False),
                           jnp.asarray(jnp.inf, X.dtype), jnp.asarray(False), jnp.asarray(-1))
        return state, LloydEntries(state.shift)

    def step(s: LloydState):
        labels = nearest_centre(X, s.centres)
        new = lloyd_update(X, w, s.centres, labels)
        shift = jnp.sum((new - s.centres) ** 2)
        strict = jnp.all((labels == s.labels) | (w <= 0))
        failed = jnp.where(jnp.all(jnp.isfinite(new)), -1, 0)
        state = LloydState(new, labels, s.iteration + 1, strict, shift,
                           strict | (shift <= tol), failed)
        return state, LloydEntries(shift)

    return EMKernel(init, step)


def lloyd(X, w, centres, max_iter: int, tol) -> LloydState:
    """Lloyd iterations from `centres` (pure, vmappable over `centres`): the Lloyd kernel
    run by :func:`ppl_gmm.engine.schedule.run_single`."""
    state, _ = run_single(lloyd_kernel(X, w, tol), centres, max_iter)
    return state


def inertia(X, w, centres, labels):
    """sum_i w_i ||x_i - c_{l_i}||^2, by direct differences (no cancellation)."""
    return jnp.sum(w * jnp.sum((X - centres[labels]) ** 2, axis=1))


class KMeansRun(NamedTuple):
    """Finished Lloyd runs: what :func:`fit_kmeans` reads back (leading restart axis)."""

    centres: jnp.ndarray
    labels: jnp.ndarray
    inertia: jnp.ndarray
    n_iter: jnp.ndarray
    converged: jnp.ndarray
    finite: jnp.ndarray


@functools.partial(jax.jit, static_argnames=("max_iter", "lanes"))
def run_kmeans_restarts(X, w, centres, max_iter: int, tol, lanes: int) -> KMeansRun:
    """Lloyd from every set of `centres` (n_init, K, d) through the restart scheduler,
    then each run's final assignment and inertia."""
    states, _ = run_restarts(lloyd_kernel(X, w, tol), centres, max_iter, lanes)

    def finish(state):
        labels = nearest_centre(X, state.centres)
        value = inertia(X, w, state.centres, labels)
        return KMeansRun(state.centres, labels, value, state.iteration, state.converged,
                         jnp.all(jnp.isfinite(state.centres)) & jnp.isfinite(value))

    return jax.vmap(finish)(states)


_SEEDERS = {"kmeans++": kmeans_plus_plus_centres, "random": random_rows_centres}


@functools.cache
def _batched_seeder(name: str, n_components: int):
    seeder = functools.partial(_SEEDERS[name], n_components=n_components)
    return jax.jit(jax.vmap(seeder, in_axes=(0, None, None)))


@dataclass(frozen=True)
class KMeansResult:
    """The outcome of :func:`fit_kmeans` (best restart), shaped like an EM result.

    Attributes
    ----------
    centres : ndarray (K, d)
    labels : ndarray (n,)
        Nearest final centre of each row.
    inertia : float
        sum_i ||x_i - c_{l_i}||^2 (lower is better).
    n_iter : int
        Lloyd iterations of the best restart.
    converged : bool
        Assignments stopped changing (or the centre shift fell below tol).
    initial_centres : ndarray (K, d)
    n_samples : int
    restarts : RestartTable
        Every restart; its objective column is -inertia (higher is better).
    """

    centres: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    initial_centres: np.ndarray
    n_samples: int
    restarts: object = None

    @property
    def objective(self) -> float:
        """-inertia: the value the restarts maximise."""
        return -self.inertia

    @property
    def counts(self) -> np.ndarray:
        """Rows per cluster, shape (K,)."""
        return np.bincount(self.labels, minlength=self.centres.shape[0])

    @property
    def responsibilities(self) -> np.ndarray:
        """One-hot assignments, shape (n, K): the sigma -> 0 limit of EM's responsibilities."""
        return np.eye(self.centres.shape[0])[self.labels]

    @property
    def params(self) -> GMMParams:
        """The hard-assignment ML mixture: weights N_k / n, means the centres, and the
        shared spherical variance sigma^2 = inertia / (n d) in every covariance.
        """
        k, d = self.centres.shape
        variance = self.inertia / (self.n_samples * d)
        return GMMParams(self.counts / self.n_samples, self.centres.copy(),
                         np.broadcast_to(variance * np.eye(d), (k, d, d)).copy())


def _initial_centres(init, keys, X_c, w, shift, n_components, n_init):
    """(n_init, K, d) initial centres in centred coordinates."""
    d = X_c.shape[1]
    if isinstance(init, str):
        if init not in _SEEDERS:
            raise ValueError(
                f"init={init!r} is not known for k-means; use 'kmeans++', 'random', an array "
                "of initial centres (K, d) or (n_init, K, d), or a callable "
                "(key, X, n_components) -> centres."
            )
        return _batched_seeder(init, n_components)(keys, jnp.asarray(X_c), jnp.asarray(w))
    if callable(init):
        X_user = X_c + shift
        batch = np.stack([np.asarray(init(key, X_user.copy(), n_components), np.float64)
                          for key in keys])
        return _checked_centres(batch, n_components, d, n_init) - shift
    return _checked_centres(np.asarray(init, np.float64), n_components, d, n_init) - shift


def _checked_centres(centres, k, d, n_init):
    if centres.ndim == 2:
        centres = centres[None]
    if centres.ndim != 3 or centres.shape[1:] != (k, d):
        raise ValueError(
            f"Initial centres must have shape ({k}, {d}) or (n_init, {k}, {d}); got "
            f"{centres.shape}."
        )
    if centres.shape[0] != n_init:
        raise ValueError(
            f"{centres.shape[0]} sets of initial centres were given but n_init={n_init}; "
            "pass one set per restart (n_init=1 for a single (K, d) array)."
        )
    if not np.all(np.isfinite(centres)):
        raise ValueError("Initial centres contain NaN or inf.")
    return centres


def fit_kmeans(
    X,
    n_components: int,
    *,
    init="kmeans++",
    n_init: int = 1,
    seed: int = 0,
    max_iter: int = 300,
    tol: float = 0.0,
    restart_batch_size: int | None = None,
) -> KMeansResult:
    """K-means by Lloyd's algorithm, restarts as one batched (``vmap``) computation.

    Parameters
    ----------
    X : array-like (n, d)
    n_components : int
        K.
    init : {"kmeans++", "random"}, array or callable
        "kmeans++": D^2 seeding (:func:`kmeans_plus_plus_centres`); "random": K distinct
        rows; an array of centres, (K, d) for n_init=1 or (n_init, K, d); or a callable
        ``(key, X, n_components) -> centres`` (called once per restart).
    n_init : int
        Restarts; the one with the lowest inertia is returned. Restart r uses the key
        ``jax.random.key(seed)`` for r = 0 and ``fold_in(key(seed), r)`` otherwise.
    seed : int
    max_iter : int
        Maximum Lloyd iterations per restart.
    tol : float
        Stop when sum_k ||Delta c_k||^2 <= tol * (mean feature variance), scikit-learn's
        rule; the default 0 iterates until the assignments no longer change.
    restart_batch_size : int, optional
        Restarts advancing together (the rest wait in a queue inside the same program,
        :mod:`ppl_gmm.engine.schedule`); default: all of them.

    Returns
    -------
    KMeansResult
    """
    X = check_data(X)
    n, d = X.shape
    k = check_n_components(n_components, n)
    check_feature_scales(X)
    seed = check_seed(seed)
    n_init = check_positive_int(n_init, "n_init")
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_positive_number(tol, "tol", allow_zero=True)
    shift = X.mean(axis=0)
    X_c = X - shift
    w = np.ones(n, X.dtype)
    keys = restart_keys(seed, n_init)
    init_c = jnp.asarray(_initial_centres(init, keys, X_c, w, shift, k, n_init))
    tol_abs = tol * float(np.mean(X_c.var(axis=0)))
    lanes = min(restart_batch_size or n_init, n_init)
    runs = run_kmeans_restarts(jnp.asarray(X_c), jnp.asarray(w), init_c, max_iter, tol_abs,
                               lanes)
    runs = jax.device_get(runs)
    failed = ~np.asarray(runs.finite)
    reasons = ["non-finite centres" if f else "" for f in failed]
    centres_user = np.asarray(runs.centres) + shift
    counts = np.stack([np.bincount(lab, minlength=k) for lab in np.asarray(runs.labels)])
    variance = np.asarray(runs.inertia) / (n * d)
    params = GMMParams(counts / n, centres_user,
                       variance[:, None, None, None] * np.eye(d)[None, None])
    initial = np.asarray(init_c) + shift
    table = restart_table(
        objective=-np.asarray(runs.inertia), n_iter=np.asarray(runs.n_iter),
        converged=np.asarray(runs.converged), failed=failed, reasons=reasons, seed=seed,
        params=params, initial_params=GMMParams(np.full((n_init, k), 1.0 / k), initial,
                                                np.broadcast_to(np.eye(d), (n_init, k, d, d))),
        objective_name="-inertia",
    )
    if table.best < 0:
        raise ValueError("Every k-means restart produced non-finite centres; check the data.")
    b = table.best
    return KMeansResult(
        centres=centres_user[b].copy(),
        labels=np.asarray(runs.labels[b]).copy(),
        inertia=float(runs.inertia[b]),
        n_iter=int(runs.n_iter[b]),
        converged=bool(runs.converged[b]),
        initial_centres=initial[b].copy(),
        n_samples=n,
        restarts=table,
    )


__all__ = [
    "KMeansResult",
    "fit_kmeans",
    "inertia",
    "kmeans_plus_plus_centres",
    "lloyd",
    "lloyd_kernel",
    "nearest_centre",
    "run_kmeans_restarts",
]
