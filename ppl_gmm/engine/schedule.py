"""Running a kernel: alone, or many restarts in one compiled program.

A *kernel* is a pair of pure functions ``init(params) -> (state, entries)`` and
``step(state) -> (state, entries)`` (:class:`ppl_gmm.engine.kernel.EMKernel`); the
state has ``iteration``, ``converged`` and ``failed_component`` fields, and ``entries``
is a pytree of scalars: one trace row per iterate. The EM kernel of any structure,
the model-selection grid's masked kernel and Lloyd's K-means are all run by the
functions here; each returns the final states and the trace buffers (``max_iter + 1``
entries per field, NaN past the last iterate; entry 0 is the initial state's).

Restarts (many starting points) run in one compiled program, two schedules, the same
numbers (each restart takes exactly the steps it takes alone):

- lockstep (:func:`run_lockstep`): one lane per restart; the loop runs as long as the
  slowest restart, and restarts that have stopped keep their state. Best where a batch
  costs about what one run costs (an accelerator, or tiny problems dominated by
  per-operation overhead).
- queued (:func:`run_queued`): a few lanes; a lane whose restart stops takes the next
  waiting one, so the work is the sum of the restarts' iterations rather than the
  batch size times the longest. Best on a CPU, where the cost is the arithmetic; the
  default there is ``CPU_LANES`` lanes (:func:`default_lanes`).

A restart that converges or fails stops, its state frozen, so a restart that
degenerates cannot disturb the others.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .kernel import still_running

#: Bytes a batch of restarts may use for its E-step temporaries and traces.
MEMORY_BUDGET = 256 * 2**20
#: Restarts advancing together on a CPU (where the batch's cost is its arithmetic).
CPU_LANES = 4


def _empty_buffers(entries, length: int, leading=()):
    return jax.tree.map(lambda e: jnp.full((*leading, length), jnp.nan, jnp.result_type(e)),
                        entries)


def _rows(mask, a):
    """Broadcast a per-restart mask (B,) against an array with leading axis B."""
    return mask.reshape(mask.shape + (1,) * (a.ndim - 1))


def _trace_length(max_iter, trace_length):
    """Trace buffer entries: `trace_length` when given (then `max_iter` may be traced, so
    one program serves every max_iter below it), else ``max_iter + 1``."""
    return max_iter + 1 if trace_length is None else trace_length


def run_single(kernel, params, max_iter, trace_length: int | None = None):
    """Iterate one kernel run inside ``lax.while_loop`` until converged, failed or `max_iter`.

    Returns
    -------
    (state, trace)
        The final state and the trace buffers (``max_iter + 1`` entries each, or
        `trace_length` >= max_iter + 1 when given).
    """
    state, entries = kernel.init(params)
    trace = jax.tree.map(lambda b, e: b.at[0].set(e),
                         _empty_buffers(entries, _trace_length(max_iter, trace_length)),
                         entries)

    def iterate(carry):
        state, trace = carry
        state, entries = kernel.step(state)
        t = state.iteration
        return state, jax.tree.map(lambda b, e: b.at[t].set(e), trace, entries)

    return lax.while_loop(lambda carry: still_running(carry[0], max_iter), iterate,
                          (state, trace))


def run_lockstep(kernel, params, max_iter, trace_length: int | None = None):
    """Every restart in `params` (leading restart axis) in its own lane, in lockstep.

    Equivalent to ``jax.vmap(run_single)`` over `params` (same steps, same numbers): the
    step ``vmap``-ed over the restarts, one scalar condition (any restart still running)
    driving the loop, and the restarts that have stopped keeping their state. The trace
    buffers live outside the per-restart select, and every iteration writes one row of
    them in place (the plain ``vmap`` of the while loop would copy them all).

    Returns
    -------
    (states, trace)
        Leading restart axis on every field; trace buffers (R, max_iter + 1).
    """
    states, entries = jax.vmap(kernel.init)(params)
    r = jax.tree.leaves(entries)[0].shape[0]
    # Buffers are (max_iter + 1, R) inside the loop (one row written per iteration).
    length = _trace_length(max_iter, trace_length)
    trace = jax.tree.map(lambda e: jnp.full((length, r), jnp.nan, e.dtype).at[0].set(e),
                         entries)

    def running(s):
        return still_running(s, max_iter)

    def iterate(carry):
        states, trace = carry
        on = running(states)
        new, entries = jax.vmap(kernel.step)(states)
        states = jax.tree.map(lambda a, b: jnp.where(_rows(on, a), a, b), new, states)
        # Every running restart is at the same iteration t: they all started together.
        t = jnp.max(states.iteration)
        trace = jax.tree.map(lambda b, e: b.at[t].set(jnp.where(on, e, b[t])), trace, entries)
        return states, trace

    states, trace = lax.while_loop(lambda carry: jnp.any(running(carry[0])), iterate,
                                   (states, trace))
    return states, jax.tree.map(lambda b: b.T, trace)


def run_queued(kernel, params, max_iter, lanes: int, trace_length: int | None = None):
    """Every restart in `params` (leading restart axis) through `lanes` lanes.

    One program, one ``lax.while_loop``: `lanes` restarts advance together (the step
    ``vmap``-ed over the lanes); when a restart stops, its final state is stored and the
    next waiting restart takes its lane. The work is then about the sum of the
    restarts' iterations instead of the batch size times the slowest restart's, which
    matters where the arithmetic, not the number of dispatched operations, sets the
    cost (a CPU). Each restart takes exactly the steps it takes alone.

    Returns
    -------
    (states, trace)
        As :func:`run_lockstep`.
    """
    starts, entries = jax.vmap(kernel.init)(params)
    r = jax.tree.leaves(entries)[0].shape[0]
    b = min(lanes, r)
    length = _trace_length(max_iter, trace_length)
    trace = jax.tree.map(lambda e: jnp.full((r, length), jnp.nan, e.dtype).at[:, 0].set(e),
                         entries)

    def running(s):
        return still_running(s, max_iter)

    def retire_and_refill(carry):
        lane_states, lane_id, next_id, results = carry
        done = (lane_id >= 0) & ~running(lane_states)
        target = jnp.where(done, lane_id, r)  # r is out of bounds: dropped
        results = jax.tree.map(lambda res, s: res.at[target].set(s, mode="drop"), results,
                               lane_states)
        new_id = next_id + jnp.cumsum(done) - 1
        refill = done & (new_id < r)
        fresh = jax.tree.map(lambda a: a[jnp.clip(new_id, 0, r - 1)], starts)
        lane_states = jax.tree.map(lambda f, s: jnp.where(_rows(refill, f), f, s), fresh,
                                   lane_states)
        lane_id = jnp.where(done, jnp.where(refill, new_id, -1), lane_id)
        return lane_states, lane_id, next_id + jnp.sum(done), results

    def iterate(carry):
        lane_states, lane_id, next_id, results, trace = carry
        any_done = jnp.any((lane_id >= 0) & ~running(lane_states))
        lane_states, lane_id, next_id, results = lax.cond(
            any_done, retire_and_refill, lambda c: c, (lane_states, lane_id, next_id, results))
        on = (lane_id >= 0) & running(lane_states)
        new, entries = jax.vmap(kernel.step)(lane_states)
        lane_states = jax.tree.map(lambda n, s: jnp.where(_rows(on, n), n, s), new,
                                   lane_states)
        rows = jnp.where(on, lane_id, r)
        trace = jax.tree.map(
            lambda buf, e: buf.at[rows, lane_states.iteration].set(e, mode="drop"), trace,
            entries)
        return lane_states, lane_id, next_id, results, trace

    first = jax.tree.map(lambda a: a[:b], starts)
    carry = (first, jnp.arange(b), jnp.asarray(b), starts, trace)
    _, _, _, results, trace = lax.while_loop(lambda c: jnp.any(c[1] >= 0), iterate, carry)
    return results, trace


def run_restarts(kernel, params, max_iter, lanes: int, trace_length: int | None = None):
    """Every restart of `params`: lockstep when `lanes` covers them all, queued otherwise."""
    r = jax.tree.leaves(params)[0].shape[0]
    if lanes >= r:
        return run_lockstep(kernel, params, max_iter, trace_length)
    return run_queued(kernel, params, max_iter, lanes, trace_length)


def default_lanes(block_rows: int, n_features: int, n_components: int, max_iter: int,
                  n_restarts: int) -> int:
    """Restarts advancing together: all of them on an accelerator (within
    ``MEMORY_BUDGET`` bytes of E-step temporaries and traces), ``CPU_LANES`` on a CPU."""
    k, d = n_components, n_features
    per_restart = 8 * (6 * block_rows * k * (d + 1) + 8 * k * d * d + 4 * (max_iter + 1))
    lanes = max(1, MEMORY_BUDGET // per_restart)
    if jax.default_backend() == "cpu":
        lanes = min(lanes, CPU_LANES)
    return max(1, min(lanes, n_restarts))


__all__ = [
    "CPU_LANES",
    "MEMORY_BUDGET",
    "default_lanes",
    "run_lockstep",
    "run_queued",
    "run_restarts",
    "run_single",
]
