"""ppl_gmm.GaussianMixture: scikit-learn's contract, and the same numbers as fit_em."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky
from sklearn.utils.estimator_checks import check_estimator

import ppl_gmm as pg
from ppl_gmm.estimator import GaussianMixture, to_sklearn_covariances
from ppl_gmm.structures.registry import COVARIANCE_TYPES, SKLEARN_TYPES, get_structure

# Every registered structure; tests that compare with scikit-learn use SKLEARN_TYPES.
STRUCTURES = COVARIANCE_TYPES
# Every test fits K = 3 with max_iter = 100 (the default) and one restart, so the jitted
# EM loop (static in K, max_iter and the structure) compiles once per structure.
FIT = dict(tol=1e-4, reg_covar=0.0)


def free_parameters(covariance_type, k, d):
    """Counted by hand, independently of ppl_gmm.covariance."""
    covariance = {"full": k * d * (d + 1) / 2, "diag": k * d, "spherical": k,
                  "tied": d * (d + 1) / 2}[covariance_type]
    return (k - 1) + k * d + covariance


@pytest.mark.slow
def test_check_estimator():
    # Every check passes: no expected failures to list. The one skip (array API input)
    # happens only when SCIPY_ARRAY_API is unset, an environment setting.
    results = check_estimator(GaussianMixture(), on_skip=None, on_fail=None)
    failed = {r["check_name"]: repr(r["exception"]) for r in results
              if r["status"] == "failed"}
    assert failed == {}
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}
    assert all(r["status"] in ("passed", "skipped") for r in results)


@pytest.mark.parametrize("covariance_type", STRUCTURES)
def test_parameters_equal_fit_em_from_the_same_seed(faithful, covariance_type):
    n_init = 2 if covariance_type == "full" else 1
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=7, n_init=n_init,
                          init_params="k-means++", **FIT).fit(faithful)
    result = pg.fit_em(faithful, 3, covariance_type=covariance_type, seed=7, n_init=n_init,
                       init="kmeans++", max_iter=100, **FIT)
    np.testing.assert_array_equal(est.weights_, result.params.weights)
    np.testing.assert_array_equal(est.means_, result.params.means)
    np.testing.assert_array_equal(
        est.covariances_, to_sklearn_covariances(result.params.covariances, covariance_type))
    assert est.n_iter_ == result.n_iter
    assert est.converged_ == result.converged
    assert est.lower_bound_ == result.objective / faithful.shape[0]
    np.testing.assert_array_equal(est.lower_bounds_, result.history.objective / 272)
    np.testing.assert_array_equal(est.result_.restarts.objective, result.restarts.objective)


def test_sklearn_init_names_map_onto_ours(faithful):
    for sklearn_name, ours in (("kmeans", "kmeans"), ("random", "random_resp"),
                               ("random_from_data", "random_from_data")):
        est = GaussianMixture(3, init_params=sklearn_name, random_state=3, **FIT).fit(faithful)
        start = pg.fit.initial_parameters(faithful, 3, init=ours, seed=3)
        np.testing.assert_array_equal(est.result_.initial_params.means, start.means)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_attributes_have_sklearn_shapes_and_precisions(faithful, covariance_type):
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(faithful)
    shape = {"full": (3, 2, 2), "tied": (2, 2), "diag": (3, 2), "spherical": (3,)}
    assert est.covariances_.shape == shape[covariance_type]
    assert est.precisions_.shape == est.precisions_cholesky_.shape == shape[covariance_type]
    # scikit-learn's own routine from our covariances gives our Cholesky precisions.
    reference = _compute_precision_cholesky(est.covariances_, covariance_type)
    np.testing.assert_allclose(est.precisions_cholesky_, reference, rtol=1e-12, atol=0)
    full_cov = est.result_.params.covariances
    full_prec = {"full": lambda p: p, "tied": lambda p: np.broadcast_to(p, (3, 2, 2)),
                 "diag": lambda p: p[:, :, None] * np.eye(2),
                 "spherical": lambda p: p[:, None, None] * np.eye(2)}[covariance_type](
        est.precisions_)
    np.testing.assert_allclose(full_prec @ full_cov, np.broadcast_to(np.eye(2), (3, 2, 2)),
                               atol=1e-10)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_bic_aic_equal_the_formulas_and_sklearn(faithful, covariance_type):
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=1).fit(faithful)
    n, d = faithful.shape
    log_lik = float(np.sum(est.score_samples(faithful)))
    p = free_parameters(covariance_type, 3, d)
    assert est.bic(faithful) == pytest.approx(-2 * log_lik + p * np.log(n), rel=1e-12)
    assert est.aic(faithful) == pytest.approx(-2 * log_lik + 2 * p, rel=1e-12)
    # scikit-learn's estimator, given our parameters, computes the same criteria.
    theirs = SklearnGaussianMixture(3, covariance_type=covariance_type)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(theirs, name, getattr(est, name))
    theirs.n_features_in_ = d
    assert theirs.bic(faithful) == pytest.approx(est.bic(faithful), rel=1e-10)
    assert theirs.aic(faithful) == pytest.approx(est.aic(faithful), rel=1e-10)
    np.testing.assert_allclose(theirs.predict_proba(faithful), est.predict_proba(faithful),
                               rtol=0, atol=1e-10)


def test_score_samples_equal_the_ppl_pointwise_log_likelihood(faithful, drawn):
    for X in (faithful, drawn[0]):
        est = GaussianMixture(3, random_state=0).fit(X)
        ppl = pg.pointwise_log_likelihood(est.result_.params, X)
        np.testing.assert_allclose(est.score_samples(X), ppl, rtol=1e-10, atol=0)
        assert est.score(X) == pytest.approx(np.mean(ppl), rel=1e-10)
        # At the fitted parameters, the mean per-sample log-likelihood is lower_bound_.
        assert est.score(X) == pytest.approx(est.lower_bound_, rel=1e-10)


def test_fit_predict_equals_fit_then_predict(faithful):
    est = GaussianMixture(3, random_state=4)
    labels = est.fit_predict(faithful)
    np.testing.assert_array_equal(labels, GaussianMixture(3, random_state=4).fit(
        faithful).predict(faithful))
    np.testing.assert_allclose(est.predict_proba(faithful), est.result_.responsibilities,
                               rtol=0, atol=1e-10)
    assert len(np.unique(labels)) == 3


def test_predictions_do_not_depend_on_the_batch(faithful):
    est = GaussianMixture(3, random_state=0).fit(faithful)
    whole = est.score_samples(faithful)
    parts = np.concatenate([est.score_samples(faithful[:5]), est.score_samples(faithful[5:])])
    np.testing.assert_allclose(parts, whole, rtol=1e-13, atol=0)


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_weights_means_precisions_init_set_the_start(faithful, covariance_type):
    weights = np.array([0.4, 0.3, 0.3])
    means = np.array([[2.0, 55.0], [4.5, 80.0], [4.0, 70.0]])
    covariances = np.array([[[0.1, 0.5], [0.5, 30.0]], [[0.2, 0.6], [0.6, 35.0]],
                            [[0.3, 0.1], [0.1, 20.0]]])
    if covariance_type == "spherical":
        covariances = np.array([3.0, 5.0, 4.0])[:, None, None] * np.eye(2)
    precisions = np.linalg.inv(covariances)
    precisions_init = precisions if covariance_type == "full" else precisions[:, 0, 0]
    est = GaussianMixture(3, covariance_type=covariance_type, weights_init=weights,
                          means_init=means, precisions_init=precisions_init, **FIT)
    est.fit(faithful)
    start = est.result_.initial_params
    np.testing.assert_allclose(start.weights, weights, rtol=1e-15)
    np.testing.assert_allclose(start.means, means, rtol=1e-14)
    np.testing.assert_allclose(start.covariances, covariances, rtol=1e-12)
    # Only the means given: the weights and covariances come from the initialiser.
    partial = GaussianMixture(3, means_init=means, random_state=2, **FIT).fit(faithful)
    np.testing.assert_allclose(partial.result_.initial_params.means, means, rtol=1e-14)
    drawn = pg.fit.initial_parameters(faithful, 3, init="kmeans", seed=2)
    np.testing.assert_array_equal(partial.result_.initial_params.weights, drawn.weights)


def test_init_errors_are_raised_in_fit(faithful):
    est = GaussianMixture(3, means_init=np.zeros((2, 2)))  # constructing never validates
    with pytest.raises(ValueError, match=r"means_init must have shape \(3, 2\)"):
        est.fit(faithful)
    with pytest.raises(ValueError, match="init_params='nope' is not known"):
        GaussianMixture(2, init_params="nope").fit(faithful)
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture(3, weights_init=[0.2, 0.2, 0.2]).fit(faithful)
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(0).fit(faithful)
    with pytest.raises(ValueError, match="covariance_type='banana'"):
        GaussianMixture(2, covariance_type="banana").fit(faithful)


def test_warm_start_continues_from_the_last_solution(faithful):
    est = GaussianMixture(3, random_state=0, warm_start=True, tol=0.0, max_iter=100)
    with pytest.warns(SklearnConvergenceWarning):
        est.fit(faithful)
    first = est.result_
    with pytest.warns(SklearnConvergenceWarning):
        est.fit(faithful)
    np.testing.assert_array_equal(est.result_.initial_params.means, first.params.means)
    # The second fit picks up the objective where the first stopped, and climbs on.
    assert est.result_.history.objective[0] == pytest.approx(first.objective, rel=1e-12)
    assert est.result_.objective > first.objective


def test_non_convergence_warns_with_sklearns_class(faithful):
    with pytest.warns(SklearnConvergenceWarning, match="did not converge"):
        est = GaussianMixture(3, tol=0.0, random_state=0).fit(faithful)
    assert not est.converged_ and est.n_iter_ == 100


def test_prior_gives_map_em(faithful):
    est = GaussianMixture(3, prior=pg.Prior(), random_state=0, **FIT).fit(faithful)
    result = pg.fit_em(faithful, 3, prior=pg.Prior(), seed=0, init="kmeans", max_iter=100,
                       **FIT)
    np.testing.assert_array_equal(est.means_, result.params.means)
    assert est.lower_bound_ * 272 == pytest.approx(result.objective, rel=1e-15)
    assert est.lower_bound_ != pytest.approx(est.score(faithful), rel=1e-6)  # log joint


def test_sample_and_verbose(faithful, capsys):
    est = GaussianMixture(3, random_state=0, verbose=2, verbose_interval=2).fit(faithful)
    printed = capsys.readouterr().out
    assert "EM converged after" in printed and "Iteration     2" in printed
    X, z = est.sample(50)
    assert X.shape == (50, 2) and z.shape == (50,) and set(np.unique(z)) <= {0, 1, 2}
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(0)


def test_repeated_fits_and_predictions_do_not_recompile(faithful):
    from ppl_gmm.estimator import component_log_joint_jit
    from ppl_gmm.fit import program

    GaussianMixture(3, random_state=0).fit(faithful).score_samples(faithful[:129])
    fits = program.compiled_count()
    scores = component_log_joint_jit._cache_size()
    # Another seed and tolerance are data to the compiled loop, not a new program; row
    # counts 129..256 share one padded scoring program.
    est = GaussianMixture(3, random_state=1, tol=1e-3).fit(faithful)
    for n in (129, 200, 256):
        est.score_samples(faithful[:n])
    assert program.compiled_count() == fits
    assert component_log_joint_jit._cache_size() == scores


@pytest.mark.parametrize("covariance_type", ["EEI", "EII"])
def test_mclust_structures_fit_with_registry_shapes(faithful, covariance_type):
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=0,
                          **FIT).fit(faithful)
    n, d = faithful.shape
    # Shapes written out by hand: one diagonal (d,) for EEI, one variance () for EII.
    shape = {"EEI": (d,), "EII": ()}[covariance_type]
    assert get_structure(covariance_type).site_shape(3, d) == shape
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert isinstance(getattr(est, name), np.ndarray)
        assert getattr(est, name).shape == shape, name
    # The shared value is every component's covariance, on the diagonal.
    full = est.result_.params.covariances
    for j in range(3):
        np.testing.assert_allclose(np.diagonal(full[j]), np.broadcast_to(est.covariances_, d),
                                   rtol=1e-14, atol=0)
        np.testing.assert_array_equal(full[j] - np.diag(np.diagonal(full[j])), 0.0)
    np.testing.assert_allclose(est.precisions_ * est.covariances_, 1.0, rtol=1e-14)
    np.testing.assert_allclose(est.precisions_cholesky_**2, est.precisions_, rtol=1e-14)
    # The score is the PPL's marginal log-likelihood per sample.
    ppl = pg.marginal_log_likelihood(est.result_.params, faithful)
    assert est.score(faithful) == pytest.approx(ppl / n, rel=1e-10)
    assert est.score(faithful) == pytest.approx(est.lower_bound_, rel=1e-10)
    # BIC with the structure's covariance parameters counted by hand (d, then 1).
    p = (3 - 1) + 3 * d + {"EEI": d, "EII": 1}[covariance_type]
    assert est.bic(faithful) == pytest.approx(-2 * ppl + p * np.log(n), rel=1e-10)
    # precisions_init takes the same shape and sets the start.
    start = GaussianMixture(3, covariance_type=covariance_type, random_state=0,
                            precisions_init=est.precisions_, max_iter=0).fit(faithful)
    np.testing.assert_allclose(start.result_.initial_params.covariances, full, rtol=1e-12)
    with pytest.raises(ValueError, match=rf"precisions_init must have shape {re_shape(shape)}"):
        GaussianMixture(3, covariance_type=covariance_type,
                        precisions_init=np.ones((3, d))).fit(faithful)


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_max_iter_zero_returns_the_initialisation(faithful):
    means = np.array([[2.0, 55.0], [4.5, 80.0], [4.0, 70.0]])
    est = GaussianMixture(3, means_init=means, random_state=5, max_iter=0, **FIT)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SklearnConvergenceWarning)  # no iterations asked
        est.fit(faithful)
    assert est.n_iter_ == 0 and est.lower_bounds_.shape == (1,)
    np.testing.assert_array_equal(est.means_, means)
    drawn = pg.fit.initial_parameters(faithful, 3, init="kmeans", seed=5)
    np.testing.assert_array_equal(est.weights_, drawn.weights)
    np.testing.assert_allclose(est.result_.params.covariances, drawn.covariances, rtol=1e-12)
    # The objective reported is the log-likelihood at the start.
    ppl = pg.marginal_log_likelihood(est.result_.params, faithful)
    assert est.lower_bound_ == pytest.approx(ppl / 272, rel=1e-10)
    with pytest.raises(ValueError, match="max_iter"):
        GaussianMixture(3, max_iter=-1).fit(faithful)


def test_float32_input_gives_float32_scores_computed_in_float64(faithful):
    X32 = faithful.astype(np.float32)
    est = GaussianMixture(3, random_state=0, **FIT).fit(X32)
    assert est.means_.dtype == np.float32
    scores, proba = est.score_samples(X32), est.predict_proba(X32)
    assert scores.dtype == np.float32 and proba.dtype == np.float32
    # Computed in float64 from the float32 data and parameters, then rounded once.
    weights, means, covariances = (np.asarray(a, np.float64) for a in est.result_.params)
    params64 = pg.GMMParams(weights / weights.sum(), means, covariances)
    ppl = pg.pointwise_log_likelihood(params64, X32.astype(np.float64))
    np.testing.assert_allclose(scores, ppl.astype(np.float32), rtol=2e-7, atol=0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(est.predict(X32), np.argmax(proba, axis=1))
    # scikit-learn's promotion: float64 data, or a float64 model, give float64.
    assert est.score_samples(faithful).dtype == np.float64
    est64 = GaussianMixture(3, random_state=0, **FIT).fit(faithful)
    assert est64.score_samples(X32).dtype == np.float64
    assert est64.predict_proba(X32).dtype == np.float64


@pytest.mark.parametrize("name, value, message", [
    ("precisions_init", np.array([[[1.0, 0.5], [0.0, 1.0]]] * 3), "symmetric"),
    ("precisions_init", np.array([[[1.0, 2.0], [2.0, 1.0]]] * 3), "positive-definite"),
    ("precisions_init", np.full((3, 2, 2), 1e-320) * np.eye(2), "overflow"),
    ("precisions_init", np.full((3, 2), 1.0), r"shape \(3, 2, 2\)"),
    ("precisions_init", np.full((3, 2, 2), np.nan), "NaN"),
    ("means_init", np.full((3, 2), np.inf), "NaN or inf"),
    ("means_init", [["a", "b"]] * 3, "numbers"),
    ("weights_init", np.ones((3, 1)) / 3, r"shape \(3,\)"),
    ("weights_init", [0.5, 0.6, -0.1], "non-negative"),
])
def test_init_errors_name_the_users_argument(faithful, name, value, message):
    with pytest.raises(ValueError, match=message) as caught:
        GaussianMixture(3, **{name: value}).fit(faithful)
    assert str(caught.value).startswith(name) and "GMMParams" not in str(caught.value)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "EEI", "EII"])
def test_non_positive_precisions_init_are_named(faithful, covariance_type):
    shape = get_structure(covariance_type).site_shape(3, 2)
    for bad in (-1.0, 0.0, 1e-320):
        with pytest.raises(ValueError, match=r"^precisions_init .*(positive|overflow)"):
            GaussianMixture(3, covariance_type=covariance_type,
                            precisions_init=np.full(shape, bad)).fit(faithful)
