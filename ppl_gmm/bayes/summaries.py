"""Summaries of mixture draws after relabelling: ArviZ's table with R-hat warnings, and
chains stuck in different modes of the posterior."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd

from ..structures.registry import get_structure
from .diagnostic_warnings import ChainModeWarning, RHatWarning
from .relabel import is_relabelled, relabelled

__all__ = [
    "MODE_RHAT_THRESHOLD",
    "RHAT_THRESHOLD",
    "ChainModes",
    "chain_modes",
    "summary",
]

#: Default R-hat above which :func:`summary` warns (Vehtari et al. 2021).
RHAT_THRESHOLD = 1.01
#: Two chains whose relabelled draws give a two-chain R-hat above this for some
#: parameter are in different modes (a mode switch gives R-hat far above it; two
#: chains of one mode rarely exceed 1.05 even when short).
MODE_RHAT_THRESHOLD = 1.1


# ----------------------------------------------------------------------------------------
# Chains in different modes
# ----------------------------------------------------------------------------------------


def _parameter_names(idata, var_names=None):
    if var_names is not None:
        return list(var_names)
    covariance_type = idata.posterior.attrs.get("covariance_type", "full")
    names = ["weights", "means", get_structure(covariance_type).site]
    return [v for v in names if v in idata.posterior]


@dataclass(frozen=True)
class ChainModes:
    """Which chains explore the same mode of the posterior (after relabelling).

    Attributes
    ----------
    groups : tuple of tuple of int
        Chains grouped by mode: two chains share a group when their two-chain R-hat is
        at most `threshold` for every parameter (and through chains that do).
    pairwise_rhat : ndarray (C, C)
        The largest two-chain rank-normalised R-hat over all parameters, per pair.
    worst_parameters : dict
        For each pair of chains in different groups, the parameter with that R-hat.
    mean_log_likelihood : ndarray (C,)
        Per chain, the mean over draws of log p(X | theta) (the fit of each mode).
    threshold : float
    relabelled : bool
        Whether the draws were relabelled (label switches removed) before comparing.
    """

    groups: tuple
    pairwise_rhat: np.ndarray
    worst_parameters: dict = field(repr=False)
    mean_log_likelihood: np.ndarray
    threshold: float
    relabelled: bool = True

    @property
    def stuck(self) -> bool:
        """True when the chains sit in more than one mode."""
        return len(self.groups) > 1

    def __str__(self) -> str:
        if not self.stuck:
            return (f"All {self.pairwise_rhat.shape[0]} chains in one mode (largest two-chain "
                    f"R-hat {np.nanmax(self.pairwise_rhat):.3f} <= {self.threshold}).")
        after = "after relabelling" if self.relabelled else "draws not relabelled"
        lines = [f"Chains in {len(self.groups)} different modes (two-chain R-hat > "
                 f"{self.threshold}, {after}):"]
        for g, chains in enumerate(self.groups):
            ll = ", ".join(f"{self.mean_log_likelihood[c]:.2f}" for c in chains)
            lines.append(f"  mode {g}: chains {list(chains)}, mean log-likelihood {ll}")
        for (a, b), (name, value) in sorted(self.worst_parameters.items()):
            lines.append(f"  chains {a} vs {b}: R-hat {value:.2f} for {name}")
        lines.append("  Summaries that pool these chains average different solutions; run "
                     "longer, start all chains at the MAP (init='map'), or report the modes "
                     "separately.")
        return "\n".join(lines)

    __repr__ = __str__


def chain_modes(idata, *, var_names=None, threshold: float = MODE_RHAT_THRESHOLD,
                relabel_first: bool = True) -> ChainModes:
    """Detect chains stuck in different modes.

    Label switching is removed first (:func:`ppl_gmm.bayes.relabel.relabel`), so what remains are
    genuinely different solutions (a component split in one chain and merged in
    another, say). Every pair of chains gets its own rank-normalised R-hat
    (``arviz.rhat`` on just those two chains); pairs above `threshold` are in different
    modes, and chains are grouped by the pairs below it.

    Parameters
    ----------
    idata : arviz.InferenceData
    var_names : list of str, optional
        Defaults to the model's parameter sites (weights, means, covariance site).
    threshold : float
    relabel_first : bool
        Relabel unless already relabelled.

    Returns
    -------
    ChainModes
    """
    idata = relabelled(idata, relabel_first)
    post = idata.posterior[_parameter_names(idata, var_names)]
    chains = post.sizes["chain"]
    pairwise = np.full((chains, chains), np.nan)
    worst = {}
    for a, b in itertools.combinations(range(chains), 2):
        rhat = az.rhat(post.isel(chain=[a, b]))
        name, value = _largest(rhat)
        pairwise[a, b] = pairwise[b, a] = value
        if value > threshold:
            worst[(a, b)] = (name, value)
    np.fill_diagonal(pairwise, 1.0)
    groups = _connected(pairwise <= threshold)
    if "log_likelihood" in idata.groups():
        total = idata.log_likelihood["x"].sum("obs").transpose("chain", "draw").values
        mean_ll = total.mean(axis=1)
    else:
        mean_ll = np.full(chains, np.nan)
    worst = {pair: v for pair, v in worst.items()
             if not any(pair[0] in g and pair[1] in g for g in groups)}
    return ChainModes(groups, pairwise, worst, mean_ll, threshold, is_relabelled(idata))


def _largest(rhat):
    """(parameter label, value) of the largest R-hat in a Dataset (NaN ignored)."""
    best, label = -np.inf, None
    for name, var in rhat.data_vars.items():
        values = np.asarray(var.values, dtype=float)
        if not np.any(np.isfinite(values)):
            continue
        index = np.unravel_index(np.nanargmax(values), values.shape)
        if values[index] > best:
            best = float(values[index])
            coords = ", ".join(str(var[d].values[i]) for d, i in zip(var.dims, index, strict=True))
            label = f"{name}[{coords}]" if coords else name
    return label, best if label is not None else np.nan


def _connected(adjacent: np.ndarray) -> tuple:
    """Connected components of a symmetric boolean adjacency matrix, as sorted tuples."""
    remaining, groups = set(range(len(adjacent))), []
    while remaining:
        stack, group = [min(remaining)], set()
        while stack:
            c = stack.pop()
            if c in group:
                continue
            group.add(c)
            stack.extend(int(j) for j in np.flatnonzero(adjacent[c]) if j not in group)
        remaining -= group
        groups.append(tuple(sorted(group)))
    return tuple(groups)


# ----------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------


def summary(idata, *, var_names=None, relabel_first: bool = True,
            rhat_threshold: float = RHAT_THRESHOLD,
            mode_threshold: float = MODE_RHAT_THRESHOLD, **kwargs) -> pd.DataFrame:
    """``arviz.summary`` of the relabelled draws, with R-hat and chain-mode warnings.

    Parameters
    ----------
    idata : arviz.InferenceData
    var_names : list of str, optional
        Defaults to the model's parameter sites.
    relabel_first : bool
        Relabel (:func:`ppl_gmm.bayes.relabel.relabel`) unless already relabelled. Summaries of
        unrelabelled mixture draws average over label switches.
    rhat_threshold : float
        Parameters with R-hat above it are listed in an :class:`RHatWarning`.
    mode_threshold : float
        Passed to :func:`chain_modes`; a :class:`ChainModeWarning` reports stuck chains.
    **kwargs
        Passed to ``arviz.summary`` (``hdi_prob``, ``kind``, ...).

    Returns
    -------
    pandas.DataFrame
        ArviZ's table (mean, sd, HDI, MCSE, ``ess_bulk``, ``ess_tail``, ``r_hat``);
        ``table.attrs["chain_modes"]`` holds the :class:`ChainModes` (with 2+ chains).
    """
    idata = relabelled(idata, relabel_first)
    names = _parameter_names(idata, var_names)
    table = az.summary(idata, var_names=names, **kwargs)
    if "r_hat" in table:
        high = table.index[table["r_hat"] > rhat_threshold]
        if len(high):
            worst = table.loc[high, "r_hat"].sort_values(ascending=False)
            listing = ", ".join(f"{i} ({v:.3f})" for i, v in worst.items())
            warnings.warn(RHatWarning(
                f"R-hat > {rhat_threshold} for {len(high)} of {len(table)} parameters: "
                f"{listing}. The chains disagree; run longer chains or check for chains in "
                "different modes."), stacklevel=2)
    if idata.posterior.sizes["chain"] > 1:
        modes = chain_modes(idata, var_names=names, threshold=mode_threshold,
                            relabel_first=False)
        table.attrs["chain_modes"] = modes
        if modes.stuck:
            warnings.warn(ChainModeWarning(str(modes)), stacklevel=2)
    return table
