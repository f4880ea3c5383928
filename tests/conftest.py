"""Shared fixtures: the built-in faithful data and data drawn from gmm_model itself."""

import os
from pathlib import Path

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

# The suite runs in two pytest-xdist workers (``-n 2``, README). Each test file goes to
# one worker whole, so its module fixtures are built once, and files that share expensive
# work go together: the executed notebooks (test_notebooks checks them, test_docs renders
# them) and the NUTS posterior of ``separated_posterior`` (test_bayes, test_diagnostics).
# The two longest groups are scheduled first, one per worker. (xdist's own
# ``--dist loadgroup`` does not group under pytest 9.2: it rewrites a node id attribute
# pytest no longer reads.)
_SHARED_WORK = {"test_bayes": "posterior", "test_diagnostics": "posterior",
                "test_notebooks": "notebooks", "test_docs": "notebooks"}
_LONGEST_FIRST = ("posterior", "notebooks")


def _work_unit(path) -> str:
    stem = Path(path).stem
    return _SHARED_WORK.get(stem, stem)


def _rank(unit: str) -> int:
    return _LONGEST_FIRST.index(unit) if unit in _LONGEST_FIRST else len(_LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: _rank(_work_unit(item.path)))  # stable: files keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SharedWorkScheduling(LoadScopeScheduling):
        """Whole work units (files, or groups of files sharing work), in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid.split("::", 1)[0])

    config.option.loadscopereorder = False  # keep the longest-first order above
    return SharedWorkScheduling(config, log)


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
    from ppl_gmm.bayes.nuts import sample_posterior

    X, _, params = pg.datasets.make_synthetic(300, 3, 2, seed=1)
    idata = sample_posterior(X, 3, num_warmup=200, num_samples=200, num_chains=2, seed=0)
    return X, params, idata


# Every compiled XLA:CPU program holds about 250 memory mappings, and Linux allows a
# process 65530 (vm.max_map_count): a test worker that has compiled a few hundred
# programs segfaults inside the next compilation. Between test files, a worker past
# half that budget drops JAX's compiled programs (recompiling what later files need).
_MAPPING_BUDGET = 30_000


def _memory_mappings() -> int:
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:  # not Linux
        return 0


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs_when_mappings_run_short():
    yield
    if _memory_mappings() > _MAPPING_BUDGET:
        import gc

        import jax

        jax.clear_caches()
        gc.collect()
