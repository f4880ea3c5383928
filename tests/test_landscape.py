"""Local optima: a built-in bad optimum, the landscape of restarts, label permutations."""

import itertools

import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.fit.landscape import solution_distance

CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 9.0]])


@pytest.fixture(scope="module")
def three_clusters():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(size=(100, 2)) + c for c in CENTRES])


def start(means):
    return pg.GMMParams(np.full(3, 1 / 3), np.asarray(means, float),
                        np.broadcast_to(np.eye(2), (3, 2, 2)).copy())


@pytest.fixture(scope="module")
def good_fit(three_clusters):
    return pg.fit_em(three_clusters, 3, init=start(CENTRES))


def test_two_means_in_one_cluster_stop_at_a_worse_optimum(three_clusters, good_fit):
    # Two initial means inside cluster A, the third between B and C.
    bad = pg.fit_em(three_clusters, 3, init=start([[-0.5, 0.0], [0.5, 0.0], [7.5, 4.5]]))
    assert bad.converged and good_fit.converged
    assert bad.objective < good_fit.objective - 100
    # It is a genuine stationary point of the likelihood, not an unfinished run ...
    assert pg.cross_check(bad, three_clusters).passed
    # ... with two components splitting cluster A and one covering B and C.
    in_a = np.linalg.norm(bad.params.means - CENTRES[0], axis=1) < 1.5
    assert in_a.sum() == 2
    merged = bad.params.means[~in_a][0]
    np.testing.assert_allclose(merged, CENTRES[1:].mean(axis=0), atol=0.5)
    # The good start recovers the three clusters.
    perm = pg.align_labels(good_fit.params, start(CENTRES))
    np.testing.assert_allclose(pg.permute(good_fit.params, perm).means, CENTRES, atol=0.3)


def test_landscape_reports_several_optima_and_the_best_is_global(three_clusters, good_fit):
    landscape = pg.likelihood_landscape(three_clusters, 3, n_init=48, seed=0)
    assert landscape.n_optima >= 2
    total = sum(o.n_restarts for o in landscape.optima)
    assert total + landscape.n_failed + landscape.n_unconverged == 48
    best = landscape.best
    assert best.rank == 1 and best.objective_gap == 0 and best.distance_to_best == 0
    assert best.objective == pytest.approx(good_fit.objective, rel=1e-10)
    assert solution_distance(best.params, good_fit.params)[0] < 1e-3
    objectives = [o.objective for o in landscape.optima]
    assert objectives == sorted(objectives, reverse=True)
    worse = landscape.optima[1:]
    assert all(o.objective_gap > 1.0 and o.distance_to_best > landscape.param_tol for o in worse)
    # The best of n_init from fit_em is the landscape's best.
    fitted = pg.fit_em(three_clusters, 3, n_init=48, seed=0, init="random_from_data")
    assert fitted.objective == best.objective
    # Every restart is counted once.
    members = np.concatenate([o.restarts for o in landscape.optima])
    assert len(set(members.tolist())) == total
    text = str(landscape)
    assert "rank" in text and len(text.splitlines()) == 5 + landscape.n_optima
    assert list(landscape.to_dataframe()["rank"]) == list(range(1, landscape.n_optima + 1))


def test_permuted_copies_of_one_start_are_one_optimum(three_clusters):
    perms = list(itertools.permutations(range(3)))
    base = start(CENTRES + 0.3)
    batch = pg.GMMParams(*(np.stack([np.asarray(a)[list(p)] for p in perms]) for a in base))
    landscape = pg.likelihood_landscape(three_clusters, 3, n_init=len(perms), init=batch)
    assert landscape.n_optima == 1 and landscape.best.n_restarts == 6
    # The six runs really are label-permuted: their raw means differ.
    raw = landscape.restarts.params.means
    assert not np.allclose(raw[0], raw[1])
    assert landscape.best.objective_spread <= 1e-9 * abs(landscape.best.objective)


def test_group_optima_merges_permutations_and_separates_distinct_solutions(good_fit):
    rng = np.random.default_rng(5)
    solution = good_fit.params
    copies = [pg.permute(solution, rng.permutation(3)) for _ in range(10)]
    other = pg.GMMParams(solution.weights, solution.means + np.array([[0, 0], [0, 0], [3, 0]]),
                         solution.covariances)
    members = [*copies, other]
    batch = pg.GMMParams(*(np.stack(a) for a in zip(*members, strict=True)))
    objective = np.r_[np.full(10, -1.0), -2.0]
    groups = pg.group_optima(batch, objective)
    assert [sorted(g) for g in groups] == [list(range(10)), [10]]
    # A small perturbation inside the tolerance stays in the group, a larger one does not.
    nudged = pg.GMMParams(solution.weights, solution.means + 1e-4, solution.covariances)
    assert solution_distance(nudged, solution)[0] < 1e-2
    assert solution_distance(other, solution)[0] > 1.0


def test_align_labels_recovers_a_random_permutation_exactly(good_fit):
    rng = np.random.default_rng(1)
    params = good_fit.params
    for _ in range(20):
        perm = rng.permutation(3)
        shuffled = pg.permute(params, perm)
        found = pg.align_labels(shuffled, params)
        np.testing.assert_array_equal(found, np.argsort(perm))
        for a, b in zip(pg.permute(shuffled, found), params, strict=True):
            np.testing.assert_array_equal(a, b)


def test_landscape_validates_its_tolerance(three_clusters):
    with pytest.raises(ValueError, match="param_tol"):
        pg.likelihood_landscape(three_clusters, 3, n_init=2, param_tol=0)


def test_runs_stopped_along_a_flat_ridge_are_one_optimum(faithful):
    # Faithful, K = 3: EM creeps along flat ridges and stops (tol = 1e-8 on the objective)
    # a few hundredths apart for the same optimum; each optimum must be listed once.
    landscape = pg.likelihood_landscape(faithful, 3, n_init=32, seed=0)
    objectives = np.array([o.objective for o in landscape.optima])
    assert np.all(np.diff(objectives) < -1e-6 * np.abs(objectives[1:]))
    # The optima themselves stay apart: converged tightly, the same groups appear.
    tight = pg.likelihood_landscape(faithful, 3, n_init=32, seed=0, tol=1e-11,
                                    max_iter=20_000, param_tol=0.01)
    assert [o.n_restarts for o in tight.optima] == [o.n_restarts for o in landscape.optima]
    for loose, exact in zip(landscape.optima, tight.optima, strict=True):
        assert sorted(loose.restarts.tolist()) == sorted(exact.restarts.tolist())
        assert solution_distance(loose.params, exact.params)[0] < landscape.param_tol
