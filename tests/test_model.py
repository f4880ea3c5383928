"""The PPL side: gmm_model's enumerated numbers against independent scipy references."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import ppl_gmm as pg
from ppl_gmm.structures.registry import get_structure

# The structures whose prior is a normalised density on one covariance site (the other
# prior-taking ones, VEI, EVI, EEV and VEV, carry mclust's factor: tests/test_mclust_models.py).
SITE_PRIOR_STRUCTURES = [n for n in pg.COVARIANCE_TYPES if not get_structure(n).decomposed]


def scipy_pointwise(params, X):
    per_component = [
        np.log(w) + stats.multivariate_normal(m, c).logpdf(X)
        for w, m, c in zip(params.weights, params.means, params.covariances, strict=True)
    ]
    return logsumexp(np.stack(per_component, axis=1), axis=1)


def test_marginal_and_pointwise_match_scipy(faithful, separated_params):
    params = pg.GMMParams(
        np.array([0.35, 0.65]),
        np.array([[2.0, 54.0], [4.3, 80.0]]),
        np.array([[[0.07, 0.4], [0.4, 34.0]], [[0.17, 0.9], [0.9, 36.0]]]),
    )
    expected = scipy_pointwise(params, faithful)
    pointwise = pg.pointwise_log_likelihood(params, faithful)
    assert pointwise.shape == (faithful.shape[0],)
    np.testing.assert_allclose(pointwise, expected, rtol=1e-12)
    assert pg.marginal_log_likelihood(params, faithful) == pytest.approx(expected.sum(), rel=1e-12)


def scipy_log_prior(params, prior, covariance_type):
    """The conjugate prior's density, typed independently from scipy.stats."""
    _k, d = params.means.shape
    cov = params.covariances
    value = stats.dirichlet(prior.concentration).logpdf(params.weights)
    if covariance_type == "full":
        value += sum(stats.invwishart(prior.dof, prior.scale).logpdf(c) for c in cov)
    elif covariance_type == "tied":
        value += stats.invwishart(prior.dof, prior.scale).logpdf(cov[0])
    elif covariance_type == "diag":
        a, b = prior.dof / 2, np.diag(prior.scale) / 2
        value += sum(stats.invgamma(a, scale=b).logpdf(np.diag(c)).sum() for c in cov)
    elif covariance_type == "EEI":  # one diagonal shared: its prior counted once
        a, b = prior.dof / 2, np.diag(prior.scale) / 2
        value += stats.invgamma(a, scale=b).logpdf(np.diag(cov[0])).sum()
    elif covariance_type == "EII":  # one variance shared: its prior counted once
        a, b = d * prior.dof / 2, np.trace(prior.scale) / 2
        value += stats.invgamma(a, scale=b).logpdf(cov[0, 0, 0])
    else:  # spherical: mclust's VII, each variance inverse-gamma(nu / 2, tr(Psi) / (2 d))
        a, b = prior.dof / 2, np.trace(prior.scale) / (2 * d)
        value += sum(stats.invgamma(a, scale=b).logpdf(c[0, 0]) for c in cov)
    value += sum(stats.multivariate_normal(prior.mean, c / prior.shrinkage).logpdf(m)
                 for m, c in zip(params.means, cov, strict=True))
    return value


def structured(params, covariance_type):
    cov = params.covariances
    if covariance_type == "diag":
        cov = np.stack([np.diag(np.diag(c)) for c in cov])
    elif covariance_type == "spherical":
        cov = np.stack([np.eye(c.shape[0]) * np.trace(c) / c.shape[0] for c in cov])
    elif covariance_type == "tied":
        cov = np.broadcast_to(cov[0], cov.shape).copy()
    elif covariance_type == "EEI":
        cov = np.broadcast_to(np.diag(np.diag(cov[0])), cov.shape).copy()
    elif covariance_type == "EII":
        d = cov.shape[-1]
        cov = np.broadcast_to(np.eye(d) * np.trace(cov[0]) / d, cov.shape).copy()
    return pg.GMMParams(params.weights, params.means, cov)


@pytest.mark.parametrize("covariance_type", SITE_PRIOR_STRUCTURES)
def test_log_joint_is_likelihood_plus_independent_prior(drawn, separated_params,
                                                        covariance_type):
    X = drawn[0]
    params = structured(separated_params, covariance_type)
    prior = pg.Prior().resolve(X, 3, covariance_type=covariance_type)
    log_joint = pg.log_joint(params, X, prior, covariance_type)
    log_lik = pg.marginal_log_likelihood(params, X)
    assert pg.log_joint(params, X, None, covariance_type) == pytest.approx(log_lik, rel=1e-13)
    expected_prior = scipy_log_prior(params, prior, covariance_type)
    assert log_joint - log_lik == pytest.approx(expected_prior, rel=1e-10)


def test_prior_defaults_follow_fraley_raftery(faithful):
    prior = pg.Prior().resolve(faithful, 3)
    np.testing.assert_allclose(prior.mean, faithful.mean(axis=0))
    np.testing.assert_allclose(prior.scale, np.cov(faithful, rowvar=False) / 3 ** (2 / 2))
    assert prior.dof == 4 and prior.shrinkage == 0.01
    np.testing.assert_array_equal(prior.concentration, np.ones(3))
    with pytest.raises(ValueError, match="concentration must be >= 1"):
        pg.Prior(concentration=0.5).resolve(faithful, 3)


def test_sampling_runs_the_model(separated_params):
    X, z = pg.sample(separated_params, 20_000, seed=1)
    assert X.shape == (20_000, 2) and z.shape == (20_000,)
    np.testing.assert_allclose(np.bincount(z) / len(z), separated_params.weights, atol=0.015)
    for k in range(3):
        rows = X[z == k]
        np.testing.assert_allclose(rows.mean(axis=0), separated_params.means[k], atol=0.06)
        np.testing.assert_allclose(np.cov(rows, rowvar=False), separated_params.covariances[k],
                                   atol=0.08)
    again, _ = pg.sample(separated_params, 20_000, seed=1)
    np.testing.assert_array_equal(X, again)
    other, _ = pg.sample(separated_params, 20_000, seed=2)
    assert not np.array_equal(X, other)


@pytest.mark.parametrize("covariance_type", SITE_PRIOR_STRUCTURES)
def test_prior_predictive_draws_respect_structure(covariance_type):
    X, z, params = pg.sample_prior_predictive(50, 3, 2, covariance_type=covariance_type, seed=0)
    assert X.shape == (50, 2) and z.shape == (50,)
    assert params.covariances.shape == (3, 2, 2)
    np.testing.assert_allclose(params.weights.sum(), 1.0)
    off_diagonal = params.covariances[:, 0, 1]
    if covariance_type in ("diag", "spherical", "EEI", "EII"):
        np.testing.assert_array_equal(off_diagonal, 0.0)
    if covariance_type in ("spherical", "EII"):
        np.testing.assert_array_equal(params.covariances[:, 0, 0], params.covariances[:, 1, 1])
    if covariance_type in ("tied", "EEI", "EII"):
        np.testing.assert_array_equal(params.covariances[0], params.covariances[2])
    for c in params.covariances:
        np.linalg.cholesky(c)


def test_prior_predictive_of_a_decomposed_model_is_a_clear_error():
    for name in ("VEV", "EVE"):
        with pytest.raises(ValueError, match=f"covariance_type='{name}'"):
            pg.sample_prior_predictive(50, 3, 2, covariance_type=name)


def test_faithful_is_the_r_dataset(faithful):
    assert faithful.shape == (272, 2) and faithful.dtype == np.float64
    np.testing.assert_allclose(faithful.mean(axis=0), [3.487783, 70.897059], atol=1e-6)
