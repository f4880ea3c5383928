"""Batched restarts: one computation, the same numbers as separate fits, failures isolated."""

import warnings

import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.fit import program


def one(batch, r):
    return pg.GMMParams(*(np.asarray(a)[r] for a in batch))


def test_single_fit_reports_a_one_row_table(faithful):
    result = pg.fit_em(faithful, 3, seed=3)
    table = result.restarts
    assert isinstance(table, pg.RestartTable) and len(table) == 1 and table.best == 0
    assert table.objective[0] == result.objective
    assert table.log_likelihood[0] == result.log_likelihood
    assert table.n_iter[0] == result.n_iter and table.converged[0] == result.converged
    assert not table.failed[0] and table.reason == ("",)
    np.testing.assert_allclose(table.params.means[0], result.params.means, rtol=1e-14)
    assert result.options.n_init == 1 and result.options.variant == "soft"


def test_batched_restarts_equal_separate_fits(faithful):
    starts = pg.initial_parameters(faithful, 3, init="random_from_data", seed=1, n_init=6)
    batched = pg.fit_em(faithful, 3, init=starts, n_init=6)
    table = batched.restarts
    for r in range(6):
        alone = pg.fit_em(faithful, 3, init=one(starts, r))
        assert table.objective[r] == pytest.approx(alone.objective, rel=1e-11)
        assert table.n_iter[r] == alone.n_iter
        np.testing.assert_allclose(table.params.means[r], alone.params.means, rtol=1e-7)
        np.testing.assert_allclose(table.initial_params.means[r], starts.means[r], rtol=1e-12)
    best = int(np.argmax(table.objective))
    assert table.best == best and batched.objective == table.objective[best]
    np.testing.assert_allclose(batched.params.means, table.params.means[best], rtol=1e-14)
    # The returned result is a full result of the best restart: history, PPL agreement.
    assert len(batched.history.objective) == batched.n_iter + 1
    assert pg.cross_check(batched, faithful).passed


def test_best_of_n_init_is_never_worse_than_a_single_fit(drawn):
    X = drawn[0]
    for seed in range(3):
        single = pg.fit_em(X, 4, seed=seed, init="random_from_data")
        best = pg.fit_em(X, 4, seed=seed, init="random_from_data", n_init=8)
        # restart 0 of the batch starts where the single fit starts
        np.testing.assert_allclose(best.restarts.initial_params.means[0],
                                   single.initial_params.means, rtol=1e-12)
        assert best.restarts.objective[0] == pytest.approx(single.objective, rel=1e-11)
        assert best.objective >= single.objective - 1e-9 * abs(single.objective)
        assert best.objective == np.max(best.restarts.objective[~best.restarts.failed])


def batched_programs():
    return program.compiled_count()


@pytest.mark.parametrize("lanes", [None, 5], ids=["default", "lockstep"])
def test_restarts_run_as_one_compiled_batch(faithful, lanes):
    before = batched_programs()
    # restarts of 5 with max_iter=321: a configuration no other test compiles.
    first = pg.fit_em(faithful, 2, n_init=5, seed=0, max_iter=321, restart_batch_size=lanes)
    assert batched_programs() == before + 1
    second = pg.fit_em(faithful, 2, n_init=5, seed=1, max_iter=321, restart_batch_size=lanes)
    assert batched_programs() == before + 1  # traced once
    assert len(first.restarts) == len(second.restarts) == 5
    assert not np.array_equal(first.restarts.initial_params.means,
                              second.restarts.initial_params.means)


def test_queued_restarts_equal_lockstep_restarts(faithful):
    """Lanes fed from a queue (fewer lanes than restarts) give every restart its own run."""
    lockstep = pg.fit_em(faithful, 3, n_init=6, seed=2, restart_batch_size=6)
    for lanes in (1, 4):
        queued = pg.fit_em(faithful, 3, n_init=6, seed=2, restart_batch_size=lanes)
        np.testing.assert_allclose(queued.restarts.objective, lockstep.restarts.objective,
                                   rtol=1e-12)
        np.testing.assert_array_equal(queued.restarts.n_iter, lockstep.restarts.n_iter)
        assert queued.restarts.best == lockstep.restarts.best
        np.testing.assert_allclose(queued.history.objective, lockstep.history.objective,
                                   rtol=1e-12)
    # and the whole table is deterministic given the seed
    again = pg.fit_em(faithful, 3, n_init=6, seed=2, restart_batch_size=6)
    np.testing.assert_array_equal(again.restarts.objective, lockstep.restarts.objective)


@pytest.fixture(scope="module")
def with_duplicates():
    """Two blobs and a duplicated pair of rows that a component can collapse onto."""
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + np.array([6.0, 0.0]),
                      np.full((2, 2), [3.0, 12.0])])


def _starts(means):
    r = len(means)
    return pg.GMMParams(np.full((r, 2), 0.5), np.asarray(means, float),
                        np.broadcast_to(np.eye(2), (r, 2, 2, 2)).copy())


@pytest.mark.parametrize("lanes", [4, 2], ids=["lockstep", "queued"])
def test_a_degenerate_restart_fails_alone(with_duplicates, lanes):
    X = with_duplicates
    starts = _starts([[[0, 0], [6, 0]], [[0, 0], [3, 12]], [[1, 0], [5, 0]], [[0, 1], [6, -1]]])
    result = pg.fit_em(X, 2, init=starts, n_init=4, restart_batch_size=lanes)
    table = result.restarts
    np.testing.assert_array_equal(table.failed, [False, True, False, False])
    assert "component 1 collapsed" in table.reason[1] and "holds 2 observations" in table.reason[1]
    assert table.reason[0] == table.reason[2] == table.reason[3] == ""
    assert table.best != 1 and result.objective == table.objective[table.best]
    for r in (0, 2, 3):
        alone = pg.fit_em(X, 2, init=one(starts, r))
        assert table.objective[r] == pytest.approx(alone.objective, rel=1e-11)
        assert table.n_iter[r] == alone.n_iter
    with pytest.raises(pg.SingularCovarianceError, match="Component 1"):
        pg.fit_em(X, 2, init=one(starts, 1))
    assert "failed: component 1 collapsed" in str(table)


def test_every_restart_failing_raises_with_the_table(with_duplicates):
    starts = _starts([[[0, 0], [3, 12]], [[6, 0], [3, 12]]])
    with pytest.raises(pg.SingularCovarianceError, match="All 2 restarts failed") as caught:
        pg.fit_em(with_duplicates, 2, init=starts, n_init=2)
    table = caught.value.restarts
    assert table.best == -1 and table.n_failed == 2
    assert "none (every restart failed)" in str(table)


def test_table_prints_every_restart_and_marks_the_best(faithful):
    table = pg.fit_em(faithful, 2, n_init=4, seed=5).restarts
    text = str(table)
    lines = text.splitlines()
    assert len(lines) == 3 + 4 and text.count("<- best") == 1
    assert f"{table.best:>7}" in [line[:7] for line in lines if "<- best" in line]
    frame = table.to_dataframe()
    assert list(frame["restart"]) == [0, 1, 2, 3] and frame["best"].sum() == 1


def test_a_restart_that_does_not_converge_is_reported(faithful):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pg.ConvergenceWarning)
        table = pg.fit_em(faithful, 3, n_init=4, seed=0, max_iter=3).restarts
    assert not table.converged.any() and np.all(table.n_iter == 3) and not table.failed.any()
    with pytest.warns(pg.ConvergenceWarning):
        pg.fit_em(faithful, 3, n_init=4, seed=0, max_iter=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_init": 0}, "n_init must be an integer >= 1"),
        ({"variant": "medium"}, "variant='medium' is not known"),
        ({"fixed_variance": 1.0}, "covariance_type='spherical'"),
        ({"fixed_variance": -1.0, "covariance_type": "spherical"}, "fixed_variance must be"),
        ({"fixed_variance": 1.0, "covariance_type": "spherical", "reg_covar": 1e-6},
         "reg_covar has no effect"),
        ({"restart_batch_size": 0, "n_init": 2}, "restart_batch_size must be"),
    ],
)
def test_restart_options_are_validated(faithful, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pg.fit_em(faithful, 2, **kwargs)
