"""Bayesian inference on `gmm_model`: NUTS with z summed out, MAP by SVI, memberships.

Everything here runs the one model of :mod:`ppl_gmm.model` under the conjugate
prior (:class:`ppl_gmm.Prior`):

- :func:`sample_posterior` runs NUTS on the weights, means and covariances with the
  assignments z enumerated (summed out by funsor, which NumPyro does by itself when
  a site is marked ``infer={"enumerate": "parallel"}``), and returns an ArviZ
  ``InferenceData`` whose ``log_likelihood`` group holds the pointwise *marginal*
  log-likelihood log p(x_i | theta) per draw (see :mod:`ppl_gmm.diagnostics`).
- :func:`fit_map_svi` finds the MAP by SVI with an ``AutoDelta`` guide and
  ``TraceEnum_ELBO``: with a point-mass guide and z enumerated, the loss is exactly
  -log p(X, theta), the objective MAP-EM (``fit_em(..., prior=...)``) climbs.
- :func:`posterior_assignments` gives memberships p(z_i = k | X) averaged over draws,
  MAP assignments by ``infer_discrete(temperature=0)`` and sampled ones by
  ``infer_discrete(temperature=1)``, all from the same model.

Chains run in parallel
----------------------
NUTS runs one chain per CPU device when there are at least ``num_chains`` of them.
JAX sees a single CPU device unless told otherwise *before it initialises its
backend*, so a user who wants parallel chains starts the program with::

    import numpyro
    numpyro.set_host_device_count(4)   # first lines, before any JAX computation
    import ppl_gmm

(or sets ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` in the environment).
With fewer devices than chains the chains run ``"vectorized"`` (one compiled
program advances all chains in lock-step; NumPyro's ``"sequential"`` recompiles its
sampling loop for every chain, which costs more than it saves on a small model).

ArviZ 0.23 and jaxlib 0.10
--------------------------
Results are ArviZ ``InferenceData`` (ArviZ pinned below 0.24 on purpose, see
:mod:`ppl_gmm.diagnostics`). Per-draw quantities are computed in programs built to
avoid a thread-pool deadlock of jaxlib 0.10's batched CPU LAPACK kernels (same place).

Chains start where the MAP is
-----------------------------
Random starts put chains in different modes of a mixture posterior (label
switching and genuinely different local optima), so by default every chain starts
at the best of a few MAP-EM fits; :func:`ppl_gmm.diagnostics.chain_modes` reports
chains that nevertheless end up in different modes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from jax.example_libraries.optimizers import exponential_decay
from numpyro import handlers
from numpyro.contrib.funsor import infer_discrete
from numpyro.infer import (
    MCMC,
    NUTS,
    SVI,
    Predictive,
    TraceEnum_ELBO,
    init_to_uniform,
    init_to_value,
)
from numpyro.infer.autoguide import AutoDelta

from .._validation import (
    check_data,
    check_n_components,
    check_params,
    check_positive_int,
    check_positive_number,
    check_probability,
    check_seed,
)
from ..fit.driver import fit_em, initial_parameters
from ..params import EMResult, GMMParams
from ..ppl.crosscheck import unconstrained_transforms
from ..ppl.likelihood import _FIRST_ENUM_DIM, log_joint
from ..ppl.model import (
    COVARIANCE_SITE,
    Prior,
    covariances_from_site,
    gmm_model,
    params_to_sites,
    resolve_prior,
)
from ..structures.registry import get_structure
from .diagnostics import _padded_batches, feature_names_for, to_inference_data
from .relabel import relabelled

__all__ = [
    "Assignments",
    "SVIMAPResult",
    "fit_map_svi",
    "map_em",
    "posterior_assignments",
    "sample_posterior",
]

_EXTRA_FIELDS = ("potential_energy", "diverging", "num_steps", "accept_prob", "energy",
                 "adapt_state.step_size")


@functools.cache
def _model(n_components: int, covariance_type: str):
    """`gmm_model` with its static options bound; cached so its identity (and the
    compiled programs keyed on it) survive between calls."""
    return functools.partial(gmm_model, n_components=n_components,
                             covariance_type=covariance_type)


def _resolved_prior(prior, X, k):
    resolved = resolve_prior(prior, X, k)
    if resolved is None:
        raise ValueError(
            "prior=None has no posterior (the parameters would be numpyro.param sites); "
            "pass prior=ppl_gmm.Prior() or your own Prior."
        )
    return jax.tree.map(jnp.asarray, resolved)


def chain_method_for(num_chains: int, chain_method: str | None = None) -> str:
    """``"parallel"`` when there is a CPU/GPU device per chain, else ``"vectorized"``."""
    if chain_method is not None:
        if chain_method not in ("parallel", "sequential", "vectorized"):
            raise ValueError(
                f"chain_method must be 'parallel', 'sequential', 'vectorized' or None, got "
                f"{chain_method!r}."
            )
        return chain_method
    if num_chains > 1 and jax.local_device_count() >= num_chains:
        return "parallel"
    return "vectorized"


# ----------------------------------------------------------------------------------------
# MAP-EM: the default start of the chains and the default relabelling reference
# ----------------------------------------------------------------------------------------


def map_em(X, n_components: int, *, prior=None, covariance_type: str = "full", seed: int = 0,
           n_init: int = 4, **fit_kwargs) -> EMResult:
    """MAP-EM with `n_init` restarts (``fit_em(..., prior=prior, n_init=n_init)``).

    Parameters
    ----------
    X : array-like (n, d)
    n_components : int
    prior : Prior or ResolvedPrior, optional
        Defaults to ``Prior()``.
    covariance_type : str
    seed, n_init : int
    **fit_kwargs
        Passed to :func:`ppl_gmm.fit_em` (``tol``, ``max_iter``, ``init``, ...).

    Returns
    -------
    EMResult
        The restart with the highest log joint.
    """
    prior = Prior() if prior is None else prior
    return fit_em(X, n_components, covariance_type=covariance_type, prior=prior, seed=seed,
                  n_init=n_init, **fit_kwargs)


# ----------------------------------------------------------------------------------------
# NUTS
# ----------------------------------------------------------------------------------------


def _initialisation(init, map_fit: EMResult, X, k, covariance_type, prior, num_chains):
    """(init_strategy, init_params, label) for the sampler from the user's `init`."""
    if isinstance(init, str):
        if init == "map":
            sites = params_to_sites(jax.tree.map(jnp.asarray, map_fit.params), covariance_type)
            return init_to_value(values=sites), None, "map"
        if init == "uniform":
            return init_to_uniform(), None, "uniform"
        raise ValueError(
            f"init={init!r} is not known; use 'map' (the MAP-EM solution), 'uniform' (NumPyro's "
            "random start in (-2, 2) on the unconstrained scale), a GMMParams, or a sequence of "
            "num_chains GMMParams (one per chain)."
        )
    d = X.shape[1]
    if isinstance(init, GMMParams):
        start = check_params(init, n_features=d, n_components=k)
        sites = params_to_sites(jax.tree.map(jnp.asarray, start), covariance_type)
        return init_to_value(values=sites), None, "given"
    if isinstance(init, Sequence) and all(isinstance(p, GMMParams) for p in init):
        if len(init) != num_chains:
            raise ValueError(
                f"init has {len(init)} GMMParams but num_chains={num_chains}; give one per chain."
            )
        starts = [check_params(p, n_features=d, n_components=k) for p in init]
        per_chain = [params_to_sites(jax.tree.map(jnp.asarray, p), covariance_type)
                     for p in starts]
        transforms = unconstrained_transforms(per_chain[0], jnp.asarray(X), k, covariance_type,
                                              prior)
        free = {name: jnp.stack([transforms[name].inv(s[name]) for s in per_chain])
                for name in per_chain[0]}
        if num_chains == 1:
            free = {name: value[0] for name, value in free.items()}
        return init_to_uniform(), free, "given per chain"
    raise ValueError(
        f"init must be 'map', 'uniform', a GMMParams or a sequence of GMMParams, got {init!r}."
    )


def sample_posterior(
    X,
    n_components: int,
    *,
    prior=None,
    covariance_type: str = "full",
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 4,
    seed: int = 0,
    init="map",
    n_init: int = 4,
    chain_method: str | None = None,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    posterior_predictive: bool = True,
    feature_names=None,
    progress_bar: bool = False,
) -> az.InferenceData:
    """Posterior draws of the mixture's parameters by NUTS, with z summed out.

    Parameters
    ----------
    X : array-like (n, d)
    n_components : int
    prior : Prior or ResolvedPrior, optional
        Defaults to ``Prior()`` (Fraley & Raftery defaults resolved against X).
    covariance_type : {"full", "diag", "spherical", "tied"}
    num_warmup, num_samples, num_chains : int
    seed : int
        Seeds the sampler (and the MAP-EM restarts, ``seed .. seed + n_init - 1``).
    init : "map", "uniform", GMMParams or sequence of GMMParams
        Where the chains start. "map" (default): all at the best of `n_init` MAP-EM
        fits. "uniform": NumPyro's random start (chains may land in different modes).
        A GMMParams: all chains there; a sequence of `num_chains` GMMParams: one each.
    n_init : int
        MAP-EM restarts for the start and for the relabelling reference.
    chain_method : {"parallel", "sequential", "vectorized"}, optional
        Default: "parallel" with a device per chain, else "vectorized" (module docstring).
    target_accept_prob : float
    max_tree_depth : int
    posterior_predictive : bool
        Whether to draw replicated data x_rep ~ p(x | theta_s) for every draw.
    feature_names : sequence of str, optional
        Coordinates of the "feature" dimension.
    progress_bar : bool

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` (weights, means, the covariance site and the full
        ``covariances``), ``sample_stats`` (lp, diverging, n_steps, tree_depth,
        acceptance_rate, energy, step_size), ``log_likelihood`` (``x``: the pointwise
        marginal log p(x_i | theta), dims chain, draw, obs), ``posterior_predictive``,
        ``observed_data`` and ``constant_data`` (the MAP-EM solution, ``map_*``).
        Dimensions: ``component``, ``obs``, ``feature`` (and ``feature_bis``, the
        second axis of a covariance matrix). Draws are *not* relabelled; see
        :func:`ppl_gmm.relabel.relabel`.
    """
    X = check_data(X)
    n, d = X.shape
    k = check_n_components(n_components, n)
    get_structure(covariance_type)
    num_warmup = check_positive_int(num_warmup, "num_warmup")
    num_samples = check_positive_int(num_samples, "num_samples")
    num_chains = check_positive_int(num_chains, "num_chains")
    seed = check_seed(seed)
    n_init = check_positive_int(n_init, "n_init")
    target_accept_prob = check_probability(target_accept_prob, "target_accept_prob")
    max_tree_depth = check_positive_int(max_tree_depth, "max_tree_depth")
    names = feature_names_for(feature_names, d)
    prior = Prior() if prior is None else prior
    resolved = _resolved_prior(prior, X, k)
    method = chain_method_for(num_chains, chain_method)

    map_fit = map_em(X, k, prior=resolved, covariance_type=covariance_type, seed=seed,
                     n_init=n_init)
    X_jax = jnp.asarray(X)
    strategy, init_params, init_label = _initialisation(init, map_fit, X_jax, k, covariance_type,
                                                        resolved, num_chains)
    model = _model(k, covariance_type)
    kernel = NUTS(model, init_strategy=strategy, target_accept_prob=target_accept_prob,
                  max_tree_depth=max_tree_depth)
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                chain_method=method, progress_bar=progress_bar, jit_model_args=True)
    # NumPyro's "vectorized" chains split raw (legacy) keys.
    key_nuts, key_ppc = jax.random.split(jax.random.PRNGKey(seed))
    start = time.perf_counter()
    mcmc.run(key_nuts, X_jax, prior=resolved, init_params=init_params,
             extra_fields=_EXTRA_FIELDS)
    sampling_time = time.perf_counter() - start
    replicated = None
    if posterior_predictive:
        samples = jax.device_get(mcmc.get_samples(group_by_chain=True))
        replicated = _posterior_predictive(key_ppc, samples, n, d, k, covariance_type, resolved)
    return to_inference_data(
        mcmc, X, n_components=k, covariance_type=covariance_type, reference=map_fit.params,
        posterior_predictive=replicated, feature_names=names,
        attrs={"sampling_time": sampling_time, "chain_method": method, "init": init_label,
               "map_log_joint": float(map_fit.objective)})


def _posterior_predictive(key, samples, n, d, k, covariance_type, prior):
    """x_rep ~ p(x | theta_s) for every draw, by running the model forward (chain, draw, n, d)."""
    sites = ["weights", "means", COVARIANCE_SITE[covariance_type]]
    chains, draws = samples["weights"].shape[:2]
    flat = {s: jnp.asarray(samples[s]).reshape(chains * draws, *samples[s].shape[2:])
            for s in sites}
    predictive = Predictive(_model(k, covariance_type), posterior_samples=flat,
                            return_sites=["x"], batch_ndims=1)
    out = predictive(key, None, n_features=d, n_obs=n, prior=prior)["x"]
    return np.asarray(out).reshape(chains, draws, n, d)


# ----------------------------------------------------------------------------------------
# MAP by SVI
# ----------------------------------------------------------------------------------------


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
    return AutoDelta(handlers.block(_model(n_components, covariance_type), hide=["z"]))


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
    model = _model(k, covariance_type)
    guide = _map_guide(k, covariance_type)
    if optimizer == "bfgs":
        gtol, max_iter = options
        optim = _CountingBFGS(method="BFGS", options={"gtol": gtol, "maxiter": max_iter})
    else:
        step_size, num_steps = options
        optim = numpyro.optim.Adam(exponential_decay(step_size, num_steps, 1e-3))
    svi = SVI(model, guide, optim, TraceEnum_ELBO(max_plate_nesting=1))
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
    resolved = _resolved_prior(prior, X, k)
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
    site = COVARIANCE_SITE[covariance_type]
    params = GMMParams(point["weights"], point["means"],
                       covariances_from_site(covariance_type, point[site], k, d)).to_numpy()
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


# ----------------------------------------------------------------------------------------
# Memberships
# ----------------------------------------------------------------------------------------



class Assignments(NamedTuple):
    """Memberships of the observations, from the model.

    Attributes
    ----------
    probabilities : ndarray (n, K)
        p(z_i = k | X) averaged over the draws: the mean over draws s of the exact
        conditional p(z_i = k | x_i, theta_s) (z summed against the model's density),
        a Rao-Blackwellised estimate of the posterior membership probabilities.
    map : ndarray of int (n,)
        The most frequent of the per-draw MAP assignments (`map_by_draw`); at a
        single parameter value, the MAP assignment itself.
    map_by_draw : ndarray of int (S, n)
        ``argmax_z p(z | X, theta_s)`` by ``infer_discrete(temperature=0)``.
    sampled : ndarray of int (S, n)
        ``z ~ p(z | X, theta_s)`` by ``infer_discrete(temperature=1)``: with the draws
        theta_s, joint posterior draws of the assignments.
    """

    probabilities: np.ndarray
    map: np.ndarray
    map_by_draw: np.ndarray
    sampled: np.ndarray


def _component_log_joint(sites, X, n_components):
    """log p(x_i, z_i = k | theta), shape (n, K), read off the model's trace with z fixed to k."""
    n = X.shape[0]

    def with_z(k):
        model = handlers.condition(gmm_model, data={"z": jnp.full(n, k)})
        model = handlers.substitute(model, data=sites)
        trace = handlers.trace(model).get_trace(X, n_components=n_components)
        return sum(trace[s]["fn"].log_prob(trace[s]["value"]) for s in ("z", "x"))

    return jax.vmap(with_z)(jnp.arange(n_components)).T


def _discrete_assignment(sites, X, n_components, key, temperature):
    """z drawn (temperature 1) or maximised (temperature 0) from p(z | X, theta) by
    ``infer_discrete`` on the model."""
    model = handlers.substitute(gmm_model, data=sites)
    model = infer_discrete(model, first_available_dim=_FIRST_ENUM_DIM, temperature=temperature,
                           rng_key=key)
    trace = handlers.trace(model).get_trace(X, n_components=n_components)
    return trace["z"]["value"]


# Three separate programs, not one: independent branches in one XLA:CPU program may run
# batched LAPACK calls concurrently (see `_padded_batches`).
@functools.partial(jax.jit, static_argnames=("n_components", "batch_size"))
def _mean_responsibilities(weights, means, covariances, X, n_components, batch_size):
    def one_draw(draw):
        sites = params_to_sites(GMMParams(*draw), "full")
        return jax.nn.softmax(_component_log_joint(sites, X, n_components), axis=1)

    return jax.lax.map(one_draw, (weights, means, covariances), batch_size=batch_size)


@functools.partial(jax.jit, static_argnames=("n_components", "temperature", "batch_size"))
def _discrete_by_draw(weights, means, covariances, X, keys, n_components, temperature,
                      batch_size):
    def one_draw(draw):
        w, m, c, key = draw
        sites = params_to_sites(GMMParams(w, m, c), "full")
        return _discrete_assignment(sites, X, n_components, key, temperature)

    return jax.lax.map(one_draw, (weights, means, covariances, keys), batch_size=batch_size)


def posterior_assignments(source, X, *, seed: int = 0, relabel: bool = True) -> Assignments:
    """Membership probabilities, MAP and sampled assignments, by the model.

    Parameters
    ----------
    source : arviz.InferenceData, GMMParams, EMResult or SVIMAPResult
        Posterior draws (from :func:`sample_posterior`), or one parameter value.
    X : array-like (n, d)
        The observations to assign.
    seed : int
        Seeds the sampled assignments.
    relabel : bool
        Relabel the draws first (:func:`ppl_gmm.relabel.relabel`) unless already done, so that
        component k means the same thing in every draw before averaging.

    Returns
    -------
    Assignments
    """
    X = check_data(X)
    if isinstance(source, az.InferenceData):
        source = relabelled(source, relabel)
        post = source.posterior
        d = X.shape[1]
        k = post.sizes["component"]
        weights = post["weights"].values.reshape(-1, k)
        means = post["means"].values.reshape(-1, k, d)
        covariances = post["covariances"].values.reshape(-1, k, d, d)
    else:
        params = source.params if isinstance(source, (EMResult, SVIMAPResult)) else source
        params = check_params(params, n_features=X.shape[1])
        weights, means, covariances = (a[None] for a in params)
        k = params.n_components
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(seed), weights.shape[0]))
    (w, m, c, keys), batch, count = _padded_batches((weights, means, covariances, keys))
    w, m, c, X_jax = (jnp.asarray(a, jnp.float64) for a in (w, m, c, X))
    resp = np.asarray(_mean_responsibilities(w, m, c, X_jax, k, batch))[:count]
    z_map, z_sampled = (
        np.asarray(_discrete_by_draw(w, m, c, X_jax, jnp.asarray(keys), k, t, batch))[:count]
        for t in (0, 1))
    counts = np.stack([(z_map == j).sum(axis=0) for j in range(k)], axis=1)
    return Assignments(
        probabilities=resp.mean(axis=0),
        map=np.argmax(counts, axis=1),
        map_by_draw=z_map,
        sampled=z_sampled,
    )
