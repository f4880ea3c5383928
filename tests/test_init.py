"""Initialisation heuristics: validity, determinism, the data's location and scale, formulas."""

import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.fit.init import INITIALISERS, KMEANS_INIT_ITERATIONS, PERTURBATION_SCALE

NAMES = sorted(INITIALISERS)


def assert_valid(params, k, d, covariance_type):
    w, m, c = params
    assert w.shape == (k,) and m.shape == (k, d) and c.shape == (k, d, d)
    assert np.all(np.isfinite(m)) and np.all(np.isfinite(c))
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(c, np.swapaxes(c, 1, 2), rtol=0, atol=1e-12 * np.abs(c).max())
    assert np.all(np.linalg.eigvalsh(c) > 0)
    off = c * (1 - np.eye(d))
    if covariance_type in ("diag", "spherical"):
        assert np.all(off == 0)
    if covariance_type == "spherical":
        diagonal = np.diagonal(c, axis1=1, axis2=2)
        np.testing.assert_allclose(diagonal, diagonal[:, :1].repeat(d, 1), rtol=1e-12)
    if covariance_type == "tied":
        np.testing.assert_allclose(c, c[:1].repeat(k, 0), rtol=1e-12)


# Every initialiser with "full", and each other structure with two or three initialisers
# (one compilation per pair: the whole matrix would cost a minute of compile time).
PAIRS = [(name, ct) for i, name in enumerate(NAMES)
         for ct in ("full", pg.COVARIANCE_TYPES[1 + (i % 3)])]


@pytest.mark.parametrize(("name", "covariance_type"), PAIRS)
def test_initialiser_is_valid_and_deterministic(faithful, name, covariance_type):
    X = faithful  # the shapes of the scale test below: one compilation serves both
    first = pg.initial_parameters(X, 3, init=name, seed=4, covariance_type=covariance_type)
    assert_valid(first, 3, X.shape[1], covariance_type)
    again = pg.initial_parameters(X, 3, init=name, seed=4, covariance_type=covariance_type)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = pg.initial_parameters(X, 3, init=name, seed=5, covariance_type=covariance_type)
    assert not np.allclose(other.means, first.means)


@pytest.mark.parametrize("name", NAMES)
def test_initial_parameters_move_and_scale_with_the_data(faithful, name):
    base = pg.initial_parameters(faithful, 3, init=name, seed=2)
    scaled = pg.initial_parameters(faithful * 1e3, 3, init=name, seed=2)
    np.testing.assert_allclose(scaled.means, 1e3 * base.means, rtol=1e-9)
    np.testing.assert_allclose(scaled.covariances, 1e6 * base.covariances, rtol=1e-8,
                               atol=1e-8 * np.abs(1e6 * base.covariances).max())
    np.testing.assert_allclose(scaled.weights, base.weights, rtol=1e-9)
    shift = np.array([1e4, -3e3])
    shifted = pg.initial_parameters(faithful + shift, 3, init=name, seed=2)
    np.testing.assert_allclose(shifted.means, base.means + shift, rtol=1e-10)
    np.testing.assert_allclose(shifted.covariances, base.covariances, rtol=1e-6,
                               atol=1e-8 * np.abs(base.covariances).max())


@pytest.fixture(scope="module")
def far_anisotropic():
    """Data far from the origin, columns on scales 100 and 0.1, correlated."""
    rng = np.random.default_rng(11)
    z = rng.normal(size=(500, 2)) @ np.array([[1.0, 0.0], [0.6, 0.8]])
    return np.array([1000.0, -50.0]) + z * np.array([100.0, 0.1])


def test_random_draws_weights_means_and_covariances_as_documented(far_anisotropic):
    X = far_anisotropic
    k, d = 4, 2
    m, S = X.mean(axis=0), np.cov(X, rowvar=False, bias=True)
    draws = pg.initial_parameters(X, k, init="random", seed=0, n_init=400)
    means = draws.means.reshape(-1, d)
    # mu_k ~ N(m, S): location and (anisotropic) scale of the data, not a unit box.
    se = np.sqrt(np.diag(S) / len(means))
    assert np.all(np.abs(means.mean(axis=0) - m) < 4 * se)
    ratio = np.cov(means, rowvar=False) / S
    np.testing.assert_allclose(np.diag(ratio), 1.0, atol=0.1)
    # weights ~ Dirichlet(1): mean 1/K, variance (K - 1) / (K^2 (K + 1)).
    assert draws.weights.mean(axis=0) == pytest.approx(np.full(k, 1 / k), abs=0.02)
    assert draws.weights.var() == pytest.approx((k - 1) / (k**2 * (k + 1)), rel=0.15)
    # Sigma_k = Wishart(d + 2, S / K^(2/d)) / (d + 2): mean S / K^(2/d).
    mean_cov = draws.covariances.reshape(-1, d, d).mean(axis=0)
    np.testing.assert_allclose(np.diag(mean_cov) / np.diag(S / k ** (2 / d)), 1.0, atol=0.12)
    # and the draws really vary (not a fixed matrix).
    assert draws.covariances[:, 0, 0, 0].std() > 0.2 * mean_cov[0, 0]


def test_perturbed_is_k_copies_of_the_one_gaussian_fit(far_anisotropic):
    X = far_anisotropic
    m, S = X.mean(axis=0), np.cov(X, rowvar=False, bias=True)
    draws = pg.initial_parameters(X, 3, init="perturbed", seed=1, n_init=300)
    np.testing.assert_array_equal(draws.weights, np.full((300, 3), 1 / 3))
    np.testing.assert_allclose(draws.covariances, np.broadcast_to(S, (300, 3, 2, 2)), rtol=1e-9)
    offsets = (draws.means - m).reshape(-1, 2)
    expected = PERTURBATION_SCALE**2 * S
    np.testing.assert_allclose(np.diag(np.cov(offsets, rowvar=False)) / np.diag(expected), 1.0,
                               atol=0.1)
    # diag structure: the one-Gaussian fit's diagonal.
    diag = pg.initial_parameters(X, 3, init="perturbed", seed=1, covariance_type="diag")
    np.testing.assert_allclose(diag.covariances, np.broadcast_to(np.diag(np.diag(S)), (3, 2, 2)),
                               rtol=1e-9)


def test_random_memberships_start_with_an_m_step(faithful):
    n = len(faithful)
    hard = pg.initial_parameters(faithful, 3, init="random_resp_hard", seed=3)
    counts = hard.weights * n
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)  # whole rows per component
    assert np.all(np.abs(hard.weights - 1 / 3) < 0.15)
    soft = pg.initial_parameters(faithful, 3, init="random_resp", seed=3)
    # Averages over Dirichlet(1) memberships: close to the data mean, inside the data.
    sd = faithful.std(axis=0)
    assert np.all(np.abs(soft.means - faithful.mean(axis=0)) < 0.3 * sd)
    assert np.all(np.abs(soft.weights - 1 / 3) < 0.05)
    assert not np.allclose(soft.means, hard.means)


def _standardised_inertia(X, means):
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    centres = (means - X.mean(axis=0)) / X.std(axis=0)
    return np.sum(np.min(((Z[:, None, :] - centres[None]) ** 2).sum(-1), axis=1))


def test_kmeans_init_refines_kmeans_plus_plus(faithful):
    """Same key: "kmeans" is "kmeans++" followed by Lloyd iterations, which never raise inertia."""
    gains = []
    for seed in range(6):
        plus = pg.initial_parameters(faithful, 4, init="kmeans++", seed=seed)
        lloyd = pg.initial_parameters(faithful, 4, init="kmeans", seed=seed)
        before = _standardised_inertia(faithful, plus.means)
        after = _standardised_inertia(faithful, lloyd.means)
        assert after <= before * (1 + 1e-12)
        gains.append(before - after)
    assert max(gains) > 1e-3
    # On faithful Lloyd settles within KMEANS_INIT_ITERATIONS: the means are a fixed point
    # (each is the centroid of the rows nearest to it).
    # Lloyd runs in the standardised coordinates, so "nearest" is measured there.
    means = pg.initial_parameters(faithful, 3, init="kmeans", seed=0).means
    assert KMEANS_INIT_ITERATIONS >= 5
    mean, sd = faithful.mean(axis=0), faithful.std(axis=0)
    Z, centres = (faithful - mean) / sd, (means - mean) / sd
    nearest = np.argmin(((Z[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    for k in range(3):
        np.testing.assert_allclose(means[k], faithful[nearest == k].mean(axis=0), rtol=1e-10)


def test_restart_zero_starts_where_a_single_fit_starts(faithful):
    single = pg.initial_parameters(faithful, 3, init="random", seed=7)
    batch = pg.initial_parameters(faithful, 3, init="random", seed=7, n_init=5)
    for a, b in zip(single, batch, strict=True):
        np.testing.assert_allclose(b[0], a, rtol=1e-12, atol=1e-12 * np.abs(a).max())
    assert len({tuple(np.round(m.ravel(), 8)) for m in batch.means}) == 5


def test_callable_and_explicit_starting_points(faithful):
    seen = []

    def quantile_start(key, X, n_components):
        seen.append((X.shape, key))
        q = np.quantile(X, np.linspace(0.2, 0.8, n_components), axis=0)
        return pg.GMMParams(np.full(n_components, 1 / n_components), q,
                            np.broadcast_to(np.cov(X, rowvar=False), (n_components, 2, 2)))

    start = pg.initial_parameters(faithful, 2, init=quantile_start)
    np.testing.assert_allclose(start.means, np.quantile(faithful, [0.2, 0.8], axis=0),
                               rtol=1e-12)
    result = pg.fit_em(faithful, 2, init=start)
    for a, b in zip(result.initial_params, start, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    seen.clear()
    pg.initial_parameters(faithful, 2, init=quantile_start, n_init=3)
    assert len(seen) == 3 and all(shape == faithful.shape for shape, _ in seen)


def test_bad_initialisations_are_refused_with_a_fix(faithful):
    with pytest.raises(ValueError, match=r"not known.*'random'"):
        pg.fit_em(faithful, 2, init="nonsense")
    with pytest.raises(ValueError, match="K=3 components"):
        pg.fit_em(faithful, 2, init=lambda key, X, k: pg.GMMParams(
            np.full(3, 1 / 3), X[:3], np.broadcast_to(np.eye(2), (3, 2, 2))))
    one = pg.initial_parameters(faithful, 2)
    with pytest.raises(ValueError, match="would all be identical"):
        pg.fit_em(faithful, 2, init=one, n_init=2)
    stacked = pg.GMMParams(*(np.stack([a, a]) for a in one))
    with pytest.raises(ValueError, match="holds 2 starting points but n_init=3"):
        pg.fit_em(faithful, 2, init=stacked, n_init=3)
    with pytest.raises(ValueError, match="init must be"):
        pg.fit_em(faithful, 2, init=3.5)
