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

import functools
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
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
from ..engine.gaussian import design_matrix, design_width
from ..engine.kernel import (
    EMProblem,
    check_variant,
    em_path,
    gaussian_em_kernel,
    objective_change,
)
from ..engine.schedule import default_lanes, run_restarts, run_single
from ..engine.statistics import block_responsibilities
from ..params import EMHistory, EMResult, FitOptions, GMMParams
from ..prior import resolve_prior
from ..structures.registry import canonical_name, get_structure
from .init import batched_initial_params, get_initialiser
from .restarts import restart_keys, table_from_states

#: Rows per E-step block. A block's design rows (4096 x (d(d+1)/2 + d + 1) float64, 1.2 MB
#: at d = 16) stay in cache between its two matrix products; measured per iteration
#: (benchmarks/bench_em.py sizes): 4096 beat 2048 by 1.2-1.5x and matched 8192.
DEFAULT_BLOCK_SIZE = 4096

#: The design rows (d(d+1)/2 + d + 1 float64 per row) are stored for the whole fit when
#: they take at most this many bytes, and built block by block in every E-step above it,
#: so memory stays O(n d) for large n or d (stored they would take 2.6 GB at n = 10^6,
#: d = 24, and 40 GB at d = 100). Storing them is 1.1-1.5x faster per iteration at the
#: benchmark sizes (1.2 GB at n = 10^6, d = 16), hence a limit of 2 GiB.
STORED_DESIGN_BYTES = 2**31


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


def _blocks(X_int: np.ndarray, block_size: int):
    """Zero-pad to whole blocks: (n_blocks, block, d) data and (n_blocks, block) row weights."""
    n, d = X_int.shape
    block = min(block_size, n)
    n_blocks = -(-n // block)
    padded = np.zeros((n_blocks * block, d), X_int.dtype)
    padded[:n] = X_int
    weights = np.zeros(n_blocks * block, X_int.dtype)
    weights[:n] = 1.0
    return padded.reshape(n_blocks, block, d), weights.reshape(n_blocks, block)


def _stored_design(X_blocks):
    """The design rows of every block, or None when they would exceed STORED_DESIGN_BYTES."""
    n_blocks, block, d = X_blocks.shape
    if n_blocks * block * design_width(d) * X_blocks.dtype.itemsize > STORED_DESIGN_BYTES:
        return None
    return design_matrix(X_blocks)


def make_problem(X: np.ndarray, n_components: int, covariance_type: str, prior, reg_covar: float,
                 tol: float, block_size: int, fixed_variance: float | None = None):
    """Everything the jitted loop needs for data X (already validated).

    `fixed_variance` sigma^2 (user units) fixes every covariance at sigma^2 I.
    Columns whose scale float64 cannot carry through the coordinate maps are refused
    (:func:`ppl_gmm._validation.check_feature_scales`).
    """
    check_feature_scales(X)
    coordinates = standardising_coordinates(X, covariance_type)
    X_int = (X - np.asarray(coordinates.shift)) / np.asarray(coordinates.scale)
    X_blocks, w_blocks = _blocks(X_int, block_size)
    X_blocks = jnp.asarray(X_blocks)  # one transfer, shared with the stored design rows
    user_prior = resolve_prior(prior, X, n_components)
    if user_prior is not None:
        user_prior = jax.tree.map(jnp.asarray, user_prior)
    reg = jnp.full(X.shape[1], reg_covar, X.dtype) / coordinates.scale**2
    return EMProblem(
        X_blocks=X_blocks,
        w_blocks=jnp.asarray(w_blocks),
        F_blocks=_stored_design(X_blocks),
        prior=coordinates.prior_to_internal(user_prior),
        user_prior=user_prior,
        coordinates=coordinates,
        reg_covar=reg,
        tol=jnp.asarray(tol, X.dtype),
        fixed_covariance=None if fixed_variance is None else jnp.diag(
            jnp.full(X.shape[1], fixed_variance, X.dtype) / coordinates.scale**2),
    )


def _with_fixed_covariance(params: GMMParams, problem: EMProblem) -> GMMParams:
    """Starting points with the fixed covariance, when there is one (any leading axes)."""
    if problem.fixed_covariance is None:
        return params
    return params._replace(covariances=jnp.broadcast_to(problem.fixed_covariance,
                                                        jnp.shape(params.covariances)))


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


def _initial_params(init, key, problem: EMProblem, X: np.ndarray, n_components: int,
                    covariance_type: str) -> GMMParams:
    """Initial parameters in internal coordinates, from a name, GMMParams or a callable."""
    if isinstance(init, str):
        initialiser = get_initialiser(init)
        d = problem.X_blocks.shape[-1]
        return _regularised(_jit_initialiser(initialiser, n_components, covariance_type)(
            key, problem.X_blocks.reshape(-1, d), problem.w_blocks.reshape(-1)
        ), problem)
    if isinstance(init, Callable) and not isinstance(init, GMMParams):
        init = init(key, X, n_components)
    if isinstance(init, GMMParams) or isinstance(init, tuple):
        user = check_params(init, n_features=X.shape[1], n_components=n_components)
        return problem.coordinates.params_to_internal(jax.tree.map(jnp.asarray, user))
    raise ValueError(f"init must be a name, a GMMParams or a callable, got {init!r}.")


def _starting_points(init, seed: int, n_init: int, problem: EMProblem, X: np.ndarray,
                     n_components: int, covariance_type: str) -> GMMParams:
    """Internal-coordinate start of one run (``n_init == 1``), or of `n_init` restarts
    (leading restart axis, :func:`ppl_gmm.fit.init.batched_initial_params`)."""
    if n_init == 1:
        start = _initial_params(init, jax.random.key(seed), problem, X, n_components,
                                covariance_type)
    else:
        start = batched_initial_params(init, restart_keys(seed, n_init), problem, X,
                                       n_components, covariance_type)
        if isinstance(init, str):
            start = _regularised(start, problem)
    return _with_fixed_covariance(start, problem)


def _regularised(params: GMMParams, problem: EMProblem) -> GMMParams:
    """An initialiser's covariances plus `reg_covar` on the diagonal (any leading axes).

    The initialisers are an initial M-step, so they are regularised as every M-step is
    (as scikit-learn does): with a constant column and reg_covar > 0 EM then starts.
    """
    return params._replace(covariances=params.covariances + jnp.diag(problem.reg_covar))


@functools.cache
def _jit_initialiser(initialiser, n_components, covariance_type):
    return jax.jit(functools.partial(initialiser, n_components=n_components,
                                     covariance_type=covariance_type))


def run_em_single(problem: EMProblem, start: GMMParams, covariance_type: str,
                  max_iter: int, variant: str = "soft"):
    """One EM run from `start`: the Gaussian kernel run by
    :func:`ppl_gmm.engine.schedule.run_single`. Returns (final state, trace buffers)."""
    return run_single(gaussian_em_kernel(problem, covariance_type, variant), start,
                      max_iter)


def run_em_restarts(problem: EMProblem, start: GMMParams, covariance_type: str,
                    max_iter: int, variant: str = "soft", lanes: int = 1):
    """EM from every starting point of `start` (leading restart axis), `lanes` at a
    time (:func:`ppl_gmm.engine.schedule.run_restarts`). Returns (states, trace)."""
    return run_restarts(gaussian_em_kernel(problem, covariance_type, variant), start,
                        max_iter, lanes)


# The compiled programs of a fit: static arguments are what changes the program.
_run_em = jax.jit(run_em_single, static_argnames=("covariance_type", "max_iter", "variant"))
_run_em_restarts = jax.jit(run_em_restarts,
                           static_argnames=("covariance_type", "max_iter", "variant", "lanes"))
_em_path = jax.jit(em_path, static_argnames=("covariance_type", "n_steps", "variant"))
_responsibilities = jax.jit(block_responsibilities)


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
        Rows per block of the E-step. The design rows of the whole data set are stored
        while they take at most ``STORED_DESIGN_BYTES`` (2 GiB) and built block by block
        above that, so memory stays O(n d + block_size (K + d^2)).
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
    problem = make_problem(X, k, covariance_type, prior, reg_covar, tol, block_size,
                           fixed_variance)
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
    start = _starting_points(init, seed, n_init, problem, X, k, covariance_type)
    state, trace, start, restarts = _run_fit(problem, start, covariance_type,
                                                   max_iter, variant, n_init, lanes, seed)
    n_iter = int(state.iteration)
    converged = bool(state.converged)
    if not converged and max_iter > 0:  # max_iter=0 asks for the start (scikit-learn's rule)
        warnings.warn(
            ConvergenceWarning(
                f"EM did not converge in max_iter={max_iter} iterations (last relative change "
                f"{_last_relative_change(problem, trace.objective, n_iter):.2e} > "
                f"tol={tol:g}); "
                "raise max_iter or tol, or try other initialisations."
            ),
            stacklevel=2,
        )
    resp = np.asarray(_responsibilities(problem.X_blocks, state.params))[:n]
    _warn_empty_components(resp.sum(axis=0))
    params, resp = _in_result_dtype(problem.coordinates.params_to_user(state.params).to_numpy(),
                                    resp, result_dtype)
    return EMResult(
        params=params,
        log_likelihood=float(trace.log_likelihood[n_iter]),
        objective=float(trace.objective[n_iter]),
        n_iter=n_iter,
        converged=converged,
        responsibilities=resp,
        history=EMHistory(*(np.asarray(a[: n_iter + 1]) for a in trace)),
        initial_params=problem.coordinates.params_to_user(start).to_numpy(),
        covariance_type=covariance_type,
        prior=None if problem.user_prior is None else jax.device_get(problem.user_prior),
        reg_covar=reg_covar,
        tol=tol,
        n_samples=n,
        options=FitOptions(block_size=block_size, variant=variant,
                           fixed_variance=fixed_variance, n_init=n_init, seed=seed),
        restarts=restarts,
    )


def _run_fit(problem, start, covariance_type, max_iter, variant, n_init, lanes, seed):
    """Run EM from the start(s) and pick the best restart; raise when every one failed.

    Returns the chosen run's final state, its trace (host arrays), its start and the
    restart table.
    """
    if n_init == 1:
        state, trace = _run_em(problem, start, covariance_type=covariance_type,
                               max_iter=max_iter, variant=variant)
        restarts = table_from_states(state, trace, problem, start, seed, batched=False)
        failed = int(state.failed_component)
        if failed >= 0:
            error = SingularCovarianceError(
                _singular_message(failed, int(state.iteration), state, covariance_type))
            error.restarts = restarts
            raise error
        return state, jax.device_get(trace), start, restarts
    states, traces = _run_em_restarts(problem, start, covariance_type=covariance_type,
                                      max_iter=max_iter, variant=variant, lanes=lanes)
    restarts = table_from_states(states, traces, problem, start, seed)
    chosen = restarts.best if restarts.best >= 0 else 0
    state = jax.tree.map(lambda a: a[chosen], states)
    if restarts.best < 0:
        first = _singular_message(int(state.failed_component), int(state.iteration), state,
                                  covariance_type)
        error = SingularCovarianceError(
            f"All {n_init} restarts failed (see the error's .restarts table). Restart 0: "
            + first)
        error.restarts = restarts
        raise error
    trace = jax.device_get(jax.tree.map(lambda a: a[chosen], traces))
    return state, trace, jax.tree.map(lambda a: a[chosen], start), restarts


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


def _last_relative_change(problem, objective, n_iter):
    """The last change on the scale the stopping rule uses
    (:func:`ppl_gmm.engine.kernel.objective_change`)."""
    if n_iter < 1:
        return float("nan")
    change, scale = objective_change(problem, objective[n_iter], objective[n_iter - 1])
    return float(change) / max(float(scale), np.finfo(float).tiny)


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
    start = problem.coordinates.params_to_internal(jax.tree.map(jnp.asarray,
                                                                result.initial_params))
    path = _em_path(problem, start, covariance_type=result.covariance_type, n_steps=n_steps,
                    variant=result.options.variant)
    return jax.vmap(problem.coordinates.params_to_user)(path).to_numpy()


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
    problem = make_problem(X, k, covariance_type, None, reg_covar, 0.0, DEFAULT_BLOCK_SIZE,
                           fixed_variance)
    start = _starting_points(init, seed, n_init, problem, X, k, covariance_type)
    # params_to_user broadcasts over a leading restart axis.
    return problem.coordinates.params_to_user(start).to_numpy()
