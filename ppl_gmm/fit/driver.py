"""`fit_em`: the public EM driver around the kernel of :mod:`ppl_gmm.engine.kernel`.

The driver validates once, moves the data to internal coordinates (each column
centred and divided by its standard deviation; one common scale for structures whose
model is not invariant to per-feature scaling, :mod:`ppl_gmm.engine.coordinates`),
pads it into row blocks, runs the jitted loop (:mod:`ppl_gmm.engine.schedule`), and
maps everything back. EM is affine equivariant for every
structure under these maps, so the fit is the same as on the raw data, but the
Cholesky factors stay well conditioned when columns live at 1e-8 and 1e8 or far
from the origin. `reg_covar` is given in the user's units and mapped with the data.

Degenerate data and fits, handled one way everywhere: data on which every
covariance is singular (a constant column, ...) are refused before EM when neither
`reg_covar` nor a prior can rescue them; a component whose covariance stops being
positive definite during EM (it collapses onto a few points, or empties) raises
:class:`SingularCovarianceError` naming the component and the fixes, with the last
good iterate never replaced by a failed one (with restarts, that restart is marked
failed and the others go on); a component regularised into holding less than one
observation warns (:class:`EmptyComponentWarning`). NaN is never returned.

``n_init > 1`` runs the restarts as one batched computation (:mod:`ppl_gmm.fit.restarts`,
:mod:`ppl_gmm.engine.schedule`) and returns the best; ``variant="hard"`` is
classification EM and ``fixed_variance`` fixes every covariance at sigma^2 I
(:mod:`ppl_gmm.engine.kernel`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import numpy as np

from .._validation import (
    check_data,
    check_feature_scales,
    check_n_components,
    check_params,
    check_positive_int,
    check_positive_number,
    check_result_dtype,
    check_seed,
    degenerate_data_message,
)
from ..engine.coordinates import standardising_coordinates
from ..engine.kernel import EMProblem, check_variant, em_path
from ..engine.schedule import default_lanes
from ..params import EMHistory, EMResult, FitOptions, GMMParams
from ..prior import resolve_prior
from ..structures.registry import canonical_name, check_prior_accepted, get_structure
from .estep_choice import stores_design_rows
from .init import HIERARCHICAL_INIT, batched_initial_params, get_initialiser, hierarchical_start
from .program import (
    Layout,
    can_pad_components,
    compiled_fit_program,
    garbage_collection_paused,
    layout,
    pad_components,
    start_program,
    trace_length,
    with_fixed_covariance,
)
from .restarts import restart_keys, table_from_states

#: Rows per E-step block. A block's design rows (4096 x (d(d+1)/2 + d + 1) float64, 1.2 MB
#: at d = 16) stay in cache between its two matrix products; measured per iteration
#: (benchmarks/bench_em.py sizes): 4096 beat 2048 by 1.2-1.5x and matched 8192.
DEFAULT_BLOCK_SIZE = 4096


class ConvergenceWarning(UserWarning):
    """EM stopped at `max_iter` before the relative change of its objective fell below `tol`."""


class SingularCovarianceError(ValueError):
    """A component's covariance stopped being positive definite during EM."""


class EmptyComponentWarning(UserWarning):
    """A fitted component holds less than one observation's worth of responsibility.

    Its parameters then come from `reg_covar` (or the prior) and its starting point,
    not from the data; with ``reg_covar=0`` and no prior such a component usually ends
    in :class:`SingularCovarianceError` instead.
    """


def _blocks(X_int: np.ndarray, shape: Layout):
    """Zero-pad to the layout's blocks: (blocks, block, d) data and (blocks, block) row
    weights (1 for data, 0 for padding)."""
    n, d = X_int.shape
    rows = shape.padded_blocks * shape.block
    padded = np.zeros((rows, d), X_int.dtype)
    padded[:n] = X_int
    weights = np.zeros(rows, X_int.dtype)
    weights[:n] = 1.0
    return padded.reshape(-1, shape.block, d), weights.reshape(-1, shape.block)


def make_problem(X: np.ndarray, n_components: int, covariance_type: str, prior, reg_covar: float,
                 tol: float, block_size: int, fixed_variance: float | None = None, *,
                 pad_components: bool = False, pad: bool = True, n_init: int = 1,
                 stopping: str = "standardised") -> EMProblem:
    """Everything the compiled program needs for data X (already validated), as host arrays.

    The rows are padded into a bucket and, with `pad_components`, K into
    ``PADDED_COMPONENTS`` (:func:`ppl_gmm.fit.program.layout`, whose small-data blocks
    depend on `n_init`; ``pad=False`` gives the exact shapes). `fixed_variance` sigma^2
    (user units) fixes every covariance at sigma^2 I. `stopping` names the stopping rule
    (:data:`STOPPING_RULES`). Columns whose scale float64 cannot
    carry through the coordinate maps are refused
    (:func:`ppl_gmm._validation.check_feature_scales`).
    """
    check_feature_scales(X)
    check_prior_accepted(covariance_type, prior)
    n, d = X.shape
    shape = layout(n, d, n_components, block_size, pad_components, pad, n_init)
    coordinates = standardising_coordinates(X, covariance_type)
    X_blocks, w_blocks = _blocks((X - coordinates.shift) / coordinates.scale, shape)
    user_prior = resolve_prior(prior, X, n_components, covariance_type=covariance_type)
    if user_prior is not None:
        user_prior = jax.tree.map(np.asarray, user_prior)
    scale2 = coordinates.scale**2
    return EMProblem(
        X_blocks=X_blocks,
        w_blocks=w_blocks,
        prior=coordinates.prior_to_internal(user_prior),
        user_prior=user_prior,
        coordinates=coordinates,
        reg_covar=np.full(d, reg_covar) / scale2,
        tol=np.asarray(tol, np.float64),
        fixed_covariance=None if fixed_variance is None else np.diag(
            np.full(d, fixed_variance) / scale2),
        n_blocks=None if shape.padded_blocks == shape.n_blocks else np.int64(shape.n_blocks),
        component_mask=np.arange(shape.width) < n_components if shape.masked else None,
        # Always an array, so that either rule runs the same compiled program.
        mclust_stopping=np.bool_(stopping == "mclust"),
    )


#: fit_em's stopping rules: ppl_gmm's (relative to the standardised objective) and
#: mclust's (relative to 1 + |log-likelihood|, ``emControl``).
STOPPING_RULES = ("standardised", "mclust")


def check_stopping(stopping) -> str:
    """Validate the stopping rule's name."""
    if stopping not in STOPPING_RULES:
        raise ValueError(f"stopping={stopping!r} is not known; use 'standardised' (ppl_gmm's "
                         "rule) or 'mclust' (mclust's emControl rule).")
    return stopping


def width_of(problem: EMProblem, n_components: int) -> int:
    """Components the problem carries (K padded with dead ones, or K)."""
    mask = problem.component_mask
    return n_components if mask is None else mask.shape[0]


def _check_fixed_variance(fixed_variance, covariance_type: str, reg_covar: float):
    if fixed_variance is None:
        return None
    fixed_variance = check_positive_number(fixed_variance, "fixed_variance")
    if get_structure(covariance_type).form != "scalar":
        raise ValueError(
            f"fixed_variance fixes every covariance at fixed_variance * I, a spherical "
            f"structure, but covariance_type={covariance_type!r}; pass "
            "covariance_type='spherical'."
        )
    if reg_covar != 0:
        raise ValueError(
            "reg_covar has no effect when the covariances are fixed; leave reg_covar=0 "
            "with fixed_variance."
        )
    return fixed_variance


def explicit_start(init, problem: EMProblem, X: np.ndarray, n_components: int, seed: int,
                    n_init: int, covariance_type: str) -> GMMParams:
    """An explicit start (GMMParams, or a callable's) in internal coordinates, padded
    to the problem's width (host arrays)."""
    if n_init == 1:
        if isinstance(init, Callable) and not isinstance(init, GMMParams):
            init = init(jax.random.key(seed), X, n_components)
        if not (isinstance(init, GMMParams) or isinstance(init, tuple)):
            raise ValueError(f"init must be a name, a GMMParams or a callable, got {init!r}.")
        user = check_params(init, n_features=X.shape[1], n_components=n_components)
        start = problem.coordinates.params_to_internal(GMMParams(*map(np.asarray, user)))
    else:
        start = batched_initial_params(init, restart_keys(seed, n_init), problem, X,
                                       n_components, covariance_type)
    return pad_components(GMMParams(*map(np.asarray, start)), width_of(problem, n_components))


# The replay of a run (em_parameter_path): static arguments are what changes the program.
_em_path = jax.jit(em_path, static_argnames=("covariance_type", "n_steps", "variant"))


def fit_em(
    X,
    n_components: int,
    *,
    covariance_type: str = "full",
    prior=None,
    init="kmeans++",
    seed: int = 0,
    tol: float = 1e-8,
    max_iter: int = 1000,
    reg_covar: float = 0.0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_init: int = 1,
    variant: str = "soft",
    fixed_variance: float | None = None,
    restart_batch_size: int | None = None,
    stopping: str = "standardised",
    dtype=None,
) -> EMResult:
    """Fit a Gaussian mixture by EM (maximum likelihood, or MAP under a prior).

    Parameters
    ----------
    X : array-like, shape (n, d)
        Observations; integers and booleans are converted to float64, NaN/inf and text
        refused. EM always computes in float64 (float32 data are converted exactly).
        Refused before EM runs, with the fix in the message: values beyond 1e150, a
        column whose standard deviation is outside [1e-100, 1e100], and, without
        `reg_covar` or a prior, data on which every covariance is singular (a constant
        column; for "full"/"tied" also linearly dependent columns; for "spherical" all
        rows identical), as :class:`SingularCovarianceError`.
    n_components : int
        K, between 1 and n.
    covariance_type : str
        Any registered structure (:data:`ppl_gmm.structures.registry.COVARIANCE_TYPES`),
        by scikit-learn's or mclust's name: "full" (VVV), "diag" (VVI), "spherical"
        (VII), "tied" (EEE), "EEI" (one diagonal shared by all), "EII" (one variance
        times I shared by all). The result reports ppl_gmm's name.
    prior : ppl_gmm.Prior or None
        None maximises the log-likelihood; a Prior maximises the log joint (MAP-EM),
        with data-dependent defaults resolved against X.
    init : str, GMMParams or callable
        Where EM starts: "kmeans++", "kmeans", "random_from_data", "random",
        "perturbed", "random_resp", "random_resp_hard" (formulas in :mod:`ppl_gmm.fit.init`);
        "hc", mclust's start: the maximum-likelihood M-step from the K-cluster partition of
        model-based hierarchical clustering (:mod:`ppl_gmm.fit.hierarchical`; with
        ``n_init > 1`` restart 0 starts there and the others from "kmeans++");
        explicit GMMParams (with a leading restart axis, weights (n_init, K), to give
        every restart its own); or a callable ``(key, X, n_components) -> GMMParams``.
    seed : int
        Seeds the initialisation; the fit is deterministic given the seed.
    tol : float
        Stop when |objective_t - objective_{t-1}| <= tol * |objective_t'|, where
        objective_t' is the objective on the standardised scale (the log-likelihood's
        n sum_j log(sd_j) unit term removed), so the rule does not depend on the data's
        units. 0 runs
        exactly `max_iter` iterations unless EM reaches an exact fixed point.
    max_iter : int
        Maximum number of EM iterations (M-steps); 0 returns the starting point (after
        one E-step), as scikit-learn does.
    reg_covar : float
        Added to every covariance diagonal after each M-step, in the data's units.
        0 (the default) is exact EM, as in mclust; scikit-learn uses 1e-6. With
        reg_covar > 0 the update is no longer the exact maximiser, and the objective
        may fall by amounts of order reg_covar.
    block_size : int
        Rows per block of the E-step. Each block's design rows are built in cache, so
        memory stays O(n d + block_size (K + d^2)); between 256 MiB and
        ``STORED_DESIGN_BYTES`` (2 GiB) of design rows, storing them instead is measured
        once per process and used when faster (:mod:`ppl_gmm.fit.estep_choice`).
    n_init : int
        Number of restarts, run as one batched computation (``jax.vmap`` of the EM loop
        over starting points, :mod:`ppl_gmm.fit.restarts`). The result is the restart with
        the highest final objective among those that did not fail; ``result.restarts``
        lists them all. Restart 0 starts where ``n_init=1`` does (key ``key(seed)``),
        restart r >= 1 from ``fold_in(key(seed), r)``.
    variant : {"soft", "hard"}
        "soft" is EM. "hard" is classification EM: each point is fully assigned to its
        most responsible component; the objective is then the classification
        log-likelihood sum_i max_k log(pi_k N(x_i | mu_k, Sigma_k)) (+ log prior), which
        never decreases. `log_likelihood` and `responsibilities` stay the marginal
        (soft) ones at the returned parameters.
    fixed_variance : float, optional
        sigma^2: every covariance is fixed at sigma^2 I (user units) and only the
        weights and means are estimated; needs ``covariance_type="spherical"`` and
        ``reg_covar=0``. As sigma -> 0 EM tends to K-means (:func:`ppl_gmm.fit_kmeans`).
    restart_batch_size : int, optional
        Restarts advancing together in the batched computation (the rest wait in a
        queue inside the same program); by default all of them on an accelerator
        (within ``ppl_gmm.engine.schedule.MEMORY_BUDGET`` bytes),
        ``ppl_gmm.engine.schedule.CPU_LANES`` on a CPU. The results do not depend on it
        beyond rounding.
    stopping : {"standardised", "mclust"}
        The stopping rule `tol` is for: "standardised" (above), or mclust's
        (``emControl``): stop when |l_t - l_{t-1}| <= tol (1 + |l_t|), l the objective in
        the user's units. With ``init="hc"`` and ``tol=1e-5`` this is mclust's default
        ``me`` run.
    dtype : {None, numpy.float32, numpy.float64}
        Floating type of ``result.params`` and ``result.responsibilities``. None (the
        default) keeps float32 for float32 `X` and gives float64 otherwise. The
        computation is float64 either way; ``initial_params``, ``history`` and the
        scalars stay float64, an exact record of the run (so :func:`em_parameter_path`
        and :func:`ppl_gmm.cross_check` replay it exactly). A float32 result whose
        covariances float32 cannot represent raises ValueError (pass
        ``dtype=numpy.float64``).

    Returns
    -------
    EMResult
        ``result.restarts`` is a :class:`ppl_gmm.RestartTable` (one row when n_init=1).

    Raises
    ------
    ValueError
        Invalid input (see the message for the fix).
    SingularCovarianceError
        A component's covariance became singular (with n_init > 1: in every restart;
        the error's ``restarts`` attribute then holds the table).

    Warns
    -----
    ConvergenceWarning
        When `max_iter` is reached before convergence.
    EmptyComponentWarning
        When a fitted component holds less than one observation's worth of
        responsibility (possible with reg_covar > 0 or a prior).
    """
    X = check_data(X, dtype=None)
    result_dtype = check_result_dtype(dtype, X.dtype)
    X = X.astype(np.float64, copy=False)
    n, _d = X.shape
    k = check_n_components(n_components, n)
    covariance_type = canonical_name(covariance_type)
    seed = check_seed(seed)
    tol = check_positive_number(tol, "tol", allow_zero=True)
    reg_covar = check_positive_number(reg_covar, "reg_covar", allow_zero=True)
    max_iter = check_positive_int(max_iter, "max_iter", allow_zero=True)
    block_size = check_positive_int(block_size, "block_size")
    n_init = check_positive_int(n_init, "n_init")
    variant = check_variant(variant)
    fixed_variance = _check_fixed_variance(fixed_variance, covariance_type, reg_covar)
    if restart_batch_size is not None:
        restart_batch_size = check_positive_int(restart_batch_size, "restart_batch_size")
    stopping = check_stopping(stopping)
    if isinstance(init, str) and init == HIERARCHICAL_INIT:
        check_prior_accepted(covariance_type, prior)
        init = _hierarchical_init(X, k, covariance_type, seed, n_init,
                                  resolve_prior(prior, X, k, covariance_type=covariance_type))
    problem = make_problem(X, k, covariance_type, prior, reg_covar, tol, block_size,
                           fixed_variance, n_init=n_init,
                           pad_components=can_pad_components(init, prior, n_init),
                           stopping=stopping)
    if prior is None and reg_covar == 0 and fixed_variance is None:
        if isinstance(init, tuple) and np.ndim(init[0]) == 1:  # argument errors come first
            check_params(init, n_features=X.shape[1], n_components=k)
        degenerate = degenerate_data_message(X, covariance_type)
        if degenerate is not None:
            error = SingularCovarianceError(f"Cannot fit: {degenerate}")
            error.restarts = None
            raise error

    lanes = 1
    if n_init > 1:
        lanes = restart_batch_size or default_lanes(
            problem.X_blocks.shape[1], problem.X_blocks.shape[2], k, max_iter, n_init)
    if isinstance(init, str):
        get_initialiser(init)
        named, start = init, None
    else:
        named, start = None, explicit_start(init, problem, X, k, seed, n_init, covariance_type)
    width = width_of(problem, k)
    store_design_rows = stores_design_rows(problem, width)
    with garbage_collection_paused():
        output = jax.device_get(compiled_fit_program(problem, width, n_init)(
            problem, start, seed, max_iter, covariance_type=covariance_type,
            variant=variant, init=named, n_init=n_init, lanes=lanes,
            trace_length=trace_length(max_iter), width=width,
            store_design_rows=store_design_rows))
    state, trace, start, restarts = _chosen_run(output, problem, k, covariance_type, n_init,
                                                seed)
    n_iter = int(state.iteration)
    converged = bool(state.converged)
    if not converged and max_iter > 0:  # max_iter=0 asks for the start (scikit-learn's rule)
        change, scale = output.last_change
        warnings.warn(
            ConvergenceWarning(
                f"EM did not converge in max_iter={max_iter} iterations (last relative change "
                f"{change / max(scale, np.finfo(float).tiny):.2e} > tol={tol:g}); "
                "raise max_iter or tol, or try other initialisations."
            ),
            stacklevel=2,
        )
    resp = output.responsibilities[:n, :k]
    _warn_empty_components(resp.sum(axis=0))
    params, resp = _in_result_dtype(problem.coordinates.params_to_user(state.params), resp,
                                    result_dtype)
    return EMResult(
        params=params,
        log_likelihood=float(trace.log_likelihood[n_iter]),
        objective=float(trace.objective[n_iter]),
        n_iter=n_iter,
        converged=converged,
        responsibilities=resp,
        history=EMHistory(*(np.asarray(a[: n_iter + 1]) for a in trace)),
        initial_params=problem.coordinates.params_to_user(start),
        covariance_type=covariance_type,
        prior=problem.user_prior,
        reg_covar=reg_covar,
        tol=tol,
        n_samples=n,
        options=FitOptions(block_size=block_size, variant=variant,
                           fixed_variance=fixed_variance, n_init=n_init, seed=seed),
        restarts=restarts,
    )


def _hierarchical_init(X, n_components: int, covariance_type: str, seed: int,
                       n_init: int, prior) -> GMMParams:
    """init="hc" as explicit starting points: mclust's for restart 0 (its first M-step
    under the resolved `prior`, if any), "kmeans++" draws for the others (user units,
    leading restart axis when n_init > 1)."""
    start = hierarchical_start(X, n_components, covariance_type, seed, prior)
    if n_init == 1:
        return start
    others = initial_parameters(X, n_components, init="kmeans++", seed=seed,
                                covariance_type=covariance_type, n_init=n_init)
    return GMMParams(*(np.concatenate([a[None], b[1:]]) for a, b in zip(start, others,
                                                                        strict=True)))


def live_components(tree, n_components: int):
    """The first `n_components` components of padded GMMParams / statistics (host arrays,
    component axis after any leading restart axis)."""
    if isinstance(tree, GMMParams):
        lead = tree.weights.ndim - 1
        return GMMParams(*(a[(slice(None),) * lead + (slice(0, n_components),)] for a in tree))
    return tree[..., :n_components]


def _live_state(state, n_components: int):
    return state._replace(params=live_components(state.params, n_components),
                          stats=state.stats._replace(
                              counts=live_components(state.stats.counts, n_components)))


def _chosen_run(output, problem, k, covariance_type, n_init, seed):
    """The chosen run's final state, trace and start (host arrays, live components) and
    the restart table; raise when every run failed."""
    states = _live_state(output.state, k)
    starts = live_components(output.start, k)
    restarts = table_from_states(states, output.trace, problem, starts, seed,
                                 batched=n_init > 1)
    best = int(output.best)
    if n_init == 1:
        if best < 0:
            error = SingularCovarianceError(_singular_message(
                int(states.failed_component), int(states.iteration), states, covariance_type))
            error.restarts = restarts
            raise error
        return states, output.trace, starts, restarts
    chosen = max(best, 0)
    state = jax.tree.map(lambda a: a[chosen], states)
    if best < 0:
        first = _singular_message(int(state.failed_component), int(state.iteration), state,
                                  covariance_type)
        error = SingularCovarianceError(
            f"All {n_init} restarts failed (see the error's .restarts table). Restart 0: "
            + first)
        error.restarts = restarts
        raise error
    return (state, jax.tree.map(lambda a: a[chosen], output.trace),
            jax.tree.map(lambda a: a[chosen], starts), restarts)


def _warn_empty_components(counts: np.ndarray) -> None:
    empty = np.flatnonzero(counts < 1.0)
    if empty.size:
        held = ", ".join(f"{j}: {counts[j]:.2g}" for j in empty)
        warnings.warn(EmptyComponentWarning(
            f"{empty.size} component(s) hold less than one observation's worth of "
            f"responsibility (component: observations {held}); their parameters come from "
            "reg_covar or the prior and the starting point, not from the data. Use fewer "
            "components (compare with ppl_gmm.select) or other starting points."),
            stacklevel=3)


def _in_result_dtype(params: GMMParams, resp: np.ndarray, dtype: np.dtype):
    """The fitted parameters and responsibilities cast to the result dtype (float32 on
    request), refusing a cast that would lose finiteness or positive definiteness."""
    if dtype == np.float64:
        return params, resp
    with np.errstate(over="ignore", under="ignore"):  # judged by check_params below
        cast = GMMParams(*(np.asarray(a, dtype) for a in params))
    try:
        check_params(cast)
    except ValueError as error:
        raise ValueError(
            f"The fit succeeded, but its parameters do not fit in {dtype} ({error} after "
            f"the cast; the largest covariance entry is {np.abs(params.covariances).max():.3g})"
            "; pass dtype=numpy.float64 to keep the result in float64."
        ) from None
    return cast, np.asarray(resp, dtype)


def _singular_message(component, n_iter, state, covariance_type):
    # The state keeps the last good iterate; its E-step says what the component held.
    holds = float(state.stats.counts[component])
    if n_iter == 0 or not np.isfinite(holds):
        return (
            f"Component {component}'s initial covariance ({covariance_type}) is not positive "
            "definite, so EM cannot start: the starting point puts it on too few distinct "
            "points, or on points that vary in fewer directions than there are features "
            "(duplicated rows, a column constant within a cluster). Fixes: set reg_covar > 0 "
            "(e.g. 1e-6 times the data's variance), use fewer components, pass "
            "prior=ppl_gmm.Prior(), or start from other parameters (init=, seed=)."
        )
    where = f"EM iteration {n_iter}"
    return (
        f"Component {component}'s covariance ({covariance_type}) is singular at {where}: it "
        f"holds {holds:.3g} observations' worth of responsibility, too few or too tightly "
        "packed to estimate a covariance. Fixes: set reg_covar > 0 (e.g. 1e-6 times the data's "
        "variance), use fewer components, pass prior=ppl_gmm.Prior(), or remove duplicated rows."
    )


def em_parameter_path(result: EMResult, X, n_steps: int | None = None):
    """theta_0, ..., theta_{n_steps} of the EM run behind `result`, replayed by the same step.

    Parameters
    ----------
    result : EMResult
    X : array-like
        The data `result` was fitted to.
    n_steps : int, optional
        Defaults to ``result.n_iter``.

    Returns
    -------
    GMMParams
        Arrays with a leading iteration axis of length n_steps + 1 (user coordinates).
    """
    X = check_data(X)
    if X.shape[0] != result.n_samples:
        raise ValueError(f"X has {X.shape[0]} rows; the result was fitted to {result.n_samples}.")
    n_steps = result.n_iter if n_steps is None else check_positive_int(n_steps, "n_steps")
    k = result.params.n_components
    problem = make_problem(X, k, result.covariance_type, result.prior, result.reg_covar,
                           result.tol, result.options.block_size, result.options.fixed_variance)
    start = problem.coordinates.params_to_internal(result.initial_params)
    path = jax.device_get(_em_path(problem, start, covariance_type=result.covariance_type,
                                   n_steps=n_steps, variant=result.options.variant))
    # params_to_user broadcasts over the leading iteration axis.
    return problem.coordinates.params_to_user(GMMParams(*path))


def initial_parameters(X, n_components: int, *, init="kmeans++", seed: int = 0,
                       covariance_type: str = "full", n_init: int = 1,
                       fixed_variance: float | None = None,
                       reg_covar: float = 0.0) -> GMMParams:
    """The starting point(s) `fit_em` would use, in the user's units.

    Parameters
    ----------
    X, n_components, init, seed, covariance_type, n_init, fixed_variance, reg_covar
        As for :func:`fit_em` (an initialiser's covariances include `reg_covar`).

    Returns
    -------
    GMMParams
        NumPy arrays; with n_init > 1 every array has a leading restart axis, entry r
        being where restart r of ``fit_em(..., n_init=n_init)`` starts.
    """
    X = check_data(X)
    k = check_n_components(n_components, X.shape[0])
    get_structure(covariance_type)
    seed = check_seed(seed)
    n_init = check_positive_int(n_init, "n_init")
    reg_covar = check_positive_number(reg_covar, "reg_covar", allow_zero=True)
    fixed_variance = _check_fixed_variance(fixed_variance, covariance_type, reg_covar)
    if isinstance(init, str) and init == HIERARCHICAL_INIT and fixed_variance is None:
        start = _hierarchical_init(X, k, canonical_name(covariance_type), seed, n_init, None)
        if reg_covar:
            start = start._replace(covariances=start.covariances + reg_covar * np.eye(X.shape[1]))
        return GMMParams(*(np.asarray(a) for a in start))
    problem = make_problem(X, k, covariance_type, None, reg_covar, 0.0, DEFAULT_BLOCK_SIZE,
                           fixed_variance, n_init=n_init,
                           pad_components=can_pad_components(init, None, n_init))
    width = width_of(problem, k)
    if isinstance(init, str):
        get_initialiser(init)
        start = start_program(problem, seed, covariance_type=canonical_name(covariance_type),
                              init=init, n_init=n_init, width=width)
    else:
        start = explicit_start(init, problem, X, k, seed, n_init, covariance_type)
        start = with_fixed_covariance(start, problem)
    # params_to_user broadcasts over a leading restart axis.
    return problem.coordinates.params_to_user(live_components(
        GMMParams(*jax.device_get(start)), k))
