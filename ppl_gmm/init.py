"""Initialisation heuristics: where EM starts.

Each initialiser is a pure function ``(key, X, w, n_components, covariance_type) ->
GMMParams`` in the internal coordinates of :mod:`ppl_gmm.fit` (centred, unit-scale
columns), so every one of them respects the data's location and scale. ``w`` is
the row weight (0 on padding rows).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .covariance import get_structure
from .em import SufficientStatistics, m_step, moments_from_statistics
from .gaussian import cholesky_factors
from .model import Prior
from .params import GMMParams


def weighted_covariance(X, w):
    """Covariance of the rows of X under row weights w (ML normalisation)."""
    total = jnp.sum(w)
    mean = (w @ X) / total
    centred = X - mean
    return (centred * w[:, None]).T @ centred / total


def project_covariance(covariance, covariance_type: str):
    """The structure's nearest matrix to one covariance: itself, its diagonal, or tr/d I."""
    get_structure(covariance_type)
    eye = jnp.eye(covariance.shape[-1], dtype=covariance.dtype)
    if covariance_type == "diag":
        return eye * jnp.diagonal(covariance)
    if covariance_type == "spherical":
        return eye * jnp.trace(covariance) / covariance.shape[-1]
    return covariance


def params_from_responsibilities(X, w, resp, covariance_type: str):
    """An M-step from given (soft or hard) responsibilities, shape (n, K).

    The covariances are the MAP update under the default :class:`ppl_gmm.Prior`
    (Fraley & Raftery), so a component holding one or two points still starts with
    a positive definite covariance.
    """
    _n, d = X.shape
    k = resp.shape[1]
    identity = GMMParams(jnp.full(k, 1.0 / k, X.dtype), jnp.zeros((k, d), X.dtype),
                         jnp.broadcast_to(jnp.eye(d, dtype=X.dtype), (k, d, d)))
    factors = cholesky_factors(identity.covariances)
    weighted = resp * w[:, None]
    stats_counts = jnp.sum(weighted, axis=0)
    sum_y = weighted.T @ X
    sum_yy = jnp.einsum("nk,nd,ne->kde", weighted, X, X)
    stats = SufficientStatistics(stats_counts, sum_y, sum_yy, jnp.zeros((), X.dtype),
                                 jnp.zeros((), X.dtype))
    moments = moments_from_statistics(stats, identity, factors)
    prior = _default_prior(X, w, k)
    params = m_step(moments, covariance_type, prior, jnp.zeros(d, X.dtype))
    # The weights and means of an initial M-step are the plain ML ones.
    return params._replace(weights=stats_counts / jnp.sum(stats_counts), means=moments.mean)


def _default_prior(X, w, k):
    d = X.shape[1]
    total = jnp.sum(w)
    mean = (w @ X) / total
    return Prior().resolve(n_components=k, n_features=d)._replace(
        mean=mean, scale=weighted_covariance(X, w) / k ** (2.0 / d)
    )


def kmeans_plus_plus_centres(key, X, w, n_components: int):
    """k-means++ seeding (Arthur & Vassilvitskii, 2007): D^2-weighted sampling of rows."""
    keys = jax.random.split(key, n_components)
    n = X.shape[0]
    first = jax.random.choice(keys[0], n, p=w / jnp.sum(w))
    centres = jnp.zeros((n_components, X.shape[1]), X.dtype).at[0].set(X[first])
    sq_dist = jnp.sum((X - X[first]) ** 2, axis=1)

    def add_centre(i, carry):
        centres, sq_dist = carry
        p = w * sq_dist
        # All remaining points coincide with a centre: fall back to uniform sampling.
        p = jnp.where(jnp.sum(p) > 0, p, w)
        index = jax.random.choice(keys[i], n, p=p / jnp.sum(p))
        centre = X[index]
        sq_dist = jnp.minimum(sq_dist, jnp.sum((X - centre) ** 2, axis=1))
        return centres.at[i].set(centre), sq_dist

    centres, _ = lax.fori_loop(1, n_components, add_centre, (centres, sq_dist))
    return centres


def nearest_centre(X, centres):
    """Index of the closest centre for each row (squared Euclidean distance)."""
    sq = (jnp.sum(X * X, axis=1)[:, None] - 2.0 * X @ centres.T
          + jnp.sum(centres * centres, axis=1)[None, :])
    return jnp.argmin(sq, axis=1)


def init_kmeans_plus_plus(key, X, w, n_components: int, covariance_type: str):
    """k-means++ centres, hard assignment of every row to its nearest centre, then an M-step.

    The M-step is :func:`params_from_responsibilities` (ML weights and means, covariances
    regularised by the default prior).
    """
    centres = kmeans_plus_plus_centres(key, X, w, n_components)
    labels = nearest_centre(X, centres)
    resp = jax.nn.one_hot(labels, n_components, dtype=X.dtype)
    return params_from_responsibilities(X, w, resp, covariance_type)


def init_random_from_data(key, X, w, n_components: int, covariance_type: str):
    """Means at K distinct rows drawn uniformly, equal weights, covariances all
    cov(X) / K^(2/d) (projected on the structure).
    """
    n, d = X.shape
    rows = jax.random.choice(key, n, (n_components,), replace=False, p=w / jnp.sum(w))
    covariance = project_covariance(weighted_covariance(X, w), covariance_type)
    covariance = covariance / n_components ** (2.0 / d)
    return GMMParams(
        jnp.full(n_components, 1.0 / n_components, X.dtype),
        X[rows],
        jnp.broadcast_to(covariance, (n_components, d, d)),
    )


INITIALISERS = {
    "kmeans++": init_kmeans_plus_plus,
    "random_from_data": init_random_from_data,
}
