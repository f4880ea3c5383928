"""bootstrap_lrt: mclust's sequential bootstrap likelihood-ratio test for K."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import ppl_gmm as pg
from ppl_gmm.fit.program import pad_components
from ppl_gmm.selection import bootstrap
from ppl_gmm.selection.bootstrap import TABLE_COLUMNS, _derived_seed, _draw_data_sets

REFERENCE = Path(__file__).parent / "reference" / "mclust"
# The quick tests share one shape (n = 300, d = 2, up to 4 components, 39 data sets per
# test), so one compiled refit program serves them: p-values in steps of 1/40.
B = 39
N = 300
MAX_COMPONENTS = 4


@pytest.fixture(scope="module")
def three_clusters(separated_params):
    """n = 300 rows from three well-separated full-covariance components (2-D)."""
    X, _ = pg.sample(separated_params, N, seed=1)
    return X


@pytest.fixture(scope="module")
def three_cluster_test(three_clusters):
    return pg.bootstrap_lrt(three_clusters, "VVV", max_components=MAX_COMPONENTS,
                            n_bootstrap=B, seed=0, progress=False)


def test_three_separated_components_are_found_by_the_sequential_rule(three_cluster_test):
    result = three_cluster_test
    table = result.table
    assert tuple(table.columns) == TABLE_COLUMNS
    assert list(table["test"]) == ["1 vs 2", "2 vs 3", "3 vs 4"]
    assert list(table["rejected"]) == [True, True, False]
    assert result.n_components == 3
    # 1 vs 2 and 2 vs 3: the observed statistic beats every bootstrap one (p at its floor).
    assert list(table["p_value"][:2]) == [1 / (B + 1)] * 2
    assert table["p_value"].iloc[2] > 0.05
    assert result.bootstrap_lrts.shape == (B, 3) and np.all(np.isfinite(result.bootstrap_lrts))
    assert list(table["n_bootstrap"]) == [B] * 3 and list(table["n_redrawn"]) == [0] * 3


def test_statistics_and_p_values_follow_mclusts_formulas(three_cluster_test):
    result = three_cluster_test
    for j, row in enumerate(result.table.itertuples()):
        null, alternative = result.fits[row.n_components], result.fits[row.alternative]
        assert row.log_likelihood_null == null.log_likelihood
        assert row.lrts == 2 * (alternative.log_likelihood - null.log_likelihood)
        # The fits to the data are the selection's cells.
        assert null is result.selection.results[(row.n_components, "full")]
        boot = result.bootstrap_lrts[:, j]
        assert row.p_value == (1 + np.sum(boot >= row.lrts)) / (B + 1)
        assert 0 < row.p_value <= 1 and row.rejected == (row.p_value <= 0.05)
    text = str(result)
    assert "Bootstrap sequential LRT for the number of mixture components" in text
    assert "Model        = VVV (full)" in text and f"Replications = {B}" in text
    assert "Selected K = 3: the first test not rejected at level 0.05 (3 vs 4)." in text
    assert "The tests stopped: 3 vs 4 was not rejected (the sequential rule)." in text
    for row in result.table.itertuples():
        assert row.test in text


def test_each_bootstrap_statistic_is_two_fit_em_runs_from_mclusts_starts(three_clusters):
    # bootstrap_n_init=0 is mclust's procedure: one start per refit, at the fit to the
    # data. Each statistic must then be fit_em's from that start on the same drawn data
    # set; a data set on which a refit fails is skipped (and another drawn in its place).
    options = dict(tol=1e-10, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pg.ConvergenceWarning)
        result = pg.bootstrap_lrt(three_clusters, "full", max_components=MAX_COMPONENTS,
                                  n_bootstrap=B, bootstrap_n_init=0, seed=3, progress=False,
                                  **options)
    for k in (1, 2):
        null, alternative = result.fits[k], result.fits[k + 1]
        generator = pad_components(pg.GMMParams(*map(np.asarray, null.params)),
                                   MAX_COMPONENTS)
        # All 39 data sets are one group of draws (ROWS_PER_DRAW rows at most).
        data_sets = _draw_data_sets(generator, N, B, _derived_seed(_derived_seed(3, k, 0, 0), 0))
        statistics, skipped = [], 0
        for X in data_sets:
            try:
                ll0 = pg.fit_em(X, k, init=null.params, **options).log_likelihood
                ll1 = pg.fit_em(X, k + 1, init=alternative.params, **options).log_likelihood
            except pg.SingularCovarianceError:
                skipped += 1
                continue
            statistics.append(2 * (ll1 - ll0))
            if len(statistics) == 3:
                break
        assert skipped <= result.table["n_redrawn"].iloc[k - 1]
        np.testing.assert_allclose(result.bootstrap_lrts[:3, k - 1], statistics, rtol=0,
                                   atol=1e-6)


def test_data_sets_come_in_groups_independent_of_the_batches(separated_params, monkeypatch):
    # Three data sets of 300 rows per draw: ten data sets are four groups.
    monkeypatch.setattr(bootstrap, "ROWS_PER_DRAW", 900)
    take = bootstrap._data_set_source(separated_params, N, 10, seed=5)
    whole = take(np.arange(10))
    assert whole.shape == (10, N, 2)
    again = bootstrap._data_set_source(separated_params, N, 10, seed=5)
    pieces = np.concatenate([again(np.arange(0, 2)), again(np.arange(2, 7)),
                             again(np.array([7, 8, 9]))])
    np.testing.assert_array_equal(pieces, whole)
    for group, first in [(0, 0), (1, 3), (3, 9)]:
        drawn = _draw_data_sets(separated_params, N, 1 if group == 3 else 3,
                                _derived_seed(5, group))
        np.testing.assert_array_equal(whole[first], drawn[0])
    assert len({tuple(x[0]) for x in whole}) == 10  # ten different data sets


def test_the_same_seed_gives_the_same_result_and_another_seed_other_draws(three_clusters,
                                                                          three_cluster_test):
    def run(seed):
        return pg.bootstrap_lrt(three_clusters, "VVV", max_components=MAX_COMPONENTS,
                                n_bootstrap=B, seed=seed, progress=False)

    first, again, other = three_cluster_test, run(0), run(1)
    np.testing.assert_array_equal(first.bootstrap_lrts, again.bootstrap_lrts)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert str(first) == str(again)
    assert not np.any(first.bootstrap_lrts == other.bootstrap_lrts)


def test_without_the_sequential_rule_every_test_runs(separated_params):
    # Two of the three clusters: 2 vs 3 is not rejected, and 3 vs 4 runs all the same.
    two = pg.GMMParams(np.array([0.625, 0.375]), separated_params.means[:2],
                       separated_params.covariances[:2])
    X, _ = pg.sample(two, N, seed=2)
    programs = bootstrap._refit._cache_size()
    result = pg.bootstrap_lrt(X, "VVV", max_components=MAX_COMPONENTS, n_bootstrap=B,
                              sequential=False, seed=0, progress=False)
    # Three tests (K = 1..4 components) from one compiled refit program at most (none when
    # another test compiled this shape already).
    programs_after = bootstrap._refit._cache_size()
    assert programs_after <= programs + 1
    assert list(result.table["test"]) == ["1 vs 2", "2 vs 3", "3 vs 4"]
    assert list(result.table["rejected"][:2]) == [True, False]
    assert result.bootstrap_lrts.shape == (B, 3)
    # The selected K is still the first K whose test is not rejected.
    assert result.n_components == 2
    assert result.stop_reason == "max_components=4 reached (raise it to test further)"
    sequential = pg.bootstrap_lrt(X, "VVV", max_components=MAX_COMPONENTS, n_bootstrap=B,
                                  seed=0, progress=False)
    pd.testing.assert_frame_equal(sequential.table, result.table.iloc[:2])
    assert bootstrap._refit._cache_size() == programs_after  # new data, K and rule: no compile


# Two clusters of two points, each point repeated (to N rows: the fits to the data then
# share the other tests' compiled program): one and two spherical components fit; three
# put one point alone in a component, which collapses (every restart); a full covariance
# collapses already with two components.
TWO_PAIRS = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [20.0, 0.0], [20.0, 1.0]]), N // 4,
                      axis=0)


def test_a_failed_fit_to_the_data_stops_the_tests_or_refuses_them():
    with pytest.warns(UserWarning, match="The 3-component fit to X failed; the tests stop at "
                                         "1 vs 2"):
        result = pg.bootstrap_lrt(TWO_PAIRS, "spherical", max_components=MAX_COMPONENTS,
                                  n_bootstrap=19, progress=False)
    assert list(result.table["test"]) == ["1 vs 2"] and bool(result.table["rejected"][0])
    assert result.n_components == 2
    assert "the 3-component fit to X failed" in result.stop_reason
    assert "Every test was rejected at level 0.05: K >= 2." in str(result)
    assert "The tests stopped: the 3-component fit to X failed" in str(result)
    with pytest.raises(ValueError, match=r"The 2-component 'full' fit to X failed.*reg_covar"):
        pg.bootstrap_lrt(TWO_PAIRS, "full", max_components=MAX_COMPONENTS, n_bootstrap=19,
                         progress=False)


def test_bad_input_is_refused(three_clusters):
    X = three_clusters

    def refuses(match, **kwargs):
        with pytest.raises(ValueError, match=match):
            pg.bootstrap_lrt(X, **kwargs)

    refuses(r"max_components must be an integer >= 2 \(the first test is 1 vs 2",
            max_components=1)
    refuses("max_components must be an integer", max_components=2.5)
    refuses("max_components=400 exceeds the 300 rows of X", max_components=400)
    refuses(r"n_bootstrap=10 cannot reject at level=0.05.*use n_bootstrap >= 19",
            n_bootstrap=10)
    refuses(r"n_bootstrap=98 cannot reject at level=0.01.*n_bootstrap >= 99", n_bootstrap=98,
            level=0.01)
    refuses("n_bootstrap must be an integer >= 1", n_bootstrap=0)
    refuses("level must be a number strictly between 0 and 1", level=1.5)
    refuses("level must be a number strictly between 0 and 1", level=0)
    refuses("covariance_type='round' is not known", covariance_type="round")
    refuses("bootstrap_lrt supports init in", init="random")
    refuses("sequential must be True or False", sequential="yes")
    refuses("bootstrap_n_init must be an integer >= 0", bootstrap_n_init=-1)
    refuses("n_init must be an integer >= 1", n_init=0)
    refuses("seed must be an integer", seed=1.5)
    with pytest.raises(ValueError, match="NaN"):
        pg.bootstrap_lrt(np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]), max_components=2)


@pytest.mark.slow
def test_old_faithful_eee_against_mclust(faithful):
    """mclust 6.0.0: ``set.seed(1); mclustBootstrapLRT(faithful, "EEE", nboot = 99,
    maxG = 4)`` (tests/reference/mclust/bootstrap_lrt.R)."""
    reference = pd.read_csv(REFERENCE / "faithful_lrt.csv")
    draws = pd.read_csv(REFERENCE / "faithful_lrt_boot.csv")
    result = pg.bootstrap_lrt(faithful, "EEE", max_components=3, n_bootstrap=99,
                              sequential=False, bootstrap_n_init=0, seed=0, progress=False)
    ours = result.table.set_index("n_components")
    theirs = reference.set_index("n_components_null")
    # K = 1 has a closed form, and EEE with K = 2 a well-defined optimum both reach.
    assert ours.loc[1, "lrts"] == pytest.approx(theirs.loc[1, "lrt_observed"], abs=1e-4)
    # K = 3: mclust stops 0.01 short of the optimum (tests/test_mclust_reference.py).
    assert ours.loc[2, "lrts"] == pytest.approx(theirs.loc[2, "lrt_observed"], abs=0.02)
    for k in (1, 2):
        # Both far beyond every bootstrap statistic: the p-value's floor, 1 / 100.
        assert ours.loc[k, "p_value"] == theirs.loc[k, "p_value"] == 0.01
        # The same procedure (one start per refit, at the fits to the data): the bootstrap
        # statistics and mclust's 99 come from one distribution (two-sample
        # Kolmogorov-Smirnov at level 0.001; drawing under the alternative, or a sign
        # error, gives p < 1e-20).
        mclusts = draws[draws["n_components_null"] == k]["lrt"].to_numpy()
        assert stats.ks_2samp(result.bootstrap_lrts[:, k - 1], mclusts).pvalue > 1e-3
