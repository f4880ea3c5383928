"""Restarts as one batched computation: the pure EM loop ``vmap``-ed over starting points.

EM only finds a local maximum, so one runs it from many starting points and keeps
the best. Here the starting points of all restarts are drawn at once (the
initialiser ``vmap``-ed over a batch of keys) and EM runs on all of them in one
compiled program: the loop body of :func:`ppl_gmm.em.run_em`
(:func:`ppl_gmm.em.em_iteration`) ``vmap``-ed over restarts inside one
``lax.while_loop``. A restart that has converged or failed keeps its state (a
per-restart select), so a restart that degenerates (an empty component, a covariance
collapsing onto a few points) is marked failed and cannot disturb the others.

Two schedules, the same numbers (each restart takes exactly the steps it takes alone):

- lockstep (:func:`run_em_batch`): one lane per restart; the loop runs as long
  as the slowest restart. Best where a batch costs about what one run costs (an
  accelerator, or tiny problems dominated by per-operation overhead).
- queued (:func:`run_em_queue`): a few lanes; a lane whose restart stops takes the next
  waiting one, so the work is the sum of the restarts' iterations rather than the
  batch size times the longest. Best on a CPU, where the cost is the arithmetic;
  the default there is ``CPU_LANES`` lanes.

Keys: restart r uses ``jax.random.key(seed)`` for r = 0, so restart 0 starts where
``fit_em(..., n_init=1)`` starts, and ``jax.random.fold_in(key(seed), r)`` for r >= 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._validation import check_params
from ..fit.init import INITIALISERS
from ..params import GMMParams
from .kernel import EMProblem, EMState, EMTrace, em_iteration, initial_state, still_running

#: Bytes a batch of restarts may use for its E-step temporaries and traces.
MEMORY_BUDGET = 256 * 2**20


def restart_keys(seed: int, n_init: int):
    """Keys of the restarts: ``key(seed)`` for restart 0, ``fold_in(key(seed), r)`` after."""
    key = jax.random.key(seed)
    rest = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(1, n_init))
    return jnp.concatenate([key[None], rest])


def batched_map(fn: Callable, batch, batch_size: int):
    """``fn`` over a pytree with a leading restart axis, in chunks of `batch_size`.

    The last chunk is padded with copies of the first entry (and the padding dropped),
    so every call of `fn` sees the same shapes and compiles once.
    """
    n = jax.tree.leaves(batch)[0].shape[0]
    size = max(1, min(int(batch_size), n))
    if size >= n:
        return fn(batch)
    outputs = []
    for start in range(0, n, size):
        chunk = jax.tree.map(lambda a, s=start: a[s:s + size], batch)
        short = size - jax.tree.leaves(chunk)[0].shape[0]
        if short:
            chunk = jax.tree.map(
                lambda a, short=short: jnp.concatenate([a, jnp.repeat(a[:1], short, axis=0)]),
                chunk)
        out = fn(chunk)
        outputs.append(jax.tree.map(lambda a, keep=size - short: a[:keep], out))
    return jax.tree.map(lambda *parts: jnp.concatenate(parts), *outputs)


def default_batch_size(problem: EMProblem, n_components: int, max_iter: int) -> int:
    """Restarts per batch that keep the E-step temporaries within ``MEMORY_BUDGET``."""
    _n_blocks, block, d = problem.X_blocks.shape
    k = n_components
    per_restart = 8 * (6 * block * k * (d + 1) + 8 * k * d * d + 4 * (max_iter + 1))
    return max(1, MEMORY_BUDGET // per_restart)


@functools.cache
def _batched_initialiser(initialiser, n_components, covariance_type):
    one = functools.partial(initialiser, n_components=n_components,
                            covariance_type=covariance_type)
    return jax.jit(jax.vmap(one, in_axes=(0, None, None)))


def batched_initial_params(init, keys, problem: EMProblem, X: np.ndarray, n_components: int,
                           covariance_type: str) -> GMMParams:
    """Starting points of all restarts, (n_init, ...) arrays in internal coordinates.

    Parameters
    ----------
    init : str, GMMParams or callable
        A name of :data:`ppl_gmm.init.INITIALISERS` (drawn for all keys in one ``vmap``);
        a GMMParams with a leading restart axis (weights (n_init, K)); or a callable
        ``(key, X, n_components) -> GMMParams`` called once per key on the user's data.
    keys : key array (n_init,)
    """
    n_init = keys.shape[0]
    d = problem.X_blocks.shape[-1]
    if isinstance(init, str):
        try:
            initialiser = INITIALISERS[init]
        except KeyError:
            raise ValueError(
                f"init={init!r} is not known; use one of {', '.join(map(repr, INITIALISERS))}, "
                "a GMMParams, or a callable (key, X, n_components) -> GMMParams."
            ) from None
        return _batched_initialiser(initialiser, n_components, covariance_type)(
            keys, problem.X_blocks.reshape(-1, d), problem.w_blocks.reshape(-1)
        )
    if isinstance(init, GMMParams) or (isinstance(init, tuple) and not callable(init)):
        if np.ndim(init[0]) != 2:
            raise ValueError(
                f"n_init={n_init} restarts from one explicit GMMParams would all be identical; "
                "pass n_init=1, or a GMMParams whose arrays have a leading restart axis "
                f"(weights of shape (n_init, K)), or an initialiser name or callable."
            )
        starts = [GMMParams(*(np.asarray(a)[r] for a in init)) for r in range(len(init[0]))]
        if len(starts) != n_init:
            raise ValueError(
                f"The GMMParams batch holds {len(starts)} starting points but n_init={n_init}; "
                "give one starting point per restart."
            )
    elif callable(init):
        starts = [init(key, X.copy(), n_components) for key in keys]
    else:
        raise ValueError(f"init must be a name, a GMMParams or a callable, got {init!r}.")
    checked = [check_params(p, n_features=d, n_components=n_components) for p in starts]
    stacked = GMMParams(*(jnp.asarray(np.stack(a)) for a in zip(*checked, strict=True)))
    return jax.vmap(problem.coordinates.params_to_internal)(stacked)


@functools.partial(jax.jit, static_argnames=("covariance_type", "max_iter", "variant"))
def run_em_batch(problem: EMProblem, init_params: GMMParams, covariance_type: str,
                 max_iter: int, variant: str = "soft") -> EMState:
    """:func:`ppl_gmm.em.run_em` for a batch of starting points, as one program.

    Equivalent to ``jax.vmap(run_em)`` over `init_params` (same steps, same numbers), in
    lockstep form: the loop body is :func:`ppl_gmm.em.em_iteration` ``vmap``-ed over the
    restarts, one scalar condition (any restart still running) drives the loop, and the
    restarts that have stopped keep their state. The trace buffers live outside the
    per-restart select and every iteration writes one row of them in place; the plain
    ``vmap`` of the while loop would copy all the buffers at every iteration.

    Returns
    -------
    EMState
        Every field with a leading restart axis, as ``vmap(run_em)`` returns it.
    """
    r = init_params.weights.shape[0]

    def start(params):
        return initial_state(problem, params, covariance_type, 0, variant)

    states = jax.vmap(start)(init_params)
    trace = EMTrace(*(jnp.full((max_iter + 1, r), jnp.nan, a.dtype).at[0].set(a[:, 0])
                      for a in states.trace))
    states = states._replace(trace=None)

    def running(s):
        return still_running(s, max_iter)

    def keep_going(carry):
        return jnp.any(running(carry[0]))

    def iterate(carry):
        states, trace = carry
        on = running(states)
        new, entries = jax.vmap(lambda s: em_iteration(problem, s, covariance_type, variant))(
            states)
        states = jax.tree.map(lambda a, b: jnp.where(_rows(on, a), a, b), new, states)
        # Every running restart is at the same iteration t: they all started together.
        t = jnp.max(states.iteration)
        trace = EMTrace(*(buffer.at[t].set(jnp.where(on, entry, buffer[t]))
                          for buffer, entry in zip(trace, entries, strict=True)))
        return states, trace

    states, trace = lax.while_loop(keep_going, iterate, (states, trace))
    return states._replace(trace=EMTrace(*(buffer.T for buffer in trace)))


def _rows(mask, a):
    """Broadcast a per-restart mask (B,) against an array with leading axis B."""
    return mask.reshape(mask.shape + (1,) * (a.ndim - 1))


@functools.partial(jax.jit,
                   static_argnames=("covariance_type", "max_iter", "variant", "slots"))
def run_em_queue(problem: EMProblem, init_params: GMMParams, covariance_type: str,
                 max_iter: int, variant: str = "soft", slots: int = 4) -> EMState:
    """:func:`ppl_gmm.em.run_em` for a batch of starting points through `slots` lanes.

    One program, one ``lax.while_loop``: `slots` restarts advance together (the loop
    body :func:`ppl_gmm.em.em_iteration` ``vmap``-ed over the lanes); when a restart
    stops, its final state is stored and the next waiting restart takes its lane. The
    work is then about the sum of the restarts' iterations instead of the batch size
    times the slowest restart's, which matters where the arithmetic, not the number of
    dispatched operations, sets the cost (a CPU). Each restart takes exactly the steps
    it takes alone.

    Returns
    -------
    EMState
        Every field with a leading restart axis, as ``vmap(run_em)`` returns it.
    """
    r = init_params.weights.shape[0]
    b = min(slots, r)
    starts = jax.vmap(lambda p: initial_state(problem, p, covariance_type, 0, variant))(
        init_params)
    trace = EMTrace(*(jnp.full((r, max_iter + 1), jnp.nan, a.dtype).at[:, 0].set(a[:, 0])
                      for a in starts.trace))
    starts = starts._replace(trace=None)

    def running(s):
        return still_running(s, max_iter)

    def retire_and_refill(carry):
        lanes, lane_id, next_id, results = carry
        done = (lane_id >= 0) & ~running(lanes)
        target = jnp.where(done, lane_id, r)  # r is out of bounds: dropped
        results = jax.tree.map(lambda res, s: res.at[target].set(s, mode="drop"), results,
                               lanes)
        new_id = next_id + jnp.cumsum(done) - 1
        refill = done & (new_id < r)
        fresh = jax.tree.map(lambda a: a[jnp.clip(new_id, 0, r - 1)], starts)
        lanes = jax.tree.map(lambda f, s: jnp.where(_rows(refill, f), f, s), fresh, lanes)
        lane_id = jnp.where(done, jnp.where(refill, new_id, -1), lane_id)
        return lanes, lane_id, next_id + jnp.sum(done), results

    def keep_going(carry):
        return jnp.any(carry[1] >= 0)

    def iterate(carry):
        lanes, lane_id, next_id, results, trace = carry
        any_done = jnp.any((lane_id >= 0) & ~running(lanes))
        lanes, lane_id, next_id, results = lax.cond(
            any_done, retire_and_refill, lambda c: c, (lanes, lane_id, next_id, results))
        on = (lane_id >= 0) & running(lanes)
        new, entries = jax.vmap(lambda s: em_iteration(problem, s, covariance_type, variant))(
            lanes)
        lanes = jax.tree.map(lambda n, s: jnp.where(_rows(on, n), n, s), new, lanes)
        rows = jnp.where(on, lane_id, r)
        trace = EMTrace(*(buffer.at[rows, lanes.iteration].set(entry, mode="drop")
                          for buffer, entry in zip(trace, entries, strict=True)))
        return lanes, lane_id, next_id, results, trace

    lanes = jax.tree.map(lambda a: a[:b], starts)
    carry = (lanes, jnp.arange(b), jnp.asarray(b), starts, trace)
    _, _, _, results, trace = lax.while_loop(keep_going, iterate, carry)
    return results._replace(trace=trace)


#: Restarts advancing together on a CPU (where the batch's cost is its arithmetic).
CPU_LANES = 4


def default_lanes(problem: EMProblem, n_components: int, max_iter: int, n_init: int) -> int:
    """Restarts advancing together: all of them on an accelerator (memory permitting),
    ``CPU_LANES`` on a CPU."""
    lanes = default_batch_size(problem, n_components, max_iter)
    if jax.default_backend() == "cpu":
        lanes = min(lanes, CPU_LANES)
    return max(1, min(lanes, n_init))


def run_restarts(problem: EMProblem, init_params: GMMParams, covariance_type: str,
                 max_iter: int, variant: str = "soft", batch_size: int | None = None):
    """Run EM from every starting point in `init_params` (leading restart axis), one program.

    `batch_size` restarts advance together (default :func:`default_lanes`): all of them
    in lockstep (:func:`run_em_batch`), or fewer lanes fed from a queue
    (:func:`run_em_queue`). Returns the final :class:`ppl_gmm.em.EMState` of every
    restart (leading restart axis).
    """
    k = init_params.weights.shape[-1]
    r = init_params.weights.shape[0]
    lanes = batch_size or default_lanes(problem, k, max_iter, r)
    if lanes >= r:
        return run_em_batch(problem, init_params, covariance_type=covariance_type,
                            max_iter=max_iter, variant=variant)
    return run_em_queue(problem, init_params, covariance_type=covariance_type,
                        max_iter=max_iter, variant=variant, slots=lanes)


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


def table_from_states(states, problem: EMProblem, init_params: GMMParams, seed,
                      batched: bool = True) -> RestartTable:
    """A :class:`RestartTable` from final EM states (internal coordinates).

    `states` and `init_params` have a leading restart axis, or none with
    ``batched=False`` (a single run). One transfer to the host, then NumPy.
    """
    host = jax.device_get((states.objective, states.iteration, states.converged,
                           states.failed_component, states.stats.counts,
                           states.trace.log_likelihood, states.params, init_params,
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
    "MEMORY_BUDGET",
    "RestartTable",
    "batched_initial_params",
    "batched_map",
    "best_restart",
    "restart_keys",
    "restart_table",
    "run_em_batch",
    "run_restarts",
]
