"""What a variational posterior predicts: the Student-t predictive, memberships, draws.

The closed forms are checked against Monte Carlo over q's own draws (within four
standard errors), the draws' log q against SciPy's densities, the InferenceData against
what ArviZ and the package's Bayesian tools take.
"""

import arviz as az
import matplotlib
import numpy as np
import pytest
from scipy import stats

import ppl_gmm as pg
from ppl_gmm.bayes.inference_data import pointwise_log_likelihood_draws
from ppl_gmm.bayes.variational import (
    predictive_component_log_densities,
    predictive_memberships,
    variational_draws,
)

matplotlib.use("Agg")

# One structure of each q(Lambda) form (Wishart, Gammas on a diagonal, one Gamma), each
# shared or not, the weight priors alternating.
CASES = [("full", "dirichlet_process"), ("tied", "dirichlet_distribution"),
         ("diag", "dirichlet_distribution"), ("EEI", "dirichlet_process"),
         ("spherical", "dirichlet_process"), ("EII", "dirichlet_distribution")]


@pytest.fixture(scope="module")
def fits(faithful):
    return {case: pg.fit_vb(faithful, 2, covariance_type=case[0], weight_prior=case[1],
                            n_init=2)
            for case in CASES}


@pytest.fixture(scope="module")
def full_draws(faithful, fits):
    vb = fits[CASES[0]]
    return vb, pg.sample_variational(vb, faithful, num_samples=250, num_chains=4, seed=3)


def _monte_carlo_log_mean(log_values):
    """log mean exp over axis 0 and its delta-method standard error."""
    top = log_values.max(axis=0)
    ratios = np.exp(log_values - top)
    mean = ratios.mean(axis=0)
    return np.log(mean) + top, ratios.std(axis=0, ddof=1) / (mean * np.sqrt(len(ratios)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_predictive_density_is_the_mixture_density_averaged_over_q(faithful, fits, case):
    vb = fits[case]
    rows = np.vstack([faithful[::40], [[3.2, 68.0], [5.4, 95.0]]])  # data and the tails
    draws = variational_draws(vb, 20000, seed=11)
    log_density = pointwise_log_likelihood_draws(draws["weights"], draws["means"],
                                                 draws["covariances"], rows)
    estimate, se = _monte_carlo_log_mean(log_density)
    exact = pg.predictive_log_density(vb, rows)
    assert np.all(np.abs(exact - estimate) < 4 * se + 1e-12), (exact - estimate) / se


def test_predictive_density_is_heavier_tailed_than_the_plug_in(faithful, fits):
    vb = fits[CASES[0]]
    far = np.array([[0.0, 120.0], [8.0, 20.0]])
    plug_in = pg.pointwise_log_likelihood(vb.params, far)
    assert np.all(pg.predictive_log_density(vb, far) > plug_in + 1.0)
    near = faithful[:20]
    difference = pg.predictive_log_density(vb, near) - pg.pointwise_log_likelihood(vb.params,
                                                                                 near)
    assert np.mean(np.abs(difference)) < 0.05  # amid the data, nearly the plug-in


def test_predictive_memberships_are_the_components_shares(faithful, fits):
    vb = fits[CASES[2]]
    shares = predictive_component_log_densities(vb, faithful)
    memberships = predictive_memberships(vb, faithful)
    assert np.allclose(memberships.sum(axis=1), 1.0)
    assert np.allclose(np.log(memberships), shares - np.logaddexp.reduce(shares, axis=1)[:, None])
    # On the training data they are close to q(Z) itself (n = 272: q(theta) is narrow).
    assert np.abs(memberships - vb.responsibilities).max() < 0.05


def test_draws_have_q_s_moments(fits):
    vb = fits[CASES[1]]  # tied, Dirichlet weights
    draws = variational_draws(vb, 40000, seed=5)
    q = vb.posterior
    for name, expected in (("weights", q.weight_concentration / q.weight_concentration.sum()),
                           ("means", q.means), ("covariances", vb.expected_covariances)):
        values = draws[name]
        se = values.std(axis=0) / np.sqrt(len(values))
        assert np.all(np.abs(values.mean(axis=0) - expected) <= 4 * se + 1e-12), name
    # A shared covariance is one draw repeated in every component.
    assert np.array_equal(draws["covariances"][:, 0], draws["covariances"][:, 1])


def test_log_q_is_scipys_density_of_the_draws(full_draws):
    vb, idata = full_draws
    q = vb.posterior
    post = idata.posterior
    for chain, draw in ((0, 0), (3, 17)):
        sticks = post["sticks"].values[chain, draw]
        means = post["means"].values[chain, draw]
        cov = post["covariances"].values[chain, draw]
        a, b = q.weight_concentration
        expected = np.sum(stats.beta.logpdf(sticks, a, b))
        for j in range(2):
            expected += stats.invwishart.logpdf(cov[j], q.degrees_of_freedom[j],
                                                q.scale_matrices[j])
            expected += stats.multivariate_normal.logpdf(means[j], q.means[j],
                                                         cov[j] / q.mean_precision[j])
        assert np.isclose(idata.sample_stats["log_q"].values[chain, draw], expected,
                          rtol=1e-10)


def test_draws_bound_the_evidence_above_the_elbo(faithful, full_draws):
    # E_q[log p(X, theta) - log q(theta)] (z summed out) >= ELBO (z in q as well): the
    # collapsed bound is the tighter one; and the importance ratios are usable (k < 0.7).
    vb, idata = full_draws
    gap = (idata.sample_stats["lp"] - idata.sample_stats["log_q"]).values.ravel()
    assert gap.mean() + 4 * gap.std() / np.sqrt(gap.size) > vb.elbo
    assert gap.mean() - vb.elbo < 5.0
    lp = idata.sample_stats["lp"].values[0, 0]
    sites = {"sticks": idata.posterior["sticks"].values[0, 0],
             "means": idata.posterior["means"].values[0, 0],
             "covariances": idata.posterior["covariances"].values[0, 0]}
    direct = pg.ppl.likelihood.model_log_density(sites, faithful, 2, "full", vb.prior,
                                                 weight_prior="dirichlet_process")
    assert np.isclose(lp, float(direct), rtol=1e-10)
    assert idata.posterior.attrs["pareto_k"] < 0.7


def test_inference_data_has_sample_posteriors_groups_and_dims(faithful, full_draws):
    vb, idata = full_draws
    assert set(idata.groups()) == {"posterior", "sample_stats", "log_likelihood",
                                   "posterior_predictive", "observed_data", "constant_data"}
    post = idata.posterior
    assert post.attrs["inference"] == "variational"
    assert post.attrs["elbo"] == vb.elbo
    assert post["means"].dims == ("chain", "draw", "component", "feature")
    assert post["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    assert post["weights"].shape == (4, 250, 2)
    assert np.allclose(post["weights"].sum("component"), 1.0)
    assert idata.log_likelihood["x"].dims == ("chain", "draw", "obs")
    assert idata.posterior_predictive["x"].shape == (4, 250, *faithful.shape)
    assert np.array_equal(idata.observed_data["x"].values, faithful)
    # The pointwise log-likelihood is the model's, draw by draw.
    draw = {name: post[name].values[1, 2] for name in ("weights", "means", "covariances")}
    assert np.allclose(idata.log_likelihood["x"].values[1, 2],
                       pg.pointwise_log_likelihood(pg.GMMParams(**draw), faithful))


def test_arviz_and_the_package_tools_take_the_draws(faithful, full_draws):
    vb, idata = full_draws
    table = pg.summary(idata, var_names=["means"])
    assert np.allclose(table["mean"].values, vb.posterior.means.ravel(), atol=0.1)
    assert (table["r_hat"] < 1.02).all()  # independent draws
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    assert pg.relabel(idata).posterior.attrs["relabelled"] == 1
    axes = pg.plotting.plot_trace(idata, var_names=["weights"])
    assert np.asarray(axes).size >= 2
    matplotlib.pyplot.close("all")


def test_posterior_assignments_average_over_q(faithful, fits):
    vb = fits[CASES[0]]
    assignments = pg.posterior_assignments(vb, faithful, num_draws=400, seed=2)
    assert assignments.map_by_draw.shape == (400, faithful.shape[0])
    assert np.abs(assignments.probabilities - predictive_memberships(vb, faithful)).max() < 0.05
    assert np.array_equal(assignments.map, np.argmax(vb.responsibilities, axis=1))


def test_bad_input_is_named(faithful, fits):
    vb = fits[CASES[0]]
    with pytest.raises(ValueError, match="features"):
        pg.predictive_log_density(vb, faithful[:, :1])
    with pytest.raises(TypeError, match="VBResult"):
        pg.predictive_log_density(vb.params, faithful)
    with pytest.raises(ValueError, match="num_samples"):
        pg.sample_variational(vb, faithful, num_samples=0)
    before = faithful.copy()
    pg.predictive_log_density(vb, faithful)
    assert np.array_equal(before, faithful)


# ------------------------------------------------------------------ figures


def test_plot_elbo_draws_the_recorded_history(fits, tmp_path):
    from ppl_gmm import plotting

    vb = fits[CASES[0]]
    ax = plotting.plot_elbo(vb)
    elbo_line, bound_line = ax.get_lines()[:2]
    assert np.array_equal(elbo_line.get_ydata(), vb.history.elbo)
    assert np.array_equal(bound_line.get_ydata(), vb.history.lower_bound[1:])
    ax.figure.savefig(tmp_path / "elbo.png")
    several = plotting.plot_elbo([fits[CASES[0]], fits[CASES[2]]])
    assert len(several.get_lines()) == 2  # no bound lines for several runs by default
    with pytest.raises(ValueError, match="VBResult"):
        plotting.plot_elbo([vb.params])
    matplotlib.pyplot.close("all")


def test_plot_weights_shows_the_switch_off(faithful, tmp_path):
    from ppl_gmm import plotting

    vb = pg.fit_vb(faithful, 6, weight_concentration=0.01, n_init=2)
    ax = plotting.plot_weights(vb)
    heights = np.array([bar.get_height() for bar in ax.patches])
    assert np.allclose(heights, vb.params.weights)
    grey = [np.allclose(bar.get_facecolor()[:3], matplotlib.colors.to_rgb("0.7"))
            for bar in ax.patches]
    assert grey == list(vb.params.weights <= 0.01)
    assert ax.get_title().startswith(f"{vb.n_active} of 6")
    ax.figure.savefig(tmp_path / "weights.png")
    mixture = plotting.plot_mixture(vb, faithful)
    assert len(mixture.patches) >= 6  # an ellipse per component and radius
    with pytest.raises(ValueError, match="interval"):
        plotting.plot_weights(vb, interval=1.5)
    matplotlib.pyplot.close("all")
