"""Model selection: BIC, AIC and ICL across K and covariance structures.

Conventions (stated once, used everywhere):

- ``bic = -2 log L + p log n`` and ``aic = -2 log L + 2 p``: **lower is better**
  (scikit-learn's sign). mclust reports ``2 log L - p log n`` (higher is better); the
  table shows it too, as ``bic_mclust = -bic``.
- ``icl = bic - 2 sum_i log r_{i, z_i}`` with z_i the most responsible component
  (Biernacki, Celeux & Govaert, 2000, with mclust's hard assignments): BIC plus
  twice the classification entropy, so it prefers well-separated clusters. Lower is
  better; it equals ``bic - 2 (C - log L)`` with C the classification log-likelihood
  sum_i max_k log(pi_k N(x_i | theta_k)). mclust's ``mclustICL`` reports
  ``icl_mclust = -icl`` (higher is better).
- Column names say the sign: ``bic``, ``aic``, ``icl`` are lower-is-better,
  ``bic_mclust``, ``icl_mclust`` (and ``log_likelihood``) higher-is-better. Every method
  that ranks cells (:meth:`Selection.best_values`, ``select(criterion=...)``) ranks by
  the named column's own sign.
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
from ..fit.driver import DEFAULT_BLOCK_SIZE, ConvergenceWarning, check_stopping, make_problem
from ..fit.hierarchical import hierarchical_partitions
from ..fit.init import HIERARCHICAL_INIT
from ..fit.program import garbage_collection_paused
from ..fit.restarts import restart_keys, table_from_states
from ..params import EMHistory, EMResult, FitOptions, GMMParams
from ..structures.registry import (
    COVARIANCE_TYPES,
    SKLEARN_TYPES,
    canonical_name,
    get_structure,
    n_parameters,
    pooled_structures,
)
from .grid import GRID_INITS, fit_cell

__all__ = ["CRITERIA", "MCLUST_CRITERIA", "Selection", "select"]

#: Criteria with scikit-learn's sign (lower is better).
CRITERIA = ("bic", "aic", "icl")
#: The same criteria with mclust's sign (higher is better): ``bic_mclust = -bic``,
#: ``icl_mclust = -icl``.
MCLUST_CRITERIA = ("bic_mclust", "icl_mclust")
#: Table columns where a higher value is better.
HIGHER_IS_BETTER = frozenset({*MCLUST_CRITERIA, "log_likelihood"})
#: Each criterion's column in the other sign convention.
OTHER_SIGN = {"bic": "bic_mclust", "bic_mclust": "bic", "icl": "icl_mclust",
              "icl_mclust": "icl"}

#: Defaults shared by :func:`select` and the ``ppl-gmm fit`` command.
DEFAULT_N_INIT = 3
#: mclust's relative tolerance (``emControl(tol = 1e-5)``); :func:`ppl_gmm.fit_em` uses 1e-8.
DEFAULT_TOL = 1e-5

TABLE_COLUMNS = ("n_components", "covariance_type", "log_likelihood", "n_parameters", "bic",
                 "aic", "icl", "bic_mclust", "icl_mclust", "n_iter", "converged",
                 "failed_restarts", "error")
#: Columns :meth:`Selection.pivot` can spread into a K x structure table.
PIVOT_VALUES = ("bic", "aic", "icl", "bic_mclust", "icl_mclust", "log_likelihood",
                "n_parameters", "n_iter", "failed_restarts")


@dataclass(frozen=True)
class Selection:
    """What :func:`select` returns; ``print`` shows mclust's ``summary(mclustBIC)``.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (K, structure): ``n_components``, ``covariance_type``,
        ``log_likelihood``, ``n_parameters``; ``bic``, ``aic``, ``icl`` (scikit-learn's
        sign: lower is better); ``bic_mclust`` (= -bic) and ``icl_mclust`` (= -icl)
        (mclust's sign: higher is better); ``n_iter`` and ``converged`` of the chosen
        restart, ``failed_restarts``, and ``error``: empty unless every restart of the
        cell failed, then the reason, and the cell's numbers are NaN.
    results : dict
        ``(K, covariance_type) -> EMResult`` for every cell that did not fail.
    criterion : str
        The column `best_key` is best by, in its own sign (:data:`CRITERIA` lower,
        :data:`MCLUST_CRITERIA` higher is better).
    best_key : tuple
        ``(K, covariance_type)`` best by the criterion.
    """

    table: pd.DataFrame
    results: dict = field(repr=False)
    criterion: str
    best_key: tuple

    @property
    def best(self) -> EMResult:
        """The fit best by the criterion."""
        return self.results[self.best_key]

    @property
    def best_n_components(self) -> int:
        return self.best_key[0]

    @property
    def best_covariance_type(self) -> str:
        return self.best_key[1]

    @property
    def failed(self) -> pd.DataFrame:
        """The cells whose every restart failed, with the reason (``error``)."""
        rows = self.table[self.table["error"] != ""]
        return rows[["n_components", "covariance_type", "error"]].reset_index(drop=True)

    def pivot(self, value: str | None = None, *, mclust_names: bool = False) -> pd.DataFrame:
        """One column of the table as a K x structure table (failed cells NaN).

        Parameters
        ----------
        value : str, optional
            One of :data:`PIVOT_VALUES` ("bic", "aic", "icl", "bic_mclust", "icl_mclust",
            "log_likelihood", ...); default the selection criterion.
        mclust_names : bool
            Label the columns by mclust's three-letter names ("VVV" for "full").

        Returns
        -------
        pandas.DataFrame
            Index K, one column per structure in the registry's order.
        """
        value = self.criterion if value is None else value
        if value not in PIVOT_VALUES:
            raise ValueError(f"pivot(value={value!r}): not a numeric column of the table; use "
                             f"one of {PIVOT_VALUES}.")
        wide = self.table.pivot(index="n_components", columns="covariance_type", values=value)
        order = [c for c in COVARIANCE_TYPES if c in wide.columns]
        wide = wide[order]
        if mclust_names:
            wide.columns = [get_structure(c).mclust_name for c in wide.columns]
        wide.columns.name = "covariance_type"
        return wide

    def best_values(self, criterion: str | None = None, n: int = 3) -> pd.DataFrame:
        """The `n` best (K, structure) cells and their gaps to the best: mclust's
        "Best BIC values" (``summary(mclustBIC)``).

        Parameters
        ----------
        criterion : str, optional
            "bic", "aic", "icl" (lower is better) or "bic_mclust", "icl_mclust" (higher is
            better); default the selection criterion. Failed cells are left out.
        n : int
            How many cells (fewer when fewer did not fail).

        Returns
        -------
        pandas.DataFrame
            Best first, index 1..n: ``model`` (mclust's label, e.g. "EEE,3"),
            ``n_components``, ``covariance_type``, the criterion and ``<criterion>_diff``
            (value minus the best value: >= 0 for a lower-is-better criterion, <= 0 for
            mclust's sign, as mclust prints "BIC diff"), and for BIC and ICL the same two
            columns in the other sign convention.
        """
        criterion = self.criterion if criterion is None else criterion
        known = CRITERIA + MCLUST_CRITERIA
        if criterion not in known:
            raise ValueError(f"best_values(criterion={criterion!r}): not a criterion; use one "
                             f"of {known}.")
        n = check_positive_int(n, "n")
        usable = self.table[self.table["error"] == ""]
        ranked = usable.sort_values(criterion, ascending=criterion not in HIGHER_IS_BETTER,
                                    kind="stable").head(n)
        best = ranked[criterion].iloc[0]
        columns = {"model": [f"{get_structure(c).mclust_name},{k}" for k, c in
                             zip(ranked["n_components"], ranked["covariance_type"],
                                 strict=True)],
                   "n_components": ranked["n_components"].to_numpy(),
                   "covariance_type": ranked["covariance_type"].to_numpy(),
                   criterion: ranked[criterion].to_numpy(),
                   # + 0.0 turns the best's -0.0 into 0.0.
                   f"{criterion}_diff": ranked[criterion].to_numpy() - best + 0.0}
        twin = OTHER_SIGN.get(criterion)
        if twin is not None:
            columns[twin] = ranked[twin].to_numpy()
            columns[f"{twin}_diff"] = -columns[f"{criterion}_diff"] + 0.0
        return pd.DataFrame(columns, index=pd.RangeIndex(1, len(ranked) + 1, name="rank"))

    def summary(self, n: int = 3) -> str:
        """mclust's ``summary(mclustBIC)`` in text: the criterion as a K x model table
        (mclust's names, failed cells marked), the `n` best values and their differences
        in both sign conventions, the failed cells with their reasons, and the best model."""
        criterion = self.criterion
        name = criterion.split("_")[0].upper()
        ks = sorted(self.table["n_components"].unique())
        structures = [c for c in COVARIANCE_TYPES if c in set(self.table["covariance_type"])]
        lines = [f"Model selection by {name} over K = {_ks_text(ks)} and {len(structures)} "
                 f"covariance structure(s): {len(self.table)} fits, {len(self.failed)} failed.",
                 "", f"{name} ({_CONVENTIONS[criterion]}); rows K, columns mclust's models:"]
        wide = self.pivot(criterion, mclust_names=True)
        wide.index.name = wide.columns.name = None
        lines.append(wide.to_string(na_rep="failed", float_format=lambda v: f"{v:.3f}"))
        renamed = [f"{get_structure(c).mclust_name} = {c}" for c in structures
                   if get_structure(c).mclust_name != c]
        if renamed:
            lines.append("(mclust's names: " + ", ".join(renamed) + ")")
        best = self.best_values(criterion, n)
        shown = best.set_index("model").drop(columns=["n_components", "covariance_type"]).T
        shown.index = [c.replace("_diff", " diff") for c in shown.index]
        shown.columns.name = None
        lines += ["", f"Best {name} values:",
                  shown.to_string(float_format=lambda v: f"{v:.3f}")]
        failed = self.failed
        if len(failed):
            lines += ["", "Failed cells:"]
            lines += [f"  K = {row.n_components}, {get_structure(row.covariance_type).mclust_name}"
                      f" ({row.covariance_type}): {row.error}" for row in failed.itertuples()]
        k, structure = self.best_key
        direction = "higher" if criterion in HIGHER_IS_BETTER else "lower"
        lines += ["", f"Best by {name} ({direction} is better): K = {k}, covariance_type = "
                  f"{structure!r}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


_CONVENTIONS = {
    "bic": "bic = -2 log L + p log n, lower is better",
    "aic": "aic = -2 log L + 2 p, lower is better",
    "icl": "icl = bic + 2 x classification entropy, lower is better",
    "bic_mclust": "bic_mclust = 2 log L - p log n, mclust's sign, higher is better",
    "icl_mclust": "icl_mclust = -icl, mclust's sign, higher is better",
}


def _ks_text(ks) -> str:
    """"1..9" for a run of K, else the list."""
    ks = [int(k) for k in ks]
    if len(ks) > 2 and ks == list(range(ks[0], ks[-1] + 1)):
        return f"{ks[0]}..{ks[-1]}"
    return ", ".join(map(str, ks))


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
    stopping: str = "standardised",
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
    criterion : {"bic", "aic", "icl", "bic_mclust", "icl_mclust"}
        What `best` is best by: the first three are minimised, mclust's signed ones
        maximised (the same choice as "bic" / "icl"; conventions in the module docstring).
    n_init : int
        Restarts per cell, the best kept (as ``fit_em(..., n_init=...)``).
    seed : int
        Restart r of every cell starts from ``fit_em``'s key for (seed, r).
    init : {"kmeans++", "random_from_data", "hc"}
        Initialiser (:mod:`ppl_gmm.fit.init`). "hc" is mclust's: restart 0 of each cell
        starts from the M-step on the K-cluster partition of one hierarchical clustering
        (:mod:`ppl_gmm.fit.hierarchical`), the other restarts from "kmeans++". With
        ``n_init=1, stopping="mclust"`` and the default `tol`, that is mclust's default
        ``mclustBIC`` run.
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
    stopping : {"standardised", "mclust"}
        The stopping rule `tol` is for (:func:`ppl_gmm.fit_em`).

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
    if criterion not in CRITERIA + MCLUST_CRITERIA:
        raise ValueError(f"criterion={criterion!r} is not known; use one of "
                         f"{CRITERIA + MCLUST_CRITERIA}.")
    if init not in (*GRID_INITS, HIERARCHICAL_INIT):
        raise ValueError(
            f"select supports init in {(*GRID_INITS, HIERARCHICAL_INIT)}, got {init!r}; for "
            "other initialisers fit the cells with ppl_gmm.fit_em."
        )
    stopping = check_stopping(stopping)
    n_init = check_positive_int(n_init, "n_init")
    seed = check_seed(seed)
    max_iter = check_positive_int(max_iter, "max_iter")
    block_size = check_positive_int(block_size, "block_size")
    tol = check_positive_number(tol, "tol", allow_zero=True)
    reg_covar = check_positive_number(reg_covar, "reg_covar", allow_zero=True)

    keys = restart_keys(seed, n_init)
    width = jnp.zeros(max(ks))
    partitions = (hierarchical_partitions(X, ks, random_state=seed)
                  if init == HIERARCHICAL_INIT else None)
    options = dict(tol=tol, reg_covar=reg_covar, seed=seed, n_init=n_init,
                   block_size=block_size)
    rows, results = [], {}
    bar = tqdm(total=len(ks) * len(structures) * n_init, unit="fit", desc="select",
               disable=None if progress is None else not progress, leave=False)
    program_structures = _program_structures(structures)
    with bar, garbage_collection_paused():
        # Every cell is dispatched before the first is read back, so JAX runs the cells
        # while the host builds the rows of the finished ones.
        pending = []
        for structure in structures:
            problem = make_problem(X, max(ks), structure, None, reg_covar, tol, block_size,
                                   n_init=n_init, stopping=stopping)
            for k in ks:
                partition = (None if partitions is None
                             else _one_hot_rows(partitions[k], problem, max(ks)))
                pending.append((structure, k, problem, fit_cell(
                    problem, keys, k, width, program_structures.index(structure), partition,
                    max_iter=max_iter, init=GRID_INITS[0] if partition is not None else init,
                    structures=program_structures)))
        for structure, k, problem, cell in pending:
            bar.set_postfix_str(f"{structure}, K={k}")
            result, row = _cell(jax.device_get(cell), k, structure, problem, n, options)
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
    values = table[criterion]
    best_row = table.loc[values.idxmax() if criterion in HIGHER_IS_BETTER else values.idxmin()]
    best_key = (int(best_row["n_components"]), str(best_row["covariance_type"]))
    return Selection(table=table, results=results, criterion=criterion, best_key=best_key)


def _program_structures(structures) -> tuple:
    """The structures the grid's program switches between: the six pooled models when
    the grid asks for no other (their closed-form M-steps compile quickly, and any subset
    of them shares the program), else all of mclust's 14."""
    pooled = pooled_structures()
    return pooled if set(structures) <= set(pooled) else COVARIANCE_TYPES


def _one_hot_rows(labels, problem, width: int) -> np.ndarray:
    """A partition's one-hot memberships on the problem's padded rows (label -1 and the
    padding rows: all zero), `width` columns."""
    rows = problem.X_blocks.shape[0] * problem.X_blocks.shape[1]
    one_hot = np.zeros((rows, width))
    labelled = np.flatnonzero(labels >= 0)
    one_hot[labelled, labels[labelled]] = 1.0
    return one_hot


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
                    icl_mclust=nan, n_iter=int(restarts.n_iter[0]), converged=False,
                    error=f"all {len(restarts)} restarts failed; restart 0: {restarts.reason[0]}")
        return None, row
    log_lik = float(state.objective[best])
    bic = -2.0 * log_lik + p * np.log(n)
    # sum_i log r_{i, z_i} = C - log L, C the classification log-likelihood (the units'
    # log-Jacobian cancels in the difference).
    hard_assignment = float(state.stats.classification_log_likelihood[best]
                            - state.stats.log_likelihood[best])
    t = int(state.iteration[best])
    icl = bic - 2.0 * hard_assignment
    row |= dict(log_likelihood=log_lik, bic=bic, aic=-2.0 * log_lik + 2.0 * p, icl=icl,
                bic_mclust=-bic, icl_mclust=-icl, n_iter=t,
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
