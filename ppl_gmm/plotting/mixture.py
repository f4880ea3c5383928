"""Mixture figures: the fitted components over the data, EM's iterates, the uncertainty.

- :func:`plot_mixture`: ellipses at 1, 2, 3 sigma and density contours over the data;
- :func:`plot_em_steps`: EM at chosen iterations, as in Bishop (2006), fig. 9.8;
- :func:`plot_uncertainty`: each point sized by 1 - max_k r_ik (mclust's uncertainty plot).

Dimensions: d = 1 draws a histogram with the weighted component densities, d = 2 a
scatter with component ellipses, d > 2 a grid of feature pairs (the marginal of a
Gaussian mixture on two features is the mixture of the marginals, so the ellipses and
contours of each panel are exact), unless ``features=(i, j)`` picks one pair.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from .._validation import check_data
from ..fit.driver import em_parameter_path
from ..params import EMResult, GMMParams
from . import densities
from .geometry import (
    DATA_GREY,
    axis_limits,
    component_colors,
    component_legend_handles,
    draw_ellipses,
    mixed_colors,
)
from .inputs import as_params, checked_data, checked_features, checked_sigmas, feature_labels
from .layout import draw_pairs, new_axes

__all__ = ["plot_em_steps", "plot_mixture", "plot_uncertainty"]


def _density_contours(ax, params: GMMParams, X, lo, hi, n_grid=160):
    """Contours of the mixture density; with data, at the density of its 10..90% quantiles.

    The contour at the density of the q-quantile of f(x_i) encloses about 1 - q of the
    points, so the levels read as highest-density regions.
    """
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n_grid), np.linspace(lo[1], hi[1], n_grid))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    log_f = densities.mixture_log_density(params, grid).reshape(gx.shape)
    if X is not None:
        at_data = densities.mixture_log_density(params, X)
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


def _mixture_panel_2d(ax, params, X, colors, sigmas, density, names, legend=True):
    lo, hi = axis_limits(params, X)
    handles = []
    if X is not None:
        point_colors = colors[np.argmax(densities.responsibilities(params, X), axis=1)]
        ax.scatter(X[:, 0], X[:, 1], s=10, c=point_colors, alpha=0.55, linewidths=0, zorder=1)
        handles.append(Line2D([], [], ls="", marker="o", color=DATA_GREY, label="data "
                              "(by most likely component)"))
    if density:
        _density_contours(ax, params, X, lo, hi)
        handles.append(Line2D([], [], color="0.35", lw=0.7, label="mixture density"))
    draw_ellipses(ax, params, colors, sigmas)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    if legend:
        levels = ", ".join(f"{s:g}" for s in sigmas)
        handles = component_legend_handles(params, colors) + handles
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.85,
                  title=f"ellipses: {levels} σ", title_fontsize=7)
    return ax


def _mixture_panel_1d(ax, params, X, colors, name, legend=True, bins="auto"):
    lo, hi = axis_limits(params, X, pad=0.05)
    grid = np.linspace(lo[0], hi[0], 400)
    component_density = np.exp(densities.component_log_joint(params, grid[:, None]))
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
    params = as_params(model)
    X = checked_data(params, X)
    d = params.n_features
    names = feature_labels(feature_names, d)
    features = checked_features(features, d)
    sigmas = checked_sigmas(sigmas)
    colors = component_colors(params.n_components)

    if features is None:
        features = list(range(d))
    if len(features) == 1:
        j = features[0]
        return _mixture_panel_1d(new_axes(ax), densities.marginal(params, [j]),
                                 None if X is None else X[:, [j]], colors, names[j], bins=bins)
    if len(features) == 2:
        sub = None if X is None else X[:, features]
        return _mixture_panel_2d(new_axes(ax), densities.marginal(params, features), sub, colors,
                                 sigmas, density, [names[j] for j in features])
    if ax is not None:
        raise ValueError(f"{len(features)} features make a grid of pairs: pass axes= (an "
                         "(m, m) array of Axes) instead of ax=, or features=(i, j) for one panel.")

    def pair(ax, idx):
        sub = None if X is None else X[:, list(idx)]
        _mixture_panel_2d(ax, densities.marginal(params, idx), sub, colors, sigmas, density,
                          [names[j] for j in idx], legend=False)

    def diagonal(ax, j):
        sub = None if X is None else X[:, [j]]
        _mixture_panel_1d(ax, densities.marginal(params, [j]), sub, colors, names[j], legend=False,
                          bins=bins)

    grid = draw_pairs(axes, features, names, pair, diagonal)
    fig = grid[0, 0].figure
    handles = component_legend_handles(params, colors)
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
    if not isinstance(result, EMResult):
        raise ValueError("plot_em_steps needs the EMResult of a fit (it replays that run).")
    X = check_data(X)
    iterations = [int(t) for t in np.atleast_1d(iterations)]
    if not iterations or min(iterations) < 0:
        raise ValueError(f"iterations must be integers >= 0, got {iterations}.")
    d = X.shape[1]
    features = checked_features(features, d) if d > 1 else [0]
    if d > 1 and len(features) != 2:
        raise ValueError(f"features must name two columns, got {features}.")
    names = feature_labels(feature_names, d)
    sigmas = checked_sigmas(sigmas)
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
    lo, hi = axis_limits(result.params, X)
    for params_t in shown:
        sd = np.sqrt(np.diagonal(params_t.covariances, axis1=1, axis2=2)) * max(sigmas)
        lo = np.minimum(lo, (params_t.means - 1.05 * sd).min(axis=0))
        hi = np.maximum(hi, (params_t.means + 1.05 * sd).max(axis=0))
    for ax, t, params_t, (xlabel, ylabel) in zip(axes, iterations, shown, outer, strict=True):
        if d == 1:
            _mixture_panel_1d(ax, params_t, X, colors, names[0], legend=False)
        else:
            idx = list(features)
            resp = densities.responsibilities(params_t, X)
            ax.scatter(X[:, idx[0]], X[:, idx[1]], s=11, c=mixed_colors(resp, colors),
                       linewidths=0, zorder=1)
            draw_ellipses(ax, densities.marginal(params_t, idx), colors, sigmas, linewidth=2.0)
            ax.set_xlim(lo[idx[0]], hi[idx[0]])
            ax.set_ylim(lo[idx[1]], hi[idx[1]])
            ax.set_xlabel(names[idx[0]] if xlabel else "")
            ax.set_ylabel(names[idx[1]] if ylabel else "")
            ax.set_aspect("equal", adjustable="box")
        ax.set_title(f"iteration t = {t}", fontsize=10)
        ax.tick_params(labelsize=7)
    return np.asarray(axes, dtype=object)


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
    params = as_params(model)
    X = checked_data(params, X)
    if X is None:
        raise ValueError("plot_uncertainty needs the data X.")
    k, d = params.n_components, params.n_features
    resp = (densities.responsibilities(params, X) if responsibilities is None
            else np.asarray(responsibilities, np.float64))
    if resp.shape != (X.shape[0], k):
        raise ValueError(f"responsibilities must have shape {(X.shape[0], k)}, got {resp.shape}.")
    uncertainty = 1.0 - resp.max(axis=1)
    worst = 1.0 - 1.0 / k if k > 1 else 1.0
    area = sizes[0] + (sizes[1] - sizes[0]) * uncertainty / worst
    colors = component_colors(k)
    point_colors = colors[resp.argmax(axis=1)]
    names = feature_labels(feature_names, d)
    features = checked_features(features, d) or list(range(d))

    def panel_2d(ax, idx, legend):
        idx = list(idx)
        ax.scatter(X[:, idx[0]], X[:, idx[1]], s=area, c=point_colors, alpha=0.6,
                   edgecolors="white", linewidths=0.3, zorder=2)
        draw_ellipses(ax, densities.marginal(params, idx), colors, (1.0,), linewidth=1.2)
        lo, hi = axis_limits(params, X[:, :], pad=0.08)
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
            handles = component_legend_handles(params, colors)
            handles.append(Line2D([], [], color="0.6", lw=0.8, ls=":",
                                  label=f"largest possible, 1 − 1/K = {worst:.2f}"))
            ax.legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.85)

    if len(features) == 1:
        ax = new_axes(ax)
        panel_1d(ax, features[0], True)
        return ax
    if len(features) == 2:
        ax = new_axes(ax)
        panel_2d(ax, features, True)
        return ax
    if ax is not None:
        raise ValueError(f"{len(features)} features make a grid of pairs: pass axes= (an "
                         "(m, m) array of Axes) instead of ax=, or features=(i, j) for one panel.")
    grid = draw_pairs(axes, features, names, lambda ax, idx: panel_2d(ax, idx, False),
                  lambda ax, j: panel_1d(ax, j, False))
    for i in range(len(features)):
        grid[i, i].set_ylabel("1 − max r" if i == 0 else "")
    _size_legend(grid[0, 0].figure, params, colors, sizes, worst)
    return grid


def _size_legend(target, params, colors, sizes, worst):
    handles = component_legend_handles(params, colors)
    for u in (0.1 * worst, 0.5 * worst, worst):
        area = sizes[0] + (sizes[1] - sizes[0]) * u / worst
        handles.append(Line2D([], [], ls="", marker="o", color="0.5", alpha=0.6,
                              markersize=np.sqrt(area), label=f"1 − max r = {u:.2f}"))
    kwargs = {"fontsize": 7, "framealpha": 0.85, "labelspacing": 0.9}
    if hasattr(target, "add_subplot"):
        target.legend(handles=handles, loc="upper right", **kwargs)
    else:
        target.legend(handles=handles, loc="best", **kwargs)
