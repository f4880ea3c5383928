"""NUTS with z summed out, MAP by SVI against MAP-EM, and memberships by infer_discrete.

The posterior fixture (``separated_posterior`` in conftest.py) is a short real NUTS run
on data drawn from gmm_model: 2 chains x 200 draws.
"""

import os
import subprocess
import sys
import textwrap

import arviz as az
import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.bayes.map_em import map_em
from ppl_gmm.bayes.map_svi import fit_map_svi
from ppl_gmm.bayes.memberships import posterior_assignments
from ppl_gmm.bayes.nuts import sample_posterior


def _draw(idata, chain, draw):
    post = idata.posterior.isel(chain=chain, draw=draw)
    return pg.GMMParams(post["weights"].values, post["means"].values,
                        post["covariances"].values)


# ----------------------------------------------------------------------------------------
# The InferenceData
# ----------------------------------------------------------------------------------------


def test_log_likelihood_group_is_the_pointwise_marginal_likelihood(separated_posterior):
    X, _, idata = separated_posterior
    log_lik = idata.log_likelihood["x"]
    assert log_lik.dims == ("chain", "draw", "obs")
    assert log_lik.shape == (2, 200, X.shape[0])
    for chain, draw in [(0, 0), (0, 117), (1, 42), (1, 199)]:
        expected = pg.pointwise_log_likelihood(_draw(idata, chain, draw), X)
        np.testing.assert_allclose(log_lik.values[chain, draw], expected, rtol=1e-12)
    # Draws differ, so the group is not one value repeated.
    assert np.ptp(log_lik.sum("obs").values) > 1.0


def test_inference_data_groups_and_dims(separated_posterior):
    X, _, idata = separated_posterior
    assert {"posterior", "log_likelihood", "posterior_predictive", "observed_data",
            "sample_stats", "constant_data"} <= set(idata.groups())
    post = idata.posterior
    assert post["weights"].dims == ("chain", "draw", "component")
    assert post["means"].dims == ("chain", "draw", "component", "feature")
    assert post["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    np.testing.assert_allclose(post["weights"].sum("component"), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(idata.observed_data["x"].values, X)
    assert idata.posterior_predictive["x"].dims == ("chain", "draw", "obs", "feature")
    assert {"lp", "diverging", "n_steps", "acceptance_rate", "step_size"} <= set(
        idata.sample_stats.data_vars)
    # Replicated data spread like the observed data (same scale per feature).
    spread = idata.posterior_predictive["x"].std(("obs",)).mean(("chain", "draw")).values
    np.testing.assert_allclose(spread, X.std(axis=0), rtol=0.2)


def test_chains_start_from_the_map_em_solution(separated_posterior):
    X, _, idata = separated_posterior
    fit = map_em(X, 3, prior=pg.Prior(), seed=0, n_init=4)
    const = idata.constant_data
    np.testing.assert_allclose(const["map_means"].values, fit.params.means, rtol=1e-12)
    np.testing.assert_allclose(const["map_covariances"].values, fit.params.covariances,
                               rtol=1e-12)
    assert idata.posterior.attrs["init"] == "map"
    assert idata.posterior.attrs["map_log_joint"] == pytest.approx(fit.objective, rel=1e-12)
    # Started at the MAP, the chains keep its labelling: every draw's means are closest
    # to the MAP means with the same label.
    means = idata.posterior["means"].values
    dist = np.linalg.norm(means[:, :, :, None, :] - fit.params.means[None, None, None], axis=-1)
    assert np.all(np.argmin(dist, axis=-1) == np.arange(3))


def test_posterior_concentrates_near_the_truth(separated_posterior):
    _, truth, idata = separated_posterior
    post = idata.posterior
    reference = pg.GMMParams(post["weights"].mean(("chain", "draw")).values,
                             post["means"].mean(("chain", "draw")).values,
                             post["covariances"].mean(("chain", "draw")).values)
    aligned = pg.permute(truth, pg.align_labels(truth, reference))
    sd = post["means"].std(("chain", "draw")).values
    # The truth lies within a few posterior standard deviations of the posterior mean.
    assert np.all(np.abs(aligned.means - reference.means) < 5 * sd)


def test_sample_posterior_rejects_bad_init(separated_posterior):
    X, *_ = separated_posterior
    with pytest.raises(ValueError, match="init='somewhere' is not known"):
        sample_posterior(X, 3, init="somewhere", num_warmup=5, num_samples=5, num_chains=2)
    start = map_em(X, 3).params
    with pytest.raises(ValueError, match="one per chain"):
        sample_posterior(X, 3, init=[start] * 3, num_warmup=5, num_samples=5, num_chains=2)
    with pytest.raises(ValueError, match="chain_method"):
        sample_posterior(X, 3, chain_method="threads", num_warmup=5, num_samples=5)
    with pytest.raises(ValueError, match="prior=None has no posterior"):
        sample_posterior(X, 3, prior=_NoPrior(), num_warmup=5, num_samples=5)


class _NoPrior(pg.Prior):
    """A Prior that resolves to None (maximum likelihood): no posterior to sample."""

    def resolve(self, X=None, n_components=1, n_features=None, covariance_type=None):
        return None


# ----------------------------------------------------------------------------------------
# MAP two ways
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faithful_map(faithful):
    """MAP-EM on Old Faithful (K = 2), run to a tight tolerance."""
    return pg.fit_em(faithful, 2, prior=pg.Prior(), seed=0, tol=1e-13, max_iter=5000)


def test_svi_map_and_map_em_reach_the_same_maximum(faithful, faithful_map):
    em = faithful_map
    svi = fit_map_svi(faithful, 2, pg.Prior(), init=em)
    assert svi.converged
    # The very start EM used.
    for a, b in zip(svi.initial_params, em.initial_params, strict=True):
        np.testing.assert_array_equal(a, b)
    lj_svi = pg.log_joint(svi.params, faithful, pg.Prior())
    lj_em = pg.log_joint(em.params, faithful, pg.Prior())
    assert lj_em == pytest.approx(em.objective, rel=1e-12)
    assert lj_svi == pytest.approx(svi.log_joint, rel=1e-12)
    assert abs(lj_svi - lj_em) <= 1e-6 * abs(lj_em)
    aligned = pg.permute(svi.params, pg.align_labels(svi.params, em.params))
    np.testing.assert_allclose(aligned.weights, em.params.weights, rtol=1e-5)
    np.testing.assert_allclose(aligned.means, em.params.means, rtol=1e-5)
    np.testing.assert_allclose(aligned.covariances, em.params.covariances, rtol=1e-4)


def test_svi_map_from_the_same_seed_as_em(faithful, faithful_map):
    # init="kmeans++" with the same seed reproduces EM's start without the EM result.
    svi = fit_map_svi(faithful, 2, pg.Prior(), init="kmeans++", seed=0)
    for a, b in zip(svi.initial_params, faithful_map.initial_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert svi.log_joint == pytest.approx(faithful_map.objective, rel=1e-6)


@pytest.mark.slow
def test_svi_map_by_adam_reaches_the_map(faithful, faithful_map):
    svi = fit_map_svi(faithful, 2, pg.Prior(), init=faithful_map, optimizer="adam",
                      num_steps=4000, step_size=0.05)
    assert svi.n_iter == 4000 and len(svi.losses) == 4000
    assert abs(svi.log_joint - faithful_map.objective) <= 1e-6 * abs(faithful_map.objective)


def test_fit_map_svi_rejects_unknown_optimizer(faithful):
    with pytest.raises(ValueError, match="optimizer must be"):
        fit_map_svi(faithful, 2, optimizer="sgd")


# ----------------------------------------------------------------------------------------
# Memberships
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def overlapping():
    """400 rows from three overlapping components, and their MAP-EM fit."""
    truth = pg.GMMParams(np.array([0.4, 0.35, 0.25]),
                         np.array([[0.0, 0.0], [2.5, 0.5], [1.0, 3.0]]),
                         np.array([np.eye(2), [[1.0, 0.3], [0.3, 0.8]], [[0.7, 0.0], [0.0, 1.2]]]))
    X, _ = pg.sample(truth, 400, seed=2)
    return X, pg.fit_em(X, 3, prior=pg.Prior(), seed=0, tol=1e-13, max_iter=5000)


def test_infer_discrete_map_equals_argmax_of_em_responsibilities(overlapping):
    X, em = overlapping
    memberships = posterior_assignments(em, X)
    # Many points are genuinely ambiguous, so this is not a trivial agreement.
    assert np.sum(em.responsibilities.max(axis=1) < 0.9) >= 50
    np.testing.assert_array_equal(memberships.map, em.labels)
    np.testing.assert_array_equal(memberships.map_by_draw[0], em.labels)
    np.testing.assert_allclose(memberships.probabilities, em.responsibilities, atol=1e-10)


def test_sampled_assignments_follow_the_responsibilities(overlapping):
    # 400 identical "draws" at the MAP: temperature-1 samples of z are then draws from
    # p(z | x, theta_MAP), so their frequencies estimate the responsibilities.
    X, em = overlapping
    draws, k = 400, 3
    idata = az.from_dict(
        posterior={"weights": np.broadcast_to(em.params.weights, (1, draws, k)),
                   "means": np.broadcast_to(em.params.means, (1, draws, k, 2)),
                   "covariances": np.broadcast_to(em.params.covariances, (1, draws, k, 2, 2))},
        dims={"weights": ["component"], "means": ["component", "feature"],
              "covariances": ["component", "feature", "feature_bis"]})
    memberships = posterior_assignments(idata, X, seed=1, relabel=False)
    assert memberships.sampled.shape == (draws, X.shape[0])
    frequency = np.stack([(memberships.sampled == j).mean(axis=0) for j in range(k)], axis=1)
    p = em.responsibilities
    bound = 5 * np.sqrt(p * (1 - p) / draws) + 1e-12
    assert np.all(np.abs(frequency - p) <= bound)
    # The ambiguous points are sampled more than one way.
    ambiguous = ((p > 0.2) & (p < 0.8)).any(axis=1)
    assert ambiguous.sum() >= 20
    assert np.all(frequency[ambiguous].max(axis=1) < 1)
    # Temperature 0 at every (identical) draw: the MAP assignment each time.
    assert np.all(memberships.map_by_draw == em.labels)


def test_posterior_memberships_average_over_relabelled_draws(separated_posterior):
    X, _, idata = separated_posterior
    thinned = idata.sel(draw=slice(None, None, 10))
    memberships = posterior_assignments(thinned, X)
    np.testing.assert_allclose(memberships.probabilities.sum(axis=1), 1.0, rtol=1e-12)
    # At each draw separately, and averaged: the memberships match the MAP-EM labels.
    fit = map_em(X, 3, prior=pg.Prior(), seed=0)
    np.testing.assert_array_equal(memberships.map, fit.labels)
    assert np.mean(np.argmax(memberships.probabilities, axis=1) == fit.labels) == 1.0
    draws = thinned.posterior.sizes["chain"] * thinned.posterior.sizes["draw"]
    assert memberships.map_by_draw.shape == memberships.sampled.shape == (draws, X.shape[0])


# ----------------------------------------------------------------------------------------
# Parallel chains
# ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_chains_run_in_parallel_on_host_devices(tmp_path):
    # numpyro.set_host_device_count must run before JAX starts its backend, hence a
    # fresh interpreter.
    script = textwrap.dedent("""
        import numpyro
        numpyro.set_host_device_count(2)
        import jax
        import ppl_gmm as pg
        from ppl_gmm.bayes.nuts import sample_posterior
        X, _, _ = pg.datasets.make_synthetic(100, 2, 2, seed=1)
        idata = sample_posterior(X, 2, num_warmup=30, num_samples=20, num_chains=2,
                                 posterior_predictive=False)
        print(jax.local_device_count(), idata.posterior.attrs["chain_method"],
              idata.log_likelihood["x"].shape)
    """)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600, check=True)
    assert out.stdout.split("\n")[-2] == "2 parallel (2, 20, 100)"
