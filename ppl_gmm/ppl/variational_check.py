"""Variational Bayes checked against the probabilistic program: the ELBO two more ways.

:func:`ppl_gmm.fit_vb` reports an evidence lower bound computed by the engine in its
internal coordinates from its own closed forms (:mod:`ppl_gmm.engine.variational`).
This module recomputes that number from the user-unit posterior without the engine:

- :func:`elbo_terms`, in closed form, term by term,

      ELBO = E_q[log p(X, Z | pi, mu, Lambda)] + H(q(Z)) - KL(q(pi) || p(pi))
             - KL(q(mu, Lambda) || p(mu, Lambda)),

  where every density is a NumPyro distribution, and the priors are the ones
  `gmm_model` itself builds (read off its trace): ``kl_divergence`` for the weights
  (Dirichlet-Dirichlet, or the sticks' Beta-Beta) and for the means given the
  covariances (MultivariateNormal-MultivariateNormal), and for the covariance site
  E_q[log q - log p] from the two NumPyro log densities (see "The covariance KL").
- :func:`monte_carlo_elbo`, by NumPyro's own ``Trace_ELBO`` on `gmm_model` with a guide
  that is exactly q (:func:`variational_guide`), over many particles.

:func:`variational_cross_check` (what :func:`ppl_gmm.cross_check` does with a
:class:`ppl_gmm.VBResult`) compares the three.

The covariance KL
-----------------
q's and the model's distributions of a covariance site (inverse-Wishart on a matrix,
inverse-gamma on a variance) are one exponential family: log q(S) - log p(S) =
A + B log|S| + tr(C S^-1). Its expectation needs only E_q[log|S|] and E_q[S^-1]:

    E_q[log q - log p] = g(S*) + B (E_q[log|S|] - log|S*|),  S* = E_q[S^-1]^-1,

with g = log q - log p evaluated by NumPyro. B is read off g itself: along S* scaled by
s, g(s S*) = A' + c B log s + T / s (c = d for a matrix, 1 for a variance), so
2 g(2 S*) + g(S* / 2) - 3 g(S*) = c B log 2 exactly; a fourth point, s = 4, checks that
the model's site really is in q's family. The known moments used: for
S ~ inverse-Wishart(nu, Psi), E[S^-1] = nu Psi^-1 and
E[log|S|] = log|Psi| - sum_{j<d} psi((nu - j) / 2) - d log 2 (Bartlett); for
v ~ inverse-gamma(a, b), E[1/v] = a / b and E[log v] = log b - psi(a). The means' KL,
d / 2 (kappa / beta - 1 - log(kappa / beta)) + kappa / 2 (m - m0)^T S^-1 (m - m0), is
affine in S^-1, so its expectation over q(S) is the KL at S*.

The data term: E_q[log N(x | mu, S)] = log N(x | m, S*) - (E_q[log|S|] - log|S*|) / 2
- d / (2 beta), with log N(x | m, S*) the density of the model's own ``x`` site (its z
set to each component in turn), and E_q[log pi_k] = psi(alpha_k) - psi(sum alpha), or
for the sticks psi(a_k) - psi(a_k + b_k) + sum_{j<k} (psi(b_j) - psi(a_j + b_j)). With
stick-breaking weights the model's z has probability pi_k / sum pi and the factor
``truncation`` adds log sum pi, so together they are log pi_k.

All of it is in the user's units: the ELBO is not invariant under the engine's affine
map of the data (the data term moves by a log-Jacobian), but a posterior and prior in
user units give the user-unit ELBO that ``VBResult.elbo`` reports.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import digamma
from numpyro import handlers
from numpyro.distributions.kl import kl_divergence
from numpyro.infer import Trace_ELBO

from .._validation import check_data
from ..structures.registry import get_structure
from .model import gmm_model

__all__ = [
    "ElboTerms",
    "VariationalCrossCheck",
    "elbo_terms",
    "monte_carlo_elbo",
    "variational_cross_check",
    "variational_guide",
]

_STICKS = "dirichlet_process"
_LOG2 = float(np.log(2.0))


@dataclass(frozen=True)
class ElboTerms:
    """The ELBO of a variational posterior, term by term (user units).

    Attributes
    ----------
    expected_log_likelihood : float
        E_q[log p(X, Z | pi, mu, Lambda)] = sum_ik r_ik (E[log pi_k] + E[log N(x_i | mu_k,
        Lambda_k^-1)]).
    entropy_assignments : float
        H(q(Z)) = -sum_ik r_ik log r_ik.
    kl_weights : float
        KL(q(pi) || p(pi)) (Dirichlet, or the sum over the sticks' Betas).
    kl_precisions : float
        KL(q(Lambda) || p(Lambda)), once for a shared structure.
    kl_means : float
        sum_k E_q(Lambda)[KL(q(mu_k | Lambda_k) || p(mu_k | Lambda_k))].
    kl_means_precisions : float
        KL(q(mu, Lambda) || p(mu, Lambda)) = kl_precisions + kl_means.
    elbo : float
        expected_log_likelihood + entropy_assignments - kl_weights - kl_means_precisions.
    """

    expected_log_likelihood: float
    entropy_assignments: float
    kl_weights: float
    kl_precisions: float
    kl_means: float
    kl_means_precisions: float
    elbo: float


# ------------------------------------------------------------------ q as NumPyro


def _as_jax(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def _q_weights(posterior, weight_prior: str):
    """q(pi) as the distribution of the model's weight site: ``sticks`` or ``weights``."""
    concentration = jnp.asarray(posterior.weight_concentration, jnp.float64)
    if weight_prior == _STICKS:
        a, b = concentration
        return "sticks", dist.Beta(a, b).to_event(1)
    return "weights", dist.Dirichlet(concentration)


def _expected_log_weights(posterior, weight_prior: str):
    """E_q[log pi_k] (K,) (module docstring)."""
    concentration = jnp.asarray(posterior.weight_concentration, jnp.float64)
    if weight_prior == _STICKS:
        a, b = concentration
        log_stick = digamma(a) - digamma(a + b)
        log_rest = digamma(b) - digamma(a + b)
        return log_stick + jnp.cumsum(log_rest) - log_rest
    return digamma(concentration) - digamma(jnp.sum(concentration))


def _q_site(posterior, structure):
    """q of the structure's covariance site, with S* = E_q[S^-1]^-1 as a site value and
    E_q[log] of each log-coordinate (log|S| of a matrix, log v of each variance).

    Returns
    -------
    (distribution, star, expected_log)
        Shapes follow the site: a leading K axis unless the structure is shared.
    """
    nu = jnp.asarray(posterior.degrees_of_freedom, jnp.float64)
    psi = jnp.asarray(posterior.scale_matrices, jnp.float64)
    if structure.shared:
        # A shared q(Lambda) is stored once per component row, all rows equal.
        nu, psi = nu[0], psi[0]
    d = psi.shape[-1]
    if structure.form == "matrix":
        q = dist.InverseWishart(nu, scale_matrix=psi)
        star = psi / nu[..., None, None]
        expected_log = (jnp.linalg.slogdet(psi)[1]
                        - jnp.sum(digamma(0.5 * (nu[..., None] - jnp.arange(d))), axis=-1)
                        - d * _LOG2)
        return q, star, expected_log
    rates = 0.5 * jnp.diagonal(psi, axis1=-2, axis2=-1)
    if structure.form == "scalar":
        # Psi_k = s_k I: one variance, inverse-gamma(nu_k / 2, s_k / 2).
        a, b = 0.5 * nu, rates[..., 0]
        q = dist.InverseGamma(a, b)
    else:
        a, b = (0.5 * nu)[..., None], rates
        q = dist.InverseGamma(a, b).to_event(1)
    a = jnp.broadcast_to(a, b.shape)
    return q, b / a, jnp.log(b) - digamma(a)


def _log_det_gap(structure, star, expected_log, k: int, d: int):
    """E_q[log|Sigma_k|] - log|S*_k| per component (K,), Sigma_k the full covariance."""
    if structure.form == "matrix":
        gap = expected_log - jnp.linalg.slogdet(star)[1]
    elif structure.form == "diagonal":
        gap = jnp.sum(expected_log - jnp.log(star), axis=-1)
    else:
        gap = d * (expected_log - jnp.log(star))
    return jnp.broadcast_to(gap, (k,))


def _means_given(posterior, covariances):
    """q(mu_k | Sigma_k) = N(m_k, Sigma_k / beta_k) (K,)."""
    beta = jnp.asarray(posterior.mean_precision, jnp.float64)
    tril = jnp.linalg.cholesky(covariances) / jnp.sqrt(beta)[:, None, None]
    return dist.MultivariateNormal(jnp.asarray(posterior.means, jnp.float64), scale_tril=tril)


def _model_kwargs(vb, k: int):
    return dict(n_components=k, covariance_type=vb.covariance_type, prior=_as_jax(vb.prior),
                weight_prior=vb.weight_prior)


def _model_trace(vb, X, values: dict):
    """`gmm_model`'s trace with its latent sites fixed to `values` (nothing is drawn)."""
    k = np.shape(vb.posterior.means)[0]
    model = handlers.substitute(gmm_model, data=values)
    return handlers.trace(handlers.seed(model, 0)).get_trace(X, **_model_kwargs(vb, k))


# ------------------------------------------------------------- the covariance KL


def _scaled(value, s, form: str, coordinate):
    """The site value with the log-coordinate `coordinate` scaled by s (all for a matrix
    or a variance; one variance of a diagonal)."""
    if form == "diagonal":
        return value.at[..., coordinate].multiply(s)
    return value * s


def _expected_log_ratio(log_ratio, star, expected_log, form: str, d: int):
    """E_q[g] for g = log q - log p of the covariance site (module docstring), per site
    value (K,) or ().

    Raises
    ------
    ValueError
        If g is not of the form A + B log|S| + tr(C S^-1) along the probes (the model's
        site is then not in q's family and the identity does not hold).
    """
    at_star = log_ratio(star)
    expected = at_star
    coordinates = range(d) if form == "diagonal" else (None,)
    multiplicity = d if form == "matrix" else 1
    for j in coordinates:
        f = {s: log_ratio(_scaled(star, s, form, j)) for s in (0.5, 2.0, 4.0)}
        slope = (2.0 * f[2.0] + f[0.5] - 3.0 * at_star) / _LOG2  # c B
        inverse = 2.0 * (at_star - f[2.0] + slope * _LOG2)  # T
        constant = at_star - inverse  # A'
        predicted = constant + slope * np.log(4.0) + inverse / 4.0
        scale = 1.0 + jnp.abs(f[4.0]) + jnp.abs(at_star)
        if not bool(jnp.all(jnp.abs(predicted - f[4.0]) <= 1e-8 * scale)):
            raise ValueError(
                "The model's covariance prior and q's covariance factor are not one "
                "exponential family in (log|S|, S^-1); the closed-form KL does not apply.")
        if form == "matrix":
            log_star = jnp.linalg.slogdet(star)[1]
        else:
            log_star = jnp.log(star if j is None else star[..., j])
        log_expected = expected_log if j is None else expected_log[..., j]
        expected = expected + slope / multiplicity * (log_expected - log_star)
    return expected


# ------------------------------------------------------------------ the terms


def elbo_terms(vb, X, *, responsibilities=None) -> ElboTerms:
    """The ELBO of a variational posterior in closed form, from NumPyro's densities.

    Independent of the engine: every density and prior is NumPyro's, the priors as
    `gmm_model` builds them (module docstring).

    Parameters
    ----------
    vb : VBResult or any object with the same attributes
        Needs ``posterior`` (a :class:`ppl_gmm.params.VariationalPosterior` in user
        units), ``prior`` (the resolved prior in user units, the weight concentration in
        ``concentration``), ``covariance_type`` and ``weight_prior``; ``responsibilities``
        (n, K) if present. Nothing is read from ``params``.
    X : array-like (n, d)
        The data of the fit.
    responsibilities : array (n, K), optional
        q(Z); default ``vb.responsibilities``, or where `vb` has none, the q(Z) that
        maximises the ELBO at q(theta) (r_ik proportional to rho_ik).

    Returns
    -------
    ElboTerms
    """
    X = jnp.asarray(check_data(X), jnp.float64)
    posterior = vb.posterior
    structure = get_structure(vb.covariance_type)
    k, d = np.shape(posterior.means)
    weight_site, q_weights = _q_weights(posterior, vb.weight_prior)
    q_site, star, expected_log = _q_site(posterior, structure)
    star_covariances = structure.covariances_from_site(star, k, d)
    means = jnp.asarray(posterior.means, jnp.float64)

    # The model's own priors, read off its trace at S* (the means' prior depends on it).
    values = {weight_site: q_weights.mean, structure.site: star, "means": means,
              "z": jnp.zeros(X.shape[0], jnp.int32)}
    trace = _model_trace(vb, X, values)
    kl_w = kl_divergence(q_weights, trace[weight_site]["fn"])
    kl_mu = kl_divergence(_means_given(posterior, star_covariances), trace["means"]["fn"])
    p_site = trace[structure.site]["fn"]

    def log_ratio(value):
        return q_site.log_prob(value) - p_site.log_prob(value)

    kl_lambda = _expected_log_ratio(log_ratio, star, expected_log, structure.form, d)

    # E_q[log N(x_i | mu_k, Sigma_k)]: the model's x density at (m_k, S*_k), z_i = k.
    gap = _log_det_gap(structure, star, expected_log, k, d)
    beta = jnp.asarray(posterior.mean_precision, jnp.float64)
    plug_in = jnp.stack([
        _model_trace(vb, X, {**values, "z": jnp.full(X.shape[0], j, jnp.int32)})["x"]["fn"]
        .log_prob(X) for j in range(k)], axis=-1)
    log_rho = (_expected_log_weights(posterior, vb.weight_prior)
               + plug_in - 0.5 * gap - 0.5 * d / beta)
    if responsibilities is None:
        responsibilities = getattr(vb, "responsibilities", None)
    if responsibilities is None:
        responsibilities = jax.nn.softmax(log_rho, axis=-1)
    r = jnp.asarray(responsibilities, jnp.float64)
    if r.shape != log_rho.shape:
        raise ValueError(f"responsibilities must have shape {log_rho.shape}, got {r.shape}.")

    # r_ik log rho_ik with r_ik = 0 contributes nothing, even where log rho is -inf.
    expected_ll = jnp.sum(jnp.where(r > 0, r * log_rho, 0.0))
    entropy = jnp.sum(dist.Categorical(probs=r).entropy())
    kl_w, kl_lambda, kl_mu = float(kl_w), float(jnp.sum(kl_lambda)), float(jnp.sum(kl_mu))
    expected_ll, entropy = float(expected_ll), float(entropy)
    return ElboTerms(
        expected_log_likelihood=expected_ll,
        entropy_assignments=entropy,
        kl_weights=kl_w,
        kl_precisions=kl_lambda,
        kl_means=kl_mu,
        kl_means_precisions=kl_lambda + kl_mu,
        elbo=expected_ll + entropy - kl_w - kl_lambda - kl_mu,
    )


# ------------------------------------------------------------------ Monte Carlo


def variational_guide(vb, n_obs: int, *, responsibilities=None):
    """q(Z) q(pi) q(mu, Lambda) as a NumPyro guide for `gmm_model` (same sites, plates).

    The weight site (``sticks`` ~ prod Beta(a_k, b_k), or ``weights`` ~ Dirichlet(alpha)),
    the structure's covariance site from q (inverse-Wishart(nu_k, Psi_k), or inverse-gamma
    on each variance), ``means`` ~ N(m_k, Sigma_k / beta_k) given it, and ``z`` ~
    Categorical(r_i) in plate "obs", so that the model's z takes the guide's value and
    is not enumerated.

    Parameters
    ----------
    vb : VBResult or alike (see :func:`elbo_terms`)
    n_obs : int
        n, the size of plate "obs".
    responsibilities : array (n, K), optional
        Default ``vb.responsibilities``.

    Returns
    -------
    callable
        The guide; it ignores its arguments (the model's).
    """
    r = vb.responsibilities if responsibilities is None else responsibilities
    r = jnp.asarray(r, jnp.float64)
    if r.shape != (n_obs, np.shape(vb.posterior.means)[0]):
        raise ValueError(f"responsibilities must have shape (n_obs, K), got {r.shape}.")
    return _guide(_as_jax(vb.posterior), r, vb.covariance_type, vb.weight_prior)


def _guide(posterior, responsibilities, covariance_type: str, weight_prior: str):
    structure = get_structure(covariance_type)
    k, d = np.shape(posterior.means)
    weight_site, q_weights = _q_weights(posterior, weight_prior)
    q_site = _q_site(posterior, structure)[0]

    def guide(*args, **kwargs):
        # Site order as in gmm_model (Trace_ELBO's mean-field check reads it).
        numpyro.sample(weight_site, q_weights)
        if structure.shared:
            value = numpyro.sample(structure.site, q_site)
        with numpyro.plate("component", k):
            if not structure.shared:
                value = numpyro.sample(structure.site, q_site)
            covariances = structure.covariances_from_site(value, k, d)
            numpyro.sample("means", _means_given(posterior, covariances))
        with numpyro.plate("obs", responsibilities.shape[0]):
            numpyro.sample("z", dist.Categorical(probs=responsibilities))

    return guide


@functools.partial(jax.jit, static_argnames=("covariance_type", "weight_prior", "batch_size"))
def _elbo_particles(keys, X, posterior, prior, responsibilities, covariance_type: str,
                    weight_prior: str, batch_size: int):
    """One Trace_ELBO particle per key; q's parameters are arguments, so a moved q of the
    same shapes reuses the compiled program."""
    model = functools.partial(gmm_model, X, n_components=np.shape(posterior.means)[0],
                              covariance_type=covariance_type, prior=prior,
                              weight_prior=weight_prior)
    guide = _guide(posterior, responsibilities, covariance_type, weight_prior)
    elbo = Trace_ELBO(num_particles=1)

    def particle(key):
        return -elbo.loss(key, {}, model, guide)

    return jax.lax.map(particle, keys, batch_size=batch_size)


def monte_carlo_elbo(vb, X, *, num_particles: int = 10000, seed: int = 0,
                     responsibilities=None, batch_size: int = 2000):
    """NumPyro's ``Trace_ELBO`` of `gmm_model` under q, with its Monte Carlo error.

    Each particle is one ``Trace_ELBO(num_particles=1)`` evaluation, log p(X, Z, theta)
    - log q(Z, theta) at a draw from :func:`variational_guide`, on the model with the
    fit's prior, structure and weight prior; the particles are vmapped (in batches of
    `batch_size`) inside one compiled function.

    Parameters
    ----------
    vb : VBResult or alike (see :func:`elbo_terms`)
    X : array-like (n, d)
    num_particles : int
    seed : int
    responsibilities : array (n, K), optional
        q(Z); default ``vb.responsibilities``.
    batch_size : int
        Particles per vmapped batch (memory).

    Returns
    -------
    (estimate, standard_error) : (float, float)
        The mean of the particles and its standard error (their standard deviation over
        sqrt(num_particles)).
    """
    X = jnp.asarray(check_data(X), jnp.float64)
    num_particles = int(num_particles)
    if num_particles < 2:
        raise ValueError(f"num_particles must be at least 2, got {num_particles}.")
    r = vb.responsibilities if responsibilities is None else responsibilities
    r = jnp.asarray(r, jnp.float64)
    if r.shape != (X.shape[0], np.shape(vb.posterior.means)[0]):
        raise ValueError(f"responsibilities must have shape (n, K), got {r.shape}.")
    keys = jax.random.split(jax.random.PRNGKey(seed), num_particles)
    values = np.asarray(_elbo_particles(
        keys, X, _as_jax(vb.posterior), _as_jax(vb.prior), r, vb.covariance_type,
        vb.weight_prior, min(int(batch_size), num_particles)))
    if not np.all(np.isfinite(values)):
        raise FloatingPointError(
            f"{np.sum(~np.isfinite(values))} of {num_particles} ELBO particles are not finite.")
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(num_particles))


# ------------------------------------------------------------------ the check


@dataclass(frozen=True)
class VariationalCrossCheck:
    """A variational fit's ELBO against NumPyro's, in closed form and by Monte Carlo.

    Attributes
    ----------
    elbo : float
        ``VBResult.elbo``, the engine's.
    history_elbo : float
        The last entry of ``VBResult.history.elbo``.
    terms : ElboTerms
        :func:`elbo_terms` of the result.
    rel_difference : float
        |elbo - terms.elbo| / |terms.elbo|.
    history_rel_difference : float
        |history_elbo - terms.elbo| / |terms.elbo|.
    rtol : float
        Tolerance on both relative differences.
    max_decrease : float
        Largest drop of the ELBO between iterates of the history (CAVI never decreases
        it without ``reg_covar``; informative, not judged).
    monte_carlo_elbo, monte_carlo_standard_error : float or None
        :func:`monte_carlo_elbo` (None when not run).
    num_particles : int
    z_score : float or None
        (monte_carlo_elbo - elbo) / monte_carlo_standard_error.
    z_tol : float
        Bound on |z_score|.
    """

    elbo: float
    history_elbo: float
    terms: ElboTerms
    rel_difference: float
    history_rel_difference: float
    rtol: float
    max_decrease: float
    monte_carlo_elbo: float | None
    monte_carlo_standard_error: float | None
    num_particles: int
    z_score: float | None
    z_tol: float

    @property
    def elbo_agrees(self) -> bool:
        return bool(self.rel_difference <= self.rtol
                    and self.history_rel_difference <= self.rtol)

    @property
    def monte_carlo_agrees(self) -> bool | None:
        if self.z_score is None:
            return None
        return bool(abs(self.z_score) <= self.z_tol)

    @property
    def passed(self) -> bool:
        return self.elbo_agrees and self.monte_carlo_agrees is not False

    def __str__(self) -> str:
        lines = [
            f"VB vs PPL cross-check: {'PASS' if self.passed else 'FAIL'}",
            f"  ELBO (engine)           {self.elbo:.10g}",
            f"  ELBO (NumPyro, closed)  {self.terms.elbo:.10g} (relative difference "
            f"{self.rel_difference:.3e}, history {self.history_rel_difference:.3e}, "
            f"tolerance {self.rtol:.0e})",
        ]
        if self.z_score is None:
            lines.append("  Monte Carlo ELBO        not run")
        else:
            lines.append(
                f"  Monte Carlo ELBO        {self.monte_carlo_elbo:.8g} +- "
                f"{self.monte_carlo_standard_error:.2g} ({self.num_particles} particles, "
                f"z = {self.z_score:+.2f}, bound {self.z_tol:g})")
        return "\n".join(lines)

    __repr__ = __str__


def variational_cross_check(vb, X, *, rtol: float = 1e-9, num_particles: int | None = 10000,
                            seed: int = 0, z_tol: float = 4.0) -> VariationalCrossCheck:
    """Compare a variational fit's ELBO with NumPyro's (what ``cross_check`` does for VB).

    Parameters
    ----------
    vb : VBResult
        From :func:`ppl_gmm.fit_vb` on `X`.
    X : array-like (n, d)
    rtol : float
        Allowed relative difference of ``vb.elbo`` (and the history's last entry) from
        :func:`elbo_terms`.
    num_particles : int or None
        Particles of :func:`monte_carlo_elbo`; None or 0 skips it.
    seed : int
        Seed of the Monte Carlo draws.
    z_tol : float
        Allowed |MC - ELBO| in Monte Carlo standard errors.

    Returns
    -------
    VariationalCrossCheck
    """
    terms = elbo_terms(vb, X)
    history = np.asarray(vb.history.elbo, np.float64)
    scale = abs(terms.elbo)
    estimate = standard_error = z = None
    if num_particles:
        estimate, standard_error = monte_carlo_elbo(vb, X, num_particles=num_particles,
                                                    seed=seed)
        z = (estimate - vb.elbo) / standard_error
    return VariationalCrossCheck(
        elbo=float(vb.elbo),
        history_elbo=float(history[-1]),
        terms=terms,
        rel_difference=abs(vb.elbo - terms.elbo) / scale,
        history_rel_difference=abs(float(history[-1]) - terms.elbo) / scale,
        rtol=rtol,
        max_decrease=float(np.max(history[:-1] - history[1:], initial=0.0)),
        monte_carlo_elbo=estimate,
        monte_carlo_standard_error=standard_error,
        num_particles=int(num_particles or 0),
        z_score=z,
        z_tol=z_tol,
    )
