"""ppl_gmm.plotting: every figure renders with Agg, and shows what the numbers say.

Each test draws a real figure from a real fit, renders it to PNG, and checks what
was drawn (ellipses per component and where they sit, point colours against the
E-step's responsibilities, line data against the EM history, labels, legend entries,
a non-blank image). Set PPL_GMM_PLOT_DIR to keep the PNGs for looking at.
"""

import io
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.patches import Ellipse
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

import ppl_gmm as pg
from ppl_gmm import plotting
from ppl_gmm.structures.registry import SKLEARN_TYPES

FAITHFUL_NAMES = ["eruptions (min)", "waiting (min)"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def render(fig, name):
    """PNG bytes of `fig` through Agg, decoded; saved to PPL_GMM_PLOT_DIR when set."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("PPL_GMM_PLOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(keep) / f"{name}.png", dpi=90)
    return mpimg.imread(io.BytesIO(data), format="png")


def assert_not_blank(image, min_ink=0.02):
    """Some pixels clearly differ from the background, and not just a frame."""
    rgb = image[..., :3]
    ink = np.mean(np.any(np.abs(rgb - rgb[0, 0]) > 0.1, axis=-1))
    assert ink > min_ink, f"only {ink:.3%} of the image differs from the background"


def ellipses(ax):
    return [p for p in ax.patches if isinstance(p, Ellipse)]


def assert_ellipse_is_contour(patch, mean, cov, n_sigma):
    """Every vertex of the drawn ellipse lies at Mahalanobis distance n_sigma from mean."""
    vertices = patch.get_patch_transform().transform(patch.get_path().vertices)
    diff = vertices - np.asarray(mean)
    distance2 = np.einsum("ij,ij->i", diff, np.linalg.solve(cov, diff.T).T)
    # The path is a polygon of Bezier control points: vertices on the curve sit exactly
    # on it, control points slightly outside; the curve points are every third one.
    np.testing.assert_allclose(distance2[::3], n_sigma**2, rtol=1e-9)


def legend_texts(ax_or_fig):
    legend = ax_or_fig.get_legend() if hasattr(ax_or_fig, "get_legend") else None
    if legend is None:
        legend = ax_or_fig.legends[0]
    return [t.get_text() for t in legend.get_texts()]


@pytest.fixture(scope="module")
def standardised():
    X = pg.datasets.load_faithful()
    return (X - X.mean(axis=0)) / X.std(axis=0)


@pytest.fixture(scope="module")
def bishop_fit(standardised):
    """K = 2 from the start of Bishop's fig. 9.8: means off the data, unit-ish circles."""
    init = pg.GMMParams(np.array([0.5, 0.5]), np.array([[-1.5, 1.0], [1.5, -1.0]]),
                        np.stack([0.25 * np.eye(2)] * 2))
    return pg.fit_em(standardised, 2, init=init)


@pytest.fixture(scope="module")
def faithful_fit(faithful):
    return pg.fit_em(faithful, 2, seed=0)


def test_importing_the_package_does_not_import_matplotlib():
    code = textwrap.dedent("""\
        import sys
        import ppl_gmm
        heavy = ("matplotlib", "arviz", "ppl_gmm.plotting")
        print([m for m in heavy if m in sys.modules])
        ppl_gmm.plotting.plot_mixture  # the lazy attribute imports it on first use
        print("matplotlib" in sys.modules)
        """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["[]", "True"], run.stdout


def test_em_steps_panels_replay_the_run_and_colour_points_by_responsibilities(
        bishop_fit, standardised):
    iterations = (0, 1, 2, 5, 20)
    axes = plotting.plot_em_steps(bishop_fit, standardised, iterations,
                                  feature_names=["eruptions (std.)", "waiting (std.)"])
    assert len(axes) == len(iterations)
    path = pg.em_parameter_path(bishop_fit, standardised, max(iterations))
    for ax, t in zip(axes, iterations, strict=True):
        assert ax.get_title() == f"iteration t = {t}"
        drawn = ellipses(ax)
        assert len(drawn) == 2
        # Ellipse k is the 1-sigma contour of component k at theta_t.
        for k, patch in enumerate(drawn):
            np.testing.assert_allclose(patch.center, path.means[t, k], atol=1e-12)
            assert_ellipse_is_contour(patch, path.means[t, k], path.covariances[t, k], 1.0)
    np.testing.assert_allclose(ellipses(axes[0])[0].center, [-1.5, 1.0])
    # At the final iterate the colours are the fit's own responsibilities mixing blue
    # (component 0) and red (component 1).
    last = plotting.plot_em_steps(bishop_fit, standardised, [bishop_fit.n_iter])[0]
    points = next(c for c in last.collections if isinstance(c, PathCollection))
    blue, red = np.array(to_rgb("#1f77b4")), np.array(to_rgb("#d62728"))
    r = bishop_fit.responsibilities
    expected = r[:, :1] * blue + r[:, 1:] * red
    np.testing.assert_allclose(points.get_facecolors()[:, :3], expected, atol=1e-9)
    # At t = 0 some points are shared, so some colours are genuine mixtures (purple).
    first = next(c for c in axes[0].collections if isinstance(c, PathCollection))
    rgb = first.get_facecolors()[:, :3]
    distance = np.minimum(np.abs(rgb - blue).sum(1), np.abs(rgb - red).sum(1))
    assert np.sum(distance > 0.3) >= 5
    assert axes[-1].get_xlabel() == "eruptions (std.)"
    assert axes[0].get_ylabel() == "waiting (std.)"
    assert_not_blank(render(axes[0].figure, "em_steps"))


def test_em_steps_rejects_bad_input(bishop_fit, standardised):
    with pytest.raises(ValueError, match="iterations"):
        plotting.plot_em_steps(bishop_fit, standardised, [-1, 2])
    with pytest.raises(ValueError, match="EMResult"):
        plotting.plot_em_steps(bishop_fit.params, standardised)
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="axes has 2 entries for 3"):
        plotting.plot_em_steps(bishop_fit, standardised, [0, 1, 2], axes=axes)


def test_mixture_2d_draws_k_ellipses_per_sigma_level_and_density_contours(faithful_fit,
                                                                          faithful):
    ax = plotting.plot_mixture(faithful_fit, faithful, feature_names=FAITHFUL_NAMES)
    drawn = ellipses(ax)
    assert len(drawn) == 2 * 3
    params = faithful_fit.params
    for k in range(2):
        mine = [p for p in drawn if p.get_gid().startswith(f"component-{k}-")]
        assert [p.get_gid() for p in mine] == [f"component-{k}-sigma-{s}" for s in (1, 2, 3)]
        for s, patch in zip((1, 2, 3), mine, strict=True):
            np.testing.assert_allclose(patch.center, params.means[k])
            assert_ellipse_is_contour(patch, params.means[k], params.covariances[k], s)
    assert ax.get_xlabel() == FAITHFUL_NAMES[0] and ax.get_ylabel() == FAITHFUL_NAMES[1]
    texts = legend_texts(ax)
    assert texts[:2] == [f"component {k + 1} (π = {w:.2f})" for k, w in
                         enumerate(params.weights)]
    assert "mixture density" in texts
    contours = [c for c in ax.collections if hasattr(c, "levels")]
    assert len(contours) == 1 and len(contours[0].levels) == 5
    # Every point is drawn in the colour of its most responsible component.
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    colours = np.array([to_rgb("#1f77b4"), to_rgb("#d62728")])[faithful_fit.labels]
    np.testing.assert_allclose(points.get_facecolors()[:, :3], colours)
    assert_not_blank(render(ax.figure, "mixture_2d"))
    with pytest.raises(ValueError, match="sigmas"):
        plotting.plot_mixture(faithful_fit, faithful, sigmas=(1, -2))
    with pytest.raises(ValueError, match="3 columns"):
        plotting.plot_mixture(faithful_fit, np.ones((5, 3)))


def test_mixture_without_data_and_from_a_scikit_learn_estimator(faithful):
    from sklearn.mixture import GaussianMixture

    sk = GaussianMixture(3, covariance_type="diag", random_state=0).fit(faithful)
    ax = plotting.plot_mixture(sk, sigmas=(1, 2))
    assert len(ellipses(ax)) == 3 * 2
    # Diagonal covariances: axis-aligned ellipses with the fitted standard deviations.
    for patch in ellipses(ax)[::2]:
        assert patch.angle % 90 == pytest.approx(0, abs=1e-9)
    assert ax.get_xlabel() == "feature 0"
    assert_not_blank(render(ax.figure, "mixture_sklearn"))


def test_mixture_1d_histogram_and_weighted_component_densities(faithful):
    X = faithful[:, :1]
    fit = pg.fit_em(X, 2, seed=0)
    ax = plotting.plot_mixture(fit, X, feature_names=["eruptions (min)"])
    assert ellipses(ax) == []
    lines = ax.get_lines()
    assert len(lines) == 3  # mixture + K components
    grid = lines[0].get_xdata()
    weights, means, variances = fit.params.weights, fit.params.means[:, 0], \
        fit.params.covariances[:, 0, 0]
    total = sum(w * norm.pdf(grid, m, np.sqrt(v))
                for w, m, v in zip(weights, means, variances, strict=True))
    np.testing.assert_allclose(lines[0].get_ydata(), total, rtol=1e-9)
    np.testing.assert_allclose(lines[1].get_ydata() + lines[2].get_ydata(), total, rtol=1e-9)
    bars = [p for p in ax.patches if p.get_height() > 0]
    assert len(bars) >= 5
    # A density histogram integrates to one.
    assert sum(p.get_width() * p.get_height() for p in ax.patches) == pytest.approx(1.0)
    assert ax.get_xlabel() == "eruptions (min)" and ax.get_ylabel() == "density"
    assert legend_texts(ax) == ["data (density histogram)", "mixture density",
                                f"component 1 (π = {fit.params.weights[0]:.2f})",
                                f"component 2 (π = {fit.params.weights[1]:.2f})"]
    assert_not_blank(render(ax.figure, "mixture_1d"))


@pytest.fixture(scope="module")
def iris():
    """Iris (d = 4) and a K = 3 fit by scikit-learn (which the plots read like ours)."""
    from sklearn.datasets import load_iris
    from sklearn.mixture import GaussianMixture

    data = load_iris()
    fit = GaussianMixture(3, random_state=0).fit(data.data)
    return data.data, [name.replace(" (cm)", "") for name in data.feature_names], fit


def test_mixture_d4_draws_a_grid_of_exact_marginal_pairs(iris):
    X, names, sk = iris
    fit = pg.GMMParams(sk.weights_, sk.means_, sk.covariances_)
    grid = plotting.plot_mixture(sk, X, feature_names=names)
    assert grid.shape == (4, 4)
    for i in range(4):
        for j in range(4):
            ax = grid[i, j]
            if i < j:
                assert not ax.axison
            elif i == j:
                assert ellipses(ax) == [] and len(ax.get_lines()) == 1 + 3
            else:
                drawn = ellipses(ax)
                assert len(drawn) == 3 * 3
                # The ellipse of the pair (j, i) is the marginal of the 4-d component.
                cov = fit.covariances[0][np.ix_([j, i], [j, i])]
                assert_ellipse_is_contour(drawn[0], fit.means[0, [j, i]], cov, 1.0)
                np.testing.assert_allclose(drawn[0].center, fit.means[0, [j, i]])
    assert grid[3, 0].get_xlabel() == names[0] and grid[3, 0].get_ylabel() == names[3]
    assert len(legend_texts(grid[0, 0].figure)) == 3
    assert_not_blank(render(grid[0, 0].figure, "mixture_pairs"))
    # One pair on a given Axes; a grid cannot go on one Axes.
    _, ax = plt.subplots()
    assert plotting.plot_mixture(fit, X, ax=ax, features=(2, 3)) is ax
    assert len(ellipses(ax)) == 9
    with pytest.raises(ValueError, match="grid of pairs"):
        plotting.plot_mixture(fit, X, ax=ax)
    with pytest.raises(ValueError, match="features"):
        plotting.plot_mixture(fit, X, features=(0, 7))


def test_log_likelihood_single_run_draws_the_history_and_the_bound(bishop_fit):
    ax = plotting.plot_log_likelihood(bishop_fit)
    objective, bound = ax.get_lines()
    history = bishop_fit.history
    np.testing.assert_array_equal(objective.get_ydata(), history.objective)
    np.testing.assert_array_equal(objective.get_xdata(), np.arange(bishop_fit.n_iter + 1))
    np.testing.assert_array_equal(bound.get_ydata(), history.lower_bound[1:])
    # The bound sits between consecutive objectives (what makes EM monotone).
    y = objective.get_ydata()
    slack = 1e-9 * np.abs(y[1:])
    assert np.all(y[:-1] <= bound.get_ydata() + slack)
    assert np.all(bound.get_ydata() <= y[1:] + slack)
    assert ax.get_xlabel() == "EM iteration t"
    assert "log-likelihood" in ax.get_ylabel()
    assert legend_texts(ax) == ["log-likelihood",
                                r"EM lower bound $\mathcal{L}(q_{t-1}, \theta_t)$"]
    assert_not_blank(render(ax.figure, "log_likelihood"))


def test_log_likelihood_restarts_one_line_each_and_gap_scale(faithful):
    runs = [pg.fit_em(faithful, 3, seed=s, init="random_from_data") for s in range(4)]
    ax = plotting.plot_log_likelihood(runs)
    assert len(ax.get_lines()) == 4
    assert legend_texts(ax) == [f"run {i + 1}: {r.objective:.2f}" for i, r in enumerate(runs)]
    gap_ax = plotting.plot_log_likelihood(runs, gap=True, lower_bound=True)
    assert gap_ax.get_yscale() == "log"
    best = max(r.objective for r in runs)
    first = gap_ax.get_lines()[0].get_ydata()
    expected = best - runs[0].history.objective
    np.testing.assert_allclose(first, np.where(expected > 0, expected, np.nan))
    assert len(gap_ax.get_lines()) == 8
    assert_not_blank(render(gap_ax.figure, "log_likelihood_restarts"))
    # MAP fits are labelled as the log joint.
    map_ax = plotting.plot_log_likelihood(pg.fit_em(faithful, 2, prior=pg.Prior()))
    assert "log joint" in map_ax.get_ylabel()
    with pytest.raises(ValueError, match="labels has 1"):
        plotting.plot_log_likelihood(runs, labels=["a"])


def test_uncertainty_sizes_points_by_one_minus_max_responsibility(faithful_fit, faithful):
    ax = plotting.plot_uncertainty(faithful_fit, faithful, feature_names=FAITHFUL_NAMES)
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    uncertainty = 1 - faithful_fit.responsibilities.max(axis=1)
    sizes = points.get_sizes()
    np.testing.assert_allclose(sizes, 6 + (120 - 6) * uncertainty / 0.5)
    assert np.argmax(sizes) == np.argmax(uncertainty)
    assert len(ellipses(ax)) == 2
    texts = legend_texts(ax)
    assert len(texts) == 2 + 3 and texts[-1] == "1 − max r = 0.50"
    assert ax.get_xlabel() == FAITHFUL_NAMES[0]
    assert_not_blank(render(ax.figure, "uncertainty_2d"))


def test_uncertainty_1d_and_pairs(faithful, iris):
    X = faithful[:, :1]
    fit = pg.fit_em(X, 2, seed=0)
    ax = plotting.plot_uncertainty(fit, X)
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_offsets()[:, 1],
                               1 - fit.responsibilities.max(axis=1), atol=1e-12)
    assert "uncertainty" in ax.get_ylabel()
    assert_not_blank(render(ax.figure, "uncertainty_1d"))
    Xi, names, sk = iris
    grid = plotting.plot_uncertainty(sk, Xi, feature_names=names)
    assert grid.shape == (4, 4) and len(ellipses(grid[1, 0])) == 3
    assert_not_blank(render(grid[0, 0].figure, "uncertainty_pairs"))
    with pytest.raises(ValueError, match="responsibilities must have shape"):
        plotting.plot_uncertainty(fit, X, responsibilities=np.ones((3, 2)))


#: The structures scikit-learn fits, in the registry's order (pg.COVARIANCE_TYPES).
SKLEARN_STRUCTURES = [s for s in pg.COVARIANCE_TYPES if s in SKLEARN_TYPES]


@pytest.fixture(scope="module")
def selection_table(faithful):
    """BIC / AIC of real fits (scikit-learn's: same sign convention, no compile time)."""
    from sklearn.mixture import GaussianMixture

    rows = []
    for structure in SKLEARN_STRUCTURES:
        for k in range(1, 5):
            fit = GaussianMixture(k, covariance_type=structure, random_state=0).fit(faithful)
            rows.append({"n_components": k, "covariance_type": structure,
                         "bic": fit.bic(faithful), "aic": fit.aic(faithful)})
    return pd.DataFrame(rows)


def test_selection_one_line_per_structure_and_the_best_marked(selection_table):
    ax = plotting.plot_selection(selection_table)
    lines = ax.get_lines()
    assert len(lines) == len(SKLEARN_STRUCTURES) + 1
    for line, structure in zip(lines[:-1], SKLEARN_STRUCTURES, strict=True):
        rows = selection_table[selection_table.covariance_type == structure]
        np.testing.assert_array_equal(line.get_xdata(), rows.n_components)
        np.testing.assert_array_equal(line.get_ydata(), rows.bic)
    best = selection_table.loc[selection_table.bic.idxmin()]
    assert lines[-1].get_ydata()[0] == best.bic
    texts = legend_texts(ax)
    m = len(SKLEARN_STRUCTURES)
    assert texts[:m] == SKLEARN_STRUCTURES
    assert texts[m] == f"best: K = {best.n_components}, {best.covariance_type}"
    # The lines come in the registry's order whatever the order of the table's rows.
    reversed_table = selection_table.iloc[::-1]
    assert legend_texts(plotting.plot_selection(reversed_table))[:m] == SKLEARN_STRUCTURES
    assert ax.get_xlabel() == "number of components K" and "BIC" in ax.get_ylabel()
    assert_not_blank(render(ax.figure, "selection"))
    assert "AIC" in plotting.plot_selection(selection_table, criterion="aic").get_ylabel()
    with pytest.raises(ValueError, match="no column"):
        plotting.plot_selection(selection_table, criterion="icl")


def test_landscape_counts_how_often_each_optimum_was_reached(faithful):
    finals = [pg.fit_em(faithful, 4, seed=s, init="random_from_data").log_likelihood
              for s in range(8)]
    ax = plotting.plot_landscape(finals, atol=0.01)
    widths = [bar.get_width() for bar in ax.patches]
    assert sum(widths) == 8
    ticks = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    assert len(ticks) == len(widths) >= 1
    top = max(ticks, key=ticks.get)
    assert top == f"{max(finals):.3f}  (best)"  # the best optimum is drawn on top
    bottom = min(ticks, key=ticks.get)
    assert float(bottom.split()[0]) == pytest.approx(min(finals), abs=0.01)
    # Values within atol are one optimum: no two bars closer than atol.
    values = sorted(float(label.split()[0]) for label in ticks)
    assert np.all(np.diff(values) > 0.01)
    assert ax.get_xlabel() == "restarts reaching this optimum"
    assert_not_blank(render(ax.figure, "landscape"))
    # A table of optima with counts is drawn as given.
    table = pd.DataFrame({"log_likelihood": [-10.0, -12.5], "count": [3, 5]})
    ax = plotting.plot_landscape(table)
    assert [bar.get_width() for bar in ax.patches] == [3, 5]
    with pytest.raises(ValueError, match="finite"):
        plotting.plot_landscape([np.nan])


@pytest.fixture(scope="module")
def draws_idata(standardised, bishop_fit):
    """Real ArviZ InferenceData of real draws of gmm_model's parameters, relabelled.

    The draws come from the model's prior (NumPyro's Predictive, 2 chains x 60), not
    from NUTS: these tests check the plotting wrappers, and NUTS costs a minute of
    compilation here (notebook 03, executed by test_notebooks, runs the real workflow).
    The log_likelihood group is the pointwise marginal log-likelihood (SciPy).
    """
    import arviz as az
    import jax
    import jax.numpy as jnp
    from numpyro.infer import Predictive

    from ppl_gmm.bayes.relabel import relabel

    X = standardised
    out = {}
    references = {1: pg.GMMParams(np.ones(1), X.mean(axis=0)[None], np.cov(X.T)[None]),
                  2: bishop_fit.params}
    for k in (1, 2):
        prior = jax.tree.map(jnp.asarray, pg.Prior(shrinkage=1.0).resolve(X, k))
        sites = Predictive(pg.gmm_model, num_samples=120, batch_ndims=1)(
            jax.random.key(k), None, n_components=k, n_features=2, n_obs=1, prior=prior)
        draws = {name: np.asarray(sites[name]).reshape(2, 60, *np.shape(sites[name])[1:])
                 for name in ("weights", "means", "covariances")}
        log_lik = np.array([[logsumexp([np.log(w[j]) + multivariate_normal(m[j], c[j]).logpdf(X)
                                        for j in range(k)], axis=0)
                              for w, m, c in zip(*(draws[n][chain] for n in
                                                   ("weights", "means", "covariances")),
                                                 strict=True)]
                             for chain in range(2)])
        idata = az.from_dict(
            posterior=draws, log_likelihood={"x": log_lik},
            coords={"component": np.arange(k), "feature": ["x0", "x1"],
                    "feature_bis": ["x0", "x1"], "obs": np.arange(len(X))},
            dims={"weights": ["component"], "means": ["component", "feature"],
                  "covariances": ["component", "feature", "feature_bis"], "x": ["obs"]})
        out[k] = relabel(idata, references[k])
    return out


@pytest.mark.slow
def test_trace_plot_of_relabelled_draws(draws_idata):
    idata = draws_idata[2]
    axes = plotting.plot_trace(idata, var_names=["weights", "means"])
    assert axes.shape == (2, 2)
    assert [ax.get_title() for ax in axes[:, 1]] == ["weights", "means"]
    # Compact: one trace per chain and component (x feature) in each panel.
    assert len(axes[0, 1].get_lines()) == 2 * 2 and len(axes[1, 1].get_lines()) == 2 * 2 * 2
    first = axes[0, 1].get_lines()[0]
    np.testing.assert_allclose(first.get_ydata(), idata.posterior["weights"].values[0, :, 0])
    assert_not_blank(render(axes[0, 0].figure, "trace"))


@pytest.mark.slow
def test_trace_and_rank_plots_relabel_raw_draws_by_default(draws_idata, bishop_fit):
    from ppl_gmm.bayes.relabel import relabel

    # Chain 1 with its two components swapped, and no record of relabelling: raw draws,
    # with the MAP solution stored where sample_posterior stores it.
    raw = draws_idata[2].copy()
    ref = bishop_fit.params
    raw.constant_data = raw.constant_data.assign(
        map_weights=(("component",), ref.weights),
        map_means=(("component", "feature"), ref.means),
        map_covariances=(("component", "feature", "feature_bis"), ref.covariances))
    for name, var in draws_idata[2].posterior.data_vars.items():
        values = var.values.copy()
        values[1] = np.flip(values[1], axis=var.dims.index("component") - 1)
        raw.posterior[name] = (var.dims, values)
    raw.posterior.attrs["relabelled"] = 0
    fixed = relabel(raw)

    def traces(idata, **options):
        axes = plotting.plot_trace(idata, var_names=["weights"], **options)
        return [line.get_ydata() for line in axes[0, 1].get_lines()]

    for shown, expected in zip(traces(raw), traces(fixed, relabel_first=False), strict=True):
        np.testing.assert_array_equal(shown, expected)
    as_drawn = traces(raw, relabel_first=False)
    assert not all(np.array_equal(a, b) for a, b in zip(as_drawn, traces(raw), strict=True))
    ranks = plotting.plot_rank(raw, var_names=["weights"])
    same = plotting.plot_rank(fixed, var_names=["weights"], relabel_first=False)
    for a, b in zip(np.ravel(ranks), np.ravel(same), strict=True):
        assert [p.get_height() for p in a.patches] == [p.get_height() for p in b.patches]
    plt.close("all")


@pytest.mark.slow
def test_rank_plot_one_panel_per_scalar(draws_idata):
    axes = np.ravel(plotting.plot_rank(draws_idata[2], var_names=["means"]))
    assert len(axes) == 2 * 2
    assert all(ax.get_xlabel() == "Rank (all chains)" for ax in axes)
    assert axes[0].get_title().startswith("means")
    assert_not_blank(render(axes[0].figure, "rank"))


@pytest.mark.slow
def test_loo_comparison_plot_ranks_the_models(draws_idata):
    import arviz as az

    with warnings.catch_warnings():  # prior draws: PSIS may warn about its Pareto k
        warnings.simplefilter("ignore", UserWarning)
        comparison = az.compare({"K=1": draws_idata[1], "K=2": draws_idata[2]}, ic="loo")
    ax = plotting.plot_loo_comparison(comparison)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(comparison.index)
    assert "elpd_loo" in ax.get_xlabel()
    assert_not_blank(render(ax.figure, "loo_comparison"))


@pytest.mark.parametrize("structure", SKLEARN_STRUCTURES)
def test_scikit_learn_covariances_are_read_through_the_structure_registry(faithful, structure):
    from sklearn.mixture import GaussianMixture

    sk = GaussianMixture(2, covariance_type=structure, random_state=0).fit(faithful)
    ax = plotting.plot_mixture(sk, sigmas=(1,))
    # scikit-learn's precisions_cholesky_ give the full covariances independently.
    precisions = {"full": lambda p: p @ np.swapaxes(p, -1, -2),
                  "tied": lambda p: np.stack([p @ p.T] * 2),
                  "diag": lambda p: np.stack([np.diag(v * v) for v in p]),
                  "spherical": lambda p: np.stack([np.eye(2) * v * v for v in p])}
    covariances = np.linalg.inv(precisions[structure](sk.precisions_cholesky_))
    for k, patch in enumerate(ellipses(ax)):
        assert_ellipse_is_contour(patch, sk.means_[k], covariances[k], 1.0)
