"""Initialisation heuristics: where EM starts.

Each initialiser is a pure function ``(key, X, w, n_components, covariance_type) ->
GMMParams`` in the internal coordinates of :mod:`ppl_gmm.fit.driver`: every column centred
at its mean and divided by its standard deviation (one common scale for the
structures that need it). The formulas below are in those coordinates, where the data have mean
m = 0 and covariance S = cov(X) with unit diagonal; mapped back, every initialiser
moves and scales with the data (multiply X by 1e3 and the initial means are
multiplied by 1e3, the covariances by 1e6). ``w`` is the row weight (0 on padding
rows, which never influence an initialisation). All draws come from `key`, so an
initialisation is deterministic given ``fit_em``'s `seed`.

==================  ==========================================================================
name                initial parameters
==================  ==========================================================================
"kmeans++"          k-means++ centres (D^2 sampling of rows); every row assigned to its nearest
                    centre; one M-step from those hard memberships
"kmeans"            as "kmeans++", then up to ``KMEANS_INIT_ITERATIONS`` Lloyd iterations
                    before the M-step
"random_from_data"  means at K distinct rows drawn uniformly; weights 1/K; every covariance
                    S / K^(2/d)
"random"            weights ~ Dirichlet(1, ..., 1) (uniform on the simplex);
                    mu_k ~ N(m, S) independently; Sigma_k = W_k / nu with
                    W_k ~ Wishart(nu = d + 2, S / K^(2/d)), so E[Sigma_k] = S / K^(2/d)
"perturbed"         one Gaussian N(m, S) fitted to all data, K copies: weights 1/K,
                    Sigma_k = S, mu_k = m + ``PERTURBATION_SCALE`` * L eps_k with
                    S = L L^T, eps_k ~ N(0, I)
"random_resp"       soft memberships r_i ~ Dirichlet(1, ..., 1) per row, then an M-step
"random_resp_hard"  hard memberships z_i ~ Uniform{1..K} per row, then an M-step
==================  ==========================================================================

Covariances are projected on the structure (its own matrix, diagonal part or tr/d I;
a structure sharing one matrix takes, for "random", the first draw). The M-steps
from memberships (:func:`params_from_responsibilities`) use the plain ML weights and
means and the covariance update of the default :class:`ppl_gmm.Prior`, so a
component holding one or two rows still starts positive definite.

`fit_em` also accepts explicit :class:`GMMParams` and callables
``(key, X, n_components) -> GMMParams`` on the user's data.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_params
from ..engine.mstep import m_step
from ..engine.statistics import moments_from_statistics, statistics_from_responsibilities
from ..params import GMMParams
from ..prior import Prior
from ..structures.registry import get_structure
from .hierarchical import hierarchical_partitions
from .kmeans import kmeans_plus_plus_centres, lloyd, nearest_centre, random_rows_centres

#: Lloyd iterations (at most) behind init="kmeans".
KMEANS_INIT_ITERATIONS = 10
#: Standard deviations (of the one-Gaussian fit) by which "perturbed" moves each mean.
PERTURBATION_SCALE = 0.5


def weighted_covariance(X, w):
    """Covariance of the rows of X under row weights w (ML normalisation)."""
    total = jnp.sum(w)
    mean = (w @ X) / total
    centred = X - mean
    return (centred * w[:, None]).T @ centred / total


def weighted_mean(X, w):
    """Mean of the rows of X under row weights w."""
    return (w @ X) / jnp.sum(w)


def project_covariance(covariance, covariance_type):
    """The structure's nearest matrix to one covariance (..., d, d): itself, its diagonal,
    or tr/d I (:meth:`ppl_gmm.structures.registry.CovarianceStructure.project`)."""
    return get_structure(covariance_type).project(covariance[..., None, :, :])[..., 0, :, :]


def params_from_responsibilities(X, w, resp, covariance_type, n_active=None,
                                 update=m_step, *, regularise: bool = True, prior=None):
    """An M-step from given (soft or hard) responsibilities, shape (n, K).

    By default (`regularise`) the covariances are the MAP update under the default
    :class:`ppl_gmm.Prior` (Fraley & Raftery) and the weights and means the plain ML
    ones, so a component holding one or two points still starts with a positive
    definite covariance. ``regularise=False`` is the plain M-step, maximum likelihood or
    MAP under the resolved `prior` (mclust's first M-step from a partition).
    `n_active` is the number of live columns when K is padded (the rest are all zero);
    `update` is the M-step ``(moments, covariance_type, prior, reg_covar,
    n_components=...)`` (the model-selection grid passes one that switches structures
    on a traced index).
    """
    d = X.shape[1]
    k = resp.shape[1] if n_active is None else n_active
    stats = statistics_from_responsibilities(X, w, resp)
    moments = moments_from_statistics(stats)
    if not regularise:
        return update(moments, covariance_type, prior, jnp.zeros(d, X.dtype), n_components=k)
    prior = _default_prior(X, w, resp.shape[1], k)
    params = update(moments, covariance_type, prior, jnp.zeros(d, X.dtype), n_components=k)
    # The weights and means of an initial M-step are the plain ML ones.
    return params._replace(weights=stats.counts / jnp.sum(stats.counts), means=moments.mean)


def params_from_partition(X, labels, n_components: int, covariance_type,
                          prior=None) -> GMMParams:
    """The M-step from a hard partition (mclust's ``me(z = unmap(cl))`` start): rows
    labelled -1 take no part (mclust's M-step on its hc subset).

    Maximum likelihood, or MAP under the resolved `prior` (user units), as mclust's first
    M-step is (:func:`params_from_responsibilities` without its regularising prior): the
    start is the one mclust's EM takes, and a cluster too small for its covariance fails
    as it does in mclust.
    """
    X = jnp.asarray(X, jnp.float64)
    resp = jnp.asarray(np.asarray(labels)[:, None] == np.arange(n_components), X.dtype)
    params = params_from_responsibilities(X, jnp.ones(X.shape[0], X.dtype), resp,
                                          covariance_type, regularise=False, prior=prior)
    return GMMParams(*(np.asarray(a) for a in params))


#: The `init` name of mclust's start: a partition of model-based hierarchical clustering.
HIERARCHICAL_INIT = "hc"


def hierarchical_start(X, n_components: int, covariance_type, seed: int = 0,
                       prior=None) -> GMMParams:
    """mclust's start: the M-step (ML, or MAP under the resolved `prior`) from
    ``hclass(hc(X), K)`` (VVV criterion on mclust's "SVD" transform of the data, on a
    random 2000-row subset, drawn from `seed`, when there are more rows;
    :func:`ppl_gmm.fit.hierarchical.hierarchical_partitions`)."""
    labels = hierarchical_partitions(X, [n_components], random_state=seed)[n_components]
    return params_from_partition(X, labels, n_components, covariance_type, prior)


def _default_prior(X, w, width, k):
    d = X.shape[1]
    return Prior().resolve(n_components=width, n_features=d)._replace(
        mean=weighted_mean(X, w), scale=weighted_covariance(X, w) / k ** (2.0 / d)
    )


def _flat_dirichlet(key, shape, dtype):
    """Dirichlet(1, ..., 1) draws along the last axis: normalised Exponential(1) variables
    (cheaper to compile than the general gamma sampler).
    """
    e = jax.random.exponential(key, shape, dtype)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def init_kmeans_plus_plus(key, X, w, n_components: int, covariance_type: str):
    """k-means++ centres, hard assignment of every row to its nearest centre, then an M-step.

    The M-step is :func:`params_from_responsibilities` (ML weights and means, covariances
    regularised by the default prior).
    """
    centres = kmeans_plus_plus_centres(key, X, w, n_components)
    labels = nearest_centre(X, centres)
    resp = jax.nn.one_hot(labels, n_components, dtype=X.dtype)
    return params_from_responsibilities(X, w, resp, covariance_type)


def init_kmeans(key, X, w, n_components: int, covariance_type: str):
    """k-means++ centres, up to ``KMEANS_INIT_ITERATIONS`` Lloyd iterations (stopping early
    once the assignments settle), hard assignment to the final centres, then an M-step.
    """
    centres = kmeans_plus_plus_centres(key, X, w, n_components)
    centres = lloyd(X, w, centres, KMEANS_INIT_ITERATIONS, 0.0).centres
    resp = jax.nn.one_hot(nearest_centre(X, centres), n_components, dtype=X.dtype)
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


def init_random(key, X, w, n_components: int, covariance_type: str):
    """Completely random parameters on the data's location and scale.

    weights ~ Dirichlet(1_K); mu_k ~ N(m, S); Sigma_k = W_k / nu with
    W_k = sum_{j=1}^{nu} g_kj g_kj^T, g_kj ~ N(0, S / K^(2/d)), nu = d + 2 (a Wishart
    draw, positive definite because nu >= d); projected on the structure, and for
    a structure that shares one matrix gives every component the first draw.
    """
    _n, d = X.shape
    k = n_components
    key_w, key_mu, key_cov = jax.random.split(key, 3)
    mean = weighted_mean(X, w)
    S = weighted_covariance(X, w)
    L = jnp.linalg.cholesky(S + 1e-12 * jnp.eye(d, dtype=X.dtype))
    weights = _flat_dirichlet(key_w, (k,), X.dtype)
    means = mean + jax.random.normal(key_mu, (k, d), X.dtype) @ L.T
    nu = d + 2
    g = jax.random.normal(key_cov, (k, nu, d), X.dtype) @ L.T / n_components ** (1.0 / d)
    covariances = jnp.einsum("kjd,kje->kde", g, g) / nu
    # Projected on the structure; a shared structure takes the first draw.
    covariances = get_structure(covariance_type).project(
        0.5 * (covariances + jnp.swapaxes(covariances, -1, -2)))
    return GMMParams(weights, means, covariances)


def init_perturbed(key, X, w, n_components: int, covariance_type: str):
    """K copies of the one-Gaussian fit N(m, S), means moved apart at random.

    weights 1/K; Sigma_k = S (projected on the structure);
    mu_k = m + PERTURBATION_SCALE * L eps_k, S = L L^T, eps_k ~ N(0, I).
    """
    _n, d = X.shape
    k = n_components
    mean = weighted_mean(X, w)
    S = weighted_covariance(X, w)
    L = jnp.linalg.cholesky(S + 1e-12 * jnp.eye(d, dtype=X.dtype))
    eps = jax.random.normal(key, (k, d), X.dtype)
    means = mean + PERTURBATION_SCALE * eps @ L.T
    covariance = project_covariance(S, covariance_type)
    return GMMParams(jnp.full(k, 1.0 / k, X.dtype), means,
                     jnp.broadcast_to(covariance, (k, d, d)))


def init_random_resp(key, X, w, n_components: int, covariance_type: str):
    """Soft random memberships r_i ~ Dirichlet(1_K), one per row, then an M-step."""
    resp = _flat_dirichlet(key, (X.shape[0], n_components), X.dtype)
    return params_from_responsibilities(X, w, resp, covariance_type)


def init_random_resp_hard(key, X, w, n_components: int, covariance_type: str):
    """Hard random memberships z_i ~ Uniform{0..K-1}, one per row, then an M-step."""
    labels = jax.random.randint(key, (X.shape[0],), 0, n_components)
    resp = jax.nn.one_hot(labels, n_components, dtype=X.dtype)
    return params_from_responsibilities(X, w, resp, covariance_type)


INITIALISERS = {
    "kmeans++": init_kmeans_plus_plus,
    "kmeans": init_kmeans,
    "random_from_data": init_random_from_data,
    "random": init_random,
    "perturbed": init_perturbed,
    "random_resp": init_random_resp,
    "random_resp_hard": init_random_resp_hard,
}

def get_initialiser(name: str):
    """The initialiser called `name` in :data:`INITIALISERS`, or a ValueError listing them."""
    try:
        return INITIALISERS[name]
    except KeyError:
        raise ValueError(
            f"init={name!r} is not known; use one of {', '.join(map(repr, INITIALISERS))}, "
            f"{HIERARCHICAL_INIT!r} (mclust's hierarchical clustering), a GMMParams, or a "
            "callable (key, X, n_components) -> GMMParams."
        ) from None


# ----------------------------------------------------- K padded to a bucket
#
# A new K reuses a compiled program when K is padded with dead components
# (:attr:`ppl_gmm.engine.kernel.EMProblem.component_mask`). The initialisers whose draws
# do not depend on K are split in two: a *draw* from the key of K_max items (k-means++
# centres or random rows; JAX's partitionable keys make the first K of them exactly the
# K-item draw), and a *build* that turns the first K into parameters. So a padded start
# equals the unpadded one.


def _build_from_centres(centres, X, w, n_active, mask, covariance_type, update, project):
    # Dead centres become copies of centre 0; argmin breaks the exact ties to index 0.
    centres = jnp.where(mask[:, None], centres, centres[0])
    resp = jax.nn.one_hot(nearest_centre(X, centres), mask.shape[0], dtype=X.dtype)
    return params_from_responsibilities(X, w, resp, covariance_type, n_active, update)


def _build_from_rows(rows, X, w, n_active, mask, covariance_type, update, project):
    # rows: K_max distinct data rows, the means.
    d = X.shape[1]
    covariance = project(weighted_covariance(X, w), covariance_type) / n_active ** (2.0 / d)
    weights = jnp.ones(mask.shape[0], X.dtype) / n_active
    return GMMParams(weights, rows, jnp.broadcast_to(covariance, (mask.shape[0], d, d)))


#: The initialisers that can start a fit whose K is padded: (draw, build).
PADDABLE_INITIALISERS = {
    "kmeans++": (kmeans_plus_plus_centres, _build_from_centres),
    "random_from_data": (random_rows_centres, _build_from_rows),
}


def padded_initial_params(name: str, key, X, w, n_active, mask, covariance_type,
                          update=m_step, project=project_covariance) -> GMMParams:
    """The start of initialiser `name` for `n_active` live components out of ``len(mask)``.

    Equal to ``INITIALISERS[name]`` with K = n_active on the live components; the dead
    ones are left for the caller to mask. `update` and `project` are the M-step and
    the projection on the structure (the model-selection grid passes ones that switch
    structures on a traced index, with `covariance_type` that index).
    """
    draw, build = PADDABLE_INITIALISERS[name]
    return build(draw(key, X, w, mask.shape[0]), X, w, n_active, mask, covariance_type,
                 update, project)


@functools.cache
def _batched_initialiser(initialiser, n_components, covariance_type):
    one = functools.partial(initialiser, n_components=n_components,
                            covariance_type=covariance_type)
    return jax.jit(jax.vmap(one, in_axes=(0, None, None)))


def batched_initial_params(init, keys, problem, X: np.ndarray, n_components: int,
                           covariance_type: str) -> GMMParams:
    """Starting points of all restarts, (n_init, ...) arrays in internal coordinates.

    Parameters
    ----------
    init : str, GMMParams or callable
        A name of :data:`ppl_gmm.fit.init.INITIALISERS` (drawn for all keys in one ``vmap``);
        a GMMParams with a leading restart axis (weights (n_init, K)); or a callable
        ``(key, X, n_components) -> GMMParams`` called once per key on the user's data.
    keys : key array (n_init,)
    """
    n_init = keys.shape[0]
    d = problem.X_blocks.shape[-1]
    if isinstance(init, str):
        initialiser = get_initialiser(init)
        return _batched_initialiser(initialiser, n_components, covariance_type)(
            keys, problem.X_blocks.reshape(-1, d), problem.w_blocks.reshape(-1)
        )
    if isinstance(init, GMMParams) or (isinstance(init, tuple) and not callable(init)):
        if np.ndim(init[0]) != 2:
            raise ValueError(
                f"n_init={n_init} restarts from one explicit GMMParams would all be identical; "
                "pass n_init=1, or a GMMParams whose arrays have a leading restart axis "
                f"(weights of shape (n_init, K)), or an initialiser name or callable."
            )
        starts = [GMMParams(*(np.asarray(a)[r] for a in init)) for r in range(len(init[0]))]
        if len(starts) != n_init:
            raise ValueError(
                f"The GMMParams batch holds {len(starts)} starting points but n_init={n_init}; "
                "give one starting point per restart."
            )
    elif callable(init):
        starts = [init(key, X.copy(), n_components) for key in keys]
    else:
        raise ValueError(f"init must be a name, a GMMParams or a callable, got {init!r}.")
    checked = [check_params(p, n_features=d, n_components=n_components) for p in starts]
    stacked = GMMParams(*(np.stack(a) for a in zip(*checked, strict=True)))
    # params_to_internal broadcasts over the leading restart axis (host arrays).
    return problem.coordinates.params_to_internal(stacked)


__all__ = [
    "INITIALISERS",
    "KMEANS_INIT_ITERATIONS",
    "PADDABLE_INITIALISERS",
    "PERTURBATION_SCALE",
    "batched_initial_params",
    "get_initialiser",
    "kmeans_plus_plus_centres",
    "nearest_centre",
    "padded_initial_params",
    "params_from_responsibilities",
    "project_covariance",
    "weighted_covariance",
]
