"""Hostile data at every public entry point: a valid answer or a clear error, never NaN.

Most fits here share one compiled EM loop: n = 120 rows, d = 2, K = 2, "full",
max_iter 1000 (data values, seeds, reg_covar and starting points are traced, so they
do not recompile); the few other shapes are there because the case needs them.
"""

import hashlib
import inspect
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm import cli
from ppl_gmm.bayes.nuts import sample_posterior


def two_blobs(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 6.0])


BLOBS = two_blobs()
N, D = BLOBS.shape


def arrays_of(result):
    return [*result.params, result.responsibilities, *result.history, *result.initial_params]


def digest(result) -> str:
    """SHA-256 of every array of a fit, bytes as they are: equal digests = bit-identical."""
    h = hashlib.sha256()
    for a in arrays_of(result):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr((result.log_likelihood, result.objective, result.n_iter)).encode())
    return h.hexdigest()


def assert_finite_fit(result):
    for a in arrays_of(result):
        assert np.all(np.isfinite(a))
    np.testing.assert_allclose(result.params.weights.sum(), 1.0, atol=1e-12)
    for cov in result.params.covariances:
        np.linalg.cholesky(cov)  # raises if not positive definite


# ------------------------------------------------------------------ 1. validation

def _fit_em(X=BLOBS, k=2, **kwargs):
    return pg.fit_em(X, k, **kwargs)


def _kmeans(X=BLOBS, k=2, **kwargs):
    return pg.fit_kmeans(X, k, **kwargs)


def _estimator(X=BLOBS, k=2, **kwargs):
    return pg.GaussianMixture(k, **kwargs).fit(X)


def _select(X=BLOBS, k=2, **kwargs):
    return pg.select(X, [1, k], "full", progress=False, **kwargs)


def _posterior(X=BLOBS, k=2, **kwargs):
    return sample_posterior(X, k, **kwargs)


ENTRY_POINTS = {"fit_em": _fit_em, "fit_kmeans": _kmeans, "GaussianMixture": _estimator,
                "select": _select, "sample_posterior": _posterior}

# (data or option, expected message) refused by every entry point, before any work.
BAD_DATA = {
    "NaN": (np.where(np.arange(N)[:, None] == 3, np.nan, BLOBS), r"NaN"),
    "inf": (np.where(np.arange(N)[:, None] == 3, np.inf, BLOBS), r"inf"),
    "text": (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), r"numeric|convert"),
    "objects": (np.array([[1.0, "x"], [2.0, "y"], [3.0, "z"]], dtype=object),
                r"numeric|convert"),
    "complex": (BLOBS + 1j, r"numeric|[Cc]omplex"),
    "1-D": (BLOBS[:, 0], r"2-D|2D|reshape"),
    "3-D": (BLOBS[None], r"2-D|2D|dim"),
    "no rows": (np.empty((0, 2)), r"empty|0 sample"),
    "fewer rows than K": (BLOBS[:1], r"1 rows but n_components=2|minimum of 2"),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_refused_at_every_entry_point(entry, case):
    X, message = BAD_DATA[case]
    with pytest.raises(ValueError, match=message):
        ENTRY_POINTS[entry](X)


# Options every entry point shares, with their names in the message.
BAD_OPTIONS = [
    ("fit_em", dict(seed=1.5), "seed must be an integer"),
    ("fit_em", dict(seed="0"), "seed must be an integer"),
    ("fit_em", dict(seed=True), "seed must be an integer"),
    ("fit_em", dict(seed=2**64), "seed=.* outside the 64-bit"),
    ("fit_em", dict(tol=-1.0), "tol must be a finite number >= 0"),
    ("fit_em", dict(tol=float("inf")), "tol must be a finite number >= 0"),
    ("fit_em", dict(reg_covar=-1e-6), "reg_covar must be a finite number >= 0"),
    ("fit_em", dict(max_iter=-1), "max_iter must be an integer >= 0"),
    ("fit_em", dict(max_iter=10.0), "max_iter must be an integer >= 0"),
    ("fit_em", dict(n_init=0), "n_init must be an integer >= 1"),
    ("fit_em", dict(block_size=0), "block_size must be an integer >= 1"),
    ("fit_em", dict(covariance_type="FULL"), "covariance_type='FULL' is not known"),
    ("fit_em", dict(covariance_type=None), "covariance_type=None is not known"),
    ("fit_em", dict(dtype=np.int32), "dtype must be numpy.float32, numpy.float64 or None"),
    ("fit_em", dict(k=2.0), "n_components must be an integer"),
    ("fit_em", dict(k=True), "n_components must be an integer"),
    ("fit_em", dict(k=0), "n_components must be >= 1"),
    ("fit_kmeans", dict(seed=-0.5), "seed must be an integer"),
    ("fit_kmeans", dict(n_init=0), "n_init must be an integer >= 1"),
    ("fit_kmeans", dict(max_iter=-3), "max_iter must be an integer >= 1"),
    ("fit_kmeans", dict(tol=float("nan")), "tol must be a finite number >= 0"),
    ("GaussianMixture", dict(tol=-1.0), "tol must be a finite number >= 0"),
    ("GaussianMixture", dict(reg_covar=float("nan")), "reg_covar must be"),
    ("GaussianMixture", dict(n_init=0), "n_init must be an integer >= 1"),
    ("GaussianMixture", dict(max_iter=-1), "max_iter must be an integer >= 0"),
    ("GaussianMixture", dict(covariance_type="round"), "covariance_type='round' is not known"),
    ("GaussianMixture", dict(weights_init=[0.7, 0.7]), "weights_init must be non-negative and "
                                                       "sum to 1"),
    ("GaussianMixture", dict(precisions_init=np.array([[[1.0, 2.0], [2.0, 1.0]]] * 2)),
     r"precisions_init \(covariance_type='full'\) must be symmetric, positive-definite"),
    ("select", dict(seed=None), "seed must be an integer"),
    ("select", dict(n_init=0), "n_init must be an integer >= 1"),
    ("select", dict(tol=-1.0), "tol must be a finite number >= 0"),
    ("select", dict(reg_covar=-1.0), "reg_covar must be a finite number >= 0"),
    ("select", dict(criterion="bayes"), "criterion='bayes' is not known"),
    ("sample_posterior", dict(num_chains=0), "num_chains must be an integer >= 1"),
    ("sample_posterior", dict(num_samples=1.5), "num_samples must be an integer >= 1"),
    ("sample_posterior", dict(target_accept_prob=1.0), "target_accept_prob must be a number "
                                                        "strictly between 0 and 1"),
    ("sample_posterior", dict(max_tree_depth=0), "max_tree_depth must be an integer >= 1"),
    ("sample_posterior", dict(seed="x"), "seed must be an integer"),
    ("sample_posterior", dict(n_init=0), "n_init must be an integer >= 1"),
    ("sample_posterior", dict(covariance_type="FULL"), "covariance_type='FULL' is not known"),
]


@pytest.mark.parametrize(("entry", "kwargs", "message"), BAD_OPTIONS,
                         ids=[f"{e}-{next(iter(k))}" for e, k, _ in BAD_OPTIONS])
def test_bad_options_are_refused_with_the_argument_named(entry, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ENTRY_POINTS[entry](**kwargs)


def test_bad_gmm_params_are_refused_with_the_fix():
    good = pg.GMMParams(np.array([0.5, 0.5]), np.array([[0.0, 0.0], [6.0, 6.0]]),
                        np.array([np.eye(2), np.eye(2)]))
    cases = {
        "sum to 1.*weights / weights.sum": good._replace(weights=np.array([0.5, 0.6])),
        "non-negative": good._replace(weights=np.array([1.5, -0.5])),
        r"covariances\[1\] is not positive definite": good._replace(
            covariances=np.array([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])),
        r"covariances\[0\] is not symmetric.*\(S \+ S.T\) / 2": good._replace(
            covariances=np.array([[[1.0, 0.5], [0.0, 1.0]], np.eye(2)])),
        "means contains NaN": good._replace(means=np.array([[0.0, np.nan], [6.0, 6.0]])),
        r"expected \(K,\), \(K, d\), \(K, d, d\)": good._replace(covariances=np.eye(2)[None]),
    }
    for message, params in cases.items():
        with pytest.raises(ValueError, match=message):
            pg.fit_em(BLOBS, 2, init=params)
        with pytest.raises(ValueError, match=message):
            pg.sample(params, 10)
        with pytest.raises(ValueError, match=message):
            pg.pointwise_log_likelihood(params, BLOBS)


def test_integers_and_booleans_are_converted_exactly():
    integers = np.rint(BLOBS * 10).astype(np.int64)
    as_float = pg.fit_em(integers.astype(np.float64), 2)
    assert digest(pg.fit_em(integers, 2)) == digest(as_float)
    assert digest(pg.fit_em(integers.astype(np.uint16 if integers.min() >= 0 else np.int16),
                            2)) == digest(as_float)
    bits = np.random.default_rng(1).random((N, D)) > 0.5
    # Booleans: four distinct points, so exact EM with K = 2 collapses (a clear error) and
    # a regularised fit is the float fit of the 0/1 data.
    regularised = pg.fit_em(bits, 2, reg_covar=1e-3)
    assert digest(regularised) == digest(pg.fit_em(bits.astype(float), 2, reg_covar=1e-3))
    assert_finite_fit(regularised)
    with pytest.raises(pg.SingularCovarianceError, match="reg_covar"):
        pg.fit_em(bits, 2)


def test_scales_float64_cannot_carry_are_refused_before_any_work():
    for entry in (_fit_em, _kmeans, _select, _estimator):
        with pytest.raises(ValueError, match=r"column 0 holds values of magnitude .*e\+160.*"
                                             r"Rescale"):
            entry(BLOBS * [1e160, 1.0])
        with pytest.raises(ValueError, match=r"column 1 has standard deviation .*e-160.*"
                                             r"multiply it by 1e\+160"):
            entry(BLOBS * [1.0, 1e-160])
    one_outlier = np.vstack([BLOBS, [[0.0, 1e200]]])
    with pytest.raises(ValueError, match="column 1 holds values of magnitude 1e\\+200"):
        pg.fit_em(one_outlier, 2)


def test_cli_refuses_hostile_files_with_one_line_and_no_output(tmp_path, capsys):
    cases = {
        "identical.csv": ("a,b\n" + "1.5,2\n" * N, "Every cell failed"),
        "huge.csv": ("a,b\n" + "".join(f"{i}e170,{i % 7}\n" for i in range(1, 30)),
                     "magnitude"),
        "nul.csv": ("a,b\n1,2\n3,\x004\n", "line 3"),
    }
    for name, (text, message) in cases.items():
        data = tmp_path / name
        data.write_text(text)
        out = tmp_path / f"out-{name}"
        status = cli.main(["fit", str(data), "--k", "1-2", "--covariance-type", "full",
                           "--out", str(out), "--quiet"])
        captured = capsys.readouterr()
        assert status == 1 and captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ppl-gmm fit: error:"), captured.err
        assert message in lines[0]
        assert not out.exists()


# ------------------------------------------------------------------ 2. degenerate fits

def test_a_constant_column_is_named_before_em_and_reg_covar_rescues_it():
    X = BLOBS.copy()
    X[:, 1] = 3.0
    for covariance_type in ("full", "diag", "tied"):
        with pytest.raises(pg.SingularCovarianceError,
                           match=r"column 1 is constant \(every value is 3;.*reg_covar > 0"):
            pg.fit_em(X, 2, covariance_type=covariance_type)
    with pytest.raises(ValueError, match="constant column"):  # the default prior's scale
        pg.fit_em(X, 2, prior=pg.Prior())
    # reg_covar > 0 starts and fits: the constant column's variance is exactly reg_covar
    # (its maximum-likelihood variance is 0), uncorrelated with the other column.
    result = pg.fit_em(X, 2, reg_covar=1e-6)
    assert_finite_fit(result)
    np.testing.assert_allclose(result.params.covariances[:, 1, 1], 1e-6, rtol=1e-9)
    np.testing.assert_allclose(result.params.covariances[:, 0, 1], 0.0, atol=1e-15)
    np.testing.assert_array_equal(result.params.means[:, 1], 3.0)
    # ... as through the estimator (its reg_covar defaults to 1e-6).
    est = pg.GaussianMixture(2, tol=1e-8, max_iter=1000, init_params="k-means++",
                             random_state=0).fit(X)
    assert est.result_.objective == result.objective
    assert np.all(np.isfinite(est.score_samples(X)))
    with pytest.raises(pg.SingularCovarianceError, match="column 1 is constant"):
        pg.GaussianMixture(2, reg_covar=0.0).fit(X)


def test_select_records_the_cells_that_fail_and_fits_the_rest():
    X = BLOBS.copy()
    X[:, 1] = 3.0
    selection = pg.select(X, [1, 2], ["full", "spherical"], progress=False)
    table = selection.table.set_index(["n_components", "covariance_type"])
    for k in (1, 2):
        failed = table.loc[(k, "full")]
        assert "initial covariance is not positive definite" in failed["error"]
        assert np.isnan(failed["bic"]) and failed["failed_restarts"] == 3
        assert table.loc[(k, "spherical"), "error"] == ""
        assert np.isfinite(table.loc[(k, "spherical"), "bic"])
    assert selection.best_key[1] == "spherical"
    regularised = pg.select(X, [1, 2], ["full", "spherical"], reg_covar=1e-6, progress=False)
    assert (regularised.table["error"] == "").all()
    assert np.all(np.isfinite(regularised.table["bic"]))


def test_linearly_dependent_columns_and_too_few_rows_are_named():
    dependent = np.c_[BLOBS, 2.0 * BLOBS[:, 0] - BLOBS[:, 1]]
    for covariance_type in ("full", "tied"):
        with pytest.raises(pg.SingularCovarianceError,
                           match=r"linearly dependent.*span only 2 of 3.*covariance_type='diag'"):
            pg.fit_em(dependent, 2, covariance_type=covariance_type)
    with pytest.raises(pg.SingularCovarianceError, match="3 rows in 5 dimensions"):
        pg.fit_em(np.random.default_rng(0).normal(size=(3, 5)), 1)


def test_the_rank_screen_decides_as_numpy_matrix_rank():
    """The Gram-matrix shortcut of the degenerate-data check answers as an SVD of the rows
    would, down to columns dependent up to rounding."""
    from ppl_gmm._validation import column_rank

    rng = np.random.default_rng(3)
    base = rng.normal(size=(2000, 4))
    for exponent in [None, *range(0, 17, 2)]:
        noise = 0.0 if exponent is None else 10.0 ** -exponent
        X = np.c_[base, base[:, 0] - 3.0 * base[:, 2] + noise * rng.normal(size=2000)]
        assert column_rank(X) == np.linalg.matrix_rank(X), exponent
    assert column_rank(base[:3]) == 3


def test_identical_rows_are_refused_unless_regularised():
    X = np.tile([3.0, -1.0], (N, 1))
    for covariance_type in pg.COVARIANCE_TYPES:
        with pytest.raises(pg.SingularCovarianceError, match="every row of X is the same point"):
            pg.fit_em(X, 2, covariance_type=covariance_type)
    with pytest.warns(pg.EmptyComponentWarning, match="1 component"):
        result = pg.fit_em(X, 2, reg_covar=1e-6)
    assert_finite_fit(result)
    np.testing.assert_array_equal(result.params.means, [[3.0, -1.0]] * 2)
    np.testing.assert_allclose(result.params.covariances, [1e-6 * np.eye(2)] * 2, rtol=1e-9,
                               atol=1e-20)
    # k-means has no covariance to lose: every point sits on its centre.
    assert pg.fit_kmeans(X, 2).inertia == 0.0


def test_n_equal_to_k_collapses_clearly_and_regularised_puts_a_component_on_each_point():
    X = BLOBS[[0, 70, 5]]
    with pytest.raises(pg.SingularCovarianceError,
                       match=r"singular at EM iteration 1: it holds 1 observations.*reg_covar"):
        pg.fit_em(X, 3)
    result = pg.fit_em(X, 3, reg_covar=1e-6)
    assert_finite_fit(result)
    order = np.lexsort(result.params.means.T)
    np.testing.assert_allclose(result.params.means[order], X[np.lexsort(X.T)], atol=1e-9)
    np.testing.assert_allclose(result.params.weights, 1.0 / 3.0, atol=1e-9)
    np.testing.assert_allclose(np.diagonal(result.params.covariances, axis1=1, axis2=2), 1e-6,
                               rtol=1e-6)


def test_a_component_that_empties_fails_or_warns_never_nan():
    start = pg.GMMParams(np.array([0.99, 0.01]), np.array([[3.0, 3.0], [100.0, 100.0]]),
                         np.array([np.eye(2) * 10.0, np.eye(2)]))
    with pytest.raises(pg.SingularCovarianceError, match=r"Component 1.*holds 0 observations"):
        pg.fit_em(BLOBS, 2, init=start)
    with pytest.warns(pg.EmptyComponentWarning, match=r"component: observations 1: "):
        result = pg.fit_em(BLOBS, 2, init=start, reg_covar=1e-6)
    assert_finite_fit(result)
    assert result.params.weights[1] < 1e-10


def test_a_cluster_of_three_points_and_duplicated_rows_fit_cleanly():
    three = np.vstack([BLOBS[:117], [[20.0, 20.0], [20.1, 20.0], [20.0, 20.1]]])
    assert_finite_fit(pg.fit_em(three, 2))
    # Every row twice: a valid fit whose responsibilities are equal for equal rows.
    half = BLOBS[::2]
    twice = pg.fit_em(np.vstack([half, half]), 2)
    assert_finite_fit(twice)
    np.testing.assert_array_equal(twice.responsibilities[:60], twice.responsibilities[60:])


# ------------------------------------------------------------------ 3. scale

@pytest.mark.parametrize("factors", [(1e-8, 1e8), (1e9, 1e-9)])
def test_features_at_extreme_scales_fit_like_standardised_data(factors):
    """The same seed on X and on X * a gives the mapped fit, to rounding (the other
    structures: tests/test_properties.py)."""
    a = np.asarray(factors)
    plain = pg.fit_em(BLOBS, 2)
    scaled = pg.fit_em(BLOBS * a, 2)
    assert scaled.n_iter == plain.n_iter
    # Compared in the standardised units (divided by a), relative to the largest entry:
    # measured ~1e-15 (covariances) and ~1e-16 (means).
    np.testing.assert_allclose(scaled.params.weights, plain.params.weights, rtol=1e-13)
    np.testing.assert_allclose(scaled.params.means / a, plain.params.means, rtol=0,
                               atol=1e-13 * np.abs(plain.params.means).max())
    np.testing.assert_allclose(scaled.params.covariances / np.outer(a, a),
                               plain.params.covariances, rtol=0,
                               atol=1e-13 * np.abs(plain.params.covariances).max())
    np.testing.assert_allclose(scaled.responsibilities, plain.responsibilities, atol=1e-15)
    jacobian = N * np.sum(np.log(a))
    assert scaled.log_likelihood == pytest.approx(plain.log_likelihood - jacobian, rel=1e-14)


def test_a_large_offset_and_standardisation_map_the_fit():
    plain = pg.fit_em(BLOBS, 2)
    # x + 1e6: the data themselves are rounded to ~1e-10 (float64 spacing at 1e6), and
    # the fit follows to that rounding (measured: means 5e-11, covariances 4e-11 relative).
    shifted = pg.fit_em(BLOBS + 1e6, 2)
    assert shifted.n_iter == plain.n_iter
    np.testing.assert_allclose(shifted.params.means - 1e6, plain.params.means, rtol=0,
                               atol=5e-10)
    np.testing.assert_allclose(shifted.params.covariances, plain.params.covariances, rtol=5e-10)
    assert shifted.log_likelihood == pytest.approx(plain.log_likelihood, rel=5e-12)
    # Standardised data: the fit mapped back is the raw-data fit.
    mean, sd = BLOBS.mean(axis=0), BLOBS.std(axis=0)
    standard = pg.fit_em((BLOBS - mean) / sd, 2)
    np.testing.assert_allclose(standard.params.means * sd + mean, plain.params.means,
                               rtol=0, atol=1e-13)
    np.testing.assert_allclose(standard.params.covariances * np.outer(sd, sd),
                               plain.params.covariances, rtol=1e-13)
    assert standard.log_likelihood - N * np.sum(np.log(sd)) == pytest.approx(
        plain.log_likelihood, rel=1e-14)


def test_float32_in_float32_out_computed_in_float64(tmp_path):
    X32 = BLOBS.astype(np.float32)
    result = pg.fit_em(X32, 2)
    exact = pg.fit_em(X32.astype(np.float64), 2)  # the same numbers, float64 all along
    for ours, theirs in zip(result.params, exact.params, strict=True):
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs.astype(np.float32))
    assert result.responsibilities.dtype == np.float32
    np.testing.assert_array_equal(result.responsibilities,
                                  exact.responsibilities.astype(np.float32))
    assert result.log_likelihood == exact.log_likelihood and result.n_iter == exact.n_iter
    # The record of the run stays float64, so the replay and the PPL cross-check are exact.
    assert result.initial_params.means.dtype == np.float64
    assert pg.cross_check(result, X32).passed
    # Asking explicitly: float64 from float32 data, float32 from float64 data.
    assert pg.fit_em(X32, 2, dtype=np.float64).params.means.dtype == np.float64
    assert pg.fit_em(BLOBS, 2, dtype="float32").params.covariances.dtype == np.float32
    # A float32 fit can restart a float64 one (weights summing to 1 to float32 precision).
    assert_finite_fit(pg.fit_em(BLOBS, 2, init=result.params))
    loaded = pg.load(pg.save(result, tmp_path / "fit32.json"))
    assert loaded.params.means.dtype == np.float32
    np.testing.assert_array_equal(loaded.params.covariances, result.params.covariances)
    # Covariances beyond float32's range: refused with the fix, not returned as inf.
    with pytest.raises(ValueError, match=r"do not fit in float32.*dtype=numpy\.float64"):
        pg.fit_em(X32 * np.float32(1e30), 2)


def test_float32_through_the_estimator():
    X32 = BLOBS.astype(np.float32)
    est = pg.GaussianMixture(2, tol=1e-8, max_iter=1000, init_params="k-means++",
                             random_state=0).fit(X32)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        assert getattr(est, name).dtype == np.float32, name
        assert np.all(np.isfinite(getattr(est, name)))
    assert np.all(np.isfinite(est.score_samples(X32)))
    np.testing.assert_array_equal(est.predict(X32), pg.fit_em(X32, 2, reg_covar=1e-6).labels)


# ------------------------------------------------------------------ 4. determinism

def test_the_same_seed_gives_bit_identical_results_in_one_process():
    assert digest(pg.fit_em(BLOBS, 2, seed=7)) == digest(pg.fit_em(BLOBS, 2, seed=7))
    nudged = BLOBS.copy()
    nudged[0, 0] += 1e-6  # the digest sees a small change of the data
    assert digest(pg.fit_em(nudged, 2, seed=7)) != digest(pg.fit_em(BLOBS, 2, seed=7))
    first, second = (pg.fit_em(BLOBS, 2, seed=3, n_init=3) for _ in range(2))
    assert digest(first) == digest(second)
    np.testing.assert_array_equal(first.restarts.objective, second.restarts.objective)
    km1, km2 = (pg.fit_kmeans(BLOBS, 2, seed=3, n_init=3) for _ in range(2))
    np.testing.assert_array_equal(km1.centres, km2.centres)
    np.testing.assert_array_equal(km1.labels, km2.labels)


@pytest.mark.slow
def test_the_same_seed_gives_bit_identical_results_across_processes():
    here = digest(pg.fit_em(BLOBS, 2, seed=11))
    # A fresh interpreter with the same functions (data and digest) and nothing else.
    code = "\n".join(["import hashlib", "import numpy as np", "import ppl_gmm as pg",
                      *(inspect.getsource(f) for f in (two_blobs, arrays_of, digest)),
                      "print(digest(pg.fit_em(two_blobs(), 2, seed=11)))"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == here


def test_block_size_changes_only_rounding():
    whole = pg.fit_em(BLOBS, 2)  # one block of 120 rows
    blocked = pg.fit_em(BLOBS, 2, block_size=16)  # 8 blocks, the last padded with 8 rows
    assert blocked.n_iter == whole.n_iter
    # Summation order only (measured: 7e-13 relative at worst, on a near-zero entry).
    for a, b in zip(whole.params, blocked.params, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(blocked.responsibilities, whole.responsibilities, atol=1e-15)
    np.testing.assert_allclose(blocked.history.objective, whole.history.objective, rtol=1e-14)


def test_hostile_inputs_never_modify_the_callers_array():
    cases = [np.rint(BLOBS * 10).astype(np.int64), BLOBS.astype(np.float32), BLOBS + 1e6]
    for X in cases:
        X.setflags(write=False)
        frozen = X.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pg.fit_em(X, 2)
            pg.fit_kmeans(X, 2)
        np.testing.assert_array_equal(X, frozen)
