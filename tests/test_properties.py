"""Properties that must hold for any data: hypothesis over shapes and values.

Budget: a handful of examples per property under CI (``CI=true``), more locally
(``HYPOTHESIS_PROFILE=thorough``). Every example compiles nothing new once the
shapes have been seen, so examples are drawn from a few fixed shapes.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ppl_gmm as pg

settings.register_profile("ci", max_examples=6, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

SHAPES = [(30, 1, 2), (40, 2, 3), (48, 4, 4), (25, 3, 1)]


@st.composite
def mixtures(draw):
    """Data from a random mixture with well-conditioned components, and a fitting start."""
    n, d, k = draw(st.sampled_from(SHAPES))
    seed = draw(st.integers(0, 2**31 - 1))
    covariance_type = draw(st.sampled_from(pg.COVARIANCE_TYPES))
    rng = np.random.default_rng(seed)
    scale = 10.0 ** draw(st.integers(-3, 3))
    offset = draw(st.sampled_from([0.0, 1e3]))
    centres = rng.normal(scale=3.0, size=(k, d))
    X = (centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))) * scale + offset
    return X, k, covariance_type, seed


def fit(X, k, covariance_type, seed, **kwargs):
    return pg.fit_em(X, k, covariance_type=covariance_type, seed=seed, max_iter=200,
                     prior=pg.Prior(), **kwargs)


@given(mixtures())
def test_fit_invariants(case):
    X, k, covariance_type, seed = case
    result = fit(X, k, covariance_type, seed)
    p = result.params
    assert np.all(np.isfinite(result.history.objective))
    assert np.all(np.diff(result.history.objective) >= -1e-10 * np.abs(result.objective))
    assert p.weights.sum() == pytest.approx(1.0, abs=1e-12) and np.all(p.weights > 0)
    np.testing.assert_allclose(p.covariances, np.swapaxes(p.covariances, 1, 2), rtol=1e-12,
                               atol=0)
    assert np.all(np.linalg.eigvalsh(p.covariances) > 0)
    np.testing.assert_allclose(result.responsibilities.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.isfinite(pg.pointwise_log_likelihood(p, X)))


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
    """x -> A x + b with A = factor * diag(1, 2, ...) (factor alone for "spherical").

    Maximum likelihood (no prior: the default prior's scale follows the data, but we
    keep this test to the likelihood, which is affine equivariant for every structure).
    """
    X, k, covariance_type, seed = case
    d = X.shape[1]
    a = factor * (np.ones(d) if covariance_type == "spherical" else np.arange(1.0, d + 1))
    Y = X * a + shift
    first = pg.fit_em(X, k, covariance_type=covariance_type, seed=seed, max_iter=200,
                      reg_covar=0.0, prior=None, init="random_from_data")
    start = pg.GMMParams(first.initial_params.weights, first.initial_params.means * a + shift,
                         first.initial_params.covariances * np.outer(a, a))
    second = pg.fit_em(Y, k, covariance_type=covariance_type, init=start, max_iter=200,
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
