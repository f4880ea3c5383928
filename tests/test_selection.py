"""select: the BIC / AIC / ICL table across K and structures, one compiled program."""

import numpy as np
import pandas as pd
import pytest
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import ppl_gmm as pg
from ppl_gmm.selection import grid
from ppl_gmm.selection.table import TABLE_COLUMNS
from ppl_gmm.structures.registry import SKLEARN_TYPES

# One grid shape for most tests (K = 1..4, 3 restarts): the batched program compiles once.
KS = range(1, 5)


@pytest.fixture(scope="module")
def faithful_selection(faithful):
    return pg.select(faithful, KS, progress=False)


def test_select_picks_k3_on_data_from_a_k3_full_model(drawn):
    X, _z, _params = drawn
    selection = pg.select(X, KS, progress=False)
    assert selection.best_n_components == 3
    full = selection.table[selection.table["covariance_type"] == "full"].set_index("n_components")
    assert full["bic"].idxmin() == 3
    # The evidence is clear, not a coin toss: K = 2 and K = 4 are worse by > 10.
    assert full.loc[2, "bic"] - full.loc[3, "bic"] > 10
    assert full.loc[4, "bic"] - full.loc[3, "bic"] > 10


def test_every_cell_is_fit_em_with_the_same_seed_and_restarts(faithful, faithful_selection):
    for k, structure in [(3, "tied"), (4, "diag")]:
        cell = faithful_selection.results[(k, structure)]
        result = pg.fit_em(faithful, k, covariance_type=structure, n_init=3, seed=0,
                           tol=1e-5, max_iter=1000)
        assert cell.n_iter == result.n_iter
        assert cell.restarts.best == result.restarts.best
        np.testing.assert_array_equal(cell.restarts.n_iter, result.restarts.n_iter)
        np.testing.assert_allclose(cell.restarts.objective, result.restarts.objective,
                                   rtol=1e-12, atol=0)
        for ours, theirs in zip(cell.params, result.params, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
        for ours, theirs in zip(cell.initial_params, result.initial_params, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(cell.responsibilities, result.responsibilities, atol=1e-9)
        np.testing.assert_allclose(cell.history.objective, result.history.objective,
                                   rtol=1e-12)
        np.testing.assert_allclose(cell.history.lower_bound, result.history.lower_bound,
                                   rtol=1e-12)


def test_random_from_data_cells_are_fit_em_too(faithful):
    selection = pg.select(faithful, KS, "spherical", init="random_from_data", progress=False)
    cell = selection.results[(3, "spherical")]
    result = pg.fit_em(faithful, 3, covariance_type="spherical", n_init=3, seed=0,
                       init="random_from_data", tol=1e-5)
    for ours, theirs in zip(cell.initial_params, result.initial_params, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(cell.restarts.n_iter, result.restarts.n_iter)
    assert cell.log_likelihood == pytest.approx(result.log_likelihood, rel=1e-12)


def test_table_columns_follow_the_stated_formulas(faithful, faithful_selection):
    table = faithful_selection.table
    assert tuple(table.columns) == TABLE_COLUMNS
    assert len(table) == 4 * len(KS)
    n = faithful.shape[0]
    for row in table.itertuples():
        result = faithful_selection.results[(row.n_components, row.covariance_type)]
        p = pg.n_parameters(row.covariance_type, row.n_components, 2)
        log_lik = pg.marginal_log_likelihood(result.params, faithful)  # the PPL's number
        assert row.log_likelihood == pytest.approx(log_lik, rel=1e-10)
        assert row.n_parameters == p
        assert row.bic == pytest.approx(-2 * log_lik + p * np.log(n), rel=1e-10)
        assert row.aic == pytest.approx(-2 * log_lik + 2 * p, rel=1e-10)
        assert row.bic_mclust == -row.bic
        hard = np.sum(np.log(np.max(result.responsibilities, axis=1)))
        assert row.icl == pytest.approx(row.bic - 2 * hard, rel=1e-10)
        assert row.icl >= row.bic - 1e-9
        assert row.error == ""
    best = table.loc[table["bic"].idxmin()]
    assert faithful_selection.best_key == (best["n_components"], best["covariance_type"])
    assert faithful_selection.best is faithful_selection.results[faithful_selection.best_key]
    wide = faithful_selection.pivot()
    # select's default structures (scikit-learn's four), in registry order.
    # In the registry's (mclust's) order.
    assert list(wide.columns) == [c for c in pg.COVARIANCE_TYPES if c in SKLEARN_TYPES]
    assert list(wide.index) == list(KS)


def test_criteria_agree_with_scikit_learn_at_the_optimum(faithful, faithful_selection):
    # An independent implementation, run to a tight optimum: the same BIC to the accuracy
    # that tol = 1e-5 leaves (a few hundredths of a log-likelihood unit).
    table = faithful_selection.table.set_index(["n_components", "covariance_type"])
    for k, structure in [(2, "full"), (3, "tied"), (2, "diag")]:
        theirs = SklearnGaussianMixture(k, covariance_type=structure, tol=1e-10, max_iter=5000,
                                        reg_covar=0.0, n_init=3, random_state=0).fit(faithful)
        assert table.loc[(k, structure), "bic"] == pytest.approx(theirs.bic(faithful), abs=0.1)
        assert table.loc[(k, structure), "aic"] == pytest.approx(theirs.aic(faithful), abs=0.1)


def test_criterion_chooses_the_column(faithful_selection, faithful):
    by_aic = pg.select(faithful, KS, criterion="aic", progress=False)
    table = by_aic.table
    assert by_aic.best_key[0] == table.loc[table["aic"].idxmin(), "n_components"]
    with pytest.raises(ValueError, match="criterion='hic' is not known"):
        pg.select(faithful, KS, criterion="hic")


# Four points, each repeated ten times: with K = 4 every component collapses onto one
# point (a singular covariance) in every restart; K = 1 is fine.
FOUR_POINTS = np.repeat(np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.5]]), 10, axis=0)


def test_a_singular_cell_is_reported_and_the_sweep_goes_on():
    selection = pg.select(FOUR_POINTS, KS, covariance_types=("full", "spherical"),
                          progress=False)
    table = selection.table.set_index(["n_components", "covariance_type"])
    failed = table.loc[(4, "full")]
    assert "restarts failed" in failed["error"] and "covariance is singular" in failed["error"]
    assert np.isnan(failed["bic"]) and failed["failed_restarts"] == 3
    assert (4, "full") not in selection.results
    assert table.loc[(1, "full"), "error"] == "" and np.isfinite(table.loc[(1, "full"), "bic"])
    assert selection.best_key in selection.results


def test_one_compilation_serves_the_grid():
    before = grid.fit_cell._cache_size()
    pg.select(FOUR_POINTS, KS, progress=False)
    # Four structures and four K in one program (at most one new entry: none when another
    # test compiled this shape already).
    after = grid.fit_cell._cache_size()
    assert after <= before + 1
    # Other K order, structures, seed and tolerance are data, not a new program.
    pg.select(FOUR_POINTS, [4, 2, 3, 1], ("tied", "diag"), seed=5, tol=1e-3, progress=False)
    pg.select(FOUR_POINTS + 1.0, KS, "spherical", reg_covar=1e-3, progress=False)
    assert grid.fit_cell._cache_size() == after


def test_progress_bar_and_quiet(faithful, capsys):
    pg.select(faithful, KS, covariance_types="full", progress=True)
    assert "select" in capsys.readouterr().err
    pg.select(faithful, KS, covariance_types="full", progress=False)
    assert capsys.readouterr().err == ""


def test_bad_input_is_refused(faithful):
    with pytest.raises(ValueError, match="X has 272 rows but n_components=300"):
        pg.select(faithful, [1, 300])
    with pytest.raises(ValueError, match="covariance_type='round'"):
        pg.select(faithful, KS, covariance_types=["full", "round"])
    with pytest.raises(ValueError, match="select supports init"):
        pg.select(faithful, KS, init="random")
    with pytest.raises(ValueError, match="NaN"):
        pg.select(np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]), [1])
    # The same ks rules as compare (one validator): a repeated K is named, not dropped.
    with pytest.raises(ValueError, match=r"distinct numbers of components; \[2\] appear"):
        pg.select(faithful, [2, 3, 2])
    with pytest.raises(ValueError, match="ks is empty"):
        pg.select(faithful, [])
    with pytest.raises(ValueError, match="n_components must be an integer"):
        pg.select(faithful, [2, 2.5])
    assert isinstance(pg.select(faithful, KS, "full", progress=False).table, pd.DataFrame)
