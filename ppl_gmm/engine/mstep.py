"""The M-step: parameters from component moments, for any registered structure.

Weights and means have the same update for every structure; the covariances are the
structure's own update (:meth:`ppl_gmm.structures.registry.CovarianceStructure.covariance_update`,
closed form or iterative, warm-started from the previous covariances).
"""

from __future__ import annotations

import jax.numpy as jnp

from ..params import GMMParams
from ..structures.registry import get_structure
from .statistics import Moments


def symmetric(a):
    """(a + a^T) / 2 over the last two axes: removes rounding asymmetry."""
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


def m_step(moments: Moments, covariance_type, prior, reg_covar, fixed_covariance=None,
           previous: GMMParams | None = None, n_components=None) -> GMMParams:
    """Maximiser of the expected complete-data log-likelihood (or log joint).

    Parameters
    ----------
    moments : Moments
    covariance_type : str or CovarianceStructure
    prior : ResolvedPrior or None
        None: maximum likelihood. Otherwise the MAP update
        pi_k = (N_k + alpha_k - 1) / (n + sum alpha - K),
        mu_k = (N_k x_bar_k + kappa m0) / (N_k + kappa),
        B_k = C_k + kappa N_k / (N_k + kappa) (x_bar_k - m0)(x_bar_k - m0)^T,
        and the structure's MAP covariance update of B.
    reg_covar : array (d,)
        Added to every covariance diagonal.
    fixed_covariance : array (d, d) or None
        When given, every covariance is this matrix (not estimated, no `reg_covar`);
        the weights and means take their usual updates, which do not depend on it.
    previous : GMMParams or None
        The parameters before this M-step: the warm start of iterative covariance
        updates (the closed-form ones ignore it).
    n_components : int or int scalar, optional
        The live components (the model-selection grid pads K with dead, empty ones);
        defaults to the number of rows of the moments.
    """
    structure = get_structure(covariance_type)
    counts, mean, scatter = moments
    k, d = mean.shape
    live = k if n_components is None else n_components
    total = jnp.sum(counts)
    previous_covariances = None if previous is None else previous.covariances
    if prior is None:
        weights = counts / total
        means = mean
    else:
        alpha = prior.concentration
        weights = (counts + alpha - 1.0) / (total + jnp.sum(alpha) - k)
        kappa = prior.shrinkage
        means = (counts[:, None] * mean + kappa * prior.mean) / (counts + kappa)[:, None]
        offset = mean - prior.mean
        shrink = kappa * counts / (counts + kappa)
        scatter = scatter + shrink[:, None, None] * offset[:, :, None] * offset[:, None, :]
    if fixed_covariance is not None:
        return GMMParams(weights, means, jnp.broadcast_to(fixed_covariance, (k, d, d)))
    covariances = structure.covariance_update(scatter, counts, live, prior,
                                              previous_covariances)
    covariances = symmetric(covariances) + jnp.diag(reg_covar)
    return GMMParams(weights, means, covariances)


__all__ = ["m_step", "symmetric"]
