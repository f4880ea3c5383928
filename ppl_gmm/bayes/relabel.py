"""Relabelling posterior draws: the MCMC face of label switching.

The posterior of a mixture is invariant under the K! permutations of its component
labels, so a chain may number the components differently from another chain (or
switch numbering mid-run). Per-component summaries and R-hat are then meaningless.
:func:`relabel` permutes every draw's components to match a reference solution,
by the Hungarian assignment of :func:`ppl_gmm.align_labels` (squared Mahalanobis
distance between means under the reference's pooled covariance), and records the
permutation it applied to each draw.

Conventions (those of :func:`ppl_gmm.permute`): the permutation ``perm`` stored for
a draw says that component j after relabelling is component ``perm[j]`` of the
sampler's output. Relabelling an already relabelled object composes the
permutations, so the stored ones always map the sampler's raw draws to the current
labels.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import xarray as xr

from .._validation import check_params
from ..fit.labels import align_labels
from ..params import GMMParams
from .draws import posterior_draws

__all__ = ["PERMUTATION_VARIABLE", "is_relabelled", "reference_params", "relabel", "relabelled"]

#: Name of the ``sample_stats`` variable holding each draw's permutation (chain, draw, component).
PERMUTATION_VARIABLE = "relabel_permutation"
_DRAW_DIMS = ("chain", "draw", "component")


def is_relabelled(idata) -> bool:
    """Whether `idata`'s posterior went through :func:`relabel`."""
    return bool(idata.posterior.attrs.get("relabelled", 0))


def relabelled(idata, relabel_first: bool = True):
    """`idata` relabelled (:func:`relabel`) unless it already is, or `relabel_first` is False.

    The default of every summary and plot of mixture draws.
    """
    return relabel(idata) if relabel_first and not is_relabelled(idata) else idata


def reference_params(idata) -> tuple[GMMParams, str]:
    """The default relabelling reference of `idata`, and where it came from.

    The MAP-EM solution that :func:`ppl_gmm.bayes.nuts.sample_posterior` stores in
    ``constant_data`` (``map_*``) when present ("map"); otherwise the draw with the
    highest log posterior density ``sample_stats.lp`` ("max_lp_draw").
    """
    const = getattr(idata, "constant_data", None)
    if const is not None and all(f"map_{n}" in const for n in ("weights", "means", "covariances")):
        return GMMParams(const["map_weights"].transpose("component").values,
                         const["map_means"].transpose("component", ...).values,
                         const["map_covariances"].transpose("component", ...).values), "map"
    stats = getattr(idata, "sample_stats", None)
    if stats is not None and "lp" in stats:
        lp = stats["lp"].transpose("chain", "draw").values
        c, s = np.unravel_index(np.argmax(lp), lp.shape)
        weights, means, covariances = posterior_draws(idata.posterior)
        return GMMParams(weights[c, s], means[c, s], covariances[c, s]), "max_lp_draw"
    raise ValueError(
        "idata has neither a MAP solution in constant_data (map_weights, map_means, "
        "map_covariances) nor sample_stats.lp to pick a reference draw; pass reference=."
    )


def _permute_dataset(dataset: xr.Dataset, perms: np.ndarray) -> xr.Dataset:
    """Reorder the "component" axis of every variable that has one, draw by draw."""
    out = dataset.copy()
    for name, var in dataset.data_vars.items():
        if "component" not in var.dims:
            continue
        rest = [d for d in var.dims if d not in _DRAW_DIMS]
        values = var.transpose(*_DRAW_DIMS, *rest).values
        index = perms.reshape(perms.shape + (1,) * len(rest))
        moved = np.take_along_axis(values, index, axis=2)
        out[name] = xr.DataArray(moved, dims=(*_DRAW_DIMS, *rest),
                                 coords=var.coords, attrs=var.attrs).transpose(*var.dims)
    return out


def _set_group(idata, name: str, dataset: xr.Dataset):
    if name in idata.groups():
        setattr(idata, name, dataset)
    else:
        idata.add_groups({name: dataset})


def relabel(idata, reference=None):
    """Permute each draw's components to match a reference solution.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior`` variables ``weights``, ``means`` and ``covariances`` (dims
        chain, draw, component, ...), as from :func:`ppl_gmm.bayes.nuts.sample_posterior`.
    reference : GMMParams, optional
        Defaults to :func:`reference_params` (the stored MAP-EM solution).

    Returns
    -------
    arviz.InferenceData
        A copy (the input is not modified) in which every posterior variable with a
        "component" dimension is permuted draw by draw; ``sample_stats`` gains
        ``relabel_permutation`` (chain, draw, component), the permutation applied to
        each raw draw (composed with any earlier relabelling); ``constant_data`` gains
        the reference (``relabel_reference_*``); ``posterior.attrs["relabelled"]`` is 1
        and ``["relabel_reference"]`` names the reference's origin.
    """
    if not isinstance(idata, az.InferenceData) or "posterior" not in idata.groups():
        raise ValueError("relabel needs an arviz.InferenceData with a posterior group.")
    weights, means, covariances = posterior_draws(idata.posterior)
    chains, draws, k, d = means.shape
    if reference is None:
        reference, origin = reference_params(idata)
    else:
        reference, origin = check_params(reference, n_features=d, n_components=k), "given"

    perms = np.empty((chains, draws, k), dtype=np.int64)
    for c in range(chains):
        for s in range(draws):
            perms[c, s] = align_labels(GMMParams(weights[c, s], means[c, s], covariances[c, s]),
                                       reference)

    out = idata.copy()
    posterior = _permute_dataset(idata.posterior, perms)
    posterior.attrs.update(idata.posterior.attrs)
    posterior.attrs["relabelled"] = 1
    posterior.attrs["relabel_reference"] = origin
    _set_group(out, "posterior", posterior)

    stats = getattr(idata, "sample_stats", None)
    stats = xr.Dataset(coords={"chain": idata.posterior["chain"], "draw": idata.posterior["draw"]}
                       ) if stats is None else stats.copy()
    if PERMUTATION_VARIABLE in stats:
        previous = stats[PERMUTATION_VARIABLE].transpose(*_DRAW_DIMS).values
        perms = np.take_along_axis(previous, perms, axis=-1)
    stats[PERMUTATION_VARIABLE] = xr.DataArray(
        perms, dims=_DRAW_DIMS,
        coords={"chain": idata.posterior["chain"], "draw": idata.posterior["draw"],
                "component": idata.posterior["component"]})
    _set_group(out, "sample_stats", stats)

    const = getattr(idata, "constant_data", None)
    const = xr.Dataset() if const is None else const.copy()
    feature = idata.posterior["means"].dims[-1]
    feature_bis = idata.posterior["covariances"].dims[-1]
    const["relabel_reference_weights"] = xr.DataArray(reference.weights, dims=("component",))
    const["relabel_reference_means"] = xr.DataArray(reference.means, dims=("component", feature))
    const["relabel_reference_covariances"] = xr.DataArray(
        reference.covariances, dims=("component", feature, feature_bis))
    const = const.assign_coords({dim: idata.posterior[dim]
                                 for dim in ("component", feature, feature_bis)})
    _set_group(out, "constant_data", const)
    return out
