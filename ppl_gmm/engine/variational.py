"""Variational Bayesian EM as a kernel: CAVI on the conjugate mixture, from statistics.

The model is `gmm_model` under a prior (:mod:`ppl_gmm.prior`): weights pi from a
Dirichlet or from stick-breaking (``weight_prior``), and per component (or shared)
mu_k | Lambda_k ~ N(m0, (kappa Lambda_k)^-1) with the structure's conjugate prior on
the precision Lambda_k = Sigma_k^-1: Wishart(nu0, Psi^-1) for a full matrix (the
inverse-Wishart(nu0, Psi) of `gmm_model`), Gamma on each precision of a diagonal, on
the one precision of a spherical model. Variational Bayes (Bishop, PRML 10.2; Attias
2000) keeps q(Z) q(pi) q(mu, Lambda) and maximises the evidence lower bound

    ELBO(q) = E_q[log p(X, Z, pi, mu, Lambda)] - E_q[log q]
            = E_q[log p(X, Z | pi, mu, Lambda)] + H(q(Z)) - KL(q(pi) || p(pi))
              - KL(q(mu, Lambda) || p(mu, Lambda))

by coordinate ascent (CAVI), each update in closed form:

- **q(theta) from q(Z)** (the "M-step"), from the E-step's statistics N_k, x_bar_k and
  C_k = sum_i r_ik (x_i - x_bar_k)(x_i - x_bar_k)^T: beta_k = kappa + N_k,
  m_k = (kappa m0 + N_k x_bar_k) / beta_k,
  B_k = C_k + kappa N_k / beta_k (x_bar_k - m0)(x_bar_k - m0)^T,
  Psi_k = Psi0' + pool(B)_k and nu_k = nu0' + c N_k, the structure's projection
  ``pool`` (:mod:`ppl_gmm.structures.registry`; summed over components when shared),
  c = d for a spherical precision (d squares per row) and 1 otherwise. (nu0', Psi0') is
  the prior in the same form (:func:`prior_in_posterior_form`). Weights: alpha_k =
  alpha0 + N_k, or a_k = 1 + N_k, b_k = gamma + sum_{j>k} N_j.
- **q(Z) from q(theta)** (the E-step): r_ik proportional to rho_ik with
  log rho_ik = E[log pi_k] + E[log N(x_i | mu_k, Lambda_k^-1)]
             = c_k + log N(x_i | m_k, Psi_k / nu_k),
  c_k = E[log pi_k] + (E[log|Lambda_k|] - log|nu_k Psi_k^-1|) / 2 - d / (2 beta_k):
  quadratic in x, so it is EM's E-step (two matrix products per block,
  :func:`ppl_gmm.engine.statistics.e_step_from_coefficients`) with other constants.

After the E-step the ELBO is sum_i log sum_k rho_ik - KL(q(pi)) - KL(q(mu, Lambda)):
the E-step's "log-likelihood" minus the KLs. Every quantity is in EM's internal
coordinates; the KLs do not change under the affine map, the data term moves by the
same log-Jacobian as EM's (:func:`ppl_gmm.engine.kernel.log_jacobian`).

References
----------
Attias, H. (2000). A variational Bayesian framework for graphical models. NIPS 12.
Bishop, C. M. (2006). Pattern Recognition and Machine Learning, sections 10.2 and B.
Blei, D. M. and Jordan, M. I. (2006). Variational inference for Dirichlet process
mixtures. Bayesian Analysis 1, 121-143.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import betaln, digamma, gammaln, multigammaln

from ..params import GMMParams, VariationalPosterior
from ..structures.registry import get_structure
from .bounds import expected_log_gaussian
from .gaussian import CholeskyFactors, cholesky_factors, offset_log_density_coefficients
from .kernel import EMKernel, first_failure, log_jacobian, objective_change
from .statistics import (
    SufficientStatistics,
    e_step_from_coefficients,
    moments_from_statistics,
    with_design_rows,
)

#: The two priors on the weights: a finite Dirichlet, and the stick-breaking weights of a
#: Dirichlet process truncated (in q) at K components.
WEIGHT_PRIORS = ("dirichlet_process", "dirichlet_distribution")


def check_weight_prior(weight_prior) -> str:
    """Validate the weight prior's name."""
    if weight_prior not in WEIGHT_PRIORS:
        raise ValueError(
            f"weight_prior={weight_prior!r} is not known; use 'dirichlet_process' "
            "(stick-breaking weights: unneeded components switch off) or "
            "'dirichlet_distribution' (a finite Dirichlet).")
    return weight_prior


# ------------------------------------------------------------------ the weights


def weight_posterior(counts, concentration, weight_prior: str):
    """q(pi)'s parameters from N_k: alpha0 + N_k, or the sticks'
    (1 + N_k, gamma + sum_{j>k} N_j)."""
    if weight_prior == "dirichlet_distribution":
        return concentration + counts
    later = jnp.cumsum(counts[::-1])[::-1] - counts
    return jnp.stack([1.0 + counts, concentration + later])


def expected_log_weights(weight_concentration, weight_prior: str):
    """E_q[log pi_k]: psi(alpha_k) - psi(sum alpha), or for the sticks
    E[log v_k] + sum_{j<k} E[log(1 - v_j)]."""
    if weight_prior == "dirichlet_distribution":
        return digamma(weight_concentration) - digamma(jnp.sum(weight_concentration))
    a, b = weight_concentration
    total = digamma(a + b)
    log_rest = digamma(b) - total
    return digamma(a) - total + jnp.cumsum(log_rest) - log_rest


def expected_weights(weight_concentration, weight_prior: str):
    """E_q[pi_k]: alpha_k / sum alpha, or E[v_k] prod_{j<k} E[1 - v_j] (the sticks are
    independent under q), renormalised to sum to one over the K components."""
    if weight_prior == "dirichlet_distribution":
        return weight_concentration / jnp.sum(weight_concentration)
    a, b = weight_concentration
    stick = a / (a + b)
    rest = jnp.cumprod(1.0 - stick)
    weights = stick * jnp.concatenate([jnp.ones((1,), stick.dtype), rest[:-1]])
    return weights / jnp.sum(weights)


def kl_weights(weight_concentration, concentration, weight_prior: str):
    """KL(q(pi) || p(pi)): Dirichlet(alpha) vs Dirichlet(alpha0), or the sum over sticks
    of Beta(a_k, b_k) vs Beta(1, gamma)."""
    if weight_prior == "dirichlet_distribution":
        alpha, alpha0 = weight_concentration, concentration
        total = jnp.sum(alpha)
        return (gammaln(total) - jnp.sum(gammaln(alpha)) - gammaln(jnp.sum(alpha0))
                + jnp.sum(gammaln(alpha0))
                + jnp.sum((alpha - alpha0) * (digamma(alpha) - digamma(total))))
    a, b = weight_concentration
    a0, b0 = jnp.ones_like(a), concentration
    total = digamma(a + b)
    return jnp.sum(betaln(a0, b0) - betaln(a, b) + (a - a0) * (digamma(a) - total)
                   + (b - b0) * (digamma(b) - total))


# ------------------------------------------------------------ means and precisions


def prior_in_posterior_form(prior, covariance_type):
    """(nu0', Psi0'): the precision prior as the posterior's parameters with N = 0.

    Psi0' is the prior scale as the structure pools it (its ``prior_pool``: Psi, its
    diagonal, tr(Psi) / d I for VII's per-variance prior, tr(Psi) I for EII's pooled one);
    nu0' is nu0, or d nu0 for EII (inverse-gamma(d nu0 / 2, tr Psi / 2) on its variance).
    """
    structure = get_structure(covariance_type)
    d = prior.scale.shape[-1]
    pool = structure.pool if structure.prior_pool is None else structure.prior_pool
    scale = pool(prior.scale[None])[0]
    pooled_dof = structure.form == "scalar" and not structure.scalar_prior_per_variance
    return prior.dof * (d if pooled_dof else 1), scale


def means_precisions_posterior(moments, prior, covariance_type, reg_covar=None):
    """beta_k, m_k, nu_k, Psi_k from the component moments (see the module docstring).

    `reg_covar` (d,), scikit-learn's regularisation, adds N_k reg_covar to each diagonal
    of the scatter before pooling (None or 0: exact CAVI).
    """
    structure = get_structure(covariance_type)
    counts, mean, scatter = moments
    d = mean.shape[-1]
    beta = prior.shrinkage + counts
    means = (prior.shrinkage * prior.mean + counts[:, None] * mean) / beta[:, None]
    offset = mean - prior.mean
    shrunk = prior.shrinkage * counts / beta
    scatter = scatter + shrunk[:, None, None] * offset[:, :, None] * offset[:, None, :]
    if reg_covar is not None:
        scatter = scatter + counts[:, None, None] * jnp.diag(reg_covar)
    dof0, scale0 = prior_in_posterior_form(prior, covariance_type)
    per_row = d if structure.form == "scalar" else 1
    effective = jnp.broadcast_to(jnp.sum(counts), counts.shape) if structure.shared else counts
    dof = dof0 + per_row * effective
    scale = scale0 + structure.pool(scatter)
    return beta, means, dof, 0.5 * (scale + jnp.swapaxes(scale, -1, -2))


def posterior_from_statistics(stats: SufficientStatistics, prior, covariance_type,
                              weight_prior: str, reg_covar=None) -> VariationalPosterior:
    """q(theta) maximising the ELBO for the q(Z) behind `stats` (the CAVI update)."""
    moments = moments_from_statistics(stats)
    beta, means, dof, scale = means_precisions_posterior(moments, prior, covariance_type,
                                                         reg_covar)
    return VariationalPosterior(
        weight_posterior(moments.counts, prior.concentration, weight_prior),
        beta, means, dof, scale)


def effective_factors(posterior: VariationalPosterior) -> CholeskyFactors:
    """Cholesky factors of Psi_k / nu_k = E[Lambda_k]^-1, the covariance the E-step uses."""
    return cholesky_factors(posterior.scale_matrices
                            / posterior.degrees_of_freedom[:, None, None])


def log_det_scale(posterior: VariationalPosterior, factors: CholeskyFactors):
    """log|Psi_k| from the factors of Psi_k / nu_k."""
    d = posterior.means.shape[-1]
    return 2.0 * factors.half_log_det + d * jnp.log(posterior.degrees_of_freedom)


def expected_log_det_precision(dof, log_det, covariance_type, d: int):
    """E_q[log|Lambda_k|]: sum_{j<d} psi((nu - j) / 2) + d log 2 - log|Psi| for a Wishart,
    d psi(nu / 2) + d log 2 - log|Psi| for independent Gammas (diagonal, spherical)."""
    if get_structure(covariance_type).form == "matrix":
        digammas = jnp.sum(digamma(0.5 * (dof[:, None] - jnp.arange(d))), axis=-1)
    else:
        digammas = d * digamma(0.5 * dof)
    return digammas + d * jnp.log(2.0) - log_det


def _quadratic_in_precision(factors: CholeskyFactors, vectors):
    """v_k^T (Psi_k / nu_k)^-1 v_k for vectors (K, d)."""
    whitened = jnp.einsum("kd,kde->ke", vectors, factors.precision_tril_t)
    return jnp.sum(whitened**2, axis=-1)


def kl_precisions(posterior: VariationalPosterior, factors: CholeskyFactors, prior,
                  covariance_type):
    """KL(q(Lambda) || p(Lambda)) per component (K,); a shared q(Lambda) counts once
    (in component 0's entry).

    Wishart (Bishop B.79-B.82, in Psi = W^-1): log B(Psi, nu) - log B(Psi0, nu0) +
    (nu - nu0) / 2 E[log|Lambda|] - nu d / 2 + nu / 2 tr(Psi0 Psi^-1), with
    log B(Psi, nu) = nu / 2 log|Psi| - nu d / 2 log 2 - log Gamma_d(nu / 2). A Gamma(a, b)
    against Gamma(a0, b0): (a - a0) psi(a) - log Gamma(a) + log Gamma(a0)
    + a0 (log b - log b0) + a (b0 - b) / b, per precision.
    """
    structure = get_structure(covariance_type)
    d = posterior.means.shape[-1]
    dof, scale = posterior.degrees_of_freedom, posterior.scale_matrices
    dof0, scale0 = prior_in_posterior_form(prior, covariance_type)
    log_det = log_det_scale(posterior, factors)
    if structure.form == "matrix":
        expected_log_det = expected_log_det_precision(dof, log_det, covariance_type, d)
        log_det0 = 2.0 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(scale0))))

        def log_normaliser(nu, log_det_psi):
            return 0.5 * nu * log_det_psi - 0.5 * nu * d * jnp.log(2.0) - multigammaln(0.5 * nu, d)

        # tr(Psi0 Psi^-1) = tr(P^T Psi0 P) / nu, P the precision factor of Psi / nu.
        trace = jnp.trace(
            jnp.swapaxes(factors.precision_tril_t, -1, -2) @ scale0 @ factors.precision_tril_t,
            axis1=-2, axis2=-1) / dof
        kl = (log_normaliser(dof, log_det) - log_normaliser(dof0, log_det0)
              + 0.5 * (dof - dof0) * expected_log_det - 0.5 * dof * d + 0.5 * dof * trace)
    else:
        a, a0 = 0.5 * dof, 0.5 * dof0
        rates = 0.5 * jnp.diagonal(scale, axis1=-2, axis2=-1)
        rates0 = 0.5 * jnp.diagonal(scale0)
        if structure.form == "scalar":
            rates, rates0 = rates[:, :1], rates0[:1]
        per_precision = ((a - a0) * digamma(a) - gammaln(a) + gammaln(a0))[:, None] + (
            a0 * (jnp.log(rates) - jnp.log(rates0)) + a[:, None] * (rates0 - rates) / rates)
        kl = jnp.sum(per_precision, axis=-1)
    if structure.shared:
        kl = jnp.where(jnp.arange(kl.shape[0]) == 0, kl, 0.0)
    return kl


def kl_means(posterior: VariationalPosterior, factors: CholeskyFactors, prior):
    """E_q(Lambda)[KL(N(m_k, (beta_k Lambda_k)^-1) || N(m0, (kappa Lambda_k)^-1))] (K,):
    d / 2 (kappa / beta - 1 - log(kappa / beta)) + kappa / 2 (m - m0)^T E[Lambda] (m - m0)."""
    d = posterior.means.shape[-1]
    ratio = prior.shrinkage / posterior.mean_precision
    quadratic = _quadratic_in_precision(factors, posterior.means - prior.mean)
    return 0.5 * d * (ratio - 1.0 - jnp.log(ratio)) + 0.5 * prior.shrinkage * quadratic


def kl_parameters(posterior: VariationalPosterior, factors: CholeskyFactors, prior,
                  covariance_type, weight_prior: str):
    """KL(q(pi) q(mu, Lambda) || p(pi) p(mu, Lambda)), the ELBO's prior terms."""
    return (kl_weights(posterior.weight_concentration, prior.concentration, weight_prior)
            + jnp.sum(kl_precisions(posterior, factors, prior, covariance_type))
            + jnp.sum(kl_means(posterior, factors, prior)))


def log_density_offsets(posterior: VariationalPosterior, factors: CholeskyFactors,
                        covariance_type, weight_prior: str):
    """c_k with E_q[log pi_k N(x | mu_k, Lambda_k^-1)] = c_k + log N(x | m_k, Psi_k / nu_k).

    c_k = E[log pi_k] + (E[log|Lambda_k|] - log|nu_k Psi_k^-1|) / 2 - d / (2 beta_k);
    log|nu_k Psi_k^-1| = -2 half_log_det of the factors of Psi_k / nu_k.
    """
    d = posterior.means.shape[-1]
    expected_log_det = expected_log_det_precision(
        posterior.degrees_of_freedom, log_det_scale(posterior, factors), covariance_type, d)
    return (expected_log_weights(posterior.weight_concentration, weight_prior)
            + 0.5 * expected_log_det + factors.half_log_det
            - 0.5 * d / posterior.mean_precision)


def expected_params(posterior: VariationalPosterior, weight_prior: str) -> GMMParams:
    """E_q[pi], m and Psi / nu = E_q[Lambda]^-1 (scikit-learn's ``weights_``, ``means_``,
    ``covariances_``)."""
    return GMMParams(expected_weights(posterior.weight_concentration, weight_prior),
                     posterior.means,
                     posterior.scale_matrices / posterior.degrees_of_freedom[:, None, None])


# ------------------------------------------------------------------ the kernel


class VBTrace(NamedTuple):
    """The trace entries of one iterate (scalars), or their buffers."""

    elbo: jnp.ndarray
    lower_bound: jnp.ndarray


class VBState(NamedTuple):
    """q_t(theta), the E-step statistics of q_t(Z), the ELBO, counters and flags."""

    posterior: VariationalPosterior
    factors: CholeskyFactors
    stats: SufficientStatistics
    objective: jnp.ndarray
    iteration: jnp.ndarray
    converged: jnp.ndarray
    failed_component: jnp.ndarray


def variational_e_step(problem, posterior: VariationalPosterior, factors: CholeskyFactors,
                       covariance_type, weight_prior: str) -> SufficientStatistics:
    """Statistics of q(Z) at q(theta); their ``log_likelihood`` is sum_i log sum_k rho_ik."""
    offsets = log_density_offsets(posterior, factors, covariance_type, weight_prior)
    W = offset_log_density_coefficients(offsets, posterior.means, factors)
    return e_step_from_coefficients(problem, W)


def bound_before_e_step(stats: SufficientStatistics, posterior: VariationalPosterior,
                        factors: CholeskyFactors, covariance_type, weight_prior: str, kl):
    """ELBO of the new q(theta) with the previous q(Z) (the statistics it was built from):
    sum_k [N_k c_k + sum_i r_ik log N(x_i | m_k, Psi_k / nu_k)] + H(q(Z)) - KL."""
    offsets = log_density_offsets(posterior, factors, covariance_type, weight_prior)
    plug_in = GMMParams(None, posterior.means, None)
    data = (jnp.sum(stats.counts * offsets)
            + jnp.sum(expected_log_gaussian(moments_from_statistics(stats), plug_in, factors)))
    return data - stats.sum_r_log_r - kl


def variational_kernel(problem, covariance_type, weight_prior: str,
                       store_design_rows: bool = False) -> EMKernel:
    """The CAVI kernel on `problem` (an :class:`ppl_gmm.engine.kernel.EMProblem` whose
    ``prior`` is the internal-coordinate prior, with the weight concentration).

    ``init(stats)`` takes the statistics of a starting q(Z) (responsibilities); the state's
    ``objective`` is the ELBO in user coordinates, and ``step`` stops on EM's rule
    (:func:`ppl_gmm.engine.kernel.objective_change`).
    """
    if store_design_rows:
        problem = with_design_rows(problem)
    prior = problem.prior
    units = log_jacobian(problem)
    reg_covar = problem.reg_covar

    def update(stats):
        posterior = posterior_from_statistics(stats, prior, covariance_type, weight_prior,
                                              reg_covar)
        return posterior, effective_factors(posterior)

    def e_step(posterior, factors):
        stats = variational_e_step(problem, posterior, factors, covariance_type, weight_prior)
        kl = kl_parameters(posterior, factors, prior, covariance_type, weight_prior)
        return stats, kl, stats.log_likelihood - kl + units

    def init(start_stats: SufficientStatistics):
        posterior, factors = update(start_stats)
        stats, _, elbo = e_step(posterior, factors)
        state = VBState(posterior, factors, stats, elbo, jnp.asarray(0), jnp.asarray(False),
                        first_failure(factors, stats, check_collapse=False))
        return state, VBTrace(elbo, elbo)

    def step(state: VBState):
        posterior, factors = update(state.stats)
        stats, kl, elbo = e_step(posterior, factors)
        bound = bound_before_e_step(state.stats, posterior, factors, covariance_type,
                                    weight_prior, kl) + units
        t = state.iteration + 1
        change, scale = objective_change(problem, elbo, state.objective, elbo, state.objective)
        failed = first_failure(factors, stats, check_collapse=False)
        new = VBState(posterior, factors, stats, elbo, t, change <= problem.tol * scale, failed)
        kept = jax.tree.map(lambda n, o: jnp.where(failed >= 0, o, n), new, state)
        return kept._replace(iteration=t, failed_component=failed), VBTrace(elbo, bound)

    return EMKernel(init, step)


__all__ = [
    "WEIGHT_PRIORS",
    "VBState",
    "VBTrace",
    "bound_before_e_step",
    "check_weight_prior",
    "effective_factors",
    "expected_log_det_precision",
    "expected_log_weights",
    "expected_params",
    "expected_weights",
    "kl_means",
    "kl_parameters",
    "kl_precisions",
    "kl_weights",
    "log_density_offsets",
    "means_precisions_posterior",
    "posterior_from_statistics",
    "prior_in_posterior_form",
    "variational_e_step",
    "variational_kernel",
    "weight_posterior",
]
