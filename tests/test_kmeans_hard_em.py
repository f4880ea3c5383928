"""K-means against scikit-learn, hard (classification) EM, and the sigma -> 0 limit of EM."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.cluster import KMeans

import ppl_gmm as pg


def classification_log_likelihood(params, X):
    """sum_i max_k log(pi_k N(x_i | mu_k, Sigma_k)) and log p(X), by scipy."""
    log_joint = np.stack([
        np.log(w) + multivariate_normal(m, c).logpdf(X)
        for w, m, c in zip(*params, strict=True)
    ], axis=1)
    return log_joint.max(axis=1).sum(), logsumexp(log_joint, axis=1).sum()


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("data", ["faithful", "drawn"])
def test_kmeans_matches_scikit_learn_from_the_same_centres(faithful, drawn, data, k):
    X = faithful if data == "faithful" else drawn[0]
    centres = X[np.random.default_rng(k).choice(len(X), k, replace=False)]
    ours = pg.fit_kmeans(X, k, init=centres)
    theirs = KMeans(k, init=centres, n_init=1, tol=0.0, algorithm="lloyd").fit(X)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-8)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    np.testing.assert_allclose(ours.centres, theirs.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert ours.converged and ours.n_iter == theirs.n_iter_
    # The inertia is what it says, from the returned centres and labels.
    direct = np.sum((X - ours.centres[ours.labels]) ** 2)
    assert ours.inertia == pytest.approx(direct, rel=1e-12)


def test_kmeans_relocates_an_empty_cluster_like_scikit_learn(faithful):
    centres = np.vstack([faithful[:2], [[100.0, 500.0]]])  # the third centre gets no rows
    ours = pg.fit_kmeans(faithful, 3, init=centres)
    theirs = KMeans(3, init=centres, n_init=1, tol=0.0, algorithm="lloyd").fit(faithful)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-8)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    assert np.all(ours.counts > 0)


def test_kmeans_restarts_keep_the_lowest_inertia(drawn):
    X = drawn[0]
    result = pg.fit_kmeans(X, 6, n_init=10, seed=3)
    inertias = -result.restarts.objective
    assert len(inertias) == 10 and result.inertia == inertias.min()
    assert result.restarts.objective_name == "-inertia"
    assert inertias.max() > inertias.min()  # the restarts do find different local optima
    single = pg.fit_kmeans(X, 6, seed=3)
    assert single.inertia == pytest.approx(inertias[0], rel=1e-12)  # restart 0 = n_init=1
    params = result.params
    assert params.weights.sum() == pytest.approx(1.0)
    assert params.covariances[0, 0, 0] == pytest.approx(result.inertia / X.size)
    # tol > 0 (scikit-learn's centre-shift rule) stops no later than tol = 0.
    loose = pg.fit_kmeans(X, 6, seed=3, tol=1e-2)
    assert loose.n_iter <= single.n_iter


def test_kmeans_input_is_validated(faithful):
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        pg.fit_kmeans(faithful, 3, init=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not known for k-means"):
        pg.fit_kmeans(faithful, 3, init="kmeans")
    with pytest.raises(ValueError, match="n_init=2"):
        pg.fit_kmeans(faithful, 3, init=faithful[:3], n_init=2)


@pytest.mark.parametrize(
    ("covariance_type", "with_prior", "check_ppl"),
    [("full", False, True), ("diag", True, True), ("spherical", False, False),
     ("tied", True, False)],
)
def test_hard_em_objective_never_decreases(drawn, covariance_type, with_prior, check_ppl):
    X = drawn[0]
    result = pg.fit_em(X, 3, covariance_type=covariance_type, variant="hard", seed=2,
                       init="random_from_data", prior=pg.Prior() if with_prior else None)
    h = result.history
    assert result.converged and result.n_iter >= 2
    slack = 1e-12 * np.abs(h.objective[1:])
    assert np.all(np.diff(h.objective) >= -slack)
    # C(theta_{t-1}, z_{t-1}) <= C(theta_t, z_{t-1}) <= C(theta_t, z_t)
    assert np.all(h.lower_bound[1:] >= h.objective[:-1] - slack)
    assert np.all(h.lower_bound <= h.objective + 1e-12 * np.abs(h.objective))
    np.testing.assert_allclose(h.lower_bound_after_e_step, h.objective, rtol=1e-11)
    # The classification log-likelihood is below the marginal one at every iterate.
    if not with_prior:
        assert np.all(h.objective <= h.log_likelihood + 1e-9)
    if check_ppl:  # EM against the PPL: z_hat classified by the model, log p(X, z_hat, theta)
        check = pg.cross_check(result, X)
        assert check.passed and check.max_rel_difference < 1e-12


def test_hard_em_objective_is_the_classification_likelihood(drawn):
    X = drawn[0]
    result = pg.fit_em(X, 3, variant="hard", seed=1)
    classification, marginal = classification_log_likelihood(result.params, X)
    assert result.objective == pytest.approx(classification, rel=1e-12)
    assert result.log_likelihood == pytest.approx(marginal, rel=1e-12)
    assert result.objective < result.log_likelihood
    # At convergence the hard M-step reproduces the parameters from the labels.
    labels = result.labels
    for k in range(3):
        rows = X[labels == k]
        assert result.params.weights[k] == pytest.approx(len(rows) / len(X), rel=1e-12)
        np.testing.assert_allclose(result.params.means[k], rows.mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(result.params.covariances[k],
                                   np.cov(rows, rowvar=False, bias=True), rtol=1e-9)
    # and hard EM is not soft EM: soft EM from the same start reaches a higher likelihood.
    soft = pg.fit_em(X, 3, seed=1)
    assert soft.log_likelihood > result.log_likelihood
    # Hard EM restarts run batched too; restart 0 is the single run above.
    batched = pg.fit_em(X, 3, variant="hard", seed=1, n_init=4)
    assert batched.restarts.objective[0] == pytest.approx(result.objective, rel=1e-12)
    assert batched.objective == batched.restarts.objective.max()


def test_fixed_variance_em_estimates_only_weights_and_means(faithful):
    result = pg.fit_em(faithful, 3, covariance_type="spherical", fixed_variance=4.0, seed=0)
    np.testing.assert_array_equal(result.params.covariances,
                                  np.broadcast_to(4.0 * np.eye(2), (3, 2, 2)))
    np.testing.assert_array_equal(result.initial_params.covariances, result.params.covariances)
    assert result.n_parameters == 2 + 3 * 2
    h = result.history.objective
    assert np.all(np.diff(h) >= -1e-12 * np.abs(h[1:]))
    _, marginal = classification_log_likelihood(result.params, faithful)
    assert result.objective == pytest.approx(marginal, rel=1e-12)
    check = pg.cross_check(result, faithful)  # gradient judged on weights and means only
    assert check.passed and check.stationary
    # Every restart of a batch keeps the fixed covariance, from its start to its end.
    table = pg.fit_em(faithful, 3, covariance_type="spherical", fixed_variance=4.0,
                      n_init=3).restarts
    for params in (table.params, table.initial_params):
        np.testing.assert_array_equal(params.covariances,
                                      np.broadcast_to(4.0 * np.eye(2), (3, 3, 2, 2)))


def test_fixed_variance_em_tends_to_kmeans_as_sigma_shrinks(faithful):
    Z = (faithful - faithful.mean(axis=0)) / faithful.std(axis=0)
    k = 3
    centres = Z[[0, 5, 100]]
    kmeans = pg.fit_kmeans(Z, k, init=centres)
    softness, distance = [], []
    for sigma in (1.0, 0.1, 0.01):
        start = pg.GMMParams(np.full(k, 1 / k), centres, np.broadcast_to(np.eye(2), (k, 2, 2)))
        result = pg.fit_em(Z, k, covariance_type="spherical", fixed_variance=sigma**2,
                           init=start, max_iter=5000)
        assert result.converged
        perm = pg.align_labels(result.params, kmeans.params)
        aligned = pg.permute(result.params, perm)
        softness.append(np.max(1.0 - result.responsibilities.max(axis=1)))
        distance.append(np.max(np.abs(aligned.means - kmeans.centres)))
        last = (result, perm)
    # Responsibilities become one-hot and the means converge to K-means' centres.
    assert softness[0] > softness[1] > softness[2] and softness[2] < 1e-12
    assert distance[0] > distance[1] > distance[2] and distance[2] < 1e-10
    assert softness[0] > 0.1 and distance[0] > 0.1  # at sigma = 1 EM is visibly different
    result, perm = last
    np.testing.assert_array_equal(np.argsort(perm)[result.labels], kmeans.labels)
