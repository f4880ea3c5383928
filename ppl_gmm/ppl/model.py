"""The generative process, declared once as a NumPyro model, and its conjugate prior.

    pi ~ Dirichlet(alpha)                                   (prior only)
    Sigma_k ~ structure's conjugate prior, mu_k | Sigma_k ~ N(m0, Sigma_k / kappa)
    z_i ~ Categorical(pi)                                   (enumerated: summed out)
    x_i | z_i ~ N(mu_{z_i}, Sigma_{z_i})

Everything else in the package (the PPL likelihood, the cross-checks, ancestral
sampling, NUTS, SVI) runs this one function. With ``prior=None`` the parameters are
``numpyro.param`` sites, so the log joint is exactly the log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ..params import GMMParams
from ..structures.registry import get_structure

# Name of the model site that holds each structure's free covariance parameters.
COVARIANCE_SITE = {
    "full": "covariances",  # (K, d, d)
    "tied": "covariance",  # (d, d), shared
    "diag": "variances",  # (K, d)
    "spherical": "variance",  # (K,)
}


class ResolvedPrior(NamedTuple):
    """A :class:`Prior` with every hyperparameter filled in (a pytree of arrays).

    Attributes
    ----------
    concentration : array, shape (K,)
        Dirichlet concentration alpha of the weights.
    shrinkage : scalar
        kappa: the means' prior covariance is Sigma_k / kappa.
    mean : array, shape (d,)
        m0, the means' prior mean.
    dof : scalar
        nu, degrees of freedom of the covariance prior.
    scale : array, shape (d, d)
        Psi, scale matrix of the covariance prior.
    """

    concentration: Any
    shrinkage: Any
    mean: Any
    dof: Any
    scale: Any


@dataclass(frozen=True)
class Prior:
    """Conjugate Dirichlet / Normal-inverse-Wishart prior, defaults after Fraley & Raftery (2007).

    Any hyperparameter left as None takes its data-dependent default when the prior
    is resolved against a data set (:meth:`resolve`):

    - ``concentration`` alpha = 1 for every component: a flat Dirichlet, so MAP weights
      equal the ML weights (mclust puts no prior on the weights either). Must be >= 1
      so that the MAP weights exist in closed form.
    - ``shrinkage`` kappa = 0.01: the means' prior is worth 1/100 of an observation.
    - ``mean`` m0 = the column means of X (0 without data).
    - ``dof`` nu = d + 2: the smallest integer for which the inverse-Wishart has a mean.
    - ``scale`` Psi = cov(X) / K^(2/d): the data covariance shared out among K
      components of equal volume (the identity / K^(2/d) without data).

    For "diag" and "spherical" fits the covariance prior is inverse-gamma on each
    variance, built from the same nu and the diagonal (trace) of Psi; see
    :mod:`ppl_gmm.covariance` for the closed-form M-steps these give.

    References
    ----------
    Fraley, C. and Raftery, A. E. (2007). Bayesian regularization for normal mixture
    estimation and model-based clustering. Journal of Classification 24, 155-181.
    """

    concentration: float | None = None
    shrinkage: float | None = None
    mean: Any = None
    dof: float | None = None
    scale: Any = None

    def resolve(self, X=None, n_components: int = 1, n_features: int | None = None):
        """Fill in the data-dependent defaults.

        Parameters
        ----------
        X : array, shape (n, d), optional
            Data for the defaults of `mean` and `scale`.
        n_components : int
        n_features : int, optional
            Needed only when X is None.

        Returns
        -------
        ResolvedPrior
        """
        if X is not None:
            X = np.asarray(X, dtype=np.float64)
            n_features = X.shape[1]
        if n_features is None:
            raise ValueError("Prior.resolve needs X or n_features to know the dimension.")
        d, k = n_features, n_components
        concentration = 1.0 if self.concentration is None else self.concentration
        concentration = np.broadcast_to(np.asarray(concentration, np.float64), (k,)).copy()
        if np.any(concentration < 1.0):
            raise ValueError(
                f"Prior.concentration must be >= 1 (got {concentration.min():g}): below 1 the "
                "MAP weights sit on the boundary of the simplex and have no closed form."
            )
        shrinkage = 0.01 if self.shrinkage is None else float(self.shrinkage)
        dof = d + 2.0 if self.dof is None else float(self.dof)
        if shrinkage <= 0:
            raise ValueError(f"Prior.shrinkage must be > 0, got {shrinkage}.")
        if dof <= d - 1:
            raise ValueError(f"Prior.dof must be > d - 1 = {d - 1}, got {dof}.")
        if self.mean is not None:
            mean = np.broadcast_to(np.asarray(self.mean, np.float64), (d,)).copy()
        else:
            mean = X.mean(axis=0) if X is not None else np.zeros(d)
        if self.scale is not None:
            scale = np.asarray(self.scale, np.float64)
            scale = scale * np.eye(d) if scale.ndim < 2 else scale.copy()
        else:
            spread = np.atleast_2d(np.cov(X, rowvar=False)) if X is not None else np.eye(d)
            scale = spread / k ** (2.0 / d)
        if scale.shape != (d, d) or not np.all(np.isfinite(scale)):
            raise ValueError(f"Prior.scale must be a finite ({d}, {d}) matrix.")
        try:
            np.linalg.cholesky(scale)
        except np.linalg.LinAlgError:
            raise ValueError(
                "Prior.scale is not positive definite (a constant column in X, linearly "
                "dependent columns or fewer rows than columns give a singular default); "
                "pass scale= explicitly, or drop the redundant columns."
            ) from None
        return ResolvedPrior(concentration, shrinkage, mean, dof, scale)


def resolve_prior(prior, X=None, n_components: int = 1, n_features: int | None = None):
    """Return a :class:`ResolvedPrior` (or None for maximum likelihood) from any prior spec."""
    if prior is None or isinstance(prior, ResolvedPrior):
        return prior
    if isinstance(prior, Prior):
        return prior.resolve(X, n_components, n_features)
    raise TypeError(f"prior must be a ppl_gmm.Prior, a ResolvedPrior or None, got {prior!r}.")


def _covariance_prior(covariance_type, prior: ResolvedPrior, d):
    """The conjugate prior distribution of the structure's covariance site."""
    if covariance_type in ("full", "tied"):
        return dist.InverseWishart(prior.dof, scale_matrix=prior.scale)
    if covariance_type == "diag":
        return dist.InverseGamma(prior.dof / 2.0, jnp.diagonal(prior.scale) / 2.0).to_event(1)
    return dist.InverseGamma(d * prior.dof / 2.0, jnp.trace(prior.scale) / 2.0)


def _ml_site(covariance_type, k, d):
    """A ``numpyro.param`` for the covariance site (maximum likelihood, no prior)."""
    name = COVARIANCE_SITE[covariance_type]
    if covariance_type == "full":
        return numpyro.param(name, jnp.broadcast_to(jnp.eye(d), (k, d, d)),
                             constraint=constraints.positive_definite)
    if covariance_type == "tied":
        return numpyro.param(name, jnp.eye(d), constraint=constraints.positive_definite)
    if covariance_type == "diag":
        return numpyro.param(name, jnp.ones((k, d)), constraint=constraints.positive)
    return numpyro.param(name, jnp.ones(k), constraint=constraints.positive)


def covariances_from_site(covariance_type, value, k, d):
    """Full ``(K, d, d)`` covariance matrices from a structure's covariance-site value."""
    if covariance_type == "full":
        return value
    if covariance_type == "tied":
        return jnp.broadcast_to(value, (k, d, d))
    if covariance_type == "diag":
        return value[..., :, None] * jnp.eye(d)
    return value[..., None, None] * jnp.eye(d)


def params_to_sites(params: GMMParams, covariance_type: str = "full") -> dict:
    """Model site values (``weights``, ``means`` and the covariance site) for `params`.

    The covariance site is read off the full matrices: the diagonal for "diag", the
    mean diagonal for "spherical", the first component's matrix for "tied".
    """
    get_structure(covariance_type)
    cov = jnp.asarray(params.covariances)
    if covariance_type == "full":
        site = cov
    elif covariance_type == "tied":
        site = cov[0]
    elif covariance_type == "diag":
        site = jnp.diagonal(cov, axis1=-2, axis2=-1)
    else:
        site = jnp.mean(jnp.diagonal(cov, axis1=-2, axis2=-1), axis=-1)
    return {
        "weights": jnp.asarray(params.weights),
        "means": jnp.asarray(params.means),
        COVARIANCE_SITE[covariance_type]: site,
    }


def gmm_model(
    X=None,
    *,
    n_components: int,
    n_features: int | None = None,
    n_obs: int | None = None,
    covariance_type: str = "full",
    prior: ResolvedPrior | None = None,
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
    covariance_type : {"full", "diag", "spherical", "tied"}
        Which covariance site the model has (see ``COVARIANCE_SITE``).
    prior : ResolvedPrior or None
        None: weights, means and covariances are ``numpyro.param`` sites and the log
        joint is the log-likelihood. Otherwise they are ``numpyro.sample`` sites under
        the conjugate prior (resolve a :class:`Prior` with :func:`resolve_prior`).

    Sites
    -----
    ``weights`` (K,); ``means`` (K, d) and the covariance site in plate "component";
    ``covariances`` (K, d, d), deterministic, for structures other than "full";
    ``z`` (n,) with ``infer={"enumerate": "parallel"}`` and ``x`` (n, d) in plate "obs".
    """
    get_structure(covariance_type)
    k = n_components
    d = X.shape[-1] if X is not None else n_features
    n = X.shape[-2] if X is not None else n_obs
    if d is None or n is None:
        raise ValueError("gmm_model needs X, or n_features and n_obs to sample.")
    site = COVARIANCE_SITE[covariance_type]

    if prior is None:
        weights = numpyro.param("weights", jnp.full(k, 1.0 / k), constraint=constraints.simplex)
        means = numpyro.param("means", jnp.zeros((k, d)))
        cov_value = _ml_site(covariance_type, k, d)
        covariances = covariances_from_site(covariance_type, cov_value, k, d)
    else:
        weights = numpyro.sample("weights", dist.Dirichlet(prior.concentration))
        cov_prior = _covariance_prior(covariance_type, prior, d)
        if covariance_type == "tied":
            cov_value = numpyro.sample(site, cov_prior)
        with numpyro.plate("component", k):
            if covariance_type != "tied":
                cov_value = numpyro.sample(site, cov_prior)
            covariances = covariances_from_site(covariance_type, cov_value, k, d)
            means = numpyro.sample(
                "means",
                dist.MultivariateNormal(
                    prior.mean, scale_tril=jnp.linalg.cholesky(covariances / prior.shrinkage)
                ),
            )
    if covariance_type != "full":
        covariances = numpyro.deterministic("covariances", covariances)

    scale_tril = jnp.linalg.cholesky(covariances)
    with numpyro.plate("obs", n):
        z = numpyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
        numpyro.sample("x", dist.MultivariateNormal(means[z], scale_tril=scale_tril[z]), obs=X)


def log_prior_density(params: GMMParams, prior: ResolvedPrior, covariance_type: str = "full"):
    """log p(weights, means, covariance site) under the conjugate prior (traceable).

    The same distributions `gmm_model` samples from, evaluated directly so that EM can
    add the prior to its objective inside ``lax.while_loop``; the cross-check compares
    the sum with the model's enumerated log joint.
    """
    k, d = params.means.shape
    site = params_to_sites(params, covariance_type)[COVARIANCE_SITE[covariance_type]]
    covariances = covariances_from_site(covariance_type, site, k, d)
    log_p = dist.Dirichlet(prior.concentration).log_prob(params.weights)
    log_p = log_p + jnp.sum(_covariance_prior(covariance_type, prior, d).log_prob(site))
    means_prior = dist.MultivariateNormal(
        prior.mean, scale_tril=jnp.linalg.cholesky(covariances / prior.shrinkage)
    )
    return log_p + jnp.sum(means_prior.log_prob(params.means))
