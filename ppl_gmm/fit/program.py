"""The one compiled program of a fit, and the shape buckets that let a new fit reuse it.

Compiling is latency a notebook user waits for (about a second per program on a CPU),
so `fit_em` runs one program: the initialisation from the seed, EM for one start or all
restarts, the choice of the best restart and the final E-step. Everything before it
(validation, the coordinates, the padding, the prior's defaults) is NumPy on the host;
everything after it is NumPy too.

The program depends on shapes, so the shapes are padded into buckets
(:func:`layout`), and the numbers that would otherwise be shapes are traced:

- **rows**: up to ``MIN_PADDED_ROWS`` rows, into blocks of ``SMALL_BLOCK_ROWS``
  filling ``MIN_PADDED_ROWS``; up to one block, to a power of two; above, into whole
  blocks whose count is padded to 1, 2, 3, 4, 6, 8, 12, 16, ... (at most 1.5 times the
  data). The E-step skips the blocks that hold only padding
  (:attr:`ppl_gmm.engine.kernel.EMProblem.n_blocks`), so a small fit's iterations cost
  what its own rows (rounded up to a block) cost. Padding rows have weight 0, as the
  last block's always had. Restart batches (``n_init > 1``) of at most one block of
  rows are not padded: their program is compiled for its n_init and K anyway, and
  every padding row would cost each of the n_init runs (32 restarts on Old Faithful ran
  1.2-1.6x slower on 128-row blocks, 1.6x on 512 rows).
- **components**: on small single-start problems (at most ``PADDED_COMPONENTS``
  components and ``PADDING_BUDGET`` design entries per component, so the dead
  components cost well under a millisecond per iteration) K is padded to
  ``PADDED_COMPONENTS`` with dead components
  (:attr:`ppl_gmm.engine.kernel.EMProblem.component_mask`), for maximum likelihood with
  the initialisers whose draws do not depend on K
  (:data:`ppl_gmm.fit.init.PADDABLE_INITIALISERS`) or an explicit start. Larger problems
  and restart batches compile their own K: the compilation is then small next to the
  fit (a batch does n_init fits' work, and the dead components would cost it more than
  they save).
- **iterations**: ``max_iter`` is traced; the trace buffers hold ``MIN_TRACE_LENGTH``
  entries, or the next power of two above max_iter (:func:`trace_length`).

Padding never changes a result beyond rounding: padding rows and dead components
contribute exact zeros to every sum, and the initialisers' draws do not depend on the
padding (JAX's partitionable random keys).
"""

from __future__ import annotations

import contextlib
import functools
import gc
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..engine.gaussian import design_width
from ..engine.kernel import (
    EMProblem,
    EMState,
    EMTrace,
    gaussian_em_kernel,
    live_count,
    masked,
    objective_change,
)
from ..engine.schedule import run_restarts, run_single
from ..engine.statistics import block_responsibilities
from ..params import GMMParams
from .init import PADDABLE_INITIALISERS, get_initialiser, padded_initial_params
from .restarts import restart_keys

#: Data up to this many rows share one program (their rows padded to it).
MIN_PADDED_ROWS = 1024
#: Rows per block of that program; the E-step visits only the blocks holding data, so
#: 272 rows cost 512 rows' work, not 1024's. Each block visited costs a fixed ~20 us in
#: a quickly compiled program, so smaller blocks lose: a fit of Old Faithful ran 1.6x
#: slower with blocks of 128 (benchmarks/bench_restarts.py).
SMALL_BLOCK_ROWS = 256
#: K is padded to this many components on small problems, so any K up to it shares one
#: compiled program.
PADDED_COMPONENTS = 16
#: Padding K is allowed while (rows after padding) x (design row width) stays below this:
#: the dead components then cost at most 4 x 16 x 2^18 flops (about 0.3 ms) per iteration.
PADDING_BUDGET = 2**18
#: XLA:CPU options of every fit program. The loop emitters compile the fit program in
#: about 0.9 s where the newer fusion emitters take 1.6 s (jaxlib 0.10, 2-core machine),
#: and the EM iterations run as fast (benchmarks/bench_em.py).
COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
#: Options of the programs of small fits, where compiling is all a user waits for: no
#: LLVM optimisation saves another ~0.5 s of compiling; the iterations run ~2x slower,
#: which at these sizes is well under a millisecond each. The matrix products,
#: elementwise maps and reductions go to the YNNPACK library (compiled ahead of time,
#: so fast without LLVM's optimisation): the iterations of a fit of Old Faithful ran
#: 1.6x faster with them at optimisation level 0 and compiled as quickly.
QUICK_COMPILER_OPTIONS = {
    **COMPILER_OPTIONS,
    "xla_backend_optimization_level": 0,
    "xla_cpu_experimental_ynn_fusion_type": ",".join(
        f"LIBRARY_FUSION_TYPE_{kind}" for kind in ("DOT", "ELTWISE", "REDUCE",
                                                   "INDIVIDUAL_DOT")),
}
#: A single-start fit's program is compiled quickly (``QUICK_COMPILER_OPTIONS``) when its
#: padded rows x components x design row width is at most this. Restart batches are
#: always optimised: their iterations cost n_init fits', and are what the user waits for.
QUICK_COMPILE_WORK = 2**20
#: The shortest trace buffer: every max_iter below it (the default 1000 included) shares
#: one program; the buffers are a few kB.
MIN_TRACE_LENGTH = 1024


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def block_count_bucket(n_blocks: int) -> int:
    """The smallest of 1, 2, 3, 4, 6, 8, 12, 16, 24, ... at least `n_blocks`."""
    power = _next_power_of_two(n_blocks)
    three_quarters = 3 * power // 4
    return three_quarters if power >= 4 and three_quarters >= n_blocks else power


class Layout(NamedTuple):
    """How n rows and K components are padded (all host integers).

    Attributes
    ----------
    block : int
        Rows per block.
    n_blocks : int
        Blocks holding data (the E-step visits these).
    padded_blocks : int
        Blocks allocated (a bucket, >= n_blocks).
    width : int
        Components carried (K, or ``PADDED_COMPONENTS`` with dead ones).
    masked : bool
        Whether the components carry a live mask (K padded; also K = PADDED_COMPONENTS,
        so that it shares the program of the smaller K).
    """

    block: int
    n_blocks: int
    padded_blocks: int
    width: int
    masked: bool = False


def layout(n: int, d: int, n_components: int, block_size: int, pad_components: bool,
           pad: bool = True, n_init: int = 1) -> Layout:
    """The padded shapes of a fit of n rows, d features, K components, `n_init` starts.

    `pad_components` says whether K may be padded (maximum likelihood with a paddable
    start); ``pad=False`` gives the exact shapes (one block of n rows up to
    `block_size`, no padded blocks, K itself), which the tests compare against, and
    restart batches of at most one block get them too.
    """
    if not pad or (n_init > 1 and n <= block_size):
        block = min(block_size, n)
        n_blocks = -(-n // block)
        return Layout(block, n_blocks, n_blocks, n_components, False)
    if n <= min(MIN_PADDED_ROWS, block_size):
        block = min(SMALL_BLOCK_ROWS, block_size)
        n_blocks = -(-n // block)
        padded_blocks = -(-min(MIN_PADDED_ROWS, block_size) // block)
        return _with_components(block, n_blocks, padded_blocks, d, n_components,
                                pad_components)
    if n <= block_size:
        block = _next_power_of_two(n)
        n_blocks = 1
    else:
        block = block_size
        n_blocks = -(-n // block)
    return _with_components(block, n_blocks, block_count_bucket(n_blocks), d, n_components,
                            pad_components)


def _with_components(block: int, n_blocks: int, padded_blocks: int, d: int,
                     n_components: int, pad_components: bool) -> Layout:
    """The layout of these row blocks, with K padded when allowed and cheap."""
    if (pad_components and n_components <= PADDED_COMPONENTS
            and padded_blocks * block * design_width(d) <= PADDING_BUDGET):
        return Layout(block, n_blocks, padded_blocks, PADDED_COMPONENTS, True)
    return Layout(block, n_blocks, padded_blocks, n_components, False)


def trace_length(max_iter: int) -> int:
    """Trace buffer entries for `max_iter` iterations: a power of two > max_iter."""
    return max(MIN_TRACE_LENGTH, _next_power_of_two(max_iter + 1))


def pad_components(params: GMMParams, width: int) -> GMMParams:
    """Append dead components (weight 0, mean 0, identity covariance) up to `width`.

    Works on NumPy arrays with or without a leading restart axis.
    """
    k = params.weights.shape[-1]
    if width == k:
        return params
    lead = params.weights.shape[:-1]
    d = params.means.shape[-1]
    extra = width - k
    eye = np.broadcast_to(np.eye(d), (*lead, extra, d, d))
    return GMMParams(
        np.concatenate([params.weights, np.zeros((*lead, extra))], axis=-1),
        np.concatenate([params.means, np.zeros((*lead, extra, d))], axis=-2),
        np.concatenate([params.covariances, eye], axis=-3),
    )


def can_pad_components(init, prior, n_init: int = 1) -> bool:
    """Whether a fit with this start, prior and number of restarts may carry dead
    components.

    Under a prior the resolved hyperparameters and the log prior depend on K, so those
    fits compile their own K; so do restart batches, whose program is compiled per
    n_init anyway and whose every iteration would carry n_init sets of dead components.
    """
    if prior is not None or n_init > 1:
        return False
    return not isinstance(init, str) or init in PADDABLE_INITIALISERS


class FitOutput(NamedTuple):
    """What the fit program returns (device arrays; internal coordinates, padded).

    Attributes
    ----------
    start : GMMParams
        The starting point(s), leading restart axis when n_init > 1.
    state : EMState
        The final state(s).
    trace : EMTrace
        The trace buffers, ``trace_length`` entries (per restart).
    best : int scalar
        The restart chosen (0 for one run): the highest objective among those that did
        not fail, -1 if all failed.
    responsibilities : (rows, width)
        r_ik of the chosen restart at its final parameters (rows of padding blocks 0).
    last_change : (2,)
        |objective_T - objective_{T-1}| of the chosen restart and the scale the
        stopping rule divides it by (:func:`ppl_gmm.engine.kernel.objective_change`).
    """

    start: GMMParams
    state: EMState
    trace: EMTrace
    best: jnp.ndarray
    responsibilities: jnp.ndarray
    last_change: jnp.ndarray


def _regularised(params: GMMParams, problem: EMProblem) -> GMMParams:
    """An initialiser's covariances plus `reg_covar` on the diagonal (any leading axes).

    The initialisers are an initial M-step, so they are regularised as every M-step is
    (as scikit-learn does): with a constant column and reg_covar > 0 EM then starts.
    """
    return params._replace(covariances=params.covariances + jnp.diag(problem.reg_covar))


def with_fixed_covariance(params: GMMParams, problem: EMProblem) -> GMMParams:
    """Starting points with the fixed covariance, when there is one (any leading axes)."""
    if problem.fixed_covariance is None:
        return params
    return params._replace(covariances=jnp.broadcast_to(problem.fixed_covariance,
                                                        jnp.shape(params.covariances)))


def drawn_start(problem: EMProblem, key, n_active, init: str, covariance_type: str,
                width: int) -> GMMParams:
    """Initialiser `init`'s start from `key`, in internal coordinates, padded to `width`."""
    d = problem.X_blocks.shape[-1]
    X = problem.X_blocks.reshape(-1, d)
    w = problem.w_blocks.reshape(-1)
    if problem.component_mask is None:
        start = get_initialiser(init)(key, X, w, width, covariance_type)
    else:
        start = padded_initial_params(init, key, X, w, n_active, problem.component_mask,
                                      covariance_type)
    return masked(_regularised(start, problem), problem.component_mask)


def starting_points(problem: EMProblem, start, seed, init, covariance_type: str,
                    n_init: int, width: int) -> GMMParams:
    """The start of each restart: `start` as given (init None), else drawn from the seed."""
    if init is not None:
        n_active = live_count(problem, width)
        if n_init == 1:
            start = drawn_start(problem, jax.random.key(seed), n_active, init,
                                covariance_type, width)
        else:
            start = jax.vmap(lambda key: drawn_start(problem, key, n_active, init,
                                                     covariance_type, width))(
                restart_keys(seed, n_init))
    return with_fixed_covariance(start, problem)


def fit_program(problem: EMProblem, start, seed, max_iter, *, covariance_type: str,
                variant: str, init, n_init: int, lanes: int, trace_length: int,
                width: int, store_design_rows: bool = False) -> FitOutput:
    """A whole fit: starting points, EM, the best restart, its responsibilities.

    Parameters
    ----------
    problem : EMProblem
        Padded (:func:`layout`); ``component_mask`` set when K is padded.
    start : GMMParams or None
        Explicit starting point(s) (internal coordinates, padded), or None with `init`.
    seed : int scalar
    max_iter : int scalar
        Traced: one program serves every max_iter below `trace_length`.
    covariance_type, variant : str
    init : str or None
        The initialiser drawn inside the program (None: `start` is given).
    n_init, lanes : int
        Restarts and how many advance together (:func:`ppl_gmm.engine.schedule.run_restarts`).
    trace_length : int
        Trace buffer entries, > max_iter.
    width : int
        Components carried (:attr:`Layout.width`).
    store_design_rows : bool
        Which in-memory E-step (:func:`ppl_gmm.engine.kernel.gaussian_em_kernel`).
    """
    start = starting_points(problem, start, seed, init, covariance_type, n_init, width)
    kernel = gaussian_em_kernel(problem, covariance_type, variant,
                                store_design_rows=store_design_rows)
    if n_init == 1:
        state, trace = run_single(kernel, start, max_iter, trace_length)
        best = jnp.where(state.failed_component < 0, 0, -1)
        chosen_state, chosen_trace = state, trace
    else:
        state, trace = run_restarts(kernel, start, max_iter, lanes, trace_length)
        usable = (state.failed_component < 0) & jnp.isfinite(state.objective)
        best = jnp.where(jnp.any(usable),
                         jnp.argmax(jnp.where(usable, state.objective, -jnp.inf)), -1)
        pick = jnp.maximum(best, 0)
        chosen_state = jax.tree.map(lambda a: a[pick], state)
        chosen_trace = jax.tree.map(lambda a: a[pick], trace)
    responsibilities = block_responsibilities(problem.X_blocks, chosen_state.params,
                                              problem.n_blocks)
    t = chosen_state.iteration
    before = jnp.maximum(t - 1, 0)
    change, scale = objective_change(problem, chosen_trace.objective[t],
                                     chosen_trace.objective[before],
                                     chosen_trace.log_likelihood[t],
                                     chosen_trace.log_likelihood[before])
    return FitOutput(start, state, trace, best, responsibilities, jnp.stack([change, scale]))


_STATIC = ("covariance_type", "variant", "init", "n_init", "lanes", "trace_length", "width",
           "store_design_rows")
#: The two compilations of :func:`fit_program`: optimised, and quick for small fits.
FIT_PROGRAMS = {
    "optimised": jax.jit(fit_program, static_argnames=_STATIC,
                         compiler_options=COMPILER_OPTIONS),
    "quick": jax.jit(fit_program, static_argnames=_STATIC,
                     compiler_options=QUICK_COMPILER_OPTIONS),
}


def compiled_fit_program(problem: EMProblem, width: int, n_init: int = 1):
    """The jitted :func:`fit_program` for this problem's shapes: ``"quick"`` on a CPU for a
    single start whose padded rows x `width` x design row width is at most
    ``QUICK_COMPILE_WORK``, else ``"optimised"`` (the quick options are XLA:CPU's)."""
    blocks, rows, d = problem.X_blocks.shape
    work = blocks * rows * width * design_width(d)
    quick = n_init == 1 and work <= QUICK_COMPILE_WORK and jax.default_backend() == "cpu"
    return FIT_PROGRAMS["quick" if quick else "optimised"]


@contextlib.contextmanager
def garbage_collection_paused():
    """Python's cyclic garbage collector off for the block (and back as it was after).

    Tracing and lowering a fit program allocate some 10^5 short-lived Python objects, and
    the collections they set off scan everything the process holds (JAX, NumPy, the
    user's session): pausing it made a first fit in a fresh process about 0.1 s (10%)
    faster. Running the compiled program allocates almost nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compiled_count() -> int:
    """How many fit programs this process holds compiled (both kinds)."""
    return sum(jitted._cache_size() for jitted in FIT_PROGRAMS.values())


def clear_compiled() -> None:
    """Drop the compiled fit programs (the next fit traces and compiles again)."""
    for jitted in FIT_PROGRAMS.values():
        jitted.clear_cache()


@functools.partial(jax.jit, static_argnames=("covariance_type", "init", "n_init", "width"),
                   compiler_options=QUICK_COMPILER_OPTIONS)
def start_program(problem: EMProblem, seed, *, covariance_type: str, init: str, n_init: int,
                  width: int) -> GMMParams:
    """The starting points `fit_program` draws, alone (for :func:`ppl_gmm.initial_parameters`)."""
    return starting_points(problem, None, seed, init, covariance_type, n_init, width)


__all__ = [
    "COMPILER_OPTIONS",
    "FIT_PROGRAMS",
    "MIN_PADDED_ROWS",
    "PADDED_COMPONENTS",
    "PADDING_BUDGET",
    "QUICK_COMPILER_OPTIONS",
    "QUICK_COMPILE_WORK",
    "SMALL_BLOCK_ROWS",
    "FitOutput",
    "Layout",
    "block_count_bucket",
    "can_pad_components",
    "clear_compiled",
    "compiled_count",
    "compiled_fit_program",
    "fit_program",
    "garbage_collection_paused",
    "layout",
    "pad_components",
    "start_program",
    "starting_points",
    "trace_length",
    "with_fixed_covariance",
]
