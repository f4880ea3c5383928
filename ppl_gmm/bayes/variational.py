"""What a variational posterior predicts: the predictive density, memberships, draws.

:func:`ppl_gmm.fit_vb` returns q(pi) q(mu, Lambda) (a :class:`ppl_gmm.VBResult`).

- **The posterior predictive density** (Bishop, PRML 10.81) integrates the parameters
  out under q: p(x | X) ~ sum_k E_q[pi_k] St(x | m_k, S_k, dof_k), a mixture of Student-t
  densities. Marginalising mu_k ~ N(m_k, (beta_k Lambda_k)^-1) gives
  x | Lambda_k ~ N(m_k, (1 + 1 / beta_k) Lambda_k^-1); then for a Wishart(nu_k, Psi_k^-1)
  precision (full, tied) a multivariate t with dof_k = nu_k + 1 - d and scale matrix
  S_k = (1 + beta_k) / (beta_k dof_k) Psi_k; for one Gamma(nu_k / 2, s_k / 2) precision
  (spherical, EII) a multivariate t with dof_k = nu_k and S_k as above with Psi_k = s_k I;
  for independent Gammas on a diagonal (diag, EEI) the product over features of univariate
  t's with dof nu_k and squared scales the diagonal of S_k. The t's are NumPyro's
  (``MultivariateStudentT``, ``StudentT``). With stick-breaking weights E_q[pi] is
  renormalised over the K components, as in :attr:`ppl_gmm.VBResult.params` (the density
  of x given that it comes from one of the K components).
- **Memberships** of new observations: p(z = k | x, X) proportional to E_q[pi_k] times
  component k's predictive t (:func:`predictive_memberships`).
- **Draws from q** (:func:`sample_variational`) as ArviZ ``InferenceData`` with the
  groups and dims of :func:`ppl_gmm.sample_posterior`'s, so ``summary``, ``relabel``,
  ``az.loo`` / ``az.compare`` and the trace plots take them. ``sample_stats`` holds
  ``lp`` = log p(X, theta_s) (the model's enumerated log joint) and ``log_q`` =
  log q(theta_s) on the model's own sites; their difference is the importance ratio
  whose Pareto k (``posterior.attrs["pareto_k"]``, ArviZ's PSIS) says whether q can
  stand in for the posterior (Yao, Vehtari, Simpson and Gelman 2018: k < 0.7 is usable).

References
----------
Bishop, C. M. (2006). Pattern Recognition and Machine Learning, section 10.2.3.
Yao, Y., Vehtari, A., Simpson, D. and Gelman, A. (2018). Yes, but did it work?:
Evaluating variational inference. ICML.
"""

from __future__ import annotations

import functools

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from .._validation import check_data, check_positive_int, check_seed
from ..params import GMMParams, VBResult
from ..ppl.likelihood import model_log_density
from ..ppl.model import params_to_sites, stick_breaking_weights
from ..structures.registry import get_structure
from .draws import padded_batches
from .inference_data import feature_names_for, model_dims, pointwise_log_likelihood_draws
from .nuts import replicated_data

__all__ = [
    "predictive_component_log_densities",
    "predictive_log_density",
    "predictive_memberships",
    "sample_variational",
    "variational_draws",
]


def _check_vb(vb) -> VBResult:
    if not isinstance(vb, VBResult):
        raise TypeError(f"Expected the VBResult of ppl_gmm.fit_vb, got {type(vb).__name__}.")
    return vb


def _checked_rows(vb: VBResult, X) -> np.ndarray:
    X = check_data(X).astype(np.float64, copy=False)
    d = np.shape(vb.posterior.means)[-1]
    if X.shape[1] != d:
        raise ValueError(f"X has {X.shape[1]} features but the fit has {d}; pass rows with "
                         f"the {d} features it was fitted on.")
    return X


# ------------------------------------------------------------------ predictive density


@functools.partial(jax.jit, static_argnames=("form",))
def _component_t_log_densities(X, means, scale_matrices, dof, mean_precision, form: str):
    """log St_k(x_i) (n, K): component k's posterior predictive (module docstring)."""
    d = means.shape[-1]
    t_dof = dof + 1.0 - d if form == "matrix" else dof
    scale = scale_matrices * ((1.0 + mean_precision) / (mean_precision * t_dof))[:, None, None]
    if form == "diagonal":
        t = dist.StudentT(t_dof[:, None], means, jnp.sqrt(jnp.diagonal(scale, axis1=-2,
                                                                       axis2=-1)))
        return jnp.sum(t.log_prob(X[:, None, :]), axis=-1)
    t = dist.MultivariateStudentT(t_dof, means, scale_tril=jnp.linalg.cholesky(scale))
    return t.log_prob(X[:, None, :])


def predictive_component_log_densities(vb: VBResult, X) -> np.ndarray:
    """log E_q[pi_k] + log St_k(x_i), shape (n, K): each component's share of the
    posterior predictive density (module docstring)."""
    vb = _check_vb(vb)
    X = _checked_rows(vb, X)
    q = vb.posterior
    form = get_structure(vb.covariance_type).form
    components = _component_t_log_densities(
        jnp.asarray(X), *(jnp.asarray(a, jnp.float64) for a in (
            q.means, q.scale_matrices, q.degrees_of_freedom, q.mean_precision)), form=form)
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(vb.params.weights, np.float64))
    return np.asarray(components) + log_weights


def predictive_log_density(vb: VBResult, X) -> np.ndarray:
    """The posterior predictive log density log p(x_i | X) of each row under q.

    Parameters
    ----------
    vb : VBResult
        From :func:`ppl_gmm.fit_vb`.
    X : array-like (n, d)
        New (or the training) observations.

    Returns
    -------
    ndarray (n,)
        log sum_k E_q[pi_k] St(x_i | m_k, S_k, dof_k), a mixture of Student-t densities
        (PRML 10.81; the module docstring has S_k and dof_k for each structure). Heavier
        tailed than the plug-in mixture at ``vb.params``, by the parameters' uncertainty.
    """
    return np.asarray(jax.nn.logsumexp(predictive_component_log_densities(vb, X), axis=1))


def predictive_memberships(vb: VBResult, X) -> np.ndarray:
    """p(z = k | x_i, X) under q, shape (n, K): the components' shares of the predictive
    density, normalised per row."""
    log_shares = predictive_component_log_densities(vb, X)
    return np.asarray(jax.nn.softmax(log_shares, axis=1))


# ------------------------------------------------------------------ draws from q


def _draw_precision_parameters(key, q, structure, num_draws: int):
    """Covariances (S, K, d, d) from q(Lambda): inverse-Wishart(nu_k, Psi_k) on Sigma_k for
    a matrix, inverse-gamma(nu_k / 2, Psi_k,jj / 2) on each variance of a diagonal, on the
    one variance of a scalar structure; a shared q(Lambda) is drawn once per draw."""
    rows = 1 if structure.shared else q.means.shape[0]
    d = q.means.shape[-1]
    dof, scale = q.degrees_of_freedom[:rows], q.scale_matrices[:rows]
    if structure.form == "matrix":
        cov = dist.InverseWishart(dof, scale_matrix=scale).sample(key, (num_draws,))
    else:
        rates = 0.5 * jnp.diagonal(scale, axis1=-2, axis2=-1)
        if structure.form == "scalar":
            rates = rates[:, :1]
        variances = dist.InverseGamma(0.5 * dof[:, None], rates).sample(key, (num_draws,))
        cov = jnp.broadcast_to(variances, (num_draws, rows, d))[..., None] * jnp.eye(d)
    return jnp.broadcast_to(cov, (num_draws, q.means.shape[0], d, d))


def _q_distributions(q, weight_prior: str):
    """q(pi) (Dirichlet on the weights, or the sticks' Betas)."""
    if weight_prior == "dirichlet_distribution":
        return dist.Dirichlet(q.weight_concentration)
    a, b = q.weight_concentration
    return dist.Beta(a, b).to_event(1)


@functools.partial(jax.jit, static_argnames=("covariance_type", "weight_prior", "num_draws"))
def _draw(key, q, covariance_type: str, weight_prior: str, num_draws: int):
    structure = get_structure(covariance_type)
    key_w, key_cov, key_mu = jax.random.split(key, 3)
    weights_q = _q_distributions(q, weight_prior)
    weight_values = weights_q.sample(key_w, (num_draws,))
    cov = _draw_precision_parameters(key_cov, q, structure, num_draws)
    # mu_k | Sigma_k ~ N(m_k, Sigma_k / beta_k).
    tril = jnp.linalg.cholesky(cov / q.mean_precision[:, None, None])
    noise = jax.random.normal(key_mu, (num_draws, *q.means.shape))
    means = q.means + jnp.einsum("skde,ske->skd", tril, noise)
    draws = {"means": means, "covariances": cov}
    if weight_prior == "dirichlet_process":
        draws["sticks"] = weight_values
        weights = stick_breaking_weights(weight_values)
        draws["weights"] = weights / jnp.sum(weights, axis=-1, keepdims=True)
    else:
        draws["weights"] = weight_values
    return draws


def _log_q(draws, q, covariance_type: str, weight_prior: str):
    """log q(theta_s) (S,) on the model's sites: weights or sticks, means, the covariance
    site (a shared one counted once)."""
    structure = get_structure(covariance_type)
    weight_site = "sticks" if weight_prior == "dirichlet_process" else "weights"
    log_q = _q_distributions(q, weight_prior).log_prob(draws[weight_site])
    cov = draws["covariances"]
    log_q = log_q + jnp.sum(dist.MultivariateNormal(
        q.means, covariance_matrix=cov / q.mean_precision[:, None, None]).log_prob(
            draws["means"]), axis=-1)
    rows = 1 if structure.shared else q.means.shape[0]
    dof, scale = q.degrees_of_freedom[:rows], q.scale_matrices[:rows]
    cov = cov[:, :rows]
    if structure.form == "matrix":
        site_log_q = dist.InverseWishart(dof, scale_matrix=scale).log_prob(cov)
    else:
        variances = jnp.diagonal(cov, axis1=-2, axis2=-1)
        rates = 0.5 * jnp.diagonal(scale, axis1=-2, axis2=-1)
        if structure.form == "scalar":
            variances, rates = variances[..., :1], rates[:, :1]
        site_log_q = jnp.sum(dist.InverseGamma(0.5 * dof[:, None], rates).log_prob(variances),
                             axis=-1)
    return log_q + jnp.sum(site_log_q, axis=-1)


def _model_sites(draw, covariance_type: str, weight_prior: str) -> dict:
    """The model's site values of one draw."""
    sites = params_to_sites(GMMParams(draw["weights"], draw["means"], draw["covariances"]),
                            covariance_type)
    if weight_prior == "dirichlet_process":
        del sites["weights"]
        sites["sticks"] = draw["sticks"]
    return sites


@functools.partial(jax.jit, static_argnames=("n_components", "covariance_type",
                                             "weight_prior", "batch_size"))
def _log_joint_by_draw(draws, X, prior, n_components, covariance_type, weight_prior,
                       batch_size):
    def one_draw(draw):
        return model_log_density(_model_sites(draw, covariance_type, weight_prior), X,
                                 n_components, covariance_type, prior,
                                 weight_prior=weight_prior)

    return jax.lax.map(one_draw, draws, batch_size=batch_size)


def variational_draws(vb: VBResult, num_draws: int, seed: int = 0) -> dict:
    """Independent draws of the parameters from q, as NumPy arrays with a leading draw axis.

    Returns
    -------
    dict
        ``weights`` (S, K) (renormalised over the K components for stick-breaking
        weights, whose ``sticks`` (S, K) are included), ``means`` (S, K, d),
        ``covariances`` (S, K, d, d).
    """
    vb = _check_vb(vb)
    num_draws = check_positive_int(num_draws, "num_draws")
    q = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), vb.posterior)
    draws = _draw(jax.random.PRNGKey(check_seed(seed)), q, vb.covariance_type,
                  vb.weight_prior, num_draws)
    return {name: np.asarray(value) for name, value in draws.items()}


def _dataset(values: dict, coords, dims, **kwargs):
    return az.dict_to_dataset(values, coords=coords, dims=dims, library=numpyro, **kwargs)


def sample_variational(vb: VBResult, X, *, num_samples: int = 500, num_chains: int = 4,
                       seed: int = 0, posterior_predictive: bool = True,
                       feature_names=None) -> az.InferenceData:
    """Draws from the variational posterior q as ArviZ InferenceData.

    Parameters
    ----------
    vb : VBResult
        From :func:`ppl_gmm.fit_vb` on X.
    X : array-like (n, d)
        The data of the fit (for the pointwise log-likelihood and the observed data).
    num_samples, num_chains : int
        Independent draws from q, split into "chains" so that the shapes, and ArviZ's
        diagnostics, are those of :func:`ppl_gmm.sample_posterior` (r_hat near 1 and an
        ESS near num_samples x num_chains are what independent draws give).
    seed : int
    posterior_predictive : bool
        Whether to draw replicated data x_rep ~ p(x | theta_s) for every draw.
    feature_names : sequence of str, optional

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (weights, means, the structure's covariance site and the full
        ``covariances``; ``sticks`` too for stick-breaking weights), ``sample_stats``
        (``lp``: log p(X, theta_s), ``log_q``: log q(theta_s)), ``log_likelihood``
        (``x``: the pointwise marginal log p(x_i | theta_s)), ``posterior_predictive``,
        ``observed_data`` and ``constant_data`` (q's plug-in parameters as ``map_*``,
        the relabelling reference). ``posterior.attrs``: ``inference="variational"``,
        ``elbo``, ``weight_prior`` and ``pareto_k``, the PSIS diagnostic of the
        importance ratios p(X, theta) / q(theta).
    """
    vb = _check_vb(vb)
    X = _checked_rows(vb, X)
    num_samples = check_positive_int(num_samples, "num_samples")
    num_chains = check_positive_int(num_chains, "num_chains")
    seed = check_seed(seed)
    n, d = X.shape
    k = np.shape(vb.posterior.means)[0]
    structure = get_structure(vb.covariance_type)
    total = num_samples * num_chains
    key_draw, key_ppc = jax.random.split(jax.random.PRNGKey(seed))
    q = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), vb.posterior)
    draws = _draw(key_draw, q, vb.covariance_type, vb.weight_prior, total)
    prior = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), vb.prior)
    log_q = np.asarray(_log_q(draws, q, vb.covariance_type, vb.weight_prior))
    padded, batch, count = padded_batches(tuple(np.asarray(v) for v in draws.values()))
    lp = np.asarray(_log_joint_by_draw(
        dict(zip(draws, map(jnp.asarray, padded), strict=True)), jnp.asarray(X), prior, k,
        vb.covariance_type, vb.weight_prior, batch))[:count]

    def by_chain(a):
        return np.asarray(a).reshape(num_chains, num_samples, *np.shape(a)[1:])

    site = jax.vmap(structure.site_from_covariances)(draws["covariances"])
    posterior = {name: by_chain(value) for name, value in draws.items()}
    posterior[structure.site] = by_chain(site)
    names = feature_names_for(feature_names, d)
    coords = {"component": np.arange(k), "feature": names, "feature_bis": names,
              "obs": np.arange(n)}
    dims = {**model_dims(vb.covariance_type), "sticks": ["component"]}
    log_lik = pointwise_log_likelihood_draws(posterior["weights"], posterior["means"],
                                             posterior["covariances"], X)
    groups = {
        "posterior": _dataset(posterior, coords, dims),
        "sample_stats": _dataset({"lp": by_chain(lp), "log_q": by_chain(log_q)}, coords, {}),
        "log_likelihood": _dataset({"x": log_lik}, coords, {"x": ["obs"]}),
        "observed_data": _dataset({"x": X}, coords, {"x": ["obs", "feature"]},
                                  default_dims=[]),
        "constant_data": _dataset(
            {"map_weights": np.asarray(vb.params.weights),
             "map_means": np.asarray(vb.params.means),
             "map_covariances": np.asarray(vb.params.covariances)}, coords,
            {"map_weights": ["component"], "map_means": ["component", "feature"],
             "map_covariances": ["component", "feature", "feature_bis"]}, default_dims=[]),
    }
    if posterior_predictive:
        groups["posterior_predictive"] = _dataset(
            {"x": replicated_data(key_ppc, posterior, n, d, k, vb.covariance_type,
                                        prior)}, coords,
            {"x": ["obs", "feature"]})
    idata = az.InferenceData(**groups)
    _, pareto_k = az.psislw(lp - log_q)
    idata.posterior.attrs.update({
        "n_components": k, "covariance_type": vb.covariance_type, "relabelled": 0,
        "inference": "variational", "weight_prior": vb.weight_prior, "elbo": vb.elbo,
        "pareto_k": float(pareto_k)})
    return idata
