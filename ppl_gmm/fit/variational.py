"""`fit_vb`: variational Bayesian EM, driven like `fit_em`.

The same pipeline as :func:`ppl_gmm.fit_em` (validation, internal coordinates, row
blocks padded into buckets, one compiled program, restarts through the queued lanes of
:mod:`ppl_gmm.engine.schedule`, the stopping rule of
:func:`ppl_gmm.engine.kernel.objective_change`), with the CAVI kernel of
:mod:`ppl_gmm.engine.variational` in place of EM's. A start is a q(Z): the
responsibilities of an initialiser's parameters (one E-step), or responsibilities given
directly; the first q(theta) update follows from it.
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import (
    check_data,
    check_n_components,
    check_positive_int,
    check_positive_number,
    check_seed,
)
from ..engine.gaussian import cholesky_factors
from ..engine.kernel import objective_change
from ..engine.schedule import default_lanes, run_restarts, run_single
from ..engine.statistics import (
    block_e_step,
    block_responsibilities,
    statistics_from_responsibilities,
)
from ..engine.variational import (
    check_weight_prior,
    expected_params,
    log_density_offsets,
    variational_kernel,
)
from ..params import FitOptions, GMMParams, VariationalPosterior, VBHistory, VBResult
from ..prior import Prior
from ..structures.registry import canonical_name, get_structure
from .driver import DEFAULT_BLOCK_SIZE, ConvergenceWarning, explicit_start, make_problem
from .estep_choice import stores_design_rows
from .init import get_initialiser
from .program import COMPILER_OPTIONS, garbage_collection_paused, starting_points, trace_length
from .restarts import restart_table


def _start_statistics(problem, start, resp, seed, init, covariance_type, n_init, k):
    """The statistics of each restart's starting q(Z) (leading restart axis when n_init > 1)."""
    d = problem.X_blocks.shape[-1]
    X = problem.X_blocks.reshape(-1, d)
    w = problem.w_blocks.reshape(-1)
    if resp is not None:
        if n_init == 1:
            return statistics_from_responsibilities(X, w, resp)
        return jax.vmap(lambda r: statistics_from_responsibilities(X, w, r))(resp)
    params = starting_points(problem, start, seed, init, covariance_type, n_init, k)

    def from_params(p):
        return block_e_step(problem, p, cholesky_factors(p.covariances))

    return from_params(params) if n_init == 1 else jax.vmap(from_params)(params)


def vb_program(problem, start, resp, seed, max_iter, *, covariance_type: str,
               weight_prior: str, init, n_init: int, lanes: int, trace_length: int,
               n_components: int, store_design_rows: bool = False):
    """A whole variational fit: starting q(Z)s, CAVI for each, the best, its q(Z)."""
    stats = _start_statistics(problem, start, resp, seed, init, covariance_type, n_init,
                              n_components)
    kernel = variational_kernel(problem, covariance_type, weight_prior, store_design_rows)
    if n_init == 1:
        state, trace = run_single(kernel, stats, max_iter, trace_length)
        best = jnp.where(state.failed_component < 0, 0, -1)
        chosen, chosen_trace = state, trace
    else:
        state, trace = run_restarts(kernel, stats, max_iter, lanes, trace_length)
        usable = (state.failed_component < 0) & jnp.isfinite(state.objective)
        best = jnp.where(jnp.any(usable),
                         jnp.argmax(jnp.where(usable, state.objective, -jnp.inf)), -1)
        pick = jnp.maximum(best, 0)
        chosen = jax.tree.map(lambda a: a[pick], state)
        chosen_trace = jax.tree.map(lambda a: a[pick], trace)
    posterior = chosen.posterior
    offsets = log_density_offsets(posterior, chosen.factors, covariance_type, weight_prior)
    plug_in = expected_params(posterior, weight_prior)
    responsibilities = block_responsibilities(problem.X_blocks, plug_in, problem.n_blocks,
                                              offsets)
    t = chosen.iteration
    change, scale = objective_change(problem, chosen_trace.elbo[t],
                                     chosen_trace.elbo[jnp.maximum(t - 1, 0)], 0.0, 0.0)
    return state, trace, best, responsibilities, jnp.stack([change, scale])


_VB_PROGRAM = jax.jit(vb_program, static_argnames=(
    "covariance_type", "weight_prior", "init", "n_init", "lanes", "trace_length",
    "n_components", "store_design_rows"), compiler_options=COMPILER_OPTIONS)


def posterior_to_user(posterior: VariationalPosterior, coordinates) -> VariationalPosterior:
    """q(theta) from internal to user coordinates: m_k mapped as a mean, Psi_k as a
    covariance (E[Lambda]^-1 = Psi / nu scales so); counts and concentrations unchanged."""
    s = np.asarray(coordinates.scale)
    return posterior._replace(
        means=np.asarray(coordinates.shift) + np.asarray(posterior.means) * s,
        scale_matrices=np.asarray(posterior.scale_matrices) * s[:, None] * s[None, :])


def resolve_vb_prior(prior, X, n_components: int, covariance_type: str, weight_prior: str,
                     weight_concentration):
    """The prior of the fit in the user's units, the weight concentration in
    ``concentration``: gamma (stick-breaking) or alpha0 per component, default 1 / K
    (scikit-learn's)."""
    if prior is None:
        prior = Prior()
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a ppl_gmm.Prior or None, got {prior!r}.")
    if prior.concentration is not None:
        raise ValueError(
            "Prior.concentration is not used by fit_vb: the weights' prior is set by "
            "weight_prior and weight_concentration (e.g. weight_concentration=0.01); leave "
            "Prior.concentration=None.")
    if weight_concentration is None:
        weight_concentration = 1.0 / n_components
    try:
        value = float(weight_concentration)
    except (TypeError, ValueError):
        raise ValueError(f"weight_concentration must be a positive number, got "
                         f"{weight_concentration!r}.") from None
    if not np.isfinite(value) or value <= 0:
        name = ("stick-breaking gamma" if weight_prior == "dirichlet_process"
                else "Dirichlet alpha0")
        raise ValueError(
            f"weight_concentration must be > 0 and finite, got {weight_concentration!r}: it is "
            f"the {name}; small values (e.g. 1 / K or 0.01) let unneeded components switch off.")
    resolved = dataclasses.replace(prior, concentration=None).resolve(
        X, n_components, covariance_type=covariance_type)
    return jax.tree.map(np.asarray, resolved._replace(
        concentration=np.full(n_components, value)))


def _check_structure(covariance_type: str) -> str:
    structure = get_structure(covariance_type)
    if structure.decomposed:
        raise ValueError(
            f"fit_vb needs a conjugate structure; {covariance_type!r} (mclust's "
            f"{structure.mclust_name}) has no conjugate variational posterior. Use one of "
            "'full', 'tied', 'diag', 'spherical', 'EEI', 'EII'.")
    return covariance_type


def _start_responsibilities(init, n: int, k: int, n_init: int, rows: int):
    """A responsibilities start (n, K) or (n_init, n, K) checked and padded with zero rows."""
    resp = np.asarray(init, np.float64)
    expected = (n, k) if n_init == 1 else (n_init, n, k)
    if resp.shape != expected:
        raise ValueError(f"init as responsibilities must have shape {expected}, got "
                         f"{resp.shape}.")
    if not np.all(np.isfinite(resp)) or np.any(resp < 0):
        raise ValueError("init responsibilities must be finite and non-negative.")
    if not np.allclose(resp.sum(axis=-1), 1.0, atol=1e-8):
        raise ValueError("init responsibilities must sum to 1 over the components in every row.")
    padding = [(0, 0)] * (resp.ndim - 2) + [(0, rows - n), (0, 0)]
    return np.pad(resp, padding)


def fit_vb(
    X,
    n_components: int,
    *,
    covariance_type: str = "full",
    weight_prior: str = "dirichlet_process",
    weight_concentration: float | None = None,
    prior: Prior | None = None,
    init="kmeans++",
    n_init: int = 1,
    seed: int = 0,
    tol: float = 1e-8,
    max_iter: int = 1000,
    reg_covar: float = 0.0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    restart_batch_size: int | None = None,
) -> VBResult:
    """Variational Bayesian EM (CAVI) for the conjugate Gaussian mixture.

    Maximises the ELBO of q(Z) q(pi) q(mu, Lambda) on `gmm_model` under the prior
    (:mod:`ppl_gmm.engine.variational` has the updates and the ELBO's terms).

    Parameters
    ----------
    X : array-like (n, d)
        As for :func:`ppl_gmm.fit_em`.
    n_components : int
        K: the truncation of the stick-breaking weights, or the Dirichlet's dimension.
    covariance_type : str
        "full", "tied", "diag", "spherical", "EEI" or "EII" (the structures with a
        conjugate posterior; mclust's decomposed models are refused).
    weight_prior : {"dirichlet_process", "dirichlet_distribution"}
        Stick-breaking weights v_k ~ Beta(1, gamma), pi_k = v_k prod_{j<k} (1 - v_j), or
        pi ~ Dirichlet(alpha0, ..., alpha0).
    weight_concentration : float, optional
        gamma or alpha0, > 0; default 1 / K (scikit-learn's). Small values switch
        unneeded components off.
    prior : ppl_gmm.Prior, optional
        The Normal-Wishart part (shrinkage kappa, mean m0, dof nu0, scale Psi) with
        :class:`ppl_gmm.Prior`'s defaults; its ``concentration`` must stay None.
    init : str, GMMParams or array
        An initialiser's name (the starting q(Z) is the E-step at its parameters), an
        explicit GMMParams (leading restart axis for n_init > 1), or responsibilities
        (n, K) ((n_init, n, K) for restarts), the start scikit-learn's
        ``_initialize(X, resp)`` takes.
    n_init, seed, tol, max_iter, block_size, restart_batch_size
        As for :func:`ppl_gmm.fit_em` (the stopping rule is EM's, on the ELBO; the best
        restart has the highest final ELBO).
    reg_covar : float
        scikit-learn's regularisation: N_k reg_covar is added to each diagonal entry of
        the scatter before the q(Lambda) update. 0 (the default) is exact CAVI, whose ELBO
        never decreases.

    Returns
    -------
    VBResult
    """
    X = check_data(X).astype(np.float64, copy=False)
    n, d = X.shape
    k = check_n_components(n_components, n)
    covariance_type = _check_structure(canonical_name(covariance_type))
    weight_prior = check_weight_prior(weight_prior)
    seed = check_seed(seed)
    tol = check_positive_number(tol, "tol", allow_zero=True)
    reg_covar = check_positive_number(reg_covar, "reg_covar", allow_zero=True)
    max_iter = check_positive_int(max_iter, "max_iter", allow_zero=True)
    block_size = check_positive_int(block_size, "block_size")
    n_init = check_positive_int(n_init, "n_init")
    user_prior = resolve_vb_prior(prior, X, k, covariance_type, weight_prior,
                                  weight_concentration)
    problem = make_problem(X, k, covariance_type, None, reg_covar, tol, block_size,
                           n_init=n_init)
    problem = problem._replace(prior=problem.coordinates.prior_to_internal(user_prior),
                               user_prior=user_prior, mclust_stopping=None)
    rows = problem.X_blocks.shape[0] * problem.X_blocks.shape[1]
    named, start, resp = None, None, None
    if isinstance(init, str):
        get_initialiser(init)
        named = init
    elif isinstance(init, GMMParams | tuple) or callable(init):
        start = explicit_start(init, problem, X, k, seed, n_init, covariance_type)
    else:
        resp = _start_responsibilities(init, n, k, n_init, rows)
    lanes = 1
    if n_init > 1:
        lanes = restart_batch_size or default_lanes(
            problem.X_blocks.shape[1], d, k, max_iter, n_init)
    with garbage_collection_paused():
        state, trace, best, responsibilities, last_change = jax.device_get(_VB_PROGRAM(
            problem, start, resp, seed, max_iter, covariance_type=covariance_type,
            weight_prior=weight_prior, init=named, n_init=n_init, lanes=lanes,
            trace_length=trace_length(max_iter), n_components=k,
            store_design_rows=stores_design_rows(problem, k)))
    restarts = _restart_table(state, trace, problem, weight_prior, seed, n_init)
    best = int(best)
    if best < 0:
        raise FloatingPointError(
            "Variational EM broke down numerically in every restart (a non-finite ELBO or "
            "a precision that is not positive definite); check the prior's scale and the "
            "data's units, or pass reg_covar > 0.")
    if n_init > 1:
        state = jax.tree.map(lambda a: a[best], state)
        trace = jax.tree.map(lambda a: a[best], trace)
    n_iter = int(state.iteration)
    converged = bool(state.converged)
    if not converged and max_iter > 0:
        change, scale = last_change
        warnings.warn(ConvergenceWarning(
            f"Variational EM did not converge in max_iter={max_iter} iterations (last "
            f"relative change of the ELBO {change / max(scale, np.finfo(float).tiny):.2e} > "
            f"tol={tol:g}); raise max_iter or tol."), stacklevel=2)
    posterior = posterior_to_user(VariationalPosterior(*map(np.asarray, state.posterior)),
                                  problem.coordinates)
    params = GMMParams(*map(np.asarray, expected_params(posterior, weight_prior)))
    return VBResult(
        posterior=posterior,
        params=params,
        elbo=float(trace.elbo[n_iter]),
        n_iter=n_iter,
        converged=converged,
        responsibilities=np.asarray(responsibilities[:n]),
        history=VBHistory(*(np.asarray(a[: n_iter + 1]) for a in trace)),
        covariance_type=covariance_type,
        weight_prior=weight_prior,
        prior=user_prior,
        reg_covar=reg_covar,
        tol=tol,
        n_samples=n,
        options=FitOptions(block_size=block_size, n_init=n_init,
                           seed=seed if start is None and resp is None else None),
        restarts=restarts,
    )


def _restart_table(state, trace, problem, weight_prior: str, seed: int, n_init: int):
    """Every restart's final ELBO, iterations and status, and its expected parameters."""
    batched = jax.tree.map(lambda a: np.asarray(a)[None], state) if n_init == 1 else state
    failed = np.asarray(batched.failed_component) >= 0
    params = jax.vmap(lambda p: expected_params(p, weight_prior))(batched.posterior)
    user = problem.coordinates.params_to_user(GMMParams(*map(np.asarray, params)))
    return restart_table(
        objective=batched.objective, n_iter=batched.iteration, converged=batched.converged,
        failed=failed, reasons=["non-finite ELBO" if f else "" for f in failed], seed=seed,
        params=user, initial_params=user, objective_name="elbo")


__all__ = ["fit_vb", "posterior_to_user", "resolve_vb_prior", "vb_program"]
