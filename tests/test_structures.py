"""The covariance-structure registry: each entry's contract, mclust's EII and EEI added
through the registry alone, and the rule that nothing else branches on a structure's name.

mclust's numbers come from R (``tests/reference/mclust/faithful_bic.R`` wrote
``faithful_bic.csv`` beside it; the test machine needs no R).
"""

import ast
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

import ppl_gmm as pg
from ppl_gmm.structures.registry import STRUCTURES, get_structure

REFERENCE = Path(__file__).parent / "reference" / "mclust"
PACKAGE = Path(pg.__file__).parent
MCLUST_TOL = 0.02  # mclust's relative tol 1e-5 stops up to ~0.01 short in log-likelihood


@pytest.fixture(scope="module")
def mclust_faithful():
    return pd.read_csv(REFERENCE / "faithful_bic.csv").set_index(["model", "n_components"])


@pytest.fixture(scope="module")
def faithful_new_structures(faithful):
    """Our EII and EEI cells on Old Faithful, K = 1..9, run to tight convergence."""
    selection = pg.select(faithful, range(1, 10), ["EII", "EEI"], n_init=10, tol=1e-10,
                          max_iter=5000, progress=False)
    return selection.table.set_index(["covariance_type", "n_components"])


@pytest.mark.parametrize("name", ["EII", "EEI"])
def test_new_structures_reach_mclusts_bic_table(mclust_faithful, faithful_new_structures, name):
    for k in range(1, 10):
        theirs = mclust_faithful.loc[(name, k)]
        ours = faithful_new_structures.loc[(name, k)]
        assert ours["n_parameters"] == theirs["n_parameters"]  # mclust's nMclustParams
        if k == 1:  # a closed-form maximum: the same number
            assert ours["log_likelihood"] == pytest.approx(theirs["log_likelihood"], abs=1e-5)
            assert ours["bic_mclust"] == pytest.approx(theirs["bic"], abs=1e-5)
        # Restarts may find a higher maximum than mclust's single start, never a lower one.
        assert ours["log_likelihood"] >= theirs["log_likelihood"] - MCLUST_TOL, (name, k)
        assert ours["bic_mclust"] >= theirs["bic"] - 2 * MCLUST_TOL, (name, k)


@pytest.mark.parametrize("name", ["EII", "EEI"])
def test_ppl_gradient_vanishes_at_the_optimum_on_the_structures_own_parameters(faithful, name):
    result = pg.fit_em(faithful, 3, covariance_type=name, seed=0, tol=1e-13, max_iter=5000)
    check = pg.cross_check(result, faithful)
    assert result.converged and check.passed and check.stationary
    gradient = pg.ppl_gradient(result.params, faithful, name)
    # The model's free covariance parameters are the structure's site, one shared value.
    site = get_structure(name).site
    assert set(gradient) == {"weights", "means", site}
    assert np.shape(gradient[site]) == get_structure(name).site_shape(3, 2)

    def norm(g):
        return np.sqrt(sum(float(np.sum(np.square(v))) for v in jax.tree.leaves(g)))

    start = pg.ppl_gradient(result.initial_params, faithful, name)
    assert norm(gradient) / faithful.shape[0] < 2e-6
    assert norm(start) > 100 * norm(gradient)


@pytest.mark.parametrize("name", ["EII", "EEI"])
def test_new_structures_map_em_is_the_models_log_joint(faithful, name):
    result = pg.fit_em(faithful, 2, covariance_type=name, prior=pg.Prior(), seed=0, tol=1e-10)
    assert result.objective == pytest.approx(
        pg.log_joint(result.params, faithful, result.prior, name), rel=1e-10)
    assert pg.cross_check(result, faithful).passed


@pytest.mark.parametrize("name", [s.name for s in STRUCTURES.values() if not s.decomposed])
def test_site_round_trip_and_shapes(name):
    structure = get_structure(name)
    rng = np.random.default_rng(0)
    k, d = 3, 4
    value = rng.uniform(0.5, 2.0, structure.site_shape(k, d))
    if structure.form == "matrix":
        a = rng.normal(size=structure.site_shape(k, d))
        value = a @ np.swapaxes(a, -1, -2) + d * np.eye(d)
    full = np.asarray(structure.covariances_from_site(value, k, d))
    assert full.shape == (k, d, d)
    np.testing.assert_allclose(np.asarray(structure.site_from_covariances(full)), value,
                               rtol=1e-14)
    # project() is the identity on matrices that already have the structure.
    np.testing.assert_allclose(np.asarray(structure.project(full)), full, rtol=1e-14)
    if structure.shared:
        np.testing.assert_array_equal(full[0], full[-1])
    if structure.form != "matrix":
        assert np.all(full[:, ~np.eye(d, dtype=bool)] == 0)
    assert get_structure(structure.mclust_name) is structure


def test_parameter_counts_are_mclusts(mclust_faithful):
    for structure in STRUCTURES.values():
        for k in (1, 4, 9):
            expected = mclust_faithful.loc[(structure.mclust_name, k), "n_parameters"]
            assert pg.n_parameters(structure.name, k, 2) == expected, (structure.name, k)


def test_mclust_names_are_accepted_and_reported_by_the_canonical_name(faithful):
    by_mclust = pg.fit_em(faithful, 2, covariance_type="VVV", seed=0)
    by_sklearn = pg.fit_em(faithful, 2, covariance_type="full", seed=0)
    assert by_mclust.covariance_type == "full"
    assert by_mclust.log_likelihood == by_sklearn.log_likelihood
    with pytest.raises(ValueError, match=r"covariance_type='VVZ' is not known.*EII, VII, EEI, VEI, "
                       r"EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV.*'tied' = EEE"):
        pg.fit_em(faithful, 2, covariance_type="VVZ")


def _structure_names():
    return {name for s in STRUCTURES.values() for name in (s.name, s.mclust_name)}


def _branches_on_a_name(tree, names):
    """Comparisons with, membership tests in, and dict keys of structure-name literals."""
    found = []
    for node in ast.walk(tree):
        constants = []
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                if isinstance(operand, ast.Tuple | ast.List | ast.Set):
                    constants += operand.elts
                else:
                    constants.append(operand)
        elif isinstance(node, ast.Dict):
            constants += [key for key in node.keys if key is not None]
        found += [(node.lineno, c.value) for c in constants
                  if isinstance(c, ast.Constant) and c.value in names]
    return found


def test_nothing_outside_the_registry_branches_on_a_structure_name():
    names = _structure_names()
    offenders = {}
    # mclust's hierarchical clustering names its merge criteria after the models
    # ("VVV", "EII", ...); they are criteria of a clustering, not covariance structures.
    criteria = PACKAGE / "fit" / "hierarchical.py"
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "structures" or path == criteria:
            continue
        hits = _branches_on_a_name(ast.parse(path.read_text()), names)
        if hits:
            offenders[str(path.relative_to(PACKAGE))] = hits
    assert offenders == {}


def test_the_name_check_can_fail():
    tree = ast.parse('if covariance_type == "tied":\n    pass\nx = {"diag": 1}\n'
                     'y = kind in ("full", "spherical")\n')
    assert [v for _, v in _branches_on_a_name(tree, _structure_names())] == [
        "tied", "diag", "full", "spherical"]
