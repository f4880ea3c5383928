"""How a component looks on the page: its colour, its ellipses, its legend entry, the
axis limits that hold it.

The ellipse at Mahalanobis radius s is the contour {x : (x - mu)' Sigma^-1 (x - mu) = s^2}
of a 2-D Gaussian, from the eigendecomposition of Sigma.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse

from ..params import GMMParams

__all__ = [
    "DATA_GREY",
    "PALETTE",
    "axis_limits",
    "component_colors",
    "component_legend_handles",
    "draw_ellipses",
    "ellipse",
    "mixed_colors",
]

#: Blue and red first, as in Bishop's figures; the rest of matplotlib's tab10 after them.
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
#: Colour of the data in legends, where points have their components' colours.
DATA_GREY = "0.55"


def component_colors(n_components: int) -> np.ndarray:
    """One RGB colour per component, shape (K, 3): blue, red, then matplotlib's tab10."""
    if n_components <= len(PALETTE):
        return np.array([to_rgb(c) for c in PALETTE[:n_components]])
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


def ellipse(mean, cov, n_sigma, **kwargs) -> Ellipse:
    """The contour {x : (x - mu)^T Sigma^{-1} (x - mu) = n_sigma^2} of a 2-D Gaussian."""
    eigvals, eigvecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(eigvecs[1, 1], eigvecs[0, 1]))
    width, height = 2.0 * n_sigma * np.sqrt(eigvals[::-1])
    return Ellipse(xy=mean, width=width, height=height, angle=angle, fill=False, **kwargs)


def draw_ellipses(ax, params: GMMParams, colors, sigmas, linewidth=1.8) -> list:
    """K ellipses per level in `sigmas` and a + at each mean of a 2-D mixture.

    The first level is drawn bold, the others lighter; patch k at level s has the gid
    ``component-{k}-sigma-{s}``.
    """
    drawn = []
    for k in range(params.n_components):
        for level, n_sigma in enumerate(sigmas):
            patch = ellipse(
                params.means[k], params.covariances[k], n_sigma,
                edgecolor=colors[k], linewidth=linewidth * (1.0 if level == 0 else 0.7),
                alpha=1.0 if level == 0 else 0.55, zorder=3,
            )
            patch.set_gid(f"component-{k}-sigma-{n_sigma:g}")
            ax.add_patch(patch)
            drawn.append(patch)
        ax.plot(*params.means[k], marker="+", color=colors[k], markersize=9, mew=2, zorder=4)
    return drawn


def axis_limits(params: GMMParams, X, pad=0.08):
    """(lo, hi) per feature covering the data, or mean +- 3.5 sd of every component
    without data, widened by `pad` of the span on each side."""
    if X is not None:
        lo, hi = X.min(axis=0), X.max(axis=0)
    else:
        sd = np.sqrt(np.diagonal(params.covariances, axis1=1, axis2=2))
        lo = (params.means - 3.5 * sd).min(axis=0)
        hi = (params.means + 3.5 * sd).max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return lo - pad * span, hi + pad * span


def component_legend_handles(params: GMMParams, colors) -> list:
    """One legend line per component: "component k (π = w)" in its colour."""
    return [
        Line2D([], [], color=colors[k], lw=2, label=f"component {k + 1} (π = {w:.2f})")
        for k, w in enumerate(params.weights)
    ]
