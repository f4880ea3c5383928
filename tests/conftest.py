"""Shared fixtures: the built-in faithful data and data drawn from gmm_model itself."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import ppl_gmm as pg

# Hypothesis budgets for every property / fuzz suite: "ci" (CI=true) is small and
# derandomised, "dev" the local default, "thorough" (HYPOTHESIS_PROFILE=thorough) large.
_HYPOTHESIS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=6, derandomize=True, **_HYPOTHESIS)
settings.register_profile("dev", max_examples=15, **_HYPOTHESIS)
settings.register_profile("thorough", max_examples=200, **_HYPOTHESIS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def faithful():
    return pg.datasets.load_faithful()


@pytest.fixture(scope="session")
def drawn():
    """n = 400 rows from the prior predictive of gmm_model (K = 3, d = 2)."""
    X, z, params = pg.datasets.make_synthetic(400, 3, 2, seed=3)
    return X, z, params


@pytest.fixture(scope="session")
def separated_params():
    """Three well-separated full-covariance components in 2-D."""
    return pg.GMMParams(
        weights=np.array([0.5, 0.3, 0.2]),
        means=np.array([[0.0, 0.0], [8.0, 1.0], [2.0, 9.0]]),
        covariances=np.array([
            [[1.0, 0.3], [0.3, 0.5]],
            [[0.6, -0.2], [-0.2, 1.2]],
            [[1.5, 0.0], [0.0, 0.4]],
        ]),
    )


@pytest.fixture(scope="session")
def separated_posterior():
    """Data drawn from gmm_model (K = 3, n = 300, well separated) and a short NUTS run
    on it: 2 chains x 200 draws after 200 warm-up steps, started at the MAP.

    Shared by test_bayes.py and test_diagnostics.py (one compilation of the sampler).
    """
    from ppl_gmm.bayes import sample_posterior

    X, _, params = pg.datasets.make_synthetic(300, 3, 2, seed=1)
    idata = sample_posterior(X, 3, num_warmup=200, num_samples=200, num_chains=2, seed=0)
    return X, params, idata
