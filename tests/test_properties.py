"""Properties that must hold for any data: hypothesis over shapes and values.

Budget (profiles in ``conftest.py``): a handful of examples per property under CI
(``CI=true``), more locally, many with ``HYPOTHESIS_PROFILE=thorough``. Compilations
dominate the cost (the EM loop is compiled per shape, K and structure), so examples
are drawn from a few fixed cases: under the small CI budget, four (n, d, K, structure)
cases that cover every structure once; with a larger budget, every shape with every
structure.
"""

import itertools

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import ppl_gmm as pg
from ppl_gmm.structures.registry import get_structure

SHAPES = [(30, 1, 2), (40, 2, 3), (48, 4, 4), (25, 3, 1)]
_SMALL_BUDGET = settings().max_examples <= 6
CASES = (list(zip(SHAPES, ("full", "diag", "tied", "spherical"), strict=True)) if _SMALL_BUDGET
         else list(itertools.product(SHAPES, pg.COVARIANCE_TYPES)))
MAX_ITER = 200  # static in the compiled loop: one value for every test here


@st.composite
def mixtures(draw):
    """Data from a random mixture with well-conditioned components, and a fitting start."""
    (n, d, k), covariance_type = draw(st.sampled_from(CASES))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scale = 10.0 ** draw(st.integers(-3, 3))
    offset = draw(st.sampled_from([0.0, 1e3]))
    centres = rng.normal(scale=3.0, size=(k, d))
    X = (centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))) * scale + offset
    return X, k, covariance_type, seed


def fit(X, k, covariance_type, seed, **kwargs):
    return pg.fit_em(X, k, covariance_type=covariance_type, seed=seed, max_iter=MAX_ITER,
                     prior=pg.Prior(), **kwargs)


def assert_valid_fit(result, X):
    """No NaN anywhere; the objective never falls (exact EM: with reg_covar > 0 the
    M-step is not the exact maximiser); weights, covariances and responsibilities are
    what their names promise."""
    p = result.params
    for a in (*p, result.responsibilities, result.history.objective,
              result.history.log_likelihood):
        assert np.all(np.isfinite(a))
    if result.reg_covar == 0:
        assert np.all(np.diff(result.history.objective) >= -1e-10 * np.abs(result.objective))
    assert p.weights.sum() == pytest.approx(1.0, abs=1e-12) and np.all(p.weights > 0)
    np.testing.assert_allclose(p.covariances, np.swapaxes(p.covariances, 1, 2), rtol=1e-12,
                               atol=0)
    # Positive definite, judged on the correlation matrices: columns at 1e-9 and 1e9
    # scales make the eigenvalues of the covariances themselves meaningless in float64.
    variances = np.diagonal(p.covariances, axis1=1, axis2=2)
    assert np.all(variances > 0)
    correlations = p.covariances / np.sqrt(variances[:, :, None] * variances[:, None, :])
    assert np.all(np.linalg.eigvalsh(correlations) > 0)
    np.testing.assert_allclose(result.responsibilities.sum(axis=1), 1.0, atol=1e-12)
    assert np.all((result.responsibilities >= 0) & (result.responsibilities <= 1))
    assert result.responsibilities.shape == (X.shape[0], p.n_components)


@given(mixtures())
def test_fit_invariants(case):
    X, k, covariance_type, seed = case
    result = fit(X, k, covariance_type, seed)
    assert_valid_fit(result, X)
    # The estimator is the same fit; its score_samples (a separate jitted scorer) is
    # finite on the data and far outside it, and sums to EM's log-likelihood.
    est = pg.GaussianMixture(k, covariance_type=covariance_type, prior=pg.Prior(), tol=1e-8,
                             reg_covar=0.0, max_iter=MAX_ITER, init_params="k-means++",
                             random_state=seed).fit(X)
    assert est.result_.objective == result.objective
    scores = est.score_samples(X)
    assert np.all(np.isfinite(scores))
    assert scores.sum() == pytest.approx(result.log_likelihood, rel=1e-10)
    spread = X.std(axis=0).max()
    far = X + 50.0 * spread * np.sign(X - X.mean(axis=0) + 1e-300)
    assert np.all(np.isfinite(est.score_samples(far)))
    assert np.all(est.score_samples(far) < scores)


@given(mixtures())
def test_row_order_does_not_change_the_optimum(case):
    X, k, covariance_type, seed = case
    first = fit(X, k, covariance_type, seed)
    order = np.random.default_rng(seed).permutation(X.shape[0])
    second = fit(X[order], k, covariance_type, seed, init=first.initial_params)
    for a, b in zip(first.params, second.params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9 * np.abs(a).max())
    np.testing.assert_allclose(second.responsibilities, first.responsibilities[order],
                               atol=1e-6)


@given(mixtures(), st.floats(0.01, 100.0), st.floats(-1e4, 1e4))
def test_affine_map_of_the_data_maps_the_fit(case, factor, shift):
    """x -> A x + b with A = factor * diag(1, 2, ...) (factor alone for "spherical", "EII").

    Maximum likelihood (no prior: the default prior's scale follows the data, but we
    keep this test to the likelihood, which is affine equivariant for every structure).
    """
    X, k, covariance_type, seed = case
    d = X.shape[1]
    # One common scale where the structure is only invariant to that (a variance times I).
    common = get_structure(covariance_type).common_scale
    a = factor * (np.ones(d) if common else np.arange(1.0, d + 1))
    Y = X * a + shift
    try:
        first = pg.fit_em(X, k, covariance_type=covariance_type, seed=seed, max_iter=MAX_ITER,
                          reg_covar=0.0, prior=None, init="random_from_data")
    except pg.SingularCovarianceError:
        # Exact ML EM from a random start may collapse a component onto a few points (a
        # true singularity of the likelihood, reported as such); nothing to map then.
        event("ML fit collapsed")
        assume(False)
    start = pg.GMMParams(first.initial_params.weights, first.initial_params.means * a + shift,
                         first.initial_params.covariances * np.outer(a, a))
    second = pg.fit_em(Y, k, covariance_type=covariance_type, init=start, max_iter=MAX_ITER,
                       prior=None)
    np.testing.assert_allclose(second.params.weights, first.params.weights, atol=1e-6)
    np.testing.assert_allclose(second.params.means, first.params.means * a + shift,
                               rtol=1e-6, atol=1e-6 * np.abs(a).max())
    np.testing.assert_allclose(second.params.covariances,
                               first.params.covariances * np.outer(a, a), rtol=1e-5,
                               atol=1e-8 * np.abs(np.outer(a, a)).max())
    jacobian = X.shape[0] * np.sum(np.log(np.abs(a)))
    assert second.log_likelihood == pytest.approx(first.log_likelihood - jacobian, rel=1e-8,
                                                  abs=1e-6)


# ------------------------------------------------------------------ hostile data

#: What a refusal must point the user to (one of these in every message).
FIXES = ("reg_covar", "Rescale", "prior")


@st.composite
def hostile(draw):
    """Well-behaved data spoiled by the things real tables do: duplicated rows, a
    constant column, rows collapsed onto one point, rounding to integers, columns at
    wildly different scales, a large offset."""
    X, k, covariance_type, seed = draw(mixtures())
    rng = np.random.default_rng(seed)
    n, d = X.shape
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    if draw(st.booleans()):  # duplicated rows (same n: compiled shapes stay fixed)
        half = n // 2
        X[half:2 * half] = X[:half]
    if draw(st.booleans()):  # a cluster of a few identical points
        X[rng.choice(n, size=draw(st.integers(2, 4)), replace=False)] = X[0] + 5.0
    if draw(st.booleans()):
        X[:, rng.integers(d)] = draw(st.sampled_from([0.0, 3.0, -1e6]))
    if draw(st.booleans()):
        X = np.round(X * draw(st.sampled_from([1.0, 3.0])))
    X = X * 10.0 ** rng.integers(-9, 10, size=d)
    X = X + draw(st.sampled_from([0.0, 1e6]))
    return X, k, covariance_type, seed


@given(hostile(), st.sampled_from([0.0, 1e-6]))
def test_hostile_data_give_a_valid_fit_or_a_clear_error(case, reg_covar):
    """Never NaN, never a crash inside JAX: a valid fit, or a ValueError naming a fix."""
    X, k, covariance_type, seed = case
    frozen = X.copy()
    try:
        result = pg.fit_em(X, k, covariance_type=covariance_type, seed=seed, max_iter=MAX_ITER,
                           reg_covar=reg_covar * np.var(X, axis=0).max())
    except ValueError as error:  # SingularCovarianceError included
        event(f"refused: {type(error).__name__}")
        assert any(fix in str(error) for fix in FIXES), str(error)
    else:
        event("fitted")
        assert_valid_fit(result, X)
    np.testing.assert_array_equal(X, frozen)
