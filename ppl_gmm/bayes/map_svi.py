"""MAP of `gmm_model` by SVI: an ``AutoDelta`` guide and ``TraceEnum_ELBO``.

With a point-mass guide and z enumerated, the loss is exactly -log p(X, theta), the
objective MAP-EM (``fit_em(..., prior=...)``, :func:`ppl_gmm.bayes.map_em.map_em`)
climbs, so :func:`fit_map_svi` and MAP-EM look for the same maximum by different
routes (the test suite checks they find it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from jax.example_libraries.optimizers import exponential_decay
from numpyro import handlers
from numpyro.infer import SVI, TraceEnum_ELBO
from numpyro.infer.autoguide import AutoDelta

from .._validation import (
    check_data,
    check_n_components,
    check_params,
    check_positive_int,
    check_positive_number,
    check_seed,
)
from ..fit.driver import initial_parameters
from ..params import EMResult, GMMParams
from ..ppl.likelihood import MAX_PLATE_NESTING, log_joint
from ..ppl.model import params_to_sites
from ..prior import Prior
from ..structures.registry import get_structure
from .posterior_model import bound_model, resolved_posterior_prior

__all__ = ["SVIMAPResult", "fit_map_svi"]


@dataclass(frozen=True)
class SVIMAPResult:
    """The outcome of :func:`fit_map_svi`.

    Attributes
    ----------
    params : GMMParams
        The MAP estimate (full covariance matrices).
    log_joint : float
        log p(X, params) = minus the final loss.
    n_iter : int
        Optimiser iterations: BFGS iterations, or Adam steps.
    converged : bool
        BFGS: whether it met its gradient tolerance (within 20 restarts).
        Adam: whether the loss changed by at most ``tol * |loss|`` over the last
        tenth of the steps.
    losses : ndarray
        The loss (-log joint) after each step (BFGS: after each restart).
    initial_params : GMMParams
    optimizer : str
    covariance_type : str
    prior : ResolvedPrior
    """

    params: GMMParams
    log_joint: float
    n_iter: int
    converged: bool
    losses: np.ndarray
    initial_params: GMMParams
    optimizer: str
    covariance_type: str
    prior: Any


class _CountingBFGS(numpyro.optim.Minimize):
    """``numpyro.optim.Minimize`` (one SVI step runs BFGS to convergence) that records
    BFGS's iteration count in the step counter of its state, and whether it succeeded
    in the sign of that counter (negative: BFGS stopped without meeting its tolerance)."""

    def eval_and_update(self, fn, state, forward_mode_differentiation=False):
        _, (flat_params, unravel_fn) = state

        def loss_fn(x):
            out, aux = fn(unravel_fn(x))
            if aux is not None:
                raise ValueError("Minimize does not support models with mutable states.")
            return out

        result = jax.scipy.optimize.minimize(loss_fn, flat_params, (), method=self._method,
                                             **self._kwargs)
        count = jnp.where(result.success, result.nit, -result.nit - 1)
        state = (count, type(state[1])(result.x, unravel_fn))
        return (result.fun, None), state


def _svi_start(init, X, k, covariance_type, seed):
    """The start EM would use: the same initialiser and seed as `fit_em`."""
    if isinstance(init, EMResult):
        return init.initial_params
    if isinstance(init, GMMParams):
        return check_params(init, n_features=X.shape[1], n_components=k)
    return initial_parameters(X, k, init=init, seed=seed, covariance_type=covariance_type)


# BFGS restarts (a fresh inverse-Hessian estimate) after a failed line search; JAX's
# BFGS often stops that way a little short of the optimum.
_BFGS_RESTARTS = 20


@functools.cache
def _map_guide(n_components: int, covariance_type: str):
    """The AutoDelta guide of the continuous sites (z stays enumerated in the model).

    Cached: the guide compiles the model's density once, when first initialised."""
    return AutoDelta(handlers.block(bound_model(n_components, covariance_type), hide=["z"]))


@functools.cache
def _svi_program(n_components: int, n_features: int, covariance_type: str, optimizer: str,
                 options: tuple):
    """SVI on `gmm_model` for one configuration, built and compiled once.

    Returns ``(svi, template, run)``: the SVI object (AutoDelta guide, TraceEnum_ELBO),
    a template state whose static parts every later state shares (so the jitted
    `run` is traced once), and ``run(state, X, prior) -> (state, losses)``: one SVI
    step for BFGS (the whole optimisation), `num_steps` steps (``lax.scan``) for Adam.
    """
    k, d = n_components, n_features
    model = bound_model(k, covariance_type)
    guide = _map_guide(k, covariance_type)
    if optimizer == "bfgs":
        gtol, max_iter = options
        optim = _CountingBFGS(method="BFGS", options={"gtol": gtol, "maxiter": max_iter})
    else:
        step_size, num_steps = options
        optim = numpyro.optim.Adam(exponential_decay(step_size, num_steps, 1e-3))
    svi = SVI(model, guide, optim, TraceEnum_ELBO(max_plate_nesting=MAX_PLATE_NESTING))
    dummy = jax.tree.map(jnp.asarray, Prior(mean=np.zeros(d), scale=np.eye(d)).resolve(None, k, d))
    template = svi.init(jax.random.PRNGKey(0), jnp.zeros((k, d)), prior=dummy)

    def run(state, X, prior):
        if optimizer == "bfgs":
            state, value = svi.update(state, X, prior=prior)
            return state, value[None]
        return jax.lax.scan(lambda st, _: svi.update(st, X, prior=prior), state, None,
                            length=options[1])

    return svi, template, jax.jit(run)


def _svi_state(svi, template, key, X, prior, sites):
    """SVI state starting at `sites` (the guide's point masses), with the template's
    static parts so the compiled program is reused."""
    init = {f"{name}_{svi.guide.prefix}_loc": value for name, value in sites.items()}
    state = svi.init(key, X, prior=prior, init_params=init)
    if isinstance(state.optim_state[1], type(template.optim_state[1])) and hasattr(
            template.optim_state[1], "unravel_fn"):
        minimize_state = state.optim_state[1]
        state = state._replace(optim_state=(state.optim_state[0], minimize_state._replace(
            unravel_fn=template.optim_state[1].unravel_fn)))
    return state


def fit_map_svi(
    X,
    n_components: int,
    prior=None,
    *,
    covariance_type: str = "full",
    init="kmeans++",
    seed: int = 0,
    optimizer: str = "bfgs",
    max_iter: int = 1000,
    tol: float = 1e-8,
    num_steps: int = 20000,
    step_size: float = 0.02,
) -> SVIMAPResult:
    """MAP of `gmm_model` by SVI: an ``AutoDelta`` guide and ``TraceEnum_ELBO``.

    With a point mass as guide and z enumerated, the ELBO is exactly the log joint
    log p(X, theta) at the point (no Jacobian: the density of the natural parameters,
    the objective MAP-EM maximises), so both methods look for the same maximum.

    Parameters
    ----------
    X : array-like (n, d)
    n_components : int
    prior : Prior or ResolvedPrior, optional
        Defaults to ``Prior()``.
    covariance_type : str
    init : str, GMMParams or EMResult
        An initialiser name as in :func:`ppl_gmm.fit_em` (with `seed`, the very start
        EM uses: :func:`ppl_gmm.initial_parameters`), explicit parameters, or an EM
        result (its ``initial_params``).
    seed : int
    optimizer : {"bfgs", "adam"}
        "bfgs": ``numpyro.optim.Minimize`` (JAX's BFGS on the unconstrained parameters,
        one SVI step), restarted from where it stopped when its line search fails, up
        to 20 times. "adam": `num_steps` Adam steps, the step size decaying
        exponentially from `step_size` to ``step_size / 1000``.
    max_iter : int
        BFGS iterations per (re)start.
    tol : float
        BFGS: bound on the infinity norm of the gradient of -log p(X, theta), per
        observation. Adam: bound on the relative change of the loss over the last
        tenth of the steps (only for ``converged``).
    num_steps, step_size
        Adam's number of steps and initial step size.

    Returns
    -------
    SVIMAPResult
    """
    X = check_data(X)
    n, d = X.shape
    k = check_n_components(n_components, n)
    get_structure(covariance_type)
    seed = check_seed(seed)
    tol = check_positive_number(tol, "tol")
    prior = Prior() if prior is None else prior
    resolved = resolved_posterior_prior(prior, X, k, covariance_type)
    start = _svi_start(init, X, k, covariance_type, seed)
    sites = params_to_sites(jax.tree.map(jnp.asarray, start), covariance_type)
    X_jax = jnp.asarray(X)
    key = jax.random.PRNGKey(seed)
    if optimizer == "bfgs":
        options = (tol * n, check_positive_int(max_iter, "max_iter"))
    elif optimizer == "adam":
        options = (check_positive_number(step_size, "step_size"),
                   check_positive_int(num_steps, "num_steps"))
    else:
        raise ValueError(f"optimizer must be 'bfgs' or 'adam', got {optimizer!r}.")
    svi, template, run = _svi_program(k, d, covariance_type, optimizer, options)
    state = _svi_state(svi, template, key, X_jax, resolved, sites)

    if optimizer == "bfgs":
        n_iter, converged, losses = 0, False, []
        for _ in range(_BFGS_RESTARTS):
            state, value = run(state, X_jax, resolved)
            count = int(state.optim_state[0])
            n_iter += count if count >= 0 else -count - 1
            losses.append(float(value[0]))
            if count >= 0:
                converged = True
                break
        losses = np.asarray(losses)
    else:
        state, losses = run(state, X_jax, resolved)
        losses = np.asarray(losses)
        window = max(len(losses) // 10, 1)
        last, earlier = losses[-1], losses[-1 - window] if len(losses) > window else losses[0]
        converged = bool(abs(last - earlier) <= tol * abs(last))
        n_iter = len(losses)
    point = svi.guide.median(svi.get_params(state))
    structure = get_structure(covariance_type)
    params = GMMParams(point["weights"], point["means"],
                       structure.covariances_from_site(point[structure.site], k, d)).to_numpy()
    return SVIMAPResult(
        params=params,
        log_joint=log_joint(params, X, resolved, covariance_type),
        n_iter=n_iter,
        converged=converged,
        losses=losses,
        initial_params=GMMParams(*(np.asarray(a) for a in start)),
        optimizer=optimizer,
        covariance_type=covariance_type,
        prior=jax.device_get(resolved),
    )
