"""EM's progress: the objective it maximised against the iteration, one line per run.

The values are the ones EM recorded (:class:`ppl_gmm.params.EMHistory`): the
log-likelihood (the log joint under a prior) and the lower bound the M-step maximised.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgb

from ..params import EMHistory, EMResult
from .geometry import component_colors
from .layout import new_axes

__all__ = ["plot_log_likelihood"]


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
    ax = new_axes(ax)
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
