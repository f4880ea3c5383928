"""Bad input gets a clear ValueError; the caller's arrays are never touched."""

import numpy as np
import pytest

import ppl_gmm as pg


@pytest.mark.parametrize(
    ("X", "n_components", "message"),
    [
        (np.array([[1.0, np.nan], [2.0, 3.0], [3.0, 1.0]]), 2, r"non-finite value.*NaN at row 0"),
        (np.array([[1.0, np.inf], [2.0, 3.0], [3.0, 1.0]]), 2, r"inf at row 0, column 1"),
        (np.arange(10.0), 2, r"must be 2-D.*reshape\(-1, 1\)"),
        (np.zeros((2, 3, 4)), 2, r"must be 2-D"),
        (np.ones((3, 2)), 4, r"3 rows but n_components=4"),
        (np.array([["a", "b"], ["c", "d"]]), 1, r"must be numeric"),
        (np.array([[1.0, "x"], [2.0, "y"]], dtype=object), 1, r"numeric.*column 1"),
        (np.ones((5, 2)), 0, r"n_components must be >= 1"),
        (np.ones((5, 2)), 2.5, r"n_components must be an integer"),
        (np.empty((0, 2)), 1, r"empty"),
    ],
)
def test_bad_data_is_refused_clearly(X, n_components, message):
    with pytest.raises(ValueError, match=message):
        pg.fit_em(X, n_components)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"covariance_type": "banana"}, r"covariance_type='banana' is not known"),
        ({"tol": -1.0}, r"tol must be a finite number >= 0"),
        ({"reg_covar": float("nan")}, r"reg_covar must be"),
        ({"max_iter": -1}, r"max_iter must be an integer >= 0"),
        ({"init": "nope"}, r"init='nope' is not known"),
    ],
)
def test_bad_options_are_refused_clearly(faithful, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pg.fit_em(faithful, 2, **kwargs)


def test_bad_initial_parameters_are_refused(faithful):
    good = pg.fit_em(faithful, 2, seed=0, max_iter=5, tol=1e-3).params
    bad_weights = good._replace(weights=np.array([0.7, 0.7]))
    with pytest.raises(ValueError, match="sum to 1"):
        pg.fit_em(faithful, 2, init=bad_weights)
    not_spd = good._replace(covariances=np.array([[[1.0, 2.0], [2.0, 1.0]]] * 2))
    with pytest.raises(ValueError, match=r"covariances\[0\] is not positive definite"):
        pg.fit_em(faithful, 2, init=not_spd)
    with pytest.raises(ValueError, match="d=2 features but X has 3 columns"):
        pg.fit_em(np.c_[faithful, faithful[:, 0]], 2, init=good)


def test_caller_arrays_are_never_modified(faithful):
    X = faithful.copy()
    frozen = X.copy()
    X.setflags(write=False)  # any in-place write would raise
    start = pg.fit_em(X, 2, seed=0, max_iter=3, tol=1e-3).params
    start_copy = [a.copy() for a in start]
    result = pg.fit_em(X, 2, init=start, prior=pg.Prior())
    pg.cross_check(result, X)
    pg.pointwise_log_likelihood(result.params, X)
    np.testing.assert_array_equal(X, frozen)
    for a, b in zip(start, start_copy, strict=True):
        np.testing.assert_array_equal(a, b)


def test_integer_data_is_converted(faithful):
    X = np.rint(faithful * 10).astype(np.int64)
    result = pg.fit_em(X, 2, seed=0)
    assert result.params.means.dtype == np.float64
    assert result.log_likelihood == pytest.approx(
        pg.marginal_log_likelihood(result.params, X.astype(float)), rel=1e-12)


def test_singular_covariance_names_the_component_and_the_fix():
    # Five identical points form their own component: its covariance is exactly zero.
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(60, 2)), np.tile([[9.0, 9.0]], (5, 1))])
    start = pg.GMMParams(
        np.array([0.9, 0.1]), np.array([[0.0, 0.0], [9.0, 9.0]]),
        np.array([np.eye(2), np.eye(2) * 0.01]),
    )
    with pytest.raises(pg.SingularCovarianceError,
                       match=r"Component 1's covariance \(full\) is singular.*reg_covar"):
        pg.fit_em(X, 2, init=start)
    # The fixes the message names work.
    assert np.isfinite(pg.fit_em(X, 2, init=start, reg_covar=1e-6).log_likelihood)
    assert np.isfinite(pg.fit_em(X, 2, init=start, prior=pg.Prior()).log_likelihood)
