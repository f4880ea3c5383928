"""The numbers a mixture figure draws: component log joints, densities, responsibilities.

One implementation of log pi_k N(x | mu_k, Sigma_k): :mod:`ppl_gmm.engine.gaussian`
(Cholesky factors and whitened residuals, no inverse), in float64 and read back into
NumPy for matplotlib. Marginals on a subset of features are exact for Gaussians.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from ..engine import gaussian
from ..params import GMMParams

__all__ = ["component_log_joint", "marginal", "mixture_log_density", "responsibilities"]


def component_log_joint(params: GMMParams, X) -> np.ndarray:
    """log pi_k + log N(x_i | mu_k, Sigma_k) as a float64 NumPy array, shape (n, K).

    :func:`ppl_gmm.engine.gaussian.component_log_joint` at validated parameters (an
    empty component, pi_k = 0, gives -inf: never chosen).
    """
    covariances = jnp.asarray(params.covariances, jnp.float64)
    factors = gaussian.cholesky_factors(covariances)
    if not np.all(np.asarray(factors.finite)):
        bad = np.flatnonzero(~np.asarray(factors.finite)).tolist()
        raise ValueError(f"The covariances of components {bad} are not positive definite.")
    log_joint, _ = gaussian.component_log_joint(
        jnp.asarray(X, jnp.float64), jnp.asarray(params.weights, jnp.float64),
        jnp.asarray(params.means, jnp.float64), factors)
    return np.asarray(log_joint, np.float64)


def mixture_log_density(params: GMMParams, X) -> np.ndarray:
    """log f(x_i) = log sum_k pi_k N(x_i | mu_k, Sigma_k), shape (n,)."""
    return logsumexp(component_log_joint(params, X), axis=1)


def responsibilities(params: GMMParams, X) -> np.ndarray:
    """r_ik = p(z_i = k | x_i), the E-step at `params`, shape (n, K)."""
    log_joint = component_log_joint(params, X)
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def marginal(params: GMMParams, features) -> GMMParams:
    """The mixture of the components' marginals on `features` (exact for Gaussians)."""
    idx = np.asarray(features)
    return GMMParams(params.weights, params.means[:, idx],
                     params.covariances[:, idx][:, :, idx])
