"""The ArviZ side: InferenceData with the marginal pointwise log-likelihood, summaries
after relabelling, chains stuck in different modes, and model comparison by LOO.

Why the log_likelihood group is computed here
---------------------------------------------
LOO and WAIC need log p(x_i | theta_s) for every draw s and observation i, with the
assignment z_i summed out. ``numpyro.infer.util.log_likelihood`` (what
``arviz.from_numpyro`` calls) does not sum out enumerated sites: it would sample z
or fail. :func:`pointwise_log_likelihood_draws` evaluates the model's own enumerated
density, row by row (``jax.vmap``) and draw by draw (``lax.map`` in vectorised
batches): the same numbers as :func:`ppl_gmm.pointwise_log_likelihood`.

ArviZ version
-------------
ArviZ is pinned to ``>=0.21,<0.24`` (tested with 0.23.4) on purpose: ArviZ 1.x needs
Python >= 3.12 and replaced ``InferenceData`` by xarray's ``DataTree`` with a new
API (arviz-base / arviz-stats / arviz-plots), while this package supports Python
3.11 and 3.12. Moving to 1.x is a separate, deliberate step.

jaxlib 0.10 on CPU
------------------
jaxlib 0.10's CPU LAPACK kernels (Cholesky, triangular solve) split a batched call
across XLA's intra-op thread pool and block until the pieces finish; when as many
such calls run at once as the pool has threads (2 on a 2-core machine), the pool
deadlocks. Per-draw quantities are therefore computed one kind per program, each a
single chain of dependent operations, with the draws padded to whole batches
(``_padded_batches``).
"""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import dataclass, field

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pandas as pd

from .._validation import check_data, check_ks
from ..fit.driver import SingularCovarianceError, fit_em
from ..params import GMMParams
from ..ppl.likelihood import model_log_density
from ..ppl.model import COVARIANCE_SITE, params_to_sites
from .relabel import _draws, is_relabelled, relabelled

__all__ = [
    "ChainModeWarning",
    "ChainModes",
    "Comparison",
    "DiagnosticWarning",
    "ParetoKWarning",
    "RHatWarning",
    "chain_modes",
    "compare",
    "pointwise_log_likelihood_draws",
    "summary",
    "to_inference_data",
]

#: Draws per vectorised batch when evaluating per-draw quantities (bounds memory).
DRAW_BATCH = 256
#: Default R-hat above which :func:`summary` warns (Vehtari et al. 2021).
RHAT_THRESHOLD = 1.01
#: Two chains whose relabelled draws give a two-chain R-hat above this for some
#: parameter are in different modes (a mode switch gives R-hat far above it; two
#: chains of one mode rarely exceed 1.05 even when short).
MODE_RHAT_THRESHOLD = 1.1


class DiagnosticWarning(UserWarning):
    """Something in the posterior draws makes their summaries unreliable."""


class RHatWarning(DiagnosticWarning):
    """Some parameters have R-hat above the threshold: the chains disagree."""


class ChainModeWarning(DiagnosticWarning):
    """Chains sit in different modes of the posterior (after relabelling)."""


class ParetoKWarning(DiagnosticWarning):
    """PSIS-LOO's Pareto k is too high for some observations: LOO is unreliable there."""


# ----------------------------------------------------------------------------------------
# Pointwise marginal log-likelihood over draws
# ----------------------------------------------------------------------------------------


def _padded_batches(arrays, batch_size=DRAW_BATCH):
    """Pad the leading (draw) axis to a whole number of batches by repeating the last draw.

    ``lax.map(..., batch_size=b)`` would otherwise evaluate the remainder as a second,
    independent branch of the program: compiled twice, and two batched LAPACK calls
    that XLA:CPU may run at once (see the module docstring). The batches are balanced
    (at most `batch_size` draws each, as equal as possible), so fewer than one draw
    per batch is padded: 300 draws are two batches of 150, not 512 rows.

    Returns
    -------
    padded arrays, the batch size, the original number of draws
    """
    count = arrays[0].shape[0]
    n_batches = -(-count // batch_size)
    batch = -(-count // n_batches)
    total = n_batches * batch
    padded = tuple(np.concatenate([a, np.repeat(a[-1:], total - count, axis=0)])
                   if total > count else a for a in arrays)
    return padded, batch, count


@functools.partial(jax.jit, static_argnames=("n_components", "batch_size"))
def _pointwise_by_draw(weights, means, covariances, X, n_components, batch_size):
    """log p(x_i | theta_s), shape (S, n): the model's enumerated density on each row alone."""

    def one_draw(draw):
        sites = params_to_sites(GMMParams(*draw), "full")
        return jax.vmap(lambda x: model_log_density(sites, x[None, :], n_components))(X)

    return jax.lax.map(one_draw, (weights, means, covariances), batch_size=batch_size)


def pointwise_log_likelihood_draws(weights, means, covariances, X) -> np.ndarray:
    """log p(x_i | theta) at many parameter values at once, from the model.

    Parameters
    ----------
    weights : array (..., K)
    means : array (..., K, d)
    covariances : array (..., K, d, d)
        Leading axes (e.g. chain, draw) are shared by the three.
    X : array (n, d)

    Returns
    -------
    ndarray (..., n)
        For every draw, what :func:`ppl_gmm.pointwise_log_likelihood` gives.
    """
    weights, means, covariances = (np.asarray(a, np.float64)
                                   for a in (weights, means, covariances))
    lead = weights.shape[:-1]
    k, d = means.shape[-2:]
    flat = (weights.reshape(-1, k), means.reshape(-1, k, d), covariances.reshape(-1, k, d, d))
    (w, m, c), batch, count = _padded_batches(flat)
    out = _pointwise_by_draw(jnp.asarray(w), jnp.asarray(m), jnp.asarray(c),
                             jnp.asarray(X, jnp.float64), k, batch)
    return np.asarray(out)[:count].reshape(*lead, -1)


# ----------------------------------------------------------------------------------------
# Conversion
# ----------------------------------------------------------------------------------------


def model_dims(covariance_type: str) -> dict:
    """ArviZ dims of every variable of `gmm_model` (plate names become dimensions)."""
    dims = {
        "weights": ["component"],
        "means": ["component", "feature"],
        "covariances": ["component", "feature", "feature_bis"],
        "x": ["obs", "feature"],
    }
    dims[COVARIANCE_SITE[covariance_type]] = {
        "full": ["component", "feature", "feature_bis"],
        "tied": ["feature", "feature_bis"],
        "diag": ["component", "feature"],
        "spherical": ["component"],
    }[covariance_type]
    return dims


def feature_names_for(feature_names, d: int) -> list:
    """Coordinates of the "feature" dimension: the given names, or x0, x1, ..."""
    if feature_names is None:
        return [f"x{j}" for j in range(d)]
    names = [str(f) for f in feature_names]
    if len(names) != d or len(set(names)) != d:
        raise ValueError(f"feature_names must be {d} distinct names, got {feature_names!r}.")
    return names


def to_inference_data(mcmc, X, *, n_components: int, covariance_type: str = "full",
                      reference: GMMParams | None = None, posterior_predictive=None,
                      feature_names=None, attrs: dict | None = None) -> az.InferenceData:
    """InferenceData from a finished NumPyro MCMC run on `gmm_model`.

    Parameters
    ----------
    mcmc : numpyro.infer.MCMC
        Run on `gmm_model` with data X (extra fields become ``sample_stats``).
    X : array (n, d)
    n_components : int
    covariance_type : str
    reference : GMMParams, optional
        The MAP solution; stored in ``constant_data`` as ``map_weights``, ``map_means``,
        ``map_covariances`` (the default relabelling reference).
    posterior_predictive : array (chain, draw, n, d), optional
        Replicated data.
    feature_names : sequence of str, optional
    attrs : dict, optional
        Added to ``posterior.attrs``.

    Returns
    -------
    arviz.InferenceData
        ``posterior``, ``sample_stats`` and ``observed_data`` by ``arviz.from_numpyro``
        (dims ``component``, ``feature``, ``feature_bis``, ``obs``); ``log_likelihood``
        with the pointwise *marginal* log-likelihood ``x`` (chain, draw, obs);
        ``posterior_predictive`` and ``constant_data`` when given.
    """
    n, d = X.shape
    names = feature_names_for(feature_names, d)
    coords = {"component": np.arange(n_components), "feature": names, "feature_bis": names,
              "obs": np.arange(n)}
    dims = model_dims(covariance_type)
    # log_likelihood=False: ArviZ would call numpyro.infer.log_likelihood, which does not
    # sum out the enumerated z; the group is computed from the model below.
    idata = az.from_numpyro(mcmc, log_likelihood=False, coords=coords, dims=dims)
    post = idata.posterior
    log_lik = pointwise_log_likelihood_draws(*_draws(post), X)
    library = {"library": numpyro}
    groups = {"log_likelihood": az.dict_to_dataset({"x": log_lik}, coords=coords,
                                                   dims={"x": ["obs"]}, **library)}
    if posterior_predictive is not None:
        groups["posterior_predictive"] = az.dict_to_dataset(
            {"x": np.asarray(posterior_predictive)}, coords=coords,
            dims={"x": ["obs", "feature"]}, **library)
    if reference is not None:
        groups["constant_data"] = az.dict_to_dataset(
            {"map_weights": np.asarray(reference.weights),
             "map_means": np.asarray(reference.means),
             "map_covariances": np.asarray(reference.covariances)},
            coords=coords, default_dims=[], **library,
            dims={"map_weights": ["component"], "map_means": ["component", "feature"],
                  "map_covariances": ["component", "feature", "feature_bis"]})
    idata.add_groups(groups)
    idata.posterior.attrs.update({"n_components": n_components,
                                  "covariance_type": covariance_type, "relabelled": 0,
                                  **(attrs or {})})
    return idata


# ----------------------------------------------------------------------------------------
# Chains in different modes
# ----------------------------------------------------------------------------------------


def _parameter_names(idata, var_names=None):
    if var_names is not None:
        return list(var_names)
    covariance_type = idata.posterior.attrs.get("covariance_type", "full")
    names = ["weights", "means", COVARIANCE_SITE.get(covariance_type, "covariances")]
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

    Label switching is removed first (:func:`ppl_gmm.relabel.relabel`), so what remains are
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
        Relabel (:func:`ppl_gmm.relabel.relabel`) unless already relabelled. Summaries of
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


# ----------------------------------------------------------------------------------------
# Comparison across K
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """LOO comparison of mixtures with different K, with EM's BIC beside it.

    Attributes
    ----------
    table : pandas.DataFrame
        ``arviz.compare`` by LOO (index "K=k", best first: rank, elpd_loo, p_loo,
        elpd_diff, weight, se, dse, warning, scale) plus ``n_components``,
        ``pareto_k_max``, ``n_pareto_k_bad`` (observations with k above ArviZ's
        threshold), ``chains_in_different_modes``, ``em_bic`` (BIC of the maximum
        likelihood EM fit, lower is better; NaN where EM failed) and ``em_bic_rank``.
    posteriors : dict
        K -> InferenceData.
    loo : dict
        K -> arviz.ELPDData (pointwise).
    chain_modes : dict
        K -> ChainModes (None with a single chain).
    em_fits : dict
        K -> EMResult (None where EM failed).
    """

    table: pd.DataFrame
    posteriors: dict = field(repr=False)
    loo: dict = field(repr=False)
    chain_modes: dict = field(repr=False)
    em_fits: dict = field(repr=False)

    @property
    def best_k(self) -> int:
        """K ranked first by LOO."""
        return int(self.table["n_components"].iloc[0])

    @property
    def best_k_bic(self) -> int:
        """K with the lowest EM BIC."""
        return int(self.table["n_components"][self.table["em_bic"].idxmin()])


def _ml_em(X, k, covariance_type, seed, n_init):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fit_em(X, k, covariance_type=covariance_type, seed=seed, n_init=n_init)
    except SingularCovarianceError:
        return None


def compare(X, ks=range(1, 6), *, prior=None, covariance_type: str = "full",
            num_warmup: int = 300, num_samples: int = 300, num_chains: int = 2,
            seed: int = 0, n_init: int = 4, **sample_kwargs) -> Comparison:
    """Posterior for each K, compared by PSIS-LOO, with EM's BIC beside it.

    Parameters
    ----------
    X : array-like (n, d)
    ks : iterable of int
        Numbers of components to compare.
    prior : Prior, optional
        Defaults to ``Prior()`` (resolved for each K).
    covariance_type : str
    num_warmup, num_samples, num_chains, seed, n_init
        Passed to :func:`ppl_gmm.bayes.sample_posterior` (n_init also to the EM fits).
    **sample_kwargs
        Further arguments of :func:`ppl_gmm.bayes.sample_posterior`.

    Returns
    -------
    Comparison

    Warns
    -----
    ParetoKWarning
        For every K where some observations have Pareto k above ArviZ's threshold.
    ChainModeWarning
        For every K whose chains ended in different modes.
    """
    from .inference import sample_posterior  # bayes imports this module

    X = check_data(X)
    ks = check_ks(ks, X.shape[0])
    posteriors, loos, modes, fits = {}, {}, {}, {}
    for k in ks:
        idata = sample_posterior(X, k, prior=prior, covariance_type=covariance_type,
                                 num_warmup=num_warmup, num_samples=num_samples,
                                 num_chains=num_chains, seed=seed, n_init=n_init,
                                 **sample_kwargs)
        posteriors[k] = idata
        with warnings.catch_warnings():
            # ArviZ's own Pareto-k warning is replaced by a ParetoKWarning naming K.
            warnings.filterwarnings("ignore", message=".*Pareto.*", category=UserWarning)
            loos[k] = az.loo(idata, pointwise=True)
        modes[k] = chain_modes(idata) if num_chains > 1 else None
        fits[k] = _ml_em(X, k, covariance_type, seed, n_init)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Pareto.*", category=UserWarning)
        table = az.compare({f"K={k}": loos[k] for k in ks}, ic="loo")
    by_name = {f"K={k}": k for k in ks}
    table["n_components"] = [by_name[name] for name in table.index]
    table["pareto_k_max"] = [float(np.max(loos[k].pareto_k)) for k in table["n_components"]]
    table["n_pareto_k_bad"] = [int(np.sum(loos[k].pareto_k > loos[k].good_k))
                               for k in table["n_components"]]
    table["chains_in_different_modes"] = [bool(modes[k] is not None and modes[k].stuck)
                                          for k in table["n_components"]]
    table["em_bic"] = [fits[k].bic if fits[k] is not None else np.nan
                       for k in table["n_components"]]
    table["em_bic_rank"] = table["em_bic"].rank(method="min").astype("Int64") - 1

    bad = [(k, n) for k, n in zip(table["n_components"], table["n_pareto_k_bad"], strict=True)
           if n]
    if bad:
        listing = "; ".join(f"K={k}: {n} observation(s)" for k, n in bad)
        warnings.warn(ParetoKWarning(
            f"PSIS-LOO Pareto k above the reliability threshold for {listing}. LOO is "
            "unreliable there (influential observations, often a small component); check "
            "loo[k].pareto_k, or use K-fold cross-validation for those K."), stacklevel=2)
    stuck = [k for k in ks if modes[k] is not None and modes[k].stuck]
    if stuck:
        details = "\n".join(f"K={k}: {modes[k]}" for k in stuck)
        warnings.warn(ChainModeWarning(
            f"Chains in different modes for K = {stuck}; their LOO pools different "
            f"solutions.\n{details}"), stacklevel=2)
    return Comparison(table, posteriors, loos, modes, fits)

