"""Figures for Gaussian mixtures: matplotlib, imported only when you import this module.

``import ppl_gmm`` never imports matplotlib (or ArviZ, which imports it); import this
module explicitly: ``from ppl_gmm import plotting``.

Every function that draws one panel takes ``ax=`` (a new figure when omitted) and
returns the :class:`matplotlib.axes.Axes` it drew on; functions that draw a grid of
panels take ``axes=`` and return the array of Axes. Nothing is shown or saved: call
``fig.savefig`` or let the notebook display the figure.

What is drawn comes from the package's own numbers: the EM iterates are replayed by
:func:`ppl_gmm.fit.em_parameter_path`, the log-likelihood traces are the ones EM
recorded (:class:`ppl_gmm.params.EMHistory`), and responsibilities and densities are
log pi_k + log N(x | mu_k, Sigma_k) from Cholesky factors and whitened residuals (as
:func:`ppl_gmm.gaussian.component_log_joint` computes them), evaluated in NumPy so
that a new figure does not wait for JAX to compile for its grid. The tests check the
colours against the responsibilities EM itself returns.

Dimensions: d = 1 draws a histogram with the weighted component densities, d = 2 a
scatter with component ellipses, d > 2 a grid of feature pairs (the marginal of a
Gaussian mixture on two features is the mixture of the marginals, so the ellipses and
contours of each panel are exact), unless ``features=(i, j)`` picks one pair.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse
from matplotlib.ticker import MaxNLocator
from scipy.linalg import solve_triangular
from scipy.special import logsumexp

from .._validation import check_data, check_params
from ..params import EMHistory, EMResult, GMMParams

__all__ = [
    "component_colors",
    "mixed_colors",
    "plot_em_steps",
    "plot_landscape",
    "plot_log_likelihood",
    "plot_loo_comparison",
    "plot_mixture",
    "plot_rank",
    "plot_selection",
    "plot_trace",
    "plot_uncertainty",
]

# Blue and red first, as in Bishop's figures; the rest of matplotlib's tab10 after them.
_PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
_DATA_GREY = "0.55"


# --------------------------------------------------------------------------- inputs


def _as_params(model) -> GMMParams:
    """GMMParams from a GMMParams, an EMResult, or an estimator with fitted parameters.

    Estimators are read through ``params_`` (a GMMParams) or scikit-learn's
    ``weights_``, ``means_``, ``covariances_`` and ``covariance_type``.
    """
    model = getattr(model, "result_", model)  # a fitted ppl_gmm.GaussianMixture
    if isinstance(model, EMResult):
        model = model.params
    elif not isinstance(model, GMMParams | tuple):
        if isinstance(getattr(model, "params_", None), GMMParams):
            model = model.params_
        elif hasattr(model, "means_") and hasattr(model, "covariances_"):
            model = _from_sklearn_attributes(model)
        elif isinstance(getattr(model, "params", None), GMMParams):
            model = model.params
        else:
            raise ValueError(
                f"Cannot read mixture parameters from {type(model).__name__}; pass a "
                "GMMParams, an EMResult or a fitted estimator."
            )
    return check_params(model)


def _from_sklearn_attributes(model) -> GMMParams:
    means = np.asarray(model.means_, np.float64)
    k, d = means.shape
    cov = np.asarray(model.covariances_, np.float64)
    kind = getattr(model, "covariance_type", "full")
    if kind == "tied":
        cov = np.broadcast_to(cov, (k, d, d))
    elif kind == "diag":
        cov = cov[:, :, None] * np.eye(d)
    elif kind == "spherical":
        cov = cov[:, None, None] * np.eye(d)
    return GMMParams(np.asarray(model.weights_, np.float64), means, np.array(cov))


def _component_log_joint(params: GMMParams, X: np.ndarray) -> np.ndarray:
    """log pi_k + log N(x_i | mu_k, Sigma_k), shape (n, K).

    Cholesky factor and whitened residuals, no inverse (as in :mod:`ppl_gmm.gaussian`),
    in NumPy: a figure evaluates it once per panel on a new grid, where JAX would
    compile for every new shape.
    """
    X = np.asarray(X, np.float64)
    k, d = np.shape(params.means)
    out = np.empty((X.shape[0], k))
    with np.errstate(divide="ignore"):  # an empty component: log 0 = -inf, never chosen
        log_weights = np.log(np.asarray(params.weights, np.float64))
    for j in range(k):
        L = np.linalg.cholesky(params.covariances[j])
        y = solve_triangular(L, (X - params.means[j]).T, lower=True)
        out[:, j] = (log_weights[j] - 0.5 * d * np.log(2.0 * np.pi)
                     - np.sum(np.log(np.diag(L))) - 0.5 * np.sum(y * y, axis=0))
    return out


def _responsibilities(params: GMMParams, X: np.ndarray) -> np.ndarray:
    log_joint = _component_log_joint(params, X)
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def _marginal(params: GMMParams, features) -> GMMParams:
    """The mixture of the components' marginals on `features` (exact for Gaussians)."""
    idx = np.asarray(features)
    return GMMParams(params.weights, params.means[:, idx],
                     params.covariances[:, idx][:, :, idx])


def _feature_names(feature_names, d):
    if feature_names is None:
        return [f"feature {j}" for j in range(d)] if d > 1 else ["x"]
    names = [str(name) for name in feature_names]
    if len(names) != d:
        raise ValueError(f"feature_names has {len(names)} entries but the data have d={d}.")
    return names


def _check_features(features, d):
    if features is None:
        return None
    features = [int(j) for j in np.atleast_1d(features)]
    if not 1 <= len(features) or any(not 0 <= j < d for j in features):
        raise ValueError(f"features must be column indices between 0 and {d - 1}, got {features}.")
    if len(set(features)) != len(features):
        raise ValueError(f"features must be distinct, got {features}.")
    return features


def _check_sigmas(sigmas) -> tuple:
    sigmas = tuple(float(s) for s in np.atleast_1d(sigmas))
    if not sigmas or not all(np.isfinite(s) and s > 0 for s in sigmas):
        raise ValueError(f"sigmas must be positive numbers (Mahalanobis radii), got {sigmas}.")
    return sigmas


def _data_for(params: GMMParams, X):
    if X is None:
        return None
    X = check_data(X)
    if X.shape[1] != params.n_features:
        raise ValueError(
            f"X has {X.shape[1]} columns but the mixture has d={params.n_features} features."
        )
    return X


# --------------------------------------------------------------------------- colours


def component_colors(n_components: int) -> np.ndarray:
    """One RGB colour per component, shape (K, 3): blue, red, then matplotlib's tab10."""
    if n_components <= len(_PALETTE):
        return np.array([to_rgb(c) for c in _PALETTE[:n_components]])
    cmap = plt.get_cmap("turbo")
    return np.array([cmap(x)[:3] for x in np.linspace(0.05, 0.95, n_components)])


def mixed_colors(responsibilities, colors=None) -> np.ndarray:
    """Colour of each point as the responsibility-weighted mix of the component colours.

    A point shared equally by a blue and a red component is purple, as in Bishop
    (2006), fig. 9.8.

    Parameters
    ----------
    responsibilities : array, shape (n, K)
    colors : array, shape (K, 3), optional
        Defaults to :func:`component_colors`.

    Returns
    -------
    ndarray, shape (n, 3)
    """
    resp = np.asarray(responsibilities, np.float64)
    colors = component_colors(resp.shape[1]) if colors is None else np.asarray(colors)
    return np.clip(resp @ colors, 0.0, 1.0)


# --------------------------------------------------------------------------- primitives


def _new_axes(ax, figsize=(5.2, 4.4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _ellipse(mean, cov, n_sigma, **kwargs) -> Ellipse:
    """The contour {x : (x - mu)^T Sigma^{-1} (x - mu) = n_sigma^2} of a 2-D Gaussian."""
    eigvals, eigvecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(eigvecs[1, 1], eigvecs[0, 1]))
    width, height = 2.0 * n_sigma * np.sqrt(eigvals[::-1])
    return Ellipse(xy=mean, width=width, height=height, angle=angle, fill=False, **kwargs)


def _draw_ellipses(ax, params: GMMParams, colors, sigmas, linewidth=1.8):
    """K ellipses per level in `sigmas`; the 1st level of each component carries its label."""
    drawn = []
    for k in range(params.n_components):
        for level, n_sigma in enumerate(sigmas):
            patch = _ellipse(
                params.means[k], params.covariances[k], n_sigma,
                edgecolor=colors[k], linewidth=linewidth * (1.0 if level == 0 else 0.7),
                alpha=1.0 if level == 0 else 0.55, zorder=3,
            )
            patch.set_gid(f"component-{k}-sigma-{n_sigma:g}")
            ax.add_patch(patch)
            drawn.append(patch)
        ax.plot(*params.means[k], marker="+", color=colors[k], markersize=9, mew=2, zorder=4)
    return drawn


def _limits(params: GMMParams, X, pad=0.08):
    """Axis limits covering the data, or mean +- 3.5 sd of every component without data."""
    if X is not None:
        lo, hi = X.min(axis=0), X.max(axis=0)
    else:
        sd = np.sqrt(np.diagonal(params.covariances, axis1=1, axis2=2))
        lo = (params.means - 3.5 * sd).min(axis=0)
        hi = (params.means + 3.5 * sd).max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return lo - pad * span, hi + pad * span


def _density_contours(ax, params: GMMParams, X, lo, hi, n_grid=160):
    """Contours of the mixture density; with data, at the density of its 10..90% quantiles.

    The contour at the density of the q-quantile of f(x_i) encloses about 1 - q of the
    points, so the levels read as highest-density regions.
    """
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n_grid), np.linspace(lo[1], hi[1], n_grid))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    log_f = logsumexp(_component_log_joint(params, grid), axis=1).reshape(gx.shape)
    if X is not None:
        at_data = logsumexp(_component_log_joint(params, X), axis=1)
        levels = np.quantile(at_data, [0.1, 0.25, 0.5, 0.75, 0.9])
    else:
        top = log_f.max()
        levels = top + np.log([0.01, 0.05, 0.2, 0.5, 0.8])
    levels = np.unique(levels)
    if len(levels) < 2:
        levels = np.array([levels[0] - 1.0, levels[0]])
    # linestyles: matplotlib dashes negative levels of one-colour contours by default.
    return ax.contour(gx, gy, log_f, levels=levels, colors="0.35", linewidths=0.7,
                      linestyles="solid", alpha=0.8, zorder=2)


def _component_legend_handles(params: GMMParams, colors):
    return [
        Line2D([], [], color=colors[k], lw=2, label=f"component {k + 1} (π = {w:.2f})")
        for k, w in enumerate(params.weights)
    ]


# --------------------------------------------------------------------------- panels


def _mixture_panel_2d(ax, params, X, colors, sigmas, density, names, legend=True):
    lo, hi = _limits(params, X)
    handles = []
    if X is not None:
        point_colors = colors[np.argmax(_responsibilities(params, X), axis=1)]
        ax.scatter(X[:, 0], X[:, 1], s=10, c=point_colors, alpha=0.55, linewidths=0, zorder=1)
        handles.append(Line2D([], [], ls="", marker="o", color=_DATA_GREY, label="data "
                              "(by most likely component)"))
    if density:
        _density_contours(ax, params, X, lo, hi)
        handles.append(Line2D([], [], color="0.35", lw=0.7, label="mixture density"))
    _draw_ellipses(ax, params, colors, sigmas)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    if legend:
        levels = ", ".join(f"{s:g}" for s in sigmas)
        handles = _component_legend_handles(params, colors) + handles
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.85,
                  title=f"ellipses: {levels} σ", title_fontsize=7)
    return ax


def _mixture_panel_1d(ax, params, X, colors, name, legend=True, bins="auto"):
    lo, hi = _limits(params, X, pad=0.05)
    grid = np.linspace(lo[0], hi[0], 400)
    component_density = np.exp(_component_log_joint(params, grid[:, None]))
    if X is not None:
        ax.hist(X[:, 0], bins=bins, density=True, color="0.8", edgecolor="white",
                label="data (density histogram)")
    ax.plot(grid, component_density.sum(axis=1), color="black", lw=1.0, ls="--", zorder=2,
            label="mixture density")
    for k in range(params.n_components):
        # Each curve is the weighted density pi_k N(x | mu_k, sigma_k^2): they sum to the mixture.
        ax.plot(grid, component_density[:, k], color=colors[k], lw=1.8, zorder=3,
                label=f"component {k + 1} (π = {params.weights[k]:.2f})")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(bottom=0)
    ax.set_xlabel(name)
    ax.set_ylabel("density")
    if legend:
        ax.legend(fontsize=7, loc="best", framealpha=0.85)
    return ax


def _pairs_axes(axes, m, figsize_per=2.4):
    if axes is None:
        fig, axes = plt.subplots(m, m, figsize=(figsize_per * m, figsize_per * m),
                                 layout="constrained", squeeze=False)
        return fig, axes
    axes = np.asarray(axes, dtype=object)
    if axes.shape != (m, m):
        raise ValueError(f"axes must be a ({m}, {m}) array of Axes for {m} features, "
                         f"got shape {axes.shape}.")
    return axes[0, 0].figure, axes


def _pairs(axes, features, names, draw_pair, draw_diagonal):
    """Lower triangle: pairs (x = feature j, y = feature i); diagonal: one feature; upper: off."""
    m = len(features)
    _, axes = _pairs_axes(axes, m)
    for i in range(m):
        for j in range(m):
            ax = axes[i, j]
            if i == j:
                draw_diagonal(ax, features[i])
            elif i > j:
                draw_pair(ax, (features[j], features[i]))
            else:
                ax.set_axis_off()
                continue
            ax.set_xlabel(names[features[j]] if i == m - 1 else "")
            if i == j:
                ax.set_ylabel("density" if j == 0 else "")
            else:
                ax.set_ylabel(names[features[i]] if j == 0 else "")
            ax.tick_params(labelsize=7)
    return axes


# --------------------------------------------------------------------------- public


def plot_mixture(model, X=None, *, ax=None, axes=None, features=None, sigmas=(1, 2, 3),
                 density=True, feature_names=None, bins="auto"):
    """Data with the fitted components: ellipses at 1, 2, 3 sigma and density contours.

    Parameters
    ----------
    model : GMMParams, EMResult or fitted estimator
    X : array-like (n, d), optional
        Data to show; points are coloured by their most responsible component.
    ax : Axes, optional
        Panel to draw on (d = 1, d = 2, or one pair chosen by `features`).
    axes : (m, m) array of Axes, optional
        Grid for d > 2 (m = number of `features`, all of them by default).
    features : sequence of int, optional
        Columns to show; two give a single panel, more give a grid of pairs.
    sigmas : sequence of float
        Mahalanobis radii of the ellipses {x: (x - mu)' Sigma^-1 (x - mu) = s^2}.
    density : bool
        Draw contours of the mixture density (2-D panels). With data, the contours sit
        at the density of the 10, 25, 50, 75, 90 % quantiles of f(x_i), so each one
        encloses about 90, 75, 50, 25, 10 % of the points.
    feature_names : sequence of str, optional
    bins : histogram bins for 1-D panels.

    Returns
    -------
    Axes, or ndarray of Axes for a grid of pairs.
    """
    params = _as_params(model)
    X = _data_for(params, X)
    d = params.n_features
    names = _feature_names(feature_names, d)
    features = _check_features(features, d)
    sigmas = _check_sigmas(sigmas)
    colors = component_colors(params.n_components)

    if features is None:
        features = list(range(d))
    if len(features) == 1:
        j = features[0]
        return _mixture_panel_1d(_new_axes(ax), _marginal(params, [j]),
                                 None if X is None else X[:, [j]], colors, names[j], bins=bins)
    if len(features) == 2:
        sub = None if X is None else X[:, features]
        return _mixture_panel_2d(_new_axes(ax), _marginal(params, features), sub, colors,
                                 sigmas, density, [names[j] for j in features])
    if ax is not None:
        raise ValueError(f"{len(features)} features make a grid of pairs: pass axes= (an "
                         "(m, m) array of Axes) instead of ax=, or features=(i, j) for one panel.")

    def pair(ax, idx):
        sub = None if X is None else X[:, list(idx)]
        _mixture_panel_2d(ax, _marginal(params, idx), sub, colors, sigmas, density,
                          [names[j] for j in idx], legend=False)

    def diagonal(ax, j):
        sub = None if X is None else X[:, [j]]
        _mixture_panel_1d(ax, _marginal(params, [j]), sub, colors, names[j], legend=False,
                          bins=bins)

    grid = _pairs(axes, features, names, pair, diagonal)
    fig = grid[0, 0].figure
    handles = _component_legend_handles(params, colors)
    fig.legend(handles=handles, loc="upper right", fontsize=8,
               title=f"ellipses: {', '.join(f'{s:g}' for s in sigmas)} σ", title_fontsize=8)
    return grid


def plot_em_steps(result: EMResult, X, iterations=(0, 1, 2, 5, 20), *, axes=None,
                  features=(0, 1), feature_names=None, sigmas=(1.0,), ncols=None):
    """EM at chosen iterations, as in Bishop (2006), *PRML*, fig. 9.8.

    Panel t shows theta_t (replayed from the run behind `result` by
    :func:`ppl_gmm.fit.em_parameter_path`): the component ellipses, and every point
    coloured by its responsibilities at theta_t, mixing the component colours (a point
    shared by blue and red is purple).

    Parameters
    ----------
    result : EMResult
        A fit of `X` (any K and d); the replay runs ``max(iterations)`` EM steps from
        ``result.initial_params``, past ``result.n_iter`` if asked.
    X : array-like (n, d)
        The data `result` was fitted to.
    iterations : sequence of int
        Iterations to show, each >= 0.
    axes : sequence of Axes, optional
        One per iteration.
    features : pair of int
        The two columns to draw when d > 2 (marginal ellipses).
    feature_names : sequence of str, optional
    sigmas : sequence of float
        Mahalanobis radii of the ellipses.
    ncols : int, optional
        Columns of the new figure (default: all panels in one row up to 3, else 3).

    Returns
    -------
    ndarray of Axes, one per iteration.
    """
    from ..fit.driver import em_parameter_path

    if not isinstance(result, EMResult):
        raise ValueError("plot_em_steps needs the EMResult of a fit (it replays that run).")
    X = check_data(X)
    iterations = [int(t) for t in np.atleast_1d(iterations)]
    if not iterations or min(iterations) < 0:
        raise ValueError(f"iterations must be integers >= 0, got {iterations}.")
    d = X.shape[1]
    features = _check_features(features, d) if d > 1 else [0]
    if d > 1 and len(features) != 2:
        raise ValueError(f"features must name two columns, got {features}.")
    names = _feature_names(feature_names, d)
    sigmas = _check_sigmas(sigmas)
    n_steps = max(iterations)
    if n_steps == 0:
        path = GMMParams(*(np.asarray(a)[None] for a in result.initial_params))
    else:
        path = em_parameter_path(result, X, n_steps)
    k = result.params.n_components
    colors = component_colors(k)

    n = len(iterations)
    outer = np.ones((n, 2), bool)  # (draw x label, draw y label) per panel
    if axes is None:
        ncols = ncols or (n if n <= 3 else 3)
        nrows = -(-n // ncols)
        _, grid = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.9 * nrows),
                               layout="constrained", squeeze=False)
        for ax in grid.ravel()[n:]:
            ax.set_axis_off()
        axes = grid.ravel()[:n]
        for i in range(n):
            below = i + ncols
            outer[i] = (below >= n, i % ncols == 0)
    else:
        axes = np.asarray(axes, dtype=object).ravel()
        if len(axes) != n:
            raise ValueError(f"axes has {len(axes)} entries for {n} iterations.")

    shown = [GMMParams(*(np.asarray(a[t]) for a in path)) for t in iterations]
    # Limits that hold the data and every shown iterate's ellipses, the same in all panels.
    lo, hi = _limits(result.params, X)
    for params_t in shown:
        sd = np.sqrt(np.diagonal(params_t.covariances, axis1=1, axis2=2)) * max(sigmas)
        lo = np.minimum(lo, (params_t.means - 1.05 * sd).min(axis=0))
        hi = np.maximum(hi, (params_t.means + 1.05 * sd).max(axis=0))
    for ax, t, params_t, (xlabel, ylabel) in zip(axes, iterations, shown, outer, strict=True):
        if d == 1:
            _mixture_panel_1d(ax, params_t, X, colors, names[0], legend=False)
        else:
            idx = list(features)
            resp = _responsibilities(params_t, X)
            ax.scatter(X[:, idx[0]], X[:, idx[1]], s=11, c=mixed_colors(resp, colors),
                       linewidths=0, zorder=1)
            _draw_ellipses(ax, _marginal(params_t, idx), colors, sigmas, linewidth=2.0)
            ax.set_xlim(lo[idx[0]], hi[idx[0]])
            ax.set_ylim(lo[idx[1]], hi[idx[1]])
            ax.set_xlabel(names[idx[0]] if xlabel else "")
            ax.set_ylabel(names[idx[1]] if ylabel else "")
            ax.set_aspect("equal", adjustable="box")
        ax.set_title(f"iteration t = {t}", fontsize=10)
        ax.tick_params(labelsize=7)
    return np.asarray(axes, dtype=object)


def _histories(runs):
    """A list of EMHistory from an EMResult, an EMHistory, or a sequence of either."""
    if isinstance(runs, EMResult | EMHistory) or hasattr(runs, "result_"):
        runs = [runs]
    runs = list(runs)
    if not runs:
        raise ValueError("plot_log_likelihood needs at least one EM run.")
    out = []
    for run in runs:
        run = getattr(run, "result_", run)  # a fitted ppl_gmm.GaussianMixture
        if isinstance(run, EMResult):
            out.append(run.history)
        elif isinstance(run, EMHistory):
            out.append(run)
        else:
            raise ValueError(f"Expected EMResult or EMHistory entries, got {type(run).__name__}.")
    return out


def plot_log_likelihood(runs, *, ax=None, lower_bound=None, gap=False, labels=None,
                        max_legend=8):
    """The objective EM maximised, against iteration; one line per run.

    Parameters
    ----------
    runs : EMResult, EMHistory, fitted GaussianMixture, or a sequence of them
        One line each, e.g. restarts fitted from the starting points of
        ``fit_em(..., n_init=...)`` (its ``restarts.initial_params``).
    ax : Axes, optional
    lower_bound : bool, optional
        Also draw the EM lower bound L(q_{t-1}, theta_t) (+ log prior), the quantity
        the M-step maximised, which lies between the objective at t - 1 and at t.
        Default: only when one run is given.
    gap : bool
        Draw the distance to the best final objective over all runs, on a log scale,
        instead of the objective itself: EM's linear convergence is a straight line,
        and runs stuck at worse optima level off above zero.
    labels : sequence of str, optional
        One per run; default "run i: final value".
    max_legend : int
        Runs beyond this many are drawn but left out of the legend.

    Returns
    -------
    Axes
    """
    histories = _histories(runs)
    ax = _new_axes(ax)
    single = len(histories) == 1
    lower_bound = single if lower_bound is None else bool(lower_bound)
    if labels is not None and len(labels) != len(histories):
        raise ValueError(f"labels has {len(labels)} entries for {len(histories)} runs.")
    colors = np.array([to_rgb("black")]) if single else component_colors(len(histories))
    # Under a prior the objective is the log joint; it differs from the log-likelihood.
    is_map = any(not np.array_equal(h.objective, h.log_likelihood) for h in histories)
    word = "log joint" if is_map else "log-likelihood"
    symbol = r"$\log p(X, \theta_t)$" if is_map else r"$\log p(X \mid \theta_t)$"
    best = max(float(np.asarray(h.objective)[-1]) for h in histories)

    def shown(values):
        values = np.asarray(values, np.float64)
        if not gap:
            return values
        distance = best - values
        # Zero (the best run's last iterate) cannot sit on a log axis.
        return np.where(distance > 0, distance, np.nan)

    for i, history in enumerate(histories):
        objective = np.asarray(history.objective)
        t = np.arange(len(objective))
        if labels is not None:
            label = labels[i]
        elif single:
            label = word
        else:
            label = f"run {i + 1}: {objective[-1]:.2f}"
        ax.plot(t, shown(objective), color=colors[i], lw=1.6 if single else 1.2,
                marker="o" if single else None, markersize=3,
                label=label if i < max_legend else None)
        if lower_bound and len(objective) > 1:
            ax.plot(t[1:], shown(np.asarray(history.lower_bound)[1:]),
                    color="#d62728" if single else colors[i], ls="--", lw=1.0,
                    marker="x" if single else None, markersize=4,
                    label=(r"EM lower bound $\mathcal{L}(q_{t-1}, \theta_t)$" if i == 0
                           else None))
    ax.set_xlabel("EM iteration t")
    if gap:
        ax.set_yscale("log")
        ax.set_ylabel(f"best final {word} − {symbol}")
    else:
        ax.set_ylabel(f"{word} {symbol}")
    ax.legend(fontsize=8, loc="upper right" if gap else "lower right", framealpha=0.85)
    ax.grid(alpha=0.3)
    return ax


def plot_uncertainty(model, X, *, ax=None, axes=None, features=None, feature_names=None,
                     responsibilities=None, sizes=(6.0, 120.0)):
    """Classification uncertainty 1 - max_k r_ik of each point (mclust's uncertainty plot).

    Points are coloured by their most responsible component and sized by their
    uncertainty (0 for a point certainly in one component, 1 - 1/K at most), with
    1-sigma component ellipses. For d = 1 the uncertainty is the vertical axis.

    Parameters
    ----------
    model : GMMParams, EMResult or fitted estimator
    X : array-like (n, d)
    ax, axes, features, feature_names
        As in :func:`plot_mixture`.
    responsibilities : array (n, K), optional
        Defaults to the E-step at the model's parameters.
    sizes : (float, float)
        Marker areas for uncertainty 0 and for the largest possible, 1 - 1/K.

    Returns
    -------
    Axes, or ndarray of Axes for a grid of pairs.
    """
    params = _as_params(model)
    X = _data_for(params, X)
    if X is None:
        raise ValueError("plot_uncertainty needs the data X.")
    k, d = params.n_components, params.n_features
    resp = (_responsibilities(params, X) if responsibilities is None
            else np.asarray(responsibilities, np.float64))
    if resp.shape != (X.shape[0], k):
        raise ValueError(f"responsibilities must have shape {(X.shape[0], k)}, got {resp.shape}.")
    uncertainty = 1.0 - resp.max(axis=1)
    worst = 1.0 - 1.0 / k if k > 1 else 1.0
    area = sizes[0] + (sizes[1] - sizes[0]) * uncertainty / worst
    colors = component_colors(k)
    point_colors = colors[resp.argmax(axis=1)]
    names = _feature_names(feature_names, d)
    features = _check_features(features, d) or list(range(d))

    def panel_2d(ax, idx, legend):
        idx = list(idx)
        ax.scatter(X[:, idx[0]], X[:, idx[1]], s=area, c=point_colors, alpha=0.6,
                   edgecolors="white", linewidths=0.3, zorder=2)
        _draw_ellipses(ax, _marginal(params, idx), colors, (1.0,), linewidth=1.2)
        lo, hi = _limits(params, X[:, :], pad=0.08)
        ax.set_xlim(lo[idx[0]], hi[idx[0]])
        ax.set_ylim(lo[idx[1]], hi[idx[1]])
        ax.set_xlabel(names[idx[0]])
        ax.set_ylabel(names[idx[1]])
        if legend:
            _size_legend(ax, params, colors, sizes, worst)

    def panel_1d(ax, j, legend):
        ax.scatter(X[:, j], uncertainty, s=14, c=point_colors, alpha=0.7, linewidths=0)
        ax.axhline(worst, color="0.6", lw=0.8, ls=":")
        ax.set_ylim(-0.03 * worst, 1.08 * worst)
        ax.set_xlabel(names[j])
        ax.set_ylabel("uncertainty 1 − max_k r_ik")
        if legend:
            handles = _component_legend_handles(params, colors)
            handles.append(Line2D([], [], color="0.6", lw=0.8, ls=":",
                                  label=f"largest possible, 1 − 1/K = {worst:.2f}"))
            ax.legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.85)

    if len(features) == 1:
        ax = _new_axes(ax)
        panel_1d(ax, features[0], True)
        return ax
    if len(features) == 2:
        ax = _new_axes(ax)
        panel_2d(ax, features, True)
        return ax
    if ax is not None:
        raise ValueError(f"{len(features)} features make a grid of pairs: pass axes= (an "
                         "(m, m) array of Axes) instead of ax=, or features=(i, j) for one panel.")
    grid = _pairs(axes, features, names, lambda ax, idx: panel_2d(ax, idx, False),
                  lambda ax, j: panel_1d(ax, j, False))
    for i in range(len(features)):
        grid[i, i].set_ylabel("1 − max r" if i == 0 else "")
    _size_legend(grid[0, 0].figure, params, colors, sizes, worst)
    return grid


def _size_legend(target, params, colors, sizes, worst):
    handles = _component_legend_handles(params, colors)
    for u in (0.1 * worst, 0.5 * worst, worst):
        area = sizes[0] + (sizes[1] - sizes[0]) * u / worst
        handles.append(Line2D([], [], ls="", marker="o", color="0.5", alpha=0.6,
                              markersize=np.sqrt(area), label=f"1 − max r = {u:.2f}"))
    kwargs = {"fontsize": 7, "framealpha": 0.85, "labelspacing": 0.9}
    if hasattr(target, "add_subplot"):
        target.legend(handles=handles, loc="upper right", **kwargs)
    else:
        target.legend(handles=handles, loc="best", **kwargs)


# --------------------------------------------------------------------------- model choice


_CRITERION_LABELS = {
    "bic": "BIC = −2 log L + p log n  (lower is better)",
    "aic": "AIC = −2 log L + 2p  (lower is better)",
    "icl": "ICL = BIC + 2 × entropy  (lower is better)",
}


def plot_selection(table, *, criterion=None, ax=None, k_column="n_components",
                   structure_column="covariance_type", mark_best=True, higher_is_better=False):
    """A criterion against the number of components, one line per covariance structure.

    Parameters
    ----------
    table : Selection or pandas.DataFrame
        The result of :func:`ppl_gmm.selection.select` (its ``table``), or any table
        with one row per fit (long format) and columns `k_column`, `structure_column`
        and `criterion`; failed fits may be NaN (drawn as gaps).
    criterion : str, optional
        Column to draw, e.g. "bic", "aic", "icl"; default the Selection's criterion,
        else "bic".
    ax : Axes, optional
    mark_best : bool
        Circle the best (K, structure).
    higher_is_better : bool
        False for BIC/AIC/ICL with scikit-learn's sign (-2 log L + penalty).

    Returns
    -------
    Axes
    """
    if criterion is None:
        criterion = getattr(table, "criterion", "bic")
    frame = _selection_frame(table)
    missing = [c for c in (k_column, structure_column, criterion) if c not in frame.columns]
    if missing:
        raise ValueError(f"The selection table has no column(s) {missing}; its columns are "
                         f"{list(frame.columns)}. Pass criterion=/k_column=/structure_column=.")
    ax = _new_axes(ax)
    structures = list(dict.fromkeys(frame[structure_column]))
    palette = component_colors(len(structures))
    markers = "osD^vP*X"
    for i, structure in enumerate(structures):
        rows = frame[frame[structure_column] == structure].sort_values(k_column)
        ax.plot(rows[k_column].to_numpy(), rows[criterion].to_numpy(dtype=float),
                color=palette[i], marker=markers[i % len(markers)], markersize=5, lw=1.4,
                label=str(structure))
    values = frame[criterion].to_numpy(dtype=float)
    if mark_best and np.any(np.isfinite(values)):
        best = int(np.nanargmax(values) if higher_is_better else np.nanargmin(values))
        row = frame.iloc[best]
        ax.plot(row[k_column], row[criterion], marker="o", markersize=14, mfc="none",
                mec="black", mew=1.5, ls="",
                label=f"best: K = {row[k_column]}, {row[structure_column]}")
    ax.set_xlabel("number of components K")
    ax.set_ylabel(_CRITERION_LABELS.get(criterion.lower(), criterion))
    ks = np.unique(frame[k_column].to_numpy())
    ax.set_xticks(ks)
    ax.legend(title="covariance", fontsize=8, title_fontsize=8, framealpha=0.85)
    ax.grid(alpha=0.3)
    return ax


def _selection_frame(table):
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        frame = table
    elif hasattr(table, "to_frame"):
        frame = table.to_frame()
    elif isinstance(getattr(table, "table", None), pd.DataFrame):
        frame = table.table
    else:
        frame = pd.DataFrame(table)
    frame = frame.reset_index()
    return frame.drop(columns=[c for c in ("index", "level_0") if c in frame.columns])


def _group_optima(values, atol):
    """Distinct values, best first, and how many entries lie within atol of each."""
    optima, counts = [], []
    for v in np.sort(values)[::-1]:
        if optima and abs(optima[-1] - v) <= atol:
            counts[-1] += 1
        else:
            optima.append(v)
            counts.append(1)
    return np.array(optima), np.array(counts)


def plot_landscape(landscape, *, ax=None, atol=1e-4, value_label=None):
    """The optima that EM restarts reached, and how often each was reached.

    One bar per distinct optimum, best on top (green), its length the number of
    restarts that ended there, labelled with the optimum's objective and its gap to
    the best.

    Parameters
    ----------
    landscape : Landscape, RestartTable, pandas.DataFrame or array-like
        A :class:`ppl_gmm.landscape.Landscape` (optima grouped modulo label
        permutation by :func:`ppl_gmm.landscape.likelihood_landscape`); a
        :class:`ppl_gmm.restarts.RestartTable` or the final objectives of the restarts
        (grouped here by value, within `atol`); or a DataFrame with an ``objective``
        (or ``log_likelihood``) column and, optionally, ``n_restarts`` (or ``count``).
    ax : Axes, optional
    atol : float
        Final values closer than this count as one optimum (not used for a Landscape,
        which groups by parameters).
    value_label : str, optional
        Name of the value (default "objective" for a Landscape or RestartTable,
        "log-likelihood" otherwise).

    Returns
    -------
    Axes
    """
    values, counts, total, default_label = _landscape_optima(landscape, atol)
    value_label = default_label if value_label is None else value_label
    ax = _new_axes(ax, figsize=(6.2, 1.3 + 0.38 * max(len(values), 2)))
    y = np.arange(len(values))[::-1]  # the best optimum on top
    colors = ["#2ca02c" if i == 0 else "#7f7f7f" for i in range(len(values))]
    bars = ax.barh(y, counts, color=colors, height=0.7)
    for bar, count in zip(bars, counts, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f"  {count}/{total} ({100 * count / total:.0f}%)", va="center", fontsize=8)
    best = values[0]
    ax.set_yticks(y, [f"{v:.3f}  (best)" if i == 0 else f"{v:.3f}  (Δ = {v - best:.3g})"
                      for i, v in enumerate(values)], fontsize=8)
    ax.set_xlim(0, counts.max() * 1.35)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("restarts reaching this optimum")
    ax.set_ylabel(value_label)
    ax.grid(axis="x", alpha=0.3)
    return ax


def _landscape_optima(landscape, atol):
    """(values best first, restart counts, total restarts, default value label)."""
    import pandas as pd

    if hasattr(landscape, "optima") and hasattr(landscape, "restarts"):
        if not landscape.optima:
            raise ValueError("The landscape has no optimum (every restart failed or did not "
                             "converge).")
        values = np.array([o.objective for o in landscape.optima], np.float64)
        counts = np.array([o.n_restarts for o in landscape.optima])
        return values, counts, len(landscape.restarts), "objective"
    if isinstance(landscape, pd.DataFrame):
        value = next((c for c in ("objective", "log_likelihood") if c in landscape), None)
        if value is None:
            raise ValueError("The landscape table needs an 'objective' or 'log_likelihood' "
                             f"column; it has {list(landscape.columns)}.")
        count = next((c for c in ("n_restarts", "count") if c in landscape), None)
        if count is not None:
            values = landscape[value].to_numpy(np.float64)
            order = np.argsort(-values, kind="stable")
            counts = landscape[count].to_numpy()[order].astype(int)
            return values[order], counts, int(counts.sum()), value.replace("_", "-")
        raw, label = landscape[value].to_numpy(np.float64), value.replace("_", "-")
        total = raw.size
    elif hasattr(landscape, "objective") and hasattr(landscape, "failed"):  # RestartTable
        raw = np.asarray(landscape.objective, np.float64)[~np.asarray(landscape.failed)]
        label = getattr(landscape, "objective_name", "objective")
        total = len(landscape.objective)  # failed restarts count as reaching no optimum
    else:
        raw, label = np.asarray(landscape, dtype=np.float64).ravel(), "log-likelihood"
        total = raw.size
    finite = raw[np.isfinite(raw)]
    if finite.size == 0:
        raise ValueError("plot_landscape needs at least one finite objective value.")
    values, counts = _group_optima(finite, atol)
    return values, counts, int(total), label


# --------------------------------------------------------------------------- Bayesian (ArviZ)

_DEFAULT_VARS = ("weights", "means")


def plot_trace(idata, var_names=_DEFAULT_VARS, *, axes=None, relabel_first: bool = True,
               **kwargs):
    """ArviZ trace plot (densities and traces per chain) of relabelled draws.

    Label switching makes raw mixture traces jump between modes, so the draws are
    relabelled first (:func:`ppl_gmm.relabel.relabel`) unless they already are; then
    the traces of each component's parameters should overlap across chains.

    Parameters
    ----------
    idata : arviz.InferenceData
    var_names : sequence of str
    axes : ndarray of Axes, optional
        Passed to ``arviz.plot_trace`` as `axes`, shape (len(var_names), 2).
    relabel_first : bool
        False plots the draws as they are (to show label switching itself).
    **kwargs
        Other ``arviz.plot_trace`` options (``compact`` defaults to True).

    Returns
    -------
    ndarray of Axes, shape (len(var_names), 2)
    """
    import arviz as az

    from ..bayes.relabel import relabelled

    idata = relabelled(idata, relabel_first)
    var_names = list(var_names)
    kwargs.setdefault("compact", True)
    if axes is None:
        kwargs.setdefault("figsize", (11.0, 2.4 * len(var_names) + 0.4))
    drawn = az.plot_trace(idata, var_names=var_names, axes=axes, **kwargs)
    if axes is None:
        # ArviZ's default layout lets the titles run into the tick labels above them.
        np.ravel(drawn)[0].figure.set_layout_engine("constrained")
    return drawn


def plot_rank(idata, var_names=_DEFAULT_VARS, *, axes=None, relabel_first: bool = True,
              **kwargs):
    """ArviZ rank plot: per-chain histograms of the draws' ranks, flat when chains mix.

    The draws are relabelled first (:func:`ppl_gmm.relabel.relabel`) unless they
    already are, as for :func:`plot_trace`.

    Parameters
    ----------
    idata : arviz.InferenceData
    var_names : sequence of str
    axes : ndarray of Axes, optional
        One per scalar parameter (e.g. K x d for the means).
    relabel_first : bool
        False ranks the draws as they are.
    **kwargs
        Other ``arviz.plot_rank`` options.

    Returns
    -------
    ndarray of Axes
    """
    import arviz as az

    from ..bayes.relabel import relabelled

    idata = relabelled(idata, relabel_first)
    drawn = az.plot_rank(idata, var_names=list(var_names), ax=axes, **kwargs)
    if axes is None:
        np.ravel(drawn)[0].figure.set_layout_engine("constrained")
    return drawn


def plot_loo_comparison(comparison, *, ax=None, **kwargs):
    """ArviZ's plot of an ``arviz.compare`` table: ELPD (LOO) of each model with its SE.

    Parameters
    ----------
    comparison : pandas.DataFrame or dict
        The output of ``arviz.compare``, or a dict name -> InferenceData (with a
        ``log_likelihood`` group) to compare by PSIS-LOO.
    ax : Axes, optional
    **kwargs
        Other ``arviz.plot_compare`` options.

    Returns
    -------
    Axes
    """
    import arviz as az

    if isinstance(comparison, dict):
        comparison = az.compare(comparison, ic="loo")
    ax = _new_axes(ax, figsize=(6.0, 0.9 + 0.5 * len(comparison)))
    az.plot_compare(comparison, ax=ax, **kwargs)
    return ax


