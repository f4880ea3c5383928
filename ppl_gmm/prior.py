"""The conjugate prior of the mixture: its specification, defaults and log density.

    pi ~ Dirichlet(alpha)
    Sigma_k ~ the structure's conjugate prior (:mod:`ppl_gmm.structures.registry`)
    mu_k | Sigma_k ~ N(m0, Sigma_k / kappa)

:class:`Prior` is what users write; :class:`ResolvedPrior` is the pytree of arrays the
model and EM read, with every data-dependent default filled in. `log_prior_density`
evaluates the same distributions `gmm_model` samples from, so EM can add the prior to
its objective inside a jitted loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from .params import GMMParams
from .structures.registry import get_structure


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
    :mod:`ppl_gmm.structures.registry` for the closed-form M-steps these give.

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

    def resolve(self, X=None, n_components: int = 1, n_features: int | None = None,
                covariance_type=None):
        """Fill in the data-dependent defaults.

        Parameters
        ----------
        X : array, shape (n, d), optional
            Data for the defaults of `mean` and `scale`.
        n_components : int
        n_features : int, optional
            Needed only when X is None.
        covariance_type : str, optional
            The structure the prior is for: the axis-aligned models (EII, VII, EEI, VEI,
            EVI, VVI) take mclust's default scale tr(cov(X)) / d / K^(2/d) times I
            (``defaultPrior``), the others cov(X) / K^(2/d).

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
            if covariance_type is not None and get_structure(covariance_type).isotropic_prior_scale:
                spread = np.trace(spread) / d * np.eye(d)
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


def resolve_prior(prior, X=None, n_components: int = 1, n_features: int | None = None,
                  covariance_type=None):
    """Return a :class:`ResolvedPrior` (or None for maximum likelihood) from any prior spec
    (`covariance_type`: the structure whose default scale applies, see :meth:`Prior.resolve`)."""
    if prior is None or isinstance(prior, ResolvedPrior):
        return prior
    if isinstance(prior, Prior):
        return prior.resolve(X, n_components, n_features, covariance_type)
    raise TypeError(f"prior must be a ppl_gmm.Prior, a ResolvedPrior or None, got {prior!r}.")


def log_prior_density(params: GMMParams, prior: ResolvedPrior, covariance_type: str = "full"):
    """log p(weights, means, covariance site) under the conjugate prior (traceable).

    The same distributions `gmm_model` samples from, evaluated directly so that EM can
    add the prior to its objective inside ``lax.while_loop``; the cross-check compares
    the sum with the model's enumerated log joint.
    """
    structure = get_structure(covariance_type)
    k, d = params.means.shape
    import numpyro.distributions as dist  # on first use: `import ppl_gmm` stays fast

    if structure.decomposed:
        return (dist.Dirichlet(prior.concentration).log_prob(params.weights)
                + structure.log_prior_factor(params.covariances, params.means, prior,
                                             jnp.ones(k, bool)))
    site = structure.site_from_covariances(params.covariances)
    covariances = structure.covariances_from_site(site, k, d)
    log_p = dist.Dirichlet(prior.concentration).log_prob(params.weights)
    log_p = log_p + structure.log_prior_of_site(site, prior, d)
    means_prior = dist.MultivariateNormal(
        prior.mean, scale_tril=jnp.linalg.cholesky(covariances / prior.shrinkage)
    )
    return log_p + jnp.sum(means_prior.log_prob(params.means))
