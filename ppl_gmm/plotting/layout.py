"""Where panels go: a new Axes when none is given, and the grid of feature pairs.

For d > 2 features the mixture figures draw a grid: the lower triangle holds the pairs
(x = feature j, y = feature i), the diagonal one feature each, the upper triangle is off.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["draw_pairs", "new_axes", "pairs_axes"]


def new_axes(ax=None, figsize=(5.2, 4.4)):
    """`ax`, or the Axes of a new figure (constrained layout) when it is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def pairs_axes(axes, m: int, figsize_per=2.4):
    """(figure, (m, m) array of Axes): `axes` checked, or a new figure's grid."""
    if axes is None:
        fig, axes = plt.subplots(m, m, figsize=(figsize_per * m, figsize_per * m),
                                 layout="constrained", squeeze=False)
        return fig, axes
    axes = np.asarray(axes, dtype=object)
    if axes.shape != (m, m):
        raise ValueError(f"axes must be a ({m}, {m}) array of Axes for {m} features, "
                         f"got shape {axes.shape}.")
    return axes[0, 0].figure, axes


def draw_pairs(axes, features, names, draw_pair, draw_diagonal):
    """Fill a grid of feature pairs; returns the (m, m) array of Axes.

    ``draw_pair(ax, (j, i))`` draws the pair of columns j (x) and i (y) below the
    diagonal, ``draw_diagonal(ax, j)`` one column on it; outer panels get the labels.
    """
    m = len(features)
    _, axes = pairs_axes(axes, m)
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
