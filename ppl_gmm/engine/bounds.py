"""The EM lower bound L(q, theta) = E_q[log p(X, Z | theta)] + H(q), from statistics.

Computed through the moments and the entropy of q, not the log-sum-exp, so that after
an E-step it is an independent check of the log-likelihood (the bound touches it there).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import cho_solve

from ..params import GMMParams
from .gaussian import CholeskyFactors
from .statistics import Moments, SufficientStatistics, moments_from_statistics


def expected_log_gaussian(moments: Moments, params: GMMParams, factors: CholeskyFactors):
    """sum_i r_ik log N(x_i | mu_k, Sigma_k) for each k, from the moments of r.

    = -1/2 [N_k (d log 2 pi + log|Sigma_k|) + tr(Sigma_k^{-1} D_k)],
    D_k = C_k + N_k (x_bar_k - mu_k)(x_bar_k - mu_k)^T.
    """
    counts, mean, scatter = moments
    d = mean.shape[-1]
    offset = mean - params.means
    spread = scatter + counts[:, None, None] * offset[:, :, None] * offset[:, None, :]
    quadratic = jnp.trace(cho_solve((factors.scale_tril, True), spread), axis1=-2, axis2=-1)
    return -0.5 * (counts * (d * jnp.log(2.0 * jnp.pi) + 2.0 * factors.half_log_det) + quadratic)


def counts_log_weights(counts, weights):
    """N_k log pi_k, with 0 log 0 = 0 (a component emptied by hard EM has weight 0)."""
    return jnp.where(counts > 0, counts * jnp.log(weights), 0.0)


def lower_bound(stats: SufficientStatistics, moments: Moments, params: GMMParams,
                factors: CholeskyFactors):
    """L(q, theta) = E_q[log p(X, Z | theta)] + H(q), q the responsibilities behind `stats`."""
    expected = jnp.sum(counts_log_weights(stats.counts, params.weights))
    expected = expected + jnp.sum(expected_log_gaussian(moments, params, factors))
    return expected - stats.sum_r_log_r


def lower_bound_at_e_step(stats: SufficientStatistics, params: GMMParams,
                          factors: CholeskyFactors):
    """L(q_theta, theta) from statistics taken at theta itself.

    The bound touches the log-likelihood here; computed through the moments and
    the entropy, not the log-sum-exp, it is an independent check of the E-step.
    """
    return lower_bound(stats, moments_from_statistics(stats), params, factors)


__all__ = ["counts_log_weights", "expected_log_gaussian", "lower_bound",
           "lower_bound_at_e_step"]
