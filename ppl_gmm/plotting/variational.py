"""Variational Bayes' figures: the ELBO against the iteration, the expected weights.

The ELBO values are the ones :func:`ppl_gmm.fit_vb` recorded
(:class:`ppl_gmm.params.VBHistory`); the weights' intervals come from draws of q(pi)
(:func:`ppl_gmm.bayes.variational.variational_draws`). The fitted mixture itself is
:func:`ppl_gmm.plotting.plot_mixture`, which takes a VBResult (its ``params``: E_q[pi],
m_k, E_q[Lambda_k]^-1).
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgb

from ..bayes.variational import variational_draws
from ..params import VBResult
from .geometry import component_colors
from .layout import new_axes

__all__ = ["plot_elbo", "plot_weights"]


def _vb_results(runs) -> list:
    runs = [runs] if isinstance(runs, VBResult) or hasattr(runs, "result_") else list(runs)
    if not runs:
        raise ValueError("plot_elbo needs at least one VBResult.")
    results = [getattr(run, "result_", run) for run in runs]  # a fitted estimator
    for run in results:
        if not isinstance(run, VBResult):
            raise ValueError(f"Expected VBResult entries (from ppl_gmm.fit_vb), got "
                             f"{type(run).__name__}.")
    return results


def plot_elbo(runs, *, ax=None, lower_bound=None, labels=None):
    """The ELBO per CAVI iteration, one line per run.

    Parameters
    ----------
    runs : VBResult, fitted BayesianGaussianMixture, or a sequence of them
    ax : Axes, optional
    lower_bound : bool, optional
        Also draw the ELBO of q_t(theta) with the previous q_{t-1}(Z) (what the
        q(theta) update maximised; it lies between the ELBO at t - 1 and at t).
        Default: only when one run is given.
    labels : sequence of str, optional
        One per run; default "run i: final ELBO".

    Returns
    -------
    Axes
    """
    results = _vb_results(runs)
    ax = new_axes(ax)
    single = len(results) == 1
    lower_bound = single if lower_bound is None else bool(lower_bound)
    if labels is not None and len(labels) != len(results):
        raise ValueError(f"labels has {len(labels)} entries for {len(results)} runs.")
    colors = np.array([to_rgb("black")]) if single else component_colors(len(results))
    for i, (result, color) in enumerate(zip(results, colors, strict=True)):
        elbo = np.asarray(result.history.elbo)
        label = labels[i] if labels is not None else f"run {i}: {elbo[-1]:.6g}"
        ax.plot(np.arange(elbo.size), elbo, "-o", color=color, ms=3, lw=1.5,
                label="ELBO" if single and labels is None else label)
        if lower_bound and elbo.size > 1:
            bound = np.asarray(result.history.lower_bound)
            ax.plot(np.arange(1, elbo.size), bound[1:], ":", color=color, lw=1.2,
                    label=r"ELBO of $q_t(\theta)\,q_{t-1}(Z)$")
    ax.set_xlabel("CAVI iteration t")
    ax.set_ylabel("ELBO")
    ax.set_title("Variational EM: the ELBO never decreases")
    ax.legend(fontsize="small")
    return ax


def plot_weights(vb: VBResult, *, ax=None, threshold: float = 0.01, interval: float = 0.9,
                 num_draws: int = 4000, seed: int = 0):
    """Expected weights E_q[pi_k] per component, with q's central intervals: the
    components that switched off sit at the bottom.

    Parameters
    ----------
    vb : VBResult or fitted BayesianGaussianMixture
    ax : Axes, optional
    threshold : float
        Components with E_q[pi_k] above it count as active (coloured; the others grey).
    interval : float
        Probability of the central interval drawn on each bar (from draws of q(pi)).
    num_draws, seed : int
        The draws of q(pi) behind the intervals.

    Returns
    -------
    Axes
    """
    vb = getattr(vb, "result_", vb)
    if not isinstance(vb, VBResult):
        raise ValueError(f"plot_weights needs a VBResult (from ppl_gmm.fit_vb), got "
                         f"{type(vb).__name__}.")
    if not 0.0 < interval < 1.0:
        raise ValueError(f"interval must be in (0, 1), got {interval!r}.")
    ax = new_axes(ax)
    weights = np.asarray(vb.params.weights)
    k = weights.size
    draws = variational_draws(vb, num_draws, seed)["weights"]
    lo, hi = np.quantile(draws, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
    active = weights > threshold
    colors = np.where(active[:, None], component_colors(k), to_rgb("0.7"))
    ax.bar(np.arange(k), weights, color=colors, edgecolor="black", linewidth=0.6)
    # An interval, not error bars: E_q[pi_k] of a switched-off component can lie above
    # its upper quantile (q(pi_k) is skewed towards zero).
    ax.vlines(np.arange(k), lo, hi, color="black", lw=1.2)
    ax.plot(np.arange(k), lo, "_", np.arange(k), hi, "_", color="black", ms=8)
    ax.axhline(threshold, color="0.4", ls="--", lw=1, label=f"threshold {threshold:g}")
    prior = "stick-breaking" if vb.weight_prior == "dirichlet_process" else "Dirichlet"
    ax.set_title(f"{int(active.sum())} of {k} components carry weight ({prior} prior, "
                 f"concentration {float(np.asarray(vb.prior.concentration)[0]):.3g})",
                 fontsize="medium")
    ax.set_xlabel("component k")
    ax.set_ylabel(r"$E_q[\pi_k]$ and " + f"{interval:.0%} interval")
    ax.set_xticks(np.arange(k))
    ax.legend(fontsize="small")
    return ax
