"""Restarts: their keys, their starting points, and the table of how each ended.

EM only finds a local maximum, so one runs it from many starting points and keeps the
best. The starting points of all restarts are drawn at once (the initialiser ``vmap``-ed
over a batch of keys); the EM runs themselves are one compiled program
(:mod:`ppl_gmm.engine.schedule`). A restart that degenerates (an empty component, a
covariance collapsing onto a few points) is marked failed and cannot disturb the others.

Keys: restart r uses ``jax.random.key(seed)`` for r = 0, so restart 0 starts where
``fit_em(..., n_init=1)`` starts, and ``jax.random.fold_in(key(seed), r)`` for r >= 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..params import GMMParams


def restart_keys(seed: int, n_init: int):
    """Keys of the restarts: ``key(seed)`` for restart 0, ``fold_in(key(seed), r)`` after."""
    key = jax.random.key(seed)
    rest = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(1, n_init))
    return jnp.concatenate([key[None], rest])


def failure_reason(component: int, n_iter: int, holds: float) -> str:
    """Why a restart failed, from its failing component and that component's responsibility."""
    if component < 0:
        return ""
    if n_iter == 0 or not np.isfinite(holds):
        return (f"component {component}'s initial covariance is not positive definite (its "
                "starting points are too few, or vary in fewer directions than there are "
                "features)")
    where = f"at iteration {n_iter}"
    kind = "empty" if holds < 1.0 else "collapsed"
    return (f"component {component} {kind} {where}: its covariance is singular "
            f"(holds {holds:.3g} observations' worth of responsibility)")


@dataclass(frozen=True)
class RestartTable:
    """Every restart of a batched fit, best marked; printable.

    Attributes
    ----------
    objective : ndarray (R,)
        Final objective of each restart (higher is better; for k-means, -inertia).
        For a failed restart, the objective of its last good iterate.
    log_likelihood : ndarray (R,) or None
        Final log p(X | theta) (differs from `objective` under a prior or for hard EM).
    n_iter : ndarray of int (R,)
    converged : ndarray of bool (R,)
    failed : ndarray of bool (R,)
    reason : tuple of str
        Why each restart failed ("" for the others).
    restart : ndarray of int (R,)
        Restart index r; its key is ``key(seed)`` (r = 0) or ``fold_in(key(seed), r)``.
    seed : int or None
    params : GMMParams
        Final parameters of every restart, arrays with a leading restart axis (user units).
    initial_params : GMMParams
        Starting points, same layout.
    best : int
        Index of the best non-failed restart (highest objective, the lowest index among
        ties); -1 when every restart failed.
    objective_name : str
    """

    objective: np.ndarray
    log_likelihood: np.ndarray | None
    n_iter: np.ndarray
    converged: np.ndarray
    failed: np.ndarray
    reason: tuple
    restart: np.ndarray
    seed: int | None
    params: GMMParams
    initial_params: GMMParams
    best: int
    objective_name: str = "objective"

    def __len__(self) -> int:
        return len(self.objective)

    @property
    def n_failed(self) -> int:
        return int(np.sum(self.failed))

    def to_dataframe(self):
        """The table as a pandas DataFrame, one row per restart."""
        import pandas as pd

        columns = {"restart": self.restart, self.objective_name: self.objective}
        if self.log_likelihood is not None:
            columns["log_likelihood"] = self.log_likelihood
        columns |= {"n_iter": self.n_iter, "converged": self.converged, "failed": self.failed,
                    "reason": list(self.reason), "best": self.restart == self.best}
        return pd.DataFrame(columns)

    def __str__(self) -> str:
        show_ll = self.log_likelihood is not None and not np.allclose(
            self.log_likelihood, self.objective, rtol=1e-12, atol=0, equal_nan=True)
        head = f"{'restart':>7}  {self.objective_name:>16}"
        head += f"  {'log-likelihood':>16}" if show_ll else ""
        head += f"  {'n_iter':>6}  {'converged':>9}  status"
        seed = "" if self.seed is None else f", seed {self.seed}"
        best = f"restart {self.best}" if self.best >= 0 else "none (every restart failed)"
        lines = [f"{len(self)} restarts{seed}; {self.n_failed} failed; best: {best}", head,
                 "-" * len(head)]
        for i in range(len(self)):
            row = f"{self.restart[i]:>7}  {self.objective[i]:>16.6f}"
            row += f"  {self.log_likelihood[i]:>16.6f}" if show_ll else ""
            status = f"failed: {self.reason[i]}" if self.failed[i] else "ok"
            status += "  <- best" if i == self.best else ""
            row += f"  {int(self.n_iter[i]):>6}  {'yes' if self.converged[i] else 'no':>9}  "
            lines.append(row + status)
        return "\n".join(lines)

    __repr__ = __str__


def best_restart(objective, failed) -> int:
    """Highest objective among the non-failed restarts (lowest index on ties), -1 if none."""
    objective = np.asarray(objective, np.float64)
    usable = ~np.asarray(failed, bool) & np.isfinite(objective)
    if not usable.any():
        return -1
    return int(np.argmax(np.where(usable, objective, -np.inf)))


def restart_table(*, objective, n_iter, converged, failed, reasons, seed, params,
                  initial_params, log_likelihood=None, objective_name="objective"):
    """Assemble a :class:`RestartTable` (host arrays) and pick the best restart."""
    objective = np.asarray(objective, np.float64)
    failed = np.asarray(failed, bool)
    return RestartTable(
        objective=objective,
        log_likelihood=None if log_likelihood is None else np.asarray(log_likelihood, np.float64),
        n_iter=np.asarray(n_iter, int),
        converged=np.asarray(converged, bool),
        failed=failed,
        reason=tuple(reasons),
        restart=np.arange(len(objective)),
        seed=seed,
        params=GMMParams(*(np.asarray(a) for a in params)),
        initial_params=GMMParams(*(np.asarray(a) for a in initial_params)),
        best=best_restart(objective, failed),
        objective_name=objective_name,
    )


def table_from_states(states, trace, problem, start: GMMParams, seed,
                      batched: bool = True) -> RestartTable:
    """A :class:`RestartTable` from final EM states (internal coordinates).

    `states`, their `trace` (from :mod:`ppl_gmm.engine.schedule`) and `start` have
    a leading restart axis, or none with ``batched=False`` (a single run). One transfer
    to the host, then NumPy.
    """
    host = jax.device_get((states.objective, states.iteration, states.converged,
                           states.failed_component, states.stats.counts,
                           trace.log_likelihood, states.params, start,
                           problem.coordinates))
    *arrays, coords = host
    if not batched:
        arrays = jax.tree.map(lambda a: np.asarray(a)[None], arrays)
    objective, n_iter, converged, failed_component, counts, ll_trace, params, initial = arrays
    rows = np.arange(len(objective))
    reasons = [failure_reason(int(c), int(t), float(counts[r, c]) if c >= 0 else 0.0)
               for r, (c, t) in enumerate(zip(failed_component, n_iter, strict=True))]
    # The failed iteration's entry may be NaN; the last good iterate is one before it.
    last_good = np.where(failed_component >= 0, np.maximum(n_iter - 1, 0), n_iter)
    return restart_table(
        objective=objective, n_iter=n_iter, converged=converged, failed=failed_component >= 0,
        reasons=reasons, seed=seed, params=coords.params_to_user(params),
        initial_params=coords.params_to_user(initial), log_likelihood=ll_trace[rows, last_good],
    )


__all__ = [
    "RestartTable",
    "best_restart",
    "failure_reason",
    "restart_keys",
    "restart_table",
    "table_from_states",
]
