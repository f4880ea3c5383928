"""Padding rows into buckets and components into PADDED_COMPONENTS never changes a fit.

`fit_em` pads the rows (to a power of two, or to a bucket of whole blocks) and, on small
maximum-likelihood problems, K up to ``PADDED_COMPONENTS`` with dead components, so that
one compiled program serves many n and K (:mod:`ppl_gmm.fit.program`). These tests run
the same fits on the exact shapes (``layout(..., pad=False)``) and compare.
"""

import jax
import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.fit import driver, program


def _exact_layout(n, d, k, block_size, pad_components, pad=True, n_init=1):
    return program.layout(n, d, k, block_size, pad_components, pad=False)


def _fit_both(monkeypatch, X, k, **options):
    padded = pg.fit_em(X, k, **options)
    with monkeypatch.context() as patch:
        patch.setattr(driver, "layout", _exact_layout)
        exact = pg.fit_em(X, k, **options)
    return padded, exact


def _assert_same_fit(padded, exact):
    assert padded.n_iter == exact.n_iter
    assert padded.converged == exact.converged
    np.testing.assert_allclose(padded.objective, exact.objective, rtol=1e-12)
    np.testing.assert_allclose(padded.history.objective, exact.history.objective, rtol=1e-12)
    for got, want in zip(padded.params, exact.params, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(padded.responsibilities, exact.responsibilities, atol=1e-12)


@pytest.mark.filterwarnings("ignore::ppl_gmm.ConvergenceWarning")  # tied: 500 iterations
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_rows_and_components_padded_give_the_unpadded_fit(faithful, monkeypatch,
                                                          covariance_type):
    """272 rows padded to 1024 (4 blocks of 256, the E-step visits 2) and K = 3 padded
    to 16: the same iterations and numbers."""
    problem = driver.make_problem(faithful, 3, covariance_type, None, 1e-6, 1e-8, 4096,
                                  None, pad_components=True)
    assert problem.X_blocks.shape[:2] == (4, 256)  # padding happened
    assert int(problem.n_blocks) == 2
    assert driver.width_of(problem, 3) == program.PADDED_COMPONENTS
    padded, exact = _fit_both(monkeypatch, faithful, 3, covariance_type=covariance_type,
                              seed=2, tol=1e-10, max_iter=500)
    assert padded.n_iter > 5
    _assert_same_fit(padded, exact)


def test_padded_blocks_and_restarts_give_the_unpadded_fit(monkeypatch):
    """5 blocks of 1024 rows padded to a bucket of 6 (the E-step visits 5), 4 restarts."""
    X, _, _ = pg.datasets.make_synthetic(4500, 4, 3, seed=11)
    problem = driver.make_problem(X, 4, "full", None, 1e-6, 1e-8, 1024, None,
                                  pad_components=False)
    assert problem.X_blocks.shape[0] == 6 and int(problem.n_blocks) == 5
    padded, exact = _fit_both(monkeypatch, X, 4, block_size=1024, n_init=4, seed=3,
                              tol=1e-10, max_iter=400)
    _assert_same_fit(padded, exact)
    np.testing.assert_allclose(padded.restarts.objective, exact.restarts.objective,
                               rtol=1e-12)


def test_small_data_share_one_layout_and_restart_batches_keep_their_rows():
    """Every n <= MIN_PADDED_ROWS gets the same padded shapes (one program), visiting only
    the blocks with data; a restart batch of at most one block is not padded at all."""
    shapes = {n: program.layout(n, 2, k, 4096, True) for n in (1, 200, 272, 1024)
              for k in (1, 3, 16)}
    assert {(s.block, s.padded_blocks, s.width) for s in shapes.values()} == {
        (program.SMALL_BLOCK_ROWS, program.MIN_PADDED_ROWS // program.SMALL_BLOCK_ROWS,
         program.PADDED_COMPONENTS)}
    assert [program.layout(n, 2, 3, 4096, True).n_blocks for n in (1, 256, 257, 1024)] == [
        1, 1, 2, 4]
    batch = program.layout(272, 2, 3, 4096, False, n_init=32)
    assert batch == program.Layout(272, 1, 1, 3, False)
    assert program.layout(5000, 2, 3, 4096, False, n_init=32).padded_blocks == 2
    assert not driver.can_pad_components("kmeans++", None, n_init=32)


def test_a_prior_fit_pads_rows_only_and_matches(faithful, monkeypatch):
    """Under a prior K is not padded (the hyperparameters depend on K); rows still are."""
    padded, exact = _fit_both(monkeypatch, faithful, 2, prior=pg.Prior(), seed=0, tol=1e-10)
    _assert_same_fit(padded, exact)


def test_dead_components_never_receive_weight(faithful):
    """The padded program's dead components keep weight exactly 0 and every row's
    responsibility for them is exactly 0, at every restart."""
    k = 3
    problem = driver.make_problem(faithful, k, "full", None, 1e-6, 1e-8, 4096, None,
                                  pad_components=True)
    width = driver.width_of(problem, k)
    assert width == program.PADDED_COMPONENTS
    output = jax.device_get(program.FIT_PROGRAMS["optimised"](
        problem, None, 0, 200, covariance_type="full", variant="soft", init="kmeans++",
        n_init=3, lanes=3, trace_length=program.trace_length(200), width=width))
    assert np.all(output.start.weights[:, k:] == 0.0)
    assert np.all(output.state.params.weights[:, k:] == 0.0)
    assert np.all(output.state.params.weights[:, :k] > 0.0)
    np.testing.assert_allclose(output.state.params.weights.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(output.responsibilities[:, k:] == 0.0)
    n = faithful.shape[0]
    np.testing.assert_allclose(output.responsibilities[:n].sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(problem.w_blocks.reshape(-1)[n:] == 0.0)  # padding rows weigh nothing
