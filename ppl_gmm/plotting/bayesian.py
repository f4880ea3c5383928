"""Bayesian diagnostics through ArviZ: trace and rank plots of relabelled draws, and
the PSIS-LOO comparison of models.

ArviZ and the Bayesian side (:mod:`ppl_gmm.bayes`) are imported when a function here
is called, not when :mod:`ppl_gmm.plotting` is imported.
"""

from __future__ import annotations

import numpy as np

from .layout import new_axes

__all__ = ["plot_loo_comparison", "plot_rank", "plot_trace"]

_DEFAULT_VARS = ("weights", "means")


def plot_trace(idata, var_names=_DEFAULT_VARS, *, axes=None, relabel_first: bool = True,
               **kwargs):
    """ArviZ trace plot (densities and traces per chain) of relabelled draws.

    Label switching makes raw mixture traces jump between modes, so the draws are
    relabelled first (:func:`ppl_gmm.bayes.relabel.relabel`) unless they already are; then
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

    The draws are relabelled first (:func:`ppl_gmm.bayes.relabel.relabel`) unless they
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
    ax = new_axes(ax, figsize=(6.0, 0.9 + 0.5 * len(comparison)))
    az.plot_compare(comparison, ax=ax, **kwargs)
    return ax
