"""fit_vb against the probabilistic program: the engine's ELBO recomputed from NumPyro.

Three routes to one number: the engine's closed form (in internal coordinates, mapped
back by the log-Jacobian), `elbo_terms` (NumPyro densities and the model's own priors,
user units) and `monte_carlo_elbo` (NumPyro's Trace_ELBO on gmm_model with q as the
guide). Each term of `elbo_terms` is also held against the engine's function for it.
"""

import dataclasses
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro.distributions.kl import kl_divergence
from scipy import stats

import ppl_gmm as pg
from ppl_gmm.engine import variational as engine
from ppl_gmm.engine.variational import WEIGHT_PRIORS
from ppl_gmm.fit.driver import ConvergenceWarning
from ppl_gmm.params import VariationalPosterior
from ppl_gmm.ppl import cross_check
from ppl_gmm.ppl import variational_check as vc
from ppl_gmm.structures.registry import get_structure

STRUCTURES = ("full", "tied", "diag", "spherical", "EEI", "EII")
RTOL = 1e-9
#: The Monte Carlo checks: every structure form and sharing, both weight priors.
MONTE_CARLO = [("full", "dirichlet_process"), ("diag", "dirichlet_distribution"),
               ("spherical", "dirichlet_process"), ("tied", "dirichlet_distribution")]


def _data(d: int, seed: int = 0):
    """Three clusters, anisotropic and correlated, in units far from standard (so the
    engine's affine map and its log-Jacobian are not trivial)."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * np.eye(3, d)
    mixing = np.eye(d) + 0.4 * np.eye(d, k=1)
    X = np.concatenate([c + rng.normal(size=(67, d)) @ mixing for c in centres])[:200]
    return X * np.linspace(3.0, 0.5, d) + np.linspace(10.0, -2.0, d)


@pytest.fixture(scope="module")
def data():
    return _data(2)


_FITS = {}


def _fit(X, covariance_type, weight_prior):
    key = (X.shape[1], covariance_type, weight_prior)
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _FITS[key] = pg.fit_vb(X, 3, covariance_type=covariance_type,
                                   weight_prior=weight_prior, max_iter=50)
    return _FITS[key]


def _moved_means(vb, shift=0.5):
    """A copy of the fit with every q(mu_k) mean moved by `shift` (user units)."""
    posterior = vb.posterior._replace(means=np.asarray(vb.posterior.means) + shift)
    return dataclasses.replace(vb, posterior=posterior)


def _engine_terms(vb, X):
    """The engine's terms at the user-unit posterior and prior (the KLs are invariant
    under the engine's affine map; the data term is computed in user units here)."""
    posterior = vb.posterior
    factors = engine.effective_factors(posterior)
    prior = vb.prior
    ct, wp = vb.covariance_type, vb.weight_prior
    offsets = np.asarray(engine.log_density_offsets(posterior, factors, ct, wp))
    covariances = posterior.scale_matrices / posterior.degrees_of_freedom[:, None, None]
    plug_in = np.stack([stats.multivariate_normal(m, c).logpdf(X)
                        for m, c in zip(posterior.means, covariances, strict=True)], axis=-1)
    r = vb.responsibilities
    return dict(
        expected_log_likelihood=float(np.sum(r * (offsets + plug_in))),
        entropy_assignments=float(-np.sum(r[r > 0] * np.log(r[r > 0]))),
        kl_weights=float(engine.kl_weights(posterior.weight_concentration,
                                           prior.concentration, wp)),
        kl_precisions=float(jnp.sum(engine.kl_precisions(posterior, factors, prior, ct))),
        kl_means=float(jnp.sum(engine.kl_means(posterior, factors, prior))),
        kl_parameters=float(engine.kl_parameters(posterior, factors, prior, ct, wp)),
    )


def _close(a, b, rtol=RTOL):
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-3)


@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
@pytest.mark.parametrize("covariance_type", STRUCTURES)
def test_every_term_matches_the_engine(data, covariance_type, weight_prior):
    vb = _fit(data, covariance_type, weight_prior)
    terms = vc.elbo_terms(vb, data)
    ours = _engine_terms(vb, data)
    assert _close(terms.elbo, vb.elbo), (terms.elbo, vb.elbo)
    assert _close(terms.elbo, vb.history.elbo[-1])
    for name in ("expected_log_likelihood", "entropy_assignments", "kl_weights",
                 "kl_precisions", "kl_means"):
        assert _close(getattr(terms, name), ours[name]), (name, getattr(terms, name), ours[name])
    assert _close(terms.kl_means_precisions + terms.kl_weights, ours["kl_parameters"])
    # The check is not vacuous: every term is there and the fit is a real one.
    assert terms.kl_precisions > 0 and terms.kl_means > 0 and terms.kl_weights > 0
    assert terms.entropy_assignments > 0 and vb.n_active >= 2


@pytest.mark.parametrize("covariance_type,weight_prior",
                         [("full", "dirichlet_process"), ("spherical", "dirichlet_distribution")])
def test_the_elbo_agrees_in_three_dimensions(covariance_type, weight_prior):
    """d = 3: the Wishart's digamma sum over d, the spherical dof counting d per row."""
    X = _data(3, seed=1)
    vb = _fit(X, covariance_type, weight_prior)
    assert _close(vc.elbo_terms(vb, X).elbo, vb.elbo)


def test_a_result_without_params_or_responsibilities(data):
    """Only q(theta), the prior and the two names: q(Z) is then the optimal one, which is
    the fit's (its E-step at the final q(theta))."""
    vb = _fit(data, "diag", "dirichlet_process")
    bare = types.SimpleNamespace(posterior=vb.posterior, prior=vb.prior,
                                 covariance_type=vb.covariance_type,
                                 weight_prior=vb.weight_prior)
    assert _close(vc.elbo_terms(bare, data).elbo, vb.elbo)


def test_the_covariance_kl_is_numpyros_gamma_kl(data):
    """On the precisions, diag's q and prior are Gammas, whose KL NumPyro registers; the
    KL is the same on the variances (a bijection)."""
    vb = _fit(data, "diag", "dirichlet_distribution")
    q = vb.posterior
    prior_site = get_structure("diag").site_prior(jax.tree.map(jnp.asarray, vb.prior), 2)
    kl = kl_divergence(
        dist.Gamma(q.degrees_of_freedom[:, None] / 2,
                   np.diagonal(q.scale_matrices, axis1=-2, axis2=-1) / 2),
        dist.Gamma(prior_site.base_dist.concentration, prior_site.base_dist.rate))
    assert _close(vc.elbo_terms(vb, data).kl_precisions, float(jnp.sum(kl)))


def test_the_known_moments_by_monte_carlo():
    """E[S^-1], E[log|S|] of an inverse-Wishart, E[1/v], E[log v] of an inverse-gamma and
    E[log pi_k] of the Dirichlet and stick-breaking weights, against NumPyro's draws."""
    key = jax.random.split(jax.random.PRNGKey(1), 4)
    m = 50_000

    def within(draws, value, sigmas=4.0):
        draws = np.asarray(draws)
        se = draws.std(axis=0) / np.sqrt(draws.shape[0])
        assert np.all(np.abs(draws.mean(axis=0) - value) <= sigmas * se + 1e-12)

    psi = np.array([[[2.0, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.5]]])
    posterior = VariationalPosterior(None, None, np.zeros((1, 3)),
                                              np.array([6.5]), psi)
    q, star, expected_log = vc._q_site(posterior, get_structure("full"))
    draws = q.sample(key[0], (m,))
    within(jnp.linalg.slogdet(draws)[1], expected_log)
    within(jnp.linalg.inv(draws), jnp.linalg.inv(star))
    q, star, expected_log = vc._q_site(posterior, get_structure("diag"))
    draws = q.sample(key[1], (m,))
    within(jnp.log(draws), expected_log)
    within(1.0 / draws, 1.0 / star)

    sticks = np.array([[3.0, 2.0, 1.5], [4.0, 1.0, 0.5]])
    v = dist.Beta(*sticks).sample(key[2], (m,))
    weights = v * jnp.concatenate([jnp.ones((m, 1)), jnp.cumprod(1 - v, axis=-1)[:, :-1]], -1)
    within(jnp.log(weights),
           vc._expected_log_weights(posterior._replace(weight_concentration=sticks),
                                    "dirichlet_process"))
    alpha = np.array([0.4, 2.0, 7.0])
    within(jnp.log(dist.Dirichlet(alpha).sample(key[3], (m,))),
           vc._expected_log_weights(posterior._replace(weight_concentration=alpha),
                                    "dirichlet_distribution"))


@pytest.mark.parametrize("covariance_type,weight_prior", MONTE_CARLO)
def test_numpyros_trace_elbo_agrees(data, covariance_type, weight_prior):
    """Trace_ELBO with q as the guide, 1e4 particles: within 4 standard errors of the
    engine's ELBO, at the optimum and at a q moved off it."""
    vb = _fit(data, covariance_type, weight_prior)
    estimate, se = vc.monte_carlo_elbo(vb, data, num_particles=10_000, seed=3)
    assert abs(estimate - vb.elbo) <= 4 * se, (estimate, vb.elbo, se)
    assert se < 0.5  # precise enough to mean something
    moved = _moved_means(vb)
    closed = vc.elbo_terms(moved, data).elbo
    estimate_moved, se_moved = vc.monte_carlo_elbo(moved, data, num_particles=10_000, seed=4)
    assert abs(estimate_moved - closed) <= 4 * se_moved, (estimate_moved, closed, se_moved)
    # The optimum's ELBO is detectably higher than the moved q's.
    assert estimate - estimate_moved > 10 * np.hypot(se, se_moved)


def test_the_closed_form_can_fail(data):
    vb = _fit(data, "full", "dirichlet_distribution")
    moved = vc.elbo_terms(_moved_means(vb, 1e-3), data)
    assert not _close(moved.elbo, vb.elbo)
    assert moved.elbo < vb.elbo  # CAVI's fixed point beats a nearby q(mu)


def test_cross_check_passes_and_fails(data):
    vb = _fit(data, "tied", "dirichlet_process")
    check = cross_check(vb, data, num_particles=2000)
    assert check.passed and check.elbo_agrees and check.monte_carlo_agrees, check
    assert "PASS" in str(check)
    # The engine's number off by 1e-6 (relative ~1e-9): the closed form catches it.
    off = dataclasses.replace(vb, elbo=vb.elbo * (1 + 3e-9))
    assert not cross_check(off, data, num_particles=None).passed
    # A q that is not the one behind vb.elbo: both the closed form and Monte Carlo see it.
    moved = cross_check(_moved_means(vb), data, num_particles=2000)
    assert not moved.elbo_agrees and moved.monte_carlo_agrees is False and not moved.passed
    assert "FAIL" in str(moved)


def test_cross_check_keeps_em_and_vb_options_apart(data):
    vb = _fit(data, "diag", "dirichlet_process")
    with pytest.raises(TypeError):
        cross_check(vb, data, gradient_tol=1e-3)
    not_variational = types.SimpleNamespace()  # refused before anything is read off it
    with pytest.raises(TypeError):
        cross_check(not_variational, data, num_particles=10)
