"""Model selection: BIC, AIC and ICL across K and covariance structures.

Conventions (stated once, used everywhere):

- ``bic = -2 log L + p log n`` and ``aic = -2 log L + 2 p``: **lower is better**
  (scikit-learn's sign). mclust reports ``2 log L - p log n`` (higher is better); the
  table shows it too, as ``bic_mclust = -bic``.
- ``icl = bic - 2 sum_i log r_{i, z_i}`` with z_i the most responsible component
  (Biernacki, Celeux & Govaert, 2000, with mclust's hard assignments): BIC plus
  twice the classification entropy, so it prefers well-separated clusters. Lower is
  better; it equals ``bic - 2 (C - log L)`` with C the classification log-likelihood
  sum_i max_k log(pi_k N(x_i | theta_k)).
- p counts free parameters: K - 1 weights, K d means and the structure's covariance
  parameters (:func:`ppl_gmm.n_parameters`).

Every cell is maximum-likelihood EM with `n_init` restarts, and is the same fit as
``fit_em(X, K, covariance_type=..., n_init=n_init, seed=seed, init=init, tol=tol,
max_iter=max_iter, reg_covar=reg_covar)``: the same starting points (restart keys
shared with :func:`ppl_gmm.fit_em`), the same EM, the same restart chosen. They run
through :mod:`ppl_gmm.selection.grid`, one compiled program for the whole grid. A cell whose
every restart hits a singular covariance is recorded in the table (``error``) and
the sweep goes on.

References
----------
Biernacki, C., Celeux, G. and Govaert, G. (2000). Assessing a mixture model for
clustering with the integrated completed likelihood. IEEE TPAMI 22, 719-725.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._validation import (
    check_data,
    check_ks,
    check_positive_int,
    check_positive_number,
    check_seed,
)
from ..fit.driver import DEFAULT_BLOCK_SIZE, ConvergenceWarning, make_problem
from ..fit.restarts import restart_keys, table_from_states
from ..params import EMHistory, EMResult, FitOptions, GMMParams
from ..structures.registry import (
    COVARIANCE_TYPES,
    SKLEARN_TYPES,
    canonical_name,
    n_parameters,
    structure_index,
)
from .grid import GRID_INITS, fit_cell

__all__ = ["CRITERIA", "Selection", "select"]

CRITERIA = ("bic", "aic", "icl")

#: Defaults shared by :func:`select` and the ``ppl-gmm fit`` command.
DEFAULT_N_INIT = 3
#: mclust's relative tolerance (``emControl(tol = 1e-5)``); :func:`ppl_gmm.fit_em` uses 1e-8.
DEFAULT_TOL = 1e-5

TABLE_COLUMNS = ("n_components", "covariance_type", "log_likelihood", "n_parameters", "bic",
                 "aic", "icl", "bic_mclust", "n_iter", "converged", "failed_restarts", "error")


@dataclass(frozen=True)
class Selection:
    """What :func:`select` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (K, structure): ``n_components``, ``covariance_type``,
        ``log_likelihood``, ``n_parameters``, ``bic``, ``aic``, ``icl`` (all lower is
        better), ``bic_mclust`` (= -bic, higher is better), ``n_iter`` and
        ``converged`` of the chosen restart, ``failed_restarts``, and ``error`` (empty
        unless every restart of the cell failed; the numbers are then NaN).
    results : dict
        ``(K, covariance_type) -> EMResult`` for every cell that did not fail.
    criterion : str
    best_key : tuple
        ``(K, covariance_type)`` with the lowest criterion.
    """

    table: pd.DataFrame
    results: dict = field(repr=False)
    criterion: str
    best_key: tuple

    @property
    def best(self) -> EMResult:
        """The fit with the lowest criterion."""
        return self.results[self.best_key]

    @property
    def best_n_components(self) -> int:
        return self.best_key[0]

    @property
    def best_covariance_type(self) -> str:
        return self.best_key[1]

    def pivot(self, value: str | None = None) -> pd.DataFrame:
        """One criterion (default: the selection criterion) as a K x structure table."""
        value = self.criterion if value is None else value
        wide = self.table.pivot(index="n_components", columns="covariance_type", values=value)
        order = [c for c in COVARIANCE_TYPES if c in wide.columns]
        return wide[order]

    def __str__(self) -> str:
        k, structure = self.best_key
        shown = self.table.drop(columns=["error"] if not self.table["error"].any() else [])
        text = shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return (f"{text}\n\nBest by {self.criterion.upper()} (lower is better): K = {k}, "
                f"covariance_type = {structure!r}")


def select(
    X,
    ks: Iterable[int] = range(1, 10),
    covariance_types: Iterable[str] | str = SKLEARN_TYPES,
    *,
    criterion: str = "bic",
    n_init: int = DEFAULT_N_INIT,
    seed: int = 0,
    init: str = "kmeans++",
    tol: float = DEFAULT_TOL,
    max_iter: int = 1000,
    reg_covar: float = 0.0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: bool | None = None,
) -> Selection:
    """Fit every (K, covariance structure) and rank them by BIC, AIC or ICL.

    Parameters
    ----------
    X : array-like, shape (n, d)
    ks : iterable of int
        Numbers of components (each between 1 and n).
    covariance_types : iterable of str, or "all"
        Registered structures by any of their names (scikit-learn's or mclust's); the
        default is scikit-learn's four, "all" every registered structure
        (:data:`ppl_gmm.structures.registry.COVARIANCE_TYPES`).
    criterion : {"bic", "aic", "icl"}
        What `best` minimises (conventions in the module docstring).
    n_init : int
        Restarts per cell, the best kept (as ``fit_em(..., n_init=...)``).
    seed : int
        Restart r of every cell starts from ``fit_em``'s key for (seed, r).
    init : {"kmeans++", "random_from_data"}
        Initialiser (:mod:`ppl_gmm.fit.init`).
    tol : float
        Relative tolerance of EM (see :func:`ppl_gmm.fit_em`); the default 1e-5 is
        mclust's.
    max_iter : int
    reg_covar : float
        Added to covariance diagonals in the data's units; 0 (exact EM, as mclust) by
        default, so a cell that collapses onto a few points fails and is reported.
    block_size : int
    progress : bool or None
        A tqdm progress bar over the grid's fits (updated per cell: a cell's restarts
        run as one batch). None shows it only on a terminal.

    Returns
    -------
    Selection

    Raises
    ------
    ValueError
        Invalid input, or every cell failed.
    """
    X = check_data(X)
    n = X.shape[0]
    ks = check_ks(ks, n)
    structures = _check_covariance_types(covariance_types)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion={criterion!r} is not known; use one of {CRITERIA}.")
    if init not in GRID_INITS:
        raise ValueError(
            f"select supports init in {GRID_INITS}, got {init!r}; for other initialisers fit "
            "the cells with ppl_gmm.fit_em."
        )
    n_init = check_positive_int(n_init, "n_init")
    seed = check_seed(seed)
    max_iter = check_positive_int(max_iter, "max_iter")
    block_size = check_positive_int(block_size, "block_size")
    tol = check_positive_number(tol, "tol", allow_zero=True)
    reg_covar = check_positive_number(reg_covar, "reg_covar", allow_zero=True)

    keys = restart_keys(seed, n_init)
    width = jnp.zeros(max(ks))
    options = dict(tol=tol, reg_covar=reg_covar, seed=seed, n_init=n_init,
                   block_size=block_size)
    rows, results = [], {}
    bar = tqdm(total=len(ks) * len(structures) * n_init, unit="fit", desc="select",
               disable=None if progress is None else not progress, leave=False)
    with bar:
        for structure in structures:
            problem = make_problem(X, max(ks), structure, None, reg_covar, tol, block_size,
                                   n_init=n_init)
            for k in ks:
                bar.set_postfix_str(f"{structure}, K={k}")
                fitted = jax.device_get(fit_cell(problem, keys, k, width,
                                                 structure_index(structure),
                                                 max_iter=max_iter, init=init))
                result, row = _cell(fitted, k, structure, problem, n, options)
                rows.append(row)
                if result is not None:
                    results[(k, structure)] = result
                bar.update(n_init)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    if not results:
        raise ValueError(
            "Every cell failed (singular covariances); set reg_covar > 0, use smaller K, or "
            f"check the data. First error: {table['error'].iloc[0]}"
        )
    _warn_unconverged(table, max_iter)
    best_row = table.loc[table[criterion].idxmin()]
    best_key = (int(best_row["n_components"]), str(best_row["covariance_type"]))
    return Selection(table=table, results=results, criterion=criterion, best_key=best_key)


def _check_covariance_types(covariance_types) -> list[str]:
    if isinstance(covariance_types, str):
        covariance_types = (COVARIANCE_TYPES if covariance_types == "all"
                            else [covariance_types])
    names = list(dict.fromkeys(canonical_name(name) for name in covariance_types))
    if not names:
        raise ValueError("covariance_types is empty; give at least one structure.")
    return names


def _cell(fitted, k: int, structure: str, problem, n: int, options: dict):
    """The table row and EMResult of one (K, structure) cell from its batched fit."""
    p = n_parameters(structure, k, problem.X_blocks.shape[-1])
    state = fitted.state

    def live(params):
        return GMMParams(*(a[:, :k] for a in params))

    # The cell's restarts as fit_em reports them: live components only, user units.
    state = state._replace(params=live(state.params),
                           stats=state.stats._replace(counts=state.stats.counts[:, :k]))
    restarts = table_from_states(state, fitted.trace, problem, live(fitted.initial_params),
                                 options["seed"])
    best = restarts.best
    row = dict(n_components=k, covariance_type=structure, n_parameters=p,
               failed_restarts=restarts.n_failed)
    if best < 0:
        nan = float("nan")
        row |= dict(log_likelihood=nan, bic=nan, aic=nan, icl=nan, bic_mclust=nan,
                    n_iter=int(restarts.n_iter[0]), converged=False,
                    error=f"all {len(restarts)} restarts failed; restart 0: {restarts.reason[0]}")
        return None, row
    log_lik = float(state.objective[best])
    bic = -2.0 * log_lik + p * np.log(n)
    # sum_i log r_{i, z_i} = C - log L, C the classification log-likelihood (the units'
    # log-Jacobian cancels in the difference).
    hard_assignment = float(state.stats.classification_log_likelihood[best]
                            - state.stats.log_likelihood[best])
    t = int(state.iteration[best])
    row |= dict(log_likelihood=log_lik, bic=bic, aic=-2.0 * log_lik + 2.0 * p,
                icl=bic - 2.0 * hard_assignment, bic_mclust=-bic, n_iter=t,
                converged=bool(state.converged[best]), error="")
    result = EMResult(
        params=GMMParams(*(a[best] for a in restarts.params)),
        log_likelihood=log_lik,
        objective=log_lik,
        n_iter=t,
        converged=row["converged"],
        responsibilities=np.asarray(fitted.responsibilities[:n, :k]),
        history=EMHistory(*(np.asarray(a[best, : t + 1]) for a in fitted.trace)),
        initial_params=GMMParams(*(a[best] for a in restarts.initial_params)),
        covariance_type=structure,
        prior=None,
        reg_covar=options["reg_covar"],
        tol=options["tol"],
        n_samples=n,
        options=FitOptions(block_size=options["block_size"], n_init=options["n_init"],
                           seed=options["seed"]),
        restarts=restarts,
    )
    return result, row


def _warn_unconverged(table: pd.DataFrame, max_iter: int) -> None:
    stuck = table[(table["error"] == "") & ~table["converged"].astype(bool)]
    if len(stuck):
        cells = ", ".join(f"K={k} {s}" for k, s in zip(stuck["n_components"],
                                                        stuck["covariance_type"], strict=True))
        warnings.warn(ConvergenceWarning(
            f"EM reached max_iter={max_iter} before converging in {len(stuck)} cell(s): {cells}; "
            "raise max_iter or tol."), stacklevel=3)
