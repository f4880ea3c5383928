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

from ._validation import (
    check_data,
    check_n_components,
    check_params,
    check_positive_int,
    check_probability,
    check_seed,
)
from .covariance import get_structure
from .crosscheck import unconstrained_transforms
from .fit import DEFAULT_BLOCK_SIZE, _initial_params, fit_em, make_problem
from .likelihood import model_log_density
from .model import (
    COVARIANCE_SITE,
    Prior,
    covariances_from_site,
    gmm_model,
    params_to_sites,
    resolve_prior,
)
from .params import EMResult, GMMParams
from .relabel import is_relabelled
from .relabel import relabel as relabel_draws

__all__ = [
    "Assignments",
    "SVIMAPResult",
    "fit_map_svi",
    "map_em",
    "posterior_assignments",
    "sample_posterior",
]

# Plates nest once ("obs"), so the enumerated z takes dimension -2.
_FIRST_ENUM_DIM = -2
# Draws per vectorised batch when evaluating per-draw quantities (bounds memory).
_DRAW_BATCH = 256
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
    """The best of `n_init` MAP-EM fits (seeds ``seed .. seed + n_init - 1``).

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
        The fit with the highest log joint.
    """
    n_init = check_positive_int(n_init, "n_init")
    prior = Prior() if prior is None else prior
    fits = [fit_em(X, n_components, covariance_type=covariance_type, prior=prior, seed=seed + i,
                   **fit_kwargs) for i in range(n_init)]
    return max(fits, key=lambda r: r.objective)


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


def _dims(covariance_type):
    dims = {
        "weights": ["component"],
        "means": ["component", "feature"],
        "covariances": ["component", "feature", "feature_bis"],
        "x": ["obs", "feature"],
    }
    site = COVARIANCE_SITE[covariance_type]
    dims[site] = {
        "full": ["component", "feature", "feature_bis"],
        "tied": ["feature", "feature_bis"],
        "diag": ["component", "feature"],
        "spherical": ["component"],
    }[covariance_type]
    return dims


def _coords(n, k, feature_names):
    return {
        "component": np.arange(k),
        "feature": list(feature_names),
        "feature_bis": list(feature_names),
        "obs": np.arange(n),
    }


def _feature_names(feature_names, d):
    if feature_names is None:
        return [f"x{j}" for j in range(d)]
    names = [str(f) for f in feature_names]
    if len(names) != d or len(set(names)) != d:
        raise ValueError(f"feature_names must be {d} distinct names, got {feature_names!r}.")
    return names


@functools.partial(jax.jit, static_argnames=("n_components",))
def _pointwise_by_draw(weights, means, covariances, X, n_components):
    """log p(x_i | theta_s) for every draw s and row i, shape (S, n), from the model.

    The same computation as :func:`ppl_gmm.pointwise_log_likelihood` (each row is
    the model's enumerated log density on that row alone), vmapped over rows and
    mapped over draws in vectorised batches.
    """

    def one_draw(draw):
        w, m, c = draw
        sites = params_to_sites(GMMParams(w, m, c), "full")
        return jax.vmap(lambda x: model_log_density(sites, x[None, :], n_components))(X)

    return jax.lax.map(one_draw, (weights, means, covariances), batch_size=_DRAW_BATCH)


def pointwise_log_likelihood_draws(weights, means, covariances, X):
    """The pointwise marginal log-likelihood at many draws at once.

    Parameters
    ----------
    weights : array (..., K)
    means : array (..., K, d)
    covariances : array (..., K, d, d)
        Leading axes (e.g. chain, draw) are shared by the three.
    X : array (n, d)

    Returns
    -------
    ndarray (..., n)
        ``log p(x_i | theta)`` for every draw, as :func:`ppl_gmm.pointwise_log_likelihood`.
    """
    weights, means, covariances = (np.asarray(a, np.float64) for a in
                                   (weights, means, covariances))
    lead = weights.shape[:-1]
    k, d = means.shape[-2:]
    flat = (weights.reshape(-1, k), means.reshape(-1, k, d), covariances.reshape(-1, k, d, d))
    out = _pointwise_by_draw(*(jnp.asarray(a) for a in flat), jnp.asarray(X), k)
    return np.asarray(out).reshape(*lead, -1)


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
        :func:`ppl_gmm.relabel`.
    """
    X = check_data(X)
    n, d = X.shape
    k = check_n_components(n_components, n)
    get_structure(covariance_type)
    num_warmup = check_positive_int(num_warmup, "num_warmup")
    num_samples = check_positive_int(num_samples, "num_samples")
    num_chains = check_positive_int(num_chains, "num_chains")
    seed = check_seed(seed)
    check_positive_int(n_init, "n_init")
    target_accept_prob = check_probability(target_accept_prob, "target_accept_prob")
    max_tree_depth = check_positive_int(max_tree_depth, "max_tree_depth")
    names = _feature_names(feature_names, d)
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
    samples = jax.device_get(mcmc.get_samples(group_by_chain=True))
    sampling_time = time.perf_counter() - start

    dims = _dims(covariance_type)
    coords = _coords(n, k, names)
    # ArviZ's converter would call numpyro.infer.log_likelihood, which does not sum out
    # the enumerated z; the log_likelihood group is added below from the model itself.
    idata = az.from_numpyro(mcmc, log_likelihood=False, coords=coords, dims=dims)
    full_cov = samples["covariances"]
    log_lik = pointwise_log_likelihood_draws(samples["weights"], samples["means"], full_cov, X)
    library = {"library": numpyro}
    groups = {
        "log_likelihood": az.dict_to_dataset({"x": log_lik}, coords=coords,
                                             dims={"x": ["obs"]}, **library),
        "constant_data": az.dict_to_dataset(
            {"map_weights": np.asarray(map_fit.params.weights),
             "map_means": np.asarray(map_fit.params.means),
             "map_covariances": np.asarray(map_fit.params.covariances)},
            coords=coords, default_dims=[], **library,
            dims={"map_weights": ["component"], "map_means": ["component", "feature"],
                  "map_covariances": ["component", "feature", "feature_bis"]}),
    }
    if posterior_predictive:
        replicated = _posterior_predictive(key_ppc, samples, n, d, k, covariance_type, resolved)
        groups["posterior_predictive"] = az.dict_to_dataset(
            {"x": replicated}, coords=coords, dims={"x": ["obs", "feature"]}, **library)
    idata.add_groups(groups)
    idata.posterior.attrs.update({
        "sampling_time": sampling_time,
        "n_components": k,
        "covariance_type": covariance_type,
        "chain_method": method,
        "init": init_label,
        "map_log_joint": float(map_fit.objective),
        "relabelled": 0,
    })
    idata.constant_data.attrs["map_log_joint"] = float(map_fit.objective)
    return idata


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
        BFGS: whether the gradient norm reached its tolerance before `max_iter`.
        Adam: whether the loss changed by at most ``tol * |loss|`` over the last
        tenth of the steps.
    losses : ndarray
        The loss (-log joint) after each step (one entry for BFGS).
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


def _svi_start(init, X, k, covariance_type, prior, seed):
    """The start EM would use: same initialiser, seed and coordinates as `fit_em`."""
    if isinstance(init, EMResult):
        return init.initial_params
    if isinstance(init, GMMParams):
        return check_params(init, n_features=X.shape[1], n_components=k)
    problem = make_problem(X, k, covariance_type, prior, 0.0, 0.0, DEFAULT_BLOCK_SIZE)
    internal = _initial_params(init, jax.random.key(seed), problem, X, k, covariance_type)
    return problem.coordinates.params_to_user(internal).to_numpy()


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
        EM uses), explicit parameters, or an EM result (its ``initial_params``).
    seed : int
    optimizer : {"bfgs", "adam"}
        "bfgs": ``numpyro.optim.Minimize`` (JAX's BFGS on the unconstrained
        parameters; one SVI step) with gradient tolerance `tol` per observation.
        "adam": `num_steps` Adam steps with exponentially decaying `step_size`.
    max_iter : int
        BFGS iteration limit.
    tol : float
        BFGS: bound on the infinity norm of the gradient of -log p(X, theta) / n.
        Adam: relative change of the loss over the last tenth of the steps.
    num_steps, step_size : Adam's number of steps and initial step size.

    Returns
    -------
    SVIMAPResult
    """
    X = check_data(X)
    n, d = X.shape
    k = check_n_components(n_components, n)
    get_structure(covariance_type)
    prior = Prior() if prior is None else prior
    resolved = _resolved_prior(prior, X, k)
    start = _svi_start(init, X, k, covariance_type, resolved, seed)
    model = _model(k, covariance_type)
    sites = params_to_sites(jax.tree.map(jnp.asarray, start), covariance_type)
    guide = AutoDelta(model, init_loc_fn=init_to_value(values=sites))
    X_jax = jnp.asarray(X)
    loss = TraceEnum_ELBO(max_plate_nesting=1)
    key = jax.random.PRNGKey(seed)
    if optimizer == "bfgs":
        max_iter = check_positive_int(max_iter, "max_iter")
        # jax's BFGS stops when the infinity norm of the gradient is below gtol.
        optim = _CountingBFGS(method="BFGS", options={"gtol": tol * n, "maxiter": max_iter})
        svi = SVI(model, guide, optim, loss)
        state, final = _bfgs_step(svi, key, X_jax, resolved)
        count = int(state.optim_state[0])
        n_iter, converged = (count, True) if count >= 0 else (-count - 1, False)
        losses = np.asarray([float(final)])
    elif optimizer == "adam":
        num_steps = check_positive_int(num_steps, "num_steps")
        schedule = exponential_decay(
            step_size, decay_steps=num_steps, decay_rate=1e-3)
        svi = SVI(model, guide, numpyro.optim.Adam(schedule), loss)
        run = svi.run(key, num_steps, X_jax, prior=resolved, progress_bar=False)
        state, losses = run.state, np.asarray(run.losses)
        window = max(num_steps // 10, 1)
        last, earlier = losses[-1], losses[max(len(losses) - 1 - window, 0)]
        converged = bool(abs(last - earlier) <= tol * abs(last))
        n_iter = num_steps
    else:
        raise ValueError(f"optimizer must be 'bfgs' or 'adam', got {optimizer!r}.")
    point = guide.median(svi.get_params(state))
    site = COVARIANCE_SITE[covariance_type]
    params = GMMParams(point["weights"], point["means"],
                       covariances_from_site(covariance_type, point[site], k, d)).to_numpy()
    log_joint = float(model_log_density(
        {"weights": point["weights"], "means": point["means"], site: point[site]},
        X_jax, k, covariance_type, resolved))
    return SVIMAPResult(
        params=params,
        log_joint=log_joint,
        n_iter=n_iter,
        converged=converged,
        losses=losses,
        initial_params=GMMParams(*(np.asarray(a) for a in start)),
        optimizer=optimizer,
        covariance_type=covariance_type,
        prior=jax.device_get(resolved),
    )


def _bfgs_step(svi, key, X, prior):
    state = svi.init(key, X, prior=prior)
    return svi.update(state, X, prior=prior)


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


@functools.partial(jax.jit, static_argnames=("n_components",))
def _memberships(weights, means, covariances, X, keys, n_components):
    def one_draw(draw):
        w, m, c, key = draw
        sites = params_to_sites(GMMParams(w, m, c), "full")
        resp = jax.nn.softmax(_component_log_joint(sites, X, n_components), axis=1)
        z_map = _discrete_assignment(sites, X, n_components, key, 0)
        z_sampled = _discrete_assignment(sites, X, n_components, key, 1)
        return resp, z_map, z_sampled

    resp, z_map, z_sampled = jax.lax.map(one_draw, (weights, means, covariances, keys),
                                         batch_size=_DRAW_BATCH)
    return jnp.mean(resp, axis=0), z_map, z_sampled


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
        Relabel the draws first (:func:`ppl_gmm.relabel`) unless already done, so that
        component k means the same thing in every draw before averaging.

    Returns
    -------
    Assignments
    """
    X = check_data(X)
    if isinstance(source, az.InferenceData):
        if relabel and not is_relabelled(source):
            source = relabel_draws(source)
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
    keys = jax.random.split(jax.random.PRNGKey(seed), weights.shape[0])
    probabilities, z_map, z_sampled = jax.device_get(_memberships(
        *(jnp.asarray(a) for a in (weights, means, covariances)), jnp.asarray(X), keys, k))
    z_map, z_sampled = np.asarray(z_map), np.asarray(z_sampled)
    counts = np.stack([(z_map == j).sum(axis=0) for j in range(k)], axis=1)
    return Assignments(
        probabilities=np.asarray(probabilities),
        map=np.argmax(counts, axis=1),
        map_by_draw=z_map,
        sampled=z_sampled,
    )
