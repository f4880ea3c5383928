"""The generative process, declared once as a NumPyro model.

    pi ~ Dirichlet(alpha)                                   (prior only)
    Sigma_k ~ structure's conjugate prior, mu_k | Sigma_k ~ N(m0, Sigma_k / kappa)
    z_i ~ Categorical(pi)                                   (enumerated: summed out)
    x_i | z_i ~ N(mu_{z_i}, Sigma_{z_i})

Everything else in the package (the PPL likelihood, the cross-checks, ancestral
sampling, NUTS, SVI) runs this one function. With ``prior=None`` the parameters are
``numpyro.param`` sites, so the log joint is exactly the log-likelihood. The covariance
structure decides the covariance site (its name, shape, support and prior: the
structure's registry entry, :mod:`ppl_gmm.structures.registry`); the prior itself is
:mod:`ppl_gmm.prior`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ..params import GMMParams
from ..prior import Prior, ResolvedPrior, log_prior_density, resolve_prior
from ..structures.registry import check_prior_accepted, get_structure


def covariance_site(covariance_type) -> str:
    """Name of the model site that holds the structure's free covariance parameters."""
    return get_structure(covariance_type).site


def params_to_sites(params: GMMParams, covariance_type: str = "full") -> dict:
    """Model site values (``weights``, ``means`` and the covariance site) for `params`.

    The covariance sites are read off the full matrices by the structure
    (:meth:`ppl_gmm.structures.registry.CovarianceStructure.sites_from_covariances`):
    one site, or a decomposed model's volume, shape and orientation.
    """
    structure = get_structure(covariance_type)
    return {
        "weights": jnp.asarray(params.weights),
        "means": jnp.asarray(params.means),
        **structure.sites_from_covariances(params.covariances),
    }


def _parameter_sites(structure, k: int, d: int):
    """The means and the structure's free covariance sites as ``numpyro.param`` sites;
    returns the means and the full (K, d, d) covariances."""
    means = numpyro.param("means", jnp.zeros((k, d)))
    values = {name: numpyro.param(name, initial, constraint=support)
              for name, (initial, support) in structure.free_sites(k, d).items()}
    return means, structure.covariances_from_sites(values, k, d)


def gmm_model(
    X=None,
    *,
    n_components: int,
    n_features: int | None = None,
    n_obs: int | None = None,
    covariance_type: str = "full",
    prior: ResolvedPrior | None = None,
    weight_prior: str = "dirichlet_distribution",
):
    """The Gaussian mixture as a NumPyro model, with the assignments z enumerable.

    Parameters
    ----------
    X : array, shape (n, d), optional
        Observations; None to sample them (then give `n_features` and `n_obs`).
    n_components : int
        K.
    n_features, n_obs : int, optional
        d and n when X is None.
    covariance_type : str
        Any registered structure (:data:`ppl_gmm.structures.registry.COVARIANCE_TYPES`,
        scikit-learn's or mclust's names); it decides the covariance site.
    prior : ResolvedPrior or None
        None: weights, means and covariances are ``numpyro.param`` sites and the log
        joint is the log-likelihood. Otherwise they are ``numpyro.sample`` sites under
        the conjugate prior (resolve a :class:`ppl_gmm.Prior` with
        :func:`ppl_gmm.prior.resolve_prior`).
    weight_prior : {"dirichlet_distribution", "dirichlet_process"}
        Under a prior: pi ~ Dirichlet(concentration), or stick-breaking weights
        v_k ~ Beta(1, gamma) (gamma = ``prior.concentration``, one per stick),
        pi_k = v_k prod_{j<k} (1 - v_j), the Dirichlet process truncated at K sticks
        (variational Bayes, :func:`ppl_gmm.fit_vb`). The K weights then sum to less than
        one; the model is the DP mixture on the event that every z_i <= K: z_i has
        probability pi_k (a ``Categorical`` of the renormalised weights plus the factor
        ``truncation``, log sum_k pi_k per observation), so its enumerated marginal is
        p(X, z <= K) and the variational ELBO bounds it.

    Sites
    -----
    ``weights`` (K,) (with stick-breaking weights: ``sticks`` (K,) and ``weights``
    deterministic); ``means`` (K, d) in plate "component"; the structure's covariance
    site (in plate "component" unless the structure shares one value), or for a
    decomposed model (maximum likelihood only) its ``volume``, ``shape`` and
    ``orientation``; ``covariances`` (K, d, d), deterministic, for structures whose site
    is not the full matrices;
    ``z`` (n,) with ``infer={"enumerate": "parallel"}`` and ``x`` (n, d) in plate "obs".
    """
    structure = get_structure(covariance_type)
    k = n_components
    d = X.shape[-1] if X is not None else n_features
    n = X.shape[-2] if X is not None else n_obs
    if d is None or n is None:
        raise ValueError("gmm_model needs X, or n_features and n_obs to sample.")

    stick_breaking = weight_prior == "dirichlet_process"
    if weight_prior not in ("dirichlet_distribution", "dirichlet_process"):
        raise ValueError(f"weight_prior={weight_prior!r} is not known; use "
                         "'dirichlet_distribution' or 'dirichlet_process'.")
    if stick_breaking and (prior is None or structure.decomposed):
        raise ValueError("weight_prior='dirichlet_process' needs a prior on a structure with "
                         "a conjugate covariance prior (pass prior=, and not a decomposed "
                         "mclust model).")
    if prior is None:
        weights = numpyro.param("weights", jnp.full(k, 1.0 / k), constraint=constraints.simplex)
        means, covariances = _parameter_sites(structure, k, d)
    elif structure.decomposed:
        # mclust's prior on a decomposed model: a factor on its own free parameters and
        # the means (an unnormalised density; :mod:`ppl_gmm.structures.parsimonious`).
        check_prior_accepted(structure, prior)
        weights = numpyro.sample("weights", dist.Dirichlet(prior.concentration))
        means, covariances = _parameter_sites(structure, k, d)
        numpyro.factor("covariance_prior", structure.log_prior_factor(
            covariances, means, prior, jnp.ones(k, bool)))
    else:
        if stick_breaking:
            weights = numpyro.deterministic("weights", stick_breaking_weights(numpyro.sample(
                "sticks", dist.Beta(jnp.ones_like(prior.concentration),
                                    prior.concentration).to_event(1))))
        else:
            weights = numpyro.sample("weights", dist.Dirichlet(prior.concentration))
        cov_prior = structure.site_prior(prior, d)
        if structure.shared:
            cov_value = numpyro.sample(structure.site, cov_prior)
        with numpyro.plate("component", k):
            if not structure.shared:
                cov_value = numpyro.sample(structure.site, cov_prior)
            covariances = structure.covariances_from_site(cov_value, k, d)
            means = numpyro.sample(
                "means",
                dist.MultivariateNormal(
                    prior.mean, scale_tril=jnp.linalg.cholesky(covariances / prior.shrinkage)
                ),
            )
    if structure.decomposed or structure.site != "covariances":
        covariances = numpyro.deterministic("covariances", covariances)

    scale_tril = jnp.linalg.cholesky(covariances)
    with numpyro.plate("obs", n):
        if stick_breaking:
            total = jnp.sum(weights, axis=-1)
            numpyro.factor("truncation", jnp.broadcast_to(jnp.log(total), (n,)))
            weights = weights / total
        z = numpyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
        numpyro.sample("x", dist.MultivariateNormal(means[z], scale_tril=scale_tril[z]), obs=X)


def stick_breaking_weights(sticks):
    """pi_k = v_k prod_{j<k} (1 - v_j) for sticks v (..., K); they sum to 1 - prod (1 - v_j)."""
    rest = jnp.cumprod(1.0 - sticks, axis=-1)
    return sticks * jnp.concatenate([jnp.ones_like(sticks[..., :1]), rest[..., :-1]], axis=-1)


__all__ = [
    "Prior",
    "ResolvedPrior",
    "covariance_site",
    "gmm_model",
    "log_prior_density",
    "params_to_sites",
    "resolve_prior",
    "stick_breaking_weights",
]
