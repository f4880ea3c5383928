"""fit_vb: variational Bayesian EM. Monotone ELBO, switch-off, concentration onto EM's
optimum, agreement with NUTS, restarts and bad input.

The checks against scikit-learn are in test_vb_sklearn.py, those against the
probabilistic program in test_vb_ppl.py, predictions and draws in test_vb_predictive.py.
"""

import warnings

import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.engine.variational import WEIGHT_PRIORS
from ppl_gmm.fit.driver import ConvergenceWarning

STRUCTURES = ("full", "tied", "diag", "spherical", "EEI", "EII")


@pytest.fixture(scope="module")
def random_resp(faithful):
    return np.random.default_rng(0).dirichlet(np.ones(3), size=faithful.shape[0])


@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
@pytest.mark.parametrize("covariance_type", STRUCTURES)
def test_elbo_never_decreases(faithful, random_resp, covariance_type, weight_prior):
    """From a random q(Z): elbo[t-1] <= lower_bound[t] <= elbo[t] (1e-10 relative)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vb = pg.fit_vb(faithful, 3, covariance_type=covariance_type, weight_prior=weight_prior,
                       init=random_resp, tol=0, max_iter=60)
    elbo, bound = vb.history
    assert vb.n_iter > 10 and np.all(np.isfinite(elbo))
    slack = 1e-10 * np.abs(elbo[1:])
    assert np.all(bound[1:] >= elbo[:-1] - slack)
    assert np.all(elbo[1:] >= bound[1:] - slack)
    assert elbo[-1] > elbo[0] + 1.0  # it moved: the check is not vacuous
    assert vb.elbo == elbo[-1]


def test_responsibilities_are_the_variational_e_step(faithful):
    """q(z_i = k) proportional to exp(E[log pi_k] + E[log N(x_i | mu_k, Lambda_k^-1)]),
    computed here directly from the posterior's parameters (user coordinates)."""
    from scipy.special import digamma, logsumexp
    from scipy.stats import multivariate_normal

    vb = pg.fit_vb(faithful, 3, weight_prior="dirichlet_distribution")
    q = vb.posterior
    d = faithful.shape[1]
    log_rho = np.empty((faithful.shape[0], 3))
    for k in range(3):
        alpha = q.weight_concentration
        log_pi = digamma(alpha[k]) - digamma(alpha.sum())
        precision = q.degrees_of_freedom[k] * np.linalg.inv(q.scale_matrices[k])
        log_det = (sum(digamma((q.degrees_of_freedom[k] - j) / 2) for j in range(d))
                   + d * np.log(2) - np.linalg.slogdet(q.scale_matrices[k])[1])
        diff = faithful - q.means[k]
        quad = np.einsum("ni,ij,nj->n", diff, precision, diff)
        log_rho[:, k] = (log_pi + 0.5 * log_det - 0.5 * d * np.log(2 * np.pi)
                         - 0.5 * (d / q.mean_precision[k] + quad))
        # The plug-in part is the Gaussian at Psi / nu.
        assert np.allclose(multivariate_normal(q.means[k], vb.params.covariances[k]).logpdf(
            faithful[:3]), -0.5 * d * np.log(2 * np.pi) - 0.5 * quad[:3]
            + 0.5 * np.linalg.slogdet(precision)[1])
    resp = np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))
    assert np.allclose(vb.responsibilities, resp, atol=1e-10)


def test_switch_off(separated_params):
    """K = 10 with stick-breaking weights of small concentration on data from gmm_model
    with 3 well separated components: exactly 3 components keep > 1% of the weight, and
    they are the truth up to permutation."""
    X, _ = pg.sample(separated_params, 900, seed=4)
    vb = pg.fit_vb(X, 10, weight_prior="dirichlet_process", weight_concentration=0.01,
                   n_init=4, seed=0)
    active = vb.active_components(0.01)
    assert active.size == 3
    assert vb.params.weights.sum() == pytest.approx(1.0)
    found = pg.GMMParams(vb.params.weights[active] / vb.params.weights[active].sum(),
                         vb.params.means[active], vb.params.covariances[active])
    aligned = pg.permute(found, pg.align_labels(found, separated_params))
    assert np.allclose(aligned.means, separated_params.means, atol=0.25)
    assert np.allclose(aligned.weights, separated_params.weights, atol=0.05)
    assert np.allclose(aligned.covariances, separated_params.covariances, atol=0.3)
    # The switched-off components hold (almost) nothing.
    off = np.setdiff1d(np.arange(10), active)
    assert vb.responsibilities[:, off].sum() < 1.0


@pytest.mark.slow
def test_concentrates_on_the_em_optimum():
    """As n grows, q's means approach the maximum-likelihood estimate faster than its
    standard error shrinks: (m_VB - mu_EM) / SE falls with n and stays far below 1."""
    distances = []
    for n in (1_000, 10_000, 100_000):
        X, _, _ = pg.datasets.make_synthetic(n, 3, 2, seed=5)
        em = pg.fit_em(X, 3, seed=0)
        vb = pg.fit_vb(X, 3, weight_prior="dirichlet_distribution", weight_concentration=1.0,
                       init=em.params)
        counts = em.responsibilities.sum(axis=0)
        se = np.sqrt(np.diagonal(em.params.covariances, axis1=1, axis2=2) / counts[:, None])
        distances.append(np.max(np.abs(vb.params.means - em.params.means) / se))
        assert np.allclose(vb.params.weights, em.params.weights, atol=3 / np.sqrt(n))
    assert distances[0] < 0.1
    assert distances[1] < distances[0] / 2 and distances[2] < distances[1] / 2


@pytest.mark.slow
def test_agrees_with_nuts_on_old_faithful(faithful):
    """The same model (Dirichlet(1, 1) weights, the default Normal-inverse-Wishart):
    VB's posterior means of the component means within one NUTS posterior sd."""
    vb = pg.fit_vb(faithful, 2, weight_prior="dirichlet_distribution", weight_concentration=1.0)
    idata = pg.sample_posterior(faithful, 2, prior=vb.prior, num_warmup=300, num_samples=300,
                                num_chains=1, seed=0, posterior_predictive=False)
    draws = idata.posterior["means"].values.reshape(-1, 2, 2)
    order = np.argsort(vb.params.means[:, 0])
    nuts_mean = draws.mean(axis=0)[np.argsort(draws.mean(axis=0)[:, 0])]
    nuts_sd = draws.std(axis=0)[np.argsort(draws.mean(axis=0)[:, 0])]
    assert np.all(np.abs(vb.params.means[order] - nuts_mean) < nuts_sd)


def test_restarts_pick_the_highest_elbo(faithful):
    single = pg.fit_vb(faithful, 3, seed=3)
    many = pg.fit_vb(faithful, 3, n_init=5, seed=3)
    table = many.restarts
    assert len(table) == 5 and table.objective_name == "elbo"
    assert many.elbo == pytest.approx(table.objective.max(), rel=1e-12)
    # Restart 0 starts where n_init=1 does and takes the same steps.
    assert table.objective[0] == pytest.approx(single.elbo, rel=1e-10)
    assert table.n_iter[0] == single.n_iter
    # The queued lanes give the lockstep numbers.
    queued = pg.fit_vb(faithful, 3, n_init=5, seed=3, restart_batch_size=2)
    assert np.allclose(queued.restarts.objective, table.objective, rtol=1e-10)


def test_units_do_not_change_the_fit(faithful):
    """Affine equivariance: the data in other units give the same q (mapped), the
    ELBO moved by the log-Jacobian n log|det A|, when the prior moves with the data."""
    scale = np.array([1e-3, 60.0])
    vb = pg.fit_vb(faithful, 2)
    moved = pg.fit_vb(faithful * scale, 2)
    assert np.allclose(moved.posterior.means, vb.posterior.means * scale, rtol=1e-8)
    assert np.allclose(moved.params.covariances,
                       vb.params.covariances * np.outer(scale, scale), rtol=1e-7)
    shift = faithful.shape[0] * np.sum(np.log(scale))
    assert moved.elbo == pytest.approx(vb.elbo - shift, rel=1e-10)


def test_max_iter_zero_is_the_first_update(faithful, random_resp):
    vb = pg.fit_vb(faithful, 3, init=random_resp, max_iter=0)
    counts = random_resp.sum(axis=0)
    assert vb.n_iter == 0
    assert np.allclose(vb.posterior.mean_precision, vb.prior.shrinkage + counts)
    assert np.allclose(vb.posterior.weight_concentration[0], 1.0 + counts)


def test_expected_covariances(faithful):
    vb = pg.fit_vb(faithful, 2)
    d = faithful.shape[1]
    nu = vb.posterior.degrees_of_freedom
    assert np.allclose(vb.expected_covariances,
                       vb.params.covariances * (nu / (nu - d - 1))[:, None, None])
    assert np.allclose(vb.precision_scale @ vb.posterior.scale_matrices, np.eye(d))


def test_caller_arrays_are_not_modified(faithful, random_resp):
    X, resp = faithful.copy(), random_resp.copy()
    with pytest.warns(ConvergenceWarning):
        pg.fit_vb(X, 3, init=resp, max_iter=3, tol=0)
    assert np.array_equal(X, faithful) and np.array_equal(resp, random_resp)


@pytest.mark.parametrize("kwargs, match", [
    (dict(weight_prior="dirichlet"), "weight_prior='dirichlet' is not known"),
    (dict(weight_concentration=0.0), "weight_concentration must be > 0"),
    (dict(weight_concentration=-1.0), "weight_concentration must be > 0"),
    (dict(weight_concentration=float("nan")), "weight_concentration must be > 0"),
    (dict(weight_concentration="a lot"), "weight_concentration must be a positive number"),
    (dict(prior=pg.Prior(concentration=2.0)), "weight_concentration"),
    (dict(prior=pg.Prior(shrinkage=-1.0)), "shrinkage must be > 0"),
    (dict(covariance_type="VEV"), "conjugate"),
    (dict(covariance_type="nope"), "nope"),
    (dict(init=np.ones((272, 2))), r"shape \(272, 3\)"),
    (dict(init=np.full((272, 3), 0.5)), "sum to 1"),
    (dict(init="somewhere"), "init='somewhere' is not known"),
    (dict(n_init=0), "n_init"),
    (dict(tol=-1.0), "tol"),
])
def test_bad_input_is_a_clear_error(faithful, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        pg.fit_vb(faithful, 3, **kwargs)


def test_bad_data_is_refused_as_by_fit_em(faithful):
    X = faithful.copy()
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pg.fit_vb(X, 2)
    with pytest.raises(ValueError, match="n_components"):
        pg.fit_vb(faithful[:3], 5)
