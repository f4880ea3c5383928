"""Posterior draws of the mixture's parameters by NUTS, with the assignments z summed out.

:func:`sample_posterior` runs NUTS on the weights, means and covariances of the one
model of :mod:`ppl_gmm.ppl.model` under the conjugate prior (:class:`ppl_gmm.Prior`),
with z enumerated (summed out by funsor, which NumPyro does by itself when a site is
marked ``infer={"enumerate": "parallel"}``), and returns an ArviZ ``InferenceData``
whose ``log_likelihood`` group holds the pointwise *marginal* log-likelihood
log p(x_i | theta) per draw (see :mod:`ppl_gmm.bayes.inference_data`).

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
at the best of a few MAP-EM fits (:func:`ppl_gmm.bayes.map_em.map_em`);
:func:`ppl_gmm.bayes.summaries.chain_modes` reports chains that nevertheless end up
in different modes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS, init_to_uniform, init_to_value

from .._validation import (
    check_data,
    check_n_components,
    check_params,
    check_positive_int,
    check_probability,
    check_seed,
)
from ..params import EMResult, GMMParams
from ..ppl.crosscheck import unconstrained_transforms
from ..ppl.likelihood import run_model
from ..ppl.model import params_to_sites
from ..prior import Prior
from ..structures.registry import get_structure
from .inference_data import feature_names_for, to_inference_data
from .map_em import map_em
from .posterior_model import bound_model, resolved_posterior_prior

__all__ = ["chain_method_for", "replicated_data", "sample_posterior"]

_EXTRA_FIELDS = ("potential_energy", "diverging", "num_steps", "accept_prob", "energy",
                 "adapt_state.step_size")


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
    covariance_type : str
        A structure of :mod:`ppl_gmm.structures.registry` ("full", "diag", ...).
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
        :func:`ppl_gmm.bayes.relabel.relabel`.
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
    resolved = resolved_posterior_prior(prior, X, k, covariance_type)
    method = chain_method_for(num_chains, chain_method)

    map_fit = map_em(X, k, prior=resolved, covariance_type=covariance_type, seed=seed,
                     n_init=n_init)
    X_jax = jnp.asarray(X)
    strategy, init_params, init_label = _initialisation(init, map_fit, X_jax, k, covariance_type,
                                                        resolved, num_chains)
    model = bound_model(k, covariance_type)
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
        replicated = replicated_data(key_ppc, samples, n, d, k, covariance_type, resolved)
    return to_inference_data(
        mcmc, X, n_components=k, covariance_type=covariance_type, reference=map_fit.params,
        posterior_predictive=replicated, feature_names=names,
        attrs={"sampling_time": sampling_time, "chain_method": method, "init": init_label,
               "map_log_joint": float(map_fit.objective)})


def replicated_data(key, samples, n, d, k, covariance_type, prior):
    """x_rep ~ p(x | theta_s) for every draw, by running the model forward (chain, draw, n, d).

    Vectorised over the draws but not jitted: one batched LAPACK call at a time (see
    :mod:`ppl_gmm.bayes.draws`).
    """
    names = ("weights", "means", get_structure(covariance_type).site)
    chains, draws = samples["weights"].shape[:2]
    flat = {s: jnp.asarray(samples[s]).reshape(chains * draws, *samples[s].shape[2:])
            for s in names}
    keys = jax.random.split(key, chains * draws)

    def replicate(key, sites):
        trace = run_model(sites, None, n_components=k, covariance_type=covariance_type,
                          prior=prior, n_features=d, n_obs=n, key=key)
        return trace["x"]["value"]

    out = jax.vmap(replicate)(keys, flat)
    return np.asarray(out).reshape(chains, draws, n, d)
