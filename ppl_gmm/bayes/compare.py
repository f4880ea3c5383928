"""Mixtures with different K compared by PSIS-LOO on their NUTS posteriors, with the BIC
of maximum-likelihood EM beside it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd

from .._validation import check_data, check_ks
from ..fit.driver import SingularCovarianceError, fit_em
from .diagnostic_warnings import ChainModeWarning, ParetoKWarning
from .nuts import sample_posterior
from .summaries import chain_modes

__all__ = ["Comparison", "compare"]


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
        Passed to :func:`ppl_gmm.bayes.nuts.sample_posterior` (n_init also to the EM fits).
    **sample_kwargs
        Further arguments of :func:`ppl_gmm.bayes.nuts.sample_posterior`.

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
