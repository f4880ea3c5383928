"""`fit_em`: the public EM driver around the pure loop in :mod:`ppl_gmm.em`.

The driver validates once, moves the data to internal coordinates (each column
centred and divided by its standard deviation; one common scale for "spherical",
whose model is not invariant to per-feature scaling), pads it into row blocks, runs
the jitted loop, and maps everything back. EM is affine equivariant for every
structure under these maps, so the fit is the same as on the raw data, but the
Cholesky factors stay well conditioned when columns live at 1e-8 and 1e8 or far
from the origin. `reg_covar` is given in the user's units and mapped with the data.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._validation import (
    check_data,
    check_n_components,
    check_params,
    check_positive_int,
    check_positive_number,
)
from .covariance import get_structure
from .em import Coordinates, EMProblem, block_responsibilities, em_path, run_em
from .init import INITIALISERS
from .model import resolve_prior
from .params import EMHistory, EMResult, GMMParams

DEFAULT_BLOCK_SIZE = 2048


class ConvergenceWarning(UserWarning):
    """EM stopped at `max_iter` before the relative change of its objective fell below `tol`."""


class SingularCovarianceError(ValueError):
    """A component's covariance stopped being positive definite during EM."""


def _coordinates(X: np.ndarray, covariance_type: str) -> Coordinates:
    shift = X.mean(axis=0)
    spread = X.std(axis=0)
    if covariance_type == "spherical":
        spread = np.full_like(spread, np.sqrt(np.mean(spread**2)))
    scale = np.where(spread > 0, spread, 1.0)
    return Coordinates(jnp.asarray(shift), jnp.asarray(scale))


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


def make_problem(X: np.ndarray, n_components: int, covariance_type: str, prior, reg_covar: float,
                 tol: float, block_size: int):
    """Everything the jitted loop needs for data X (already validated)."""
    coordinates = _coordinates(X, covariance_type)
    X_int = (X - np.asarray(coordinates.shift)) / np.asarray(coordinates.scale)
    X_blocks, w_blocks = _blocks(X_int, block_size)
    user_prior = resolve_prior(prior, X, n_components)
    if user_prior is not None:
        user_prior = jax.tree.map(jnp.asarray, user_prior)
    reg = jnp.full(X.shape[1], reg_covar, X.dtype) / coordinates.scale**2
    return EMProblem(
        X_blocks=jnp.asarray(X_blocks),
        w_blocks=jnp.asarray(w_blocks),
        prior=coordinates.prior_to_internal(user_prior),
        user_prior=user_prior,
        coordinates=coordinates,
        reg_covar=reg,
        tol=jnp.asarray(tol, X.dtype),
    )


def _initial_params(init, key, problem: EMProblem, X: np.ndarray, n_components: int,
                    covariance_type: str) -> GMMParams:
    """Initial parameters in internal coordinates, from a name, GMMParams or a callable."""
    if isinstance(init, str):
        try:
            initialiser = INITIALISERS[init]
        except KeyError:
            raise ValueError(
                f"init={init!r} is not known; use one of {', '.join(map(repr, INITIALISERS))}, "
                "a GMMParams, or a callable (key, X, n_components) -> GMMParams."
            ) from None
        d = problem.X_blocks.shape[-1]
        return _jit_initialiser(initialiser, n_components, covariance_type)(
            key, problem.X_blocks.reshape(-1, d), problem.w_blocks.reshape(-1)
        )
    if isinstance(init, Callable) and not isinstance(init, GMMParams):
        init = init(key, X, n_components)
    if isinstance(init, GMMParams) or isinstance(init, tuple):
        user = check_params(init, n_features=X.shape[1], n_components=n_components)
        return problem.coordinates.params_to_internal(jax.tree.map(jnp.asarray, user))
    raise ValueError(f"init must be a name, a GMMParams or a callable, got {init!r}.")


@functools.cache
def _jit_initialiser(initialiser, n_components, covariance_type):
    return jax.jit(functools.partial(initialiser, n_components=n_components,
                                     covariance_type=covariance_type))


_run_em = jax.jit(run_em, static_argnames=("covariance_type", "max_iter"))
_em_path = jax.jit(em_path, static_argnames=("covariance_type", "n_steps"))
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
) -> EMResult:
    """Fit a Gaussian mixture by EM (maximum likelihood, or MAP under a prior).

    Parameters
    ----------
    X : array-like, shape (n, d)
        Observations; integers are converted to float64, NaN/inf and text refused.
    n_components : int
        K, between 1 and n.
    covariance_type : {"full", "diag", "spherical", "tied"}
        scikit-learn's structures: own full matrix per component, own diagonal, own
        single variance, one full matrix shared by all.
    prior : ppl_gmm.Prior or None
        None maximises the log-likelihood; a Prior maximises the log joint (MAP-EM),
        with data-dependent defaults resolved against X.
    init : {"kmeans++", "random_from_data"}, GMMParams or callable
        Where EM starts (see :mod:`ppl_gmm.init`); a callable is
        ``(key, X, n_components) -> GMMParams``.
    seed : int
        Seeds the initialisation; the fit is deterministic given the seed.
    tol : float
        Stop when |objective_t - objective_{t-1}| <= tol * |objective_t|. 0 runs
        exactly `max_iter` iterations unless EM reaches an exact fixed point.
    max_iter : int
        Maximum number of EM iterations (M-steps).
    reg_covar : float
        Added to every covariance diagonal after each M-step, in the data's units.
        0 (the default) is exact EM, as in mclust; scikit-learn uses 1e-6. With
        reg_covar > 0 the update is no longer the exact maximiser, and the objective
        may fall by amounts of order reg_covar.
    block_size : int
        Rows per block of the E-step; memory is O(block_size * K * d).

    Returns
    -------
    EMResult

    Raises
    ------
    ValueError
        Invalid input (see the message for the fix).
    SingularCovarianceError
        A component's covariance became singular; the message names it.

    Warns
    -----
    ConvergenceWarning
        When `max_iter` is reached before convergence.
    """
    X = check_data(X)
    n, _d = X.shape
    k = check_n_components(n_components, n)
    get_structure(covariance_type)
    tol = check_positive_number(tol, "tol", allow_zero=True)
    reg_covar = check_positive_number(reg_covar, "reg_covar", allow_zero=True)
    max_iter = check_positive_int(max_iter, "max_iter")
    block_size = check_positive_int(block_size, "block_size")

    problem = make_problem(X, k, covariance_type, prior, reg_covar, tol, block_size)
    key = jax.random.key(seed)
    init_params = _initial_params(init, key, problem, X, k, covariance_type)
    state = _run_em(problem, init_params, covariance_type=covariance_type, max_iter=max_iter)

    n_iter = int(state.iteration)
    failed = int(state.failed_component)
    if failed >= 0:
        raise SingularCovarianceError(_singular_message(failed, n_iter, state, covariance_type))
    converged = bool(state.converged)
    if not converged:
        warnings.warn(
            ConvergenceWarning(
                f"EM did not converge in max_iter={max_iter} iterations (last relative change "
                f"{_last_relative_change(state.trace.objective, n_iter):.2e} > tol={tol:g}); "
                "raise max_iter or tol, or try other initialisations."
            ),
            stacklevel=2,
        )
    resp = np.asarray(_responsibilities(problem.X_blocks, state.params))[:n]
    trace = jax.device_get(state.trace)
    return EMResult(
        params=problem.coordinates.params_to_user(state.params).to_numpy(),
        log_likelihood=float(trace.log_likelihood[n_iter]),
        objective=float(trace.objective[n_iter]),
        n_iter=n_iter,
        converged=converged,
        responsibilities=resp,
        history=EMHistory(*(np.asarray(a[: n_iter + 1]) for a in trace)),
        initial_params=problem.coordinates.params_to_user(init_params).to_numpy(),
        covariance_type=covariance_type,
        prior=None if problem.user_prior is None else jax.device_get(problem.user_prior),
        reg_covar=reg_covar,
        tol=tol,
        n_samples=n,
        extras={"block_size": block_size},
    )


def _last_relative_change(objective, n_iter):
    if n_iter < 1:
        return float("nan")
    last, previous = float(objective[n_iter]), float(objective[n_iter - 1])
    return abs(last - previous) / max(abs(last), np.finfo(float).tiny)


def _singular_message(component, n_iter, state, covariance_type):
    # The state keeps the last good iterate; its E-step says what the component held.
    holds = float(state.stats.counts[component])
    where = "the initial parameters" if n_iter == 0 else f"EM iteration {n_iter}"
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
                           result.tol, result.extras.get("block_size", DEFAULT_BLOCK_SIZE))
    start = problem.coordinates.params_to_internal(jax.tree.map(jnp.asarray,
                                                                result.initial_params))
    path = _em_path(problem, start, covariance_type=result.covariance_type, n_steps=n_steps)
    return jax.vmap(problem.coordinates.params_to_user)(path).to_numpy()
