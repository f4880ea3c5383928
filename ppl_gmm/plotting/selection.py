"""Choosing a model: a criterion over the (K, structure) grid, and the optima that EM
restarts reached (the likelihood landscape).
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..selection.table import HIGHER_IS_BETTER
from ..structures.registry import COVARIANCE_TYPES, get_structure
from .layout import new_axes

__all__ = ["MCLUST_MODELS", "mclust_model_name", "model_style", "plot_landscape",
           "plot_selection"]


_CRITERION_LABELS = {
    "bic": "BIC = −2 log L + p log n  (lower is better)",
    "aic": "AIC = −2 log L + 2p  (lower is better)",
    "icl": "ICL = BIC + 2 × entropy  (lower is better)",
    "bic_mclust": "BIC = 2 log L − p log n  (mclust's sign: higher is better)",
    "icl_mclust": "ICL = −(BIC + 2 × entropy)  (mclust's sign: higher is better)",
    "log_likelihood": "log-likelihood  (higher is better)",
}

#: mclust's 14 models in mclust's order (``mclust.options("emModelNames")``).
MCLUST_MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE",
                 "EEV", "VEV", "EVV", "VVV")
#: One colour and marker per shape-and-orientation code (a model's last two letters); the
#: volume (first letter) sets the line: E (equal) solid with filled markers, V (varying)
#: dashed with open ones. Fourteen lines then read as seven colours in two styles, and
#: models that differ only in volume sit next to each other in colour.
_SHAPE_STYLES = {
    "II": ("#1f77b4", "o"), "EI": ("#ff7f0e", "s"), "VI": ("#2ca02c", "^"),
    "EE": ("#d62728", "D"), "VE": ("#9467bd", "v"), "EV": ("#8c564b", "P"),
    "VV": ("#000000", "X"),
}
#: Structures outside mclust's 14: dotted lines in the remaining tab10 colours.
_OTHER_STYLES = (("#7f7f7f", "*"), ("#bcbd22", "h"), ("#17becf", "<"), ("#e377c2", ">"))
#: Above this many lines the legend goes outside the axes, to the right.
_LEGEND_INSIDE_MAX = 6


def mclust_model_name(structure) -> str | None:
    """mclust's three-letter name of a structure (by any registered name, or one of
    mclust's 14 names not registered yet), else None."""
    try:
        return get_structure(structure).mclust_name
    except ValueError:
        return structure if structure in MCLUST_MODELS else None


def model_style(structure, index: int = 0) -> dict:
    """Line keywords of one structure in :func:`plot_selection`: the same model always
    gets the same colour, marker and line style, whatever else is drawn. `index` picks
    the style of a structure mclust does not have."""
    name = mclust_model_name(structure)
    if name is None:
        color, marker = _OTHER_STYLES[index % len(_OTHER_STYLES)]
        return dict(color=color, marker=marker, ls=":", mfc=color)
    color, marker = _SHAPE_STYLES[name[1:]]
    equal_volume = name[0] == "E"
    return dict(color=color, marker=marker, ls="-" if equal_volume else "--",
                mfc=color if equal_volume else "white")


def plot_selection(table, *, criterion=None, ax=None, k_column="n_components",
                   structure_column="covariance_type", mark_best=True, higher_is_better=None,
                   names=None):
    """A criterion against the number of components, one line per model: mclust's
    ``plot(mclustBIC)``.

    Each model has a fixed style (:func:`model_style`): a colour and marker per shape
    and orientation, solid lines for equal volume (mclust's E..) and dashed ones for
    varying volume (V..), so all 14 of mclust's models stay apart. With mclust's names
    the lines come in mclust's order (:data:`MCLUST_MODELS`); with the table's, in the
    registry's (:data:`ppl_gmm.COVARIANCE_TYPES`), mclust's models that the registry
    lacks next, in mclust's order; any other structure last.

    Parameters
    ----------
    table : Selection or pandas.DataFrame
        The result of :func:`ppl_gmm.selection.select` (its ``table``), or any table
        with one row per fit (long format) and columns `k_column`, `structure_column`
        and `criterion`; failed fits may be NaN (drawn as gaps).
    criterion : str, optional
        Column to draw: "bic", "aic", "icl" (scikit-learn's sign), "bic_mclust",
        "icl_mclust" (mclust's sign, as mclust draws it), "log_likelihood"; default the
        Selection's criterion, else "bic".
    ax : Axes, optional
    mark_best : bool
        Circle the best (K, structure).
    higher_is_better : bool, optional
        Which end is best; by default from the criterion's name (True for the
        ``*_mclust`` columns and the log-likelihood).
    names : {"mclust", "table"}, optional
        Legend labels: mclust's three-letter names, or the structures as the table
        spells them. By default mclust's for the ``*_mclust`` criteria (mclust's
        picture), the table's otherwise.

    Returns
    -------
    Axes
    """
    if criterion is None:
        criterion = getattr(table, "criterion", "bic")
    mclust_view = criterion.lower().endswith("_mclust")
    names = ("mclust" if mclust_view else "table") if names is None else names
    if names not in ("mclust", "table"):
        raise ValueError(f"names={names!r} is not known; use 'mclust' (three-letter names) "
                         "or 'table' (the structures as the table names them).")
    if higher_is_better is None:
        higher_is_better = criterion in HIGHER_IS_BETTER
    frame = _selection_frame(table)
    missing = [c for c in (k_column, structure_column, criterion) if c not in frame.columns]
    if missing:
        raise ValueError(f"The selection table has no column(s) {missing}; its columns are "
                         f"{list(frame.columns)}. Pass criterion=/k_column=/structure_column=.")
    present = dict.fromkeys(frame[structure_column])
    structures = _mclust_order(present) if names == "mclust" else _registry_order(present)
    ax = new_axes(ax, figsize=(5.2, 4.4) if len(structures) <= _LEGEND_INSIDE_MAX
                  else (7.0, 4.6))

    def label(structure):
        name = mclust_model_name(structure) if names == "mclust" else None
        return str(structure) if name is None else name

    unknown = 0
    for structure in structures:
        style = model_style(structure, unknown)
        unknown += mclust_model_name(structure) is None
        rows = frame[frame[structure_column] == structure].sort_values(k_column)
        ax.plot(rows[k_column].to_numpy(), rows[criterion].to_numpy(dtype=float),
                markersize=5.5, mew=1.1, lw=1.3, label=label(structure), **style)
    values = frame[criterion].to_numpy(dtype=float)
    if mark_best and np.any(np.isfinite(values)):
        best = int(np.nanargmax(values) if higher_is_better else np.nanargmin(values))
        row = frame.iloc[best]
        ax.plot(row[k_column], row[criterion], marker="o", markersize=14, mfc="none",
                mec="black", mew=1.5, ls="",
                label=f"best: K = {row[k_column]}, {label(row[structure_column])}")
    ax.set_xlabel("number of components K")
    ax.set_ylabel(_CRITERION_LABELS.get(criterion.lower(), criterion))
    ks = np.unique(frame[k_column].to_numpy())
    ax.set_xticks(ks)
    legend = dict(title="model" if names == "mclust" else "covariance", fontsize=8,
                  title_fontsize=8, framealpha=0.85)
    if len(structures) > _LEGEND_INSIDE_MAX:
        legend |= dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.legend(**legend)
    ax.grid(alpha=0.3)
    return ax


def _registry_order(structures) -> list:
    """Structures in the registry's order (``COVARIANCE_TYPES``, by any of their names),
    then mclust's models the registry does not have (in mclust's order), then the rest,
    as they came."""

    def position(structure):
        try:
            return COVARIANCE_TYPES.index(get_structure(structure).name)
        except ValueError:
            if structure in MCLUST_MODELS:
                return len(COVARIANCE_TYPES) + MCLUST_MODELS.index(structure)
            return len(COVARIANCE_TYPES) + len(MCLUST_MODELS)

    return sorted(structures, key=position)


def _mclust_order(structures) -> list:
    """Structures in mclust's order of its 14 models, then the others, as they came."""

    def position(structure):
        name = mclust_model_name(structure)
        return MCLUST_MODELS.index(name) if name is not None else len(MCLUST_MODELS)

    return sorted(structures, key=position)


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


def _group_values(values, atol):
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
        A :class:`ppl_gmm.fit.landscape.Landscape` (optima grouped modulo label
        permutation by :func:`ppl_gmm.fit.landscape.likelihood_landscape`); a
        :class:`ppl_gmm.fit.restarts.RestartTable` or the final objectives of the restarts
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
    ax = new_axes(ax, figsize=(6.2, 1.3 + 0.38 * max(len(values), 2)))
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
    values, counts = _group_values(finite, atol)
    return values, counts, int(total), label
