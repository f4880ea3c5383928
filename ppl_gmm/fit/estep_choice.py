"""Which in-memory E-step a fit uses: chosen by measurement on this machine, once per shape.

The E-step (:func:`ppl_gmm.engine.statistics.block_e_step`) either builds each block's
design rows f = (z(x), x, 1) in cache from the data (memory traffic O(n d) per iteration,
no extra memory) or reads them stored for the whole fit (O(n d^2) bytes read twice per
iteration, d(d+1)/2 + d + 1 float64 per row kept). Which is faster depends on the
machine's memory bandwidth against its matrix-product rate: on the 2-core machine the suite
runs on the two were within 10-30% of each other at (10^6, 16, 16) and swapped places from
run to run, while at ~10 GB/s the stored rows' 2.4 GB per iteration alone take longer than
the whole flop floor of a 50 GFLOP/s machine. So no constant decides it:

* small problems (stored rows below ``MEASURED_ABOVE_BYTES``, 256 MiB) build per block; an E-step
  there takes milliseconds and measuring would cost more than it could save;
* problems whose stored rows would exceed ``STORED_DESIGN_BYTES`` build per block (memory);
* in between, both E-steps are timed once per process on the problem's first
  ``MEASURED_BLOCKS`` blocks (its own rows, the same compiler options as the fit), and
  the stored rows are used only when they are faster by more than ``MARGIN`` (building
  keeps memory O(n d), so it wins ties). The choice is remembered per (block rows,
  features, components, dtype); :func:`clear_choices` forgets them.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from ..engine.gaussian import cholesky_factors, design_width
from ..engine.kernel import EMProblem
from ..engine.statistics import STORED_DESIGN_BYTES, block_e_step, with_design_rows
from ..params import GMMParams
from .program import COMPILER_OPTIONS

#: Stored design rows below this size are not measured (the E-step builds them per block).
MEASURED_ABOVE_BYTES = 2**28
#: Blocks of the problem each candidate E-step is timed on.
MEASURED_BLOCKS = 32
#: Timed runs of each candidate, interleaved; the median counts.
MEASURED_REPEATS = 3
#: Stored rows must be faster than building them by this fraction to be chosen.
MARGIN = 0.1

_CHOICES: dict[tuple, bool] = {}
_TIMED_E_STEP = jax.jit(
    lambda problem, params: block_e_step(problem, params, cholesky_factors(params.covariances)),
    compiler_options=COMPILER_OPTIONS)
_STORED_ROWS = jax.jit(with_design_rows)


def stored_design_bytes(problem: EMProblem) -> int:
    """Bytes the problem's design rows would take stored."""
    n_blocks, block, d = problem.X_blocks.shape
    return n_blocks * block * design_width(d) * np.dtype(problem.X_blocks.dtype).itemsize


def stores_design_rows(problem: EMProblem, width: int) -> bool:
    """Whether the fit of `problem` with `width` components reads stored design rows."""
    size = stored_design_bytes(problem)
    if size < MEASURED_ABOVE_BYTES or size > STORED_DESIGN_BYTES:
        return False
    _, block, d = problem.X_blocks.shape
    key = (block, d, width, np.dtype(problem.X_blocks.dtype).name)
    if key not in _CHOICES:
        built, stored = time_e_steps(problem, width)
        _CHOICES[key] = bool(stored < (1.0 - MARGIN) * built)
    return _CHOICES[key]


def time_e_steps(problem: EMProblem, width: int,
                 repeats: int = MEASURED_REPEATS) -> tuple[float, float]:
    """Median seconds of one E-step on the first ``MEASURED_BLOCKS`` blocks of `problem`:
    (design rows built per block, design rows stored)."""
    X_blocks = jnp.asarray(problem.X_blocks[:MEASURED_BLOCKS])
    part = EMProblem(X_blocks=X_blocks, w_blocks=jnp.asarray(problem.w_blocks[:MEASURED_BLOCKS]),
                     prior=None, user_prior=None, coordinates=problem.coordinates,
                     reg_covar=jnp.asarray(problem.reg_covar), tol=jnp.asarray(problem.tol))
    d = X_blocks.shape[-1]
    # Any proper parameters do: the E-step's cost does not depend on their values.
    params = GMMParams(jnp.full(width, 1.0 / width, X_blocks.dtype), X_blocks[0, :width],
                       jnp.broadcast_to(jnp.eye(d, dtype=X_blocks.dtype), (width, d, d)))
    candidates = (part, jax.block_until_ready(_STORED_ROWS(part)))
    seconds = ([], [])
    for candidate in candidates:
        jax.block_until_ready(_TIMED_E_STEP(candidate, params))  # compile, warm the cache
    for _ in range(repeats):
        for candidate, times in zip(candidates, seconds, strict=True):
            start = time.perf_counter()
            jax.block_until_ready(_TIMED_E_STEP(candidate, params))
            times.append(time.perf_counter() - start)
    return float(np.median(seconds[0])), float(np.median(seconds[1]))


def clear_choices() -> None:
    """Forget the measured choices (the next large fit measures again)."""
    _CHOICES.clear()


__all__ = [
    "MARGIN",
    "MEASURED_ABOVE_BYTES",
    "MEASURED_BLOCKS",
    "MEASURED_REPEATS",
    "clear_choices",
    "stored_design_bytes",
    "stores_design_rows",
    "time_e_steps",
]
