"""EM against the PPL, against itself (bounds, monotonicity) and against scikit-learn."""

import jax
import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

import ppl_gmm as pg
from ppl_gmm.fit import driver as fit_module
from ppl_gmm.fit import estep_choice, program
from ppl_gmm.structures.registry import get_structure

STRUCTURES = pg.COVARIANCE_TYPES  # every registered structure: mclust's 14 models
# (structure, with_prior): MAP only where the structure takes a prior (mclust's ten).
WITH_AND_WITHOUT_PRIOR = [pytest.param(s, p, id=f"{'map' if p else 'ml'}-{s}")
                          for p in (False, True) for s in STRUCTURES
                          if not p or get_structure(s).accepts_prior]
SKLEARN_TYPES = ("full", "diag", "spherical", "tied")  # the ones scikit-learn fits


def data_sets(faithful, drawn):
    return {"faithful": faithful, "drawn": drawn[0]}


@pytest.mark.parametrize(("covariance_type", "with_prior"), WITH_AND_WITHOUT_PRIOR)
@pytest.mark.parametrize("data", ["faithful", "drawn"])
def test_em_objective_equals_ppl_at_every_iterate(faithful, drawn, covariance_type, with_prior,
                                                 data):
    X = data_sets(faithful, drawn)[data]
    prior = pg.Prior() if with_prior else None
    result = pg.fit_em(X, 3, covariance_type=covariance_type, prior=prior, seed=1, max_iter=60,
                       tol=1e-7)
    check = pg.cross_check(result, X)
    assert len(check.ppl_objective) == result.n_iter + 1 >= 3
    difference = np.abs(check.em_objective - check.ppl_objective)
    assert np.all(difference <= 1e-9 * np.abs(check.ppl_objective))
    # The same number through the public one-off functions, at the returned parameters.
    expected = pg.log_joint(result.params, X, result.prior, covariance_type)
    assert result.objective == pytest.approx(expected, rel=1e-9)
    log_lik = pg.marginal_log_likelihood(result.params, X)
    assert result.log_likelihood == pytest.approx(log_lik, rel=1e-9)
    assert (result.objective == pytest.approx(log_lik, rel=1e-12)) == (not with_prior)


@pytest.mark.parametrize(("covariance_type", "with_prior"), WITH_AND_WITHOUT_PRIOR)
def test_objective_never_decreases_and_bounds_hold(faithful, covariance_type, with_prior):
    # reg_covar = 0 (the default): the M-step is the exact maximiser, so EM is monotone.
    result = pg.fit_em(faithful, 4, covariance_type=covariance_type,
                       prior=pg.Prior() if with_prior else None, seed=2, max_iter=300, tol=0.0)
    h = result.history
    slack = 1e-12 * np.abs(h.objective[1:])
    assert np.all(np.diff(h.objective) >= -slack)
    # objective_{t-1} <= L(q_{t-1}, theta_t) <= objective_t: the bound the M-step raised.
    assert np.all(h.lower_bound[1:] >= h.objective[:-1] - slack)
    assert np.all(h.lower_bound <= h.objective + 1e-12 * np.abs(h.objective))
    # After the E-step the bound touches the objective (computed from the statistics).
    np.testing.assert_allclose(h.lower_bound_after_e_step, h.objective, rtol=1e-11)
    # The bound is not trivially the objective: the M-step gap is visible early on.
    assert np.max(h.objective[1:] - h.lower_bound[1:]) > 1e-6


def test_gradient_vanishes_at_a_tight_optimum(faithful):
    """At a converged optimum the PPL gradient is small; at the start it is not.

    With tol = 1e-13 the per-observation gradient bound of cross_check is
    10 sqrt(tol |log L| / n) = 2e-6 (see ppl_gmm.crosscheck for the argument).
    """
    result = pg.fit_em(faithful, 2, seed=0, tol=1e-13, max_iter=5000)
    check = pg.cross_check(result, faithful)
    assert result.converged and check.stationary and check.passed
    assert check.gradient_norm_per_observation < 2e-6
    start = pg.ppl_gradient(result.initial_params, faithful)
    start_norm = np.sqrt(sum(float(np.sum(np.square(g))) for g in jax.tree.leaves(start)))
    assert start_norm / faithful.shape[0] > 100 * check.gradient_norm_per_observation
    assert "PASS" in str(check)


def sklearn_precisions(covariances, covariance_type):
    precisions = np.linalg.inv(covariances)
    if covariance_type == "full":
        return precisions
    if covariance_type == "tied":
        return precisions[0]
    if covariance_type == "diag":
        return np.diagonal(precisions, axis1=1, axis2=2)
    return precisions[:, 0, 0]


@pytest.mark.filterwarnings("ignore::ppl_gmm.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_same_parameters_as_scikit_learn_from_the_same_start(faithful, covariance_type):
    start = pg.fit_em(faithful, 3, covariance_type=covariance_type, seed=4, max_iter=1).params
    max_iter = 25
    reference = GaussianMixture(
        3, covariance_type=covariance_type, weights_init=start.weights, means_init=start.means,
        precisions_init=sklearn_precisions(start.covariances, covariance_type),
        max_iter=max_iter, tol=0.0, reg_covar=0.0,
    )
    with pytest.warns(UserWarning):  # scikit-learn warns that tol = 0 never converges
        reference.fit(faithful)
    ours = pg.fit_em(faithful, 3, covariance_type=covariance_type, init=start,
                     max_iter=max_iter, tol=0.0)
    assert ours.n_iter == max_iter == reference.n_iter_
    np.testing.assert_allclose(ours.params.weights, reference.weights_, rtol=1e-8)
    np.testing.assert_allclose(ours.params.means, reference.means_, rtol=1e-8)
    as_full = {"full": lambda c: c,
               "tied": lambda c: np.broadcast_to(c, (3, 2, 2)),
               "diag": lambda c: np.stack([np.diag(v) for v in c]),
               "spherical": lambda c: c[:, None, None] * np.eye(2)}[covariance_type]
    np.testing.assert_allclose(ours.params.covariances, as_full(reference.covariances_),
                               rtol=1e-8, atol=1e-12)


def test_recovers_parameters_of_data_drawn_from_the_model(separated_params):
    X, z = pg.sample(separated_params, 5000, seed=11)
    result = pg.fit_em(X, 3, seed=0)
    assert result.converged
    fitted = pg.permute(result.params, pg.align_labels(result.params, separated_params))
    np.testing.assert_allclose(fitted.weights, separated_params.weights, atol=0.02)
    np.testing.assert_allclose(fitted.means, separated_params.means, atol=0.06)
    np.testing.assert_allclose(fitted.covariances, separated_params.covariances, atol=0.08)
    perm = pg.align_labels(result.params, separated_params)
    agreement = np.mean(np.argsort(perm)[result.labels] == z)
    assert agreement > 0.995


def test_map_em_moves_toward_the_prior(faithful):
    ml = pg.fit_em(faithful, 2, seed=0)
    strong = pg.Prior(shrinkage=500.0)
    shrunk = pg.fit_em(faithful, 2, seed=0, prior=strong)
    centre = faithful.mean(axis=0)
    assert np.all(np.linalg.norm(shrunk.params.means - centre, axis=1)
                  < np.linalg.norm(ml.params.means - centre, axis=1))


def test_block_size_changes_only_rounding(drawn):
    X = drawn[0]
    # tol = 1e-10 stops before the changes are rounding noise (tol = 0 would stop at
    # whichever step rounding happens to give an exact tie, in a different one per layout).
    whole = pg.fit_em(X, 3, seed=5, max_iter=40, tol=1e-10, block_size=4096)
    blocks = pg.fit_em(X, 3, seed=5, max_iter=40, tol=1e-10, block_size=37)
    for a, b in zip(whole.params, blocks.params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert whole.n_iter == blocks.n_iter
    np.testing.assert_allclose(whole.history.objective, blocks.history.objective, rtol=1e-12)


def test_design_rows_built_per_block_give_the_stored_fit(drawn, monkeypatch):
    # The E-step builds each block's design rows in cache unless reading them stored was
    # measured faster: the same arithmetic on the same rows, so the same fit.
    X = drawn[0]
    per_block = pg.fit_em(X, 3, seed=5, max_iter=40, tol=0.0, block_size=64)
    problem = fit_module.make_problem(X, 3, "full", None, 0.0, 0.0, 64)
    assert not estep_choice.stores_design_rows(problem, 3)  # small: never measured
    # Measure even this small problem, and take the stored rows whatever the timings.
    monkeypatch.setattr(estep_choice, "MEASURED_ABOVE_BYTES", 0)
    monkeypatch.setattr(estep_choice, "MARGIN", -1e9)
    monkeypatch.setattr(estep_choice, "_CHOICES", {})
    assert estep_choice.stores_design_rows(problem, 3)
    stored = pg.fit_em(X, 3, seed=5, max_iter=40, tol=0.0, block_size=64)
    assert per_block.n_iter == stored.n_iter
    for a, b in zip(stored.params, per_block.params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(per_block.history.objective, stored.history.objective,
                               rtol=1e-13)


def test_the_e_step_is_chosen_by_measurement_once_per_shape(drawn, monkeypatch):
    X = drawn[0]
    problem = fit_module.make_problem(X, 3, "full", None, 0.0, 0.0, 64)
    built, stored = estep_choice.time_e_steps(problem, 3, repeats=3)
    assert 0 < built < 1 and 0 < stored < 1
    monkeypatch.setattr(estep_choice, "MEASURED_ABOVE_BYTES", 0)
    monkeypatch.setattr(estep_choice, "_CHOICES", {})
    monkeypatch.setattr(estep_choice, "MARGIN", 1.0)  # stored would have to take no time
    assert not estep_choice.stores_design_rows(problem, 3)
    assert list(estep_choice._CHOICES.values()) == [False]
    monkeypatch.setattr(estep_choice, "MARGIN", -1e9)  # remembered: not measured again
    assert not estep_choice.stores_design_rows(problem, 3)
    estep_choice.clear_choices()
    assert estep_choice.stores_design_rows(problem, 3)
    # Above the memory cap the rows are built whatever the measurement would say.
    monkeypatch.setattr(estep_choice, "STORED_DESIGN_BYTES",
                        estep_choice.stored_design_bytes(problem) - 1)
    estep_choice.clear_choices()
    assert not estep_choice.stores_design_rows(problem, 3)
    assert estep_choice._CHOICES == {}


def test_same_seed_same_fit_other_seed_other_start(faithful):
    a = pg.fit_em(faithful, 3, seed=7)
    b = pg.fit_em(faithful, 3, seed=7)
    c = pg.fit_em(faithful, 3, seed=8)
    for x, y in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.initial_params.means, c.initial_params.means)


def test_refitting_same_shapes_does_not_recompile(faithful):
    pg.fit_em(faithful, 2, seed=0)
    pg.fit_em(faithful, 2, seed=0, tol=1e-6)
    before = program.compiled_count()
    pg.fit_em(faithful[::-1], 2, seed=3, tol=1e-6, max_iter=1000, prior=None)
    pg.fit_em(faithful * 2.0, 2, seed=1)
    assert program.compiled_count() == before


def test_responsibilities_are_the_posterior_memberships(faithful):
    result = pg.fit_em(faithful, 2, seed=0)
    r = result.responsibilities
    np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=1e-12)
    p = result.params
    from scipy.stats import multivariate_normal

    joint = np.stack([w * multivariate_normal(m, c).pdf(faithful)
                      for w, m, c in zip(p.weights, p.means, p.covariances, strict=True)], 1)
    np.testing.assert_allclose(r, joint / joint.sum(axis=1, keepdims=True), rtol=1e-9,
                               atol=1e-14)


def test_convergence_warning_when_max_iter_is_hit(faithful):
    with pytest.warns(pg.ConvergenceWarning, match="did not converge in max_iter=3"):
        result = pg.fit_em(faithful, 3, seed=0, max_iter=3)
    assert not result.converged and result.n_iter == 3
    assert len(result.history.objective) == 4
