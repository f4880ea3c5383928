"""The likelihood landscape: which local optima EM reaches, and how often.

The mixture log-likelihood is not concave. Permuting the K components gives K!
equally good copies of every solution, and EM also stops at genuinely worse local
maxima. `likelihood_landscape` runs many restarts (one batched computation, see
:mod:`ppl_gmm.fit.restarts`) and groups their end points into distinct optima *modulo
label permutation*.

Same optimum (the tolerance `param_tol`, default 0.1): solution b matches the
representative a of a group when, after ``align_labels(b, a)`` (Hungarian matching on
the Mahalanobis distance between means, :mod:`ppl_gmm.fit.labels`),

- every mean is within `param_tol` standard deviations of a's matched mean, in the
  metric of a's pooled covariance S = sum_k pi_k Sigma_k,
- every weight is within `param_tol` (absolute), and
- every covariance is within `param_tol` in the whitened Frobenius norm
  ||L^{-1} (Sigma_b - Sigma_a) L^{-T}||_F, S = L L^T.

All three are unit free. EM stops on the change of the objective (relative `tol`), not
on the parameters, and along a flat ridge of the likelihood it creeps: two runs to the
same optimum can stop visibly apart. On Old Faithful with K = 3 (32 restarts, tol =
1e-8), runs whose objectives agree to 1e-6 stopped 0.017 and 0.029 apart in this
distance (at tol = 1e-11 they meet), while the distinct optima were 1.8 to 6.5 apart.
Hence the default 0.1: far above where one optimum's runs stop, far below where
different optima sit. Restarts are visited from the highest
objective down, and each joins the first group whose representative (its best
member) it matches, else founds a new group. Failed restarts and restarts that did
not converge are counted but not grouped (their end points are not optima).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import GMMParams
from .driver import fit_em
from .labels import align_labels, matching_cost, permute
from .restarts import RestartTable


def solution_distance(params, reference) -> tuple[float, np.ndarray]:
    """How far `params` is from `reference` once its labels are aligned to it.

    Returns
    -------
    distance : float
        max(mean distance in pooled standard deviations, weight difference, whitened
        covariance difference), see the module docstring.
    perm : ndarray of int
        The aligning permutation (``permute(params, perm)`` matches `reference`).
    """
    perm = align_labels(params, reference)
    aligned = permute(params, perm)
    mean_distance = np.sqrt(np.max(np.diag(matching_cost(aligned, reference))))
    weight_distance = np.max(np.abs(np.asarray(aligned.weights) - np.asarray(reference.weights)))
    pooled = np.einsum("k,kij->ij", np.asarray(reference.weights),
                       np.asarray(reference.covariances))
    from scipy.linalg import solve_triangular  # on first use: SciPy adds 0.2 s to import

    L = np.linalg.cholesky(pooled)
    difference = np.asarray(aligned.covariances) - np.asarray(reference.covariances)
    whitened = [solve_triangular(L, solve_triangular(L, dk, lower=True).T, lower=True)
                for dk in difference]
    cov_distance = max(float(np.linalg.norm(w)) for w in whitened)
    return float(max(mean_distance, weight_distance, cov_distance)), perm


def group_optima(params: GMMParams, objective, *, usable=None,
                 param_tol: float = 0.1) -> list[list[int]]:
    """Group solutions into distinct optima modulo label permutation.

    Parameters
    ----------
    params : GMMParams
        Solutions with a leading axis (weights (R, K)).
    objective : array (R,)
        Higher is better; groups are founded from the best down.
    usable : bool array (R,), optional
        Which solutions to group (default all).
    param_tol : float
        See the module docstring.

    Returns
    -------
    list of lists of int
        Indices of the solutions in each group, best group first; the first index of
        each group is its representative (its best member).
    """
    objective = np.asarray(objective, np.float64)
    usable = np.ones(len(objective), bool) if usable is None else np.asarray(usable, bool)
    order = [i for i in np.argsort(-objective, kind="stable") if usable[i]]
    solutions = [GMMParams(*(np.asarray(a)[i] for a in params)) for i in range(len(objective))]
    groups: list[list[int]] = []
    for i in order:
        for group in groups:
            if solution_distance(solutions[i], solutions[group[0]])[0] <= param_tol:
                group.append(int(i))
                break
        else:
            groups.append([int(i)])
    return groups


@dataclass(frozen=True)
class Optimum:
    """One distinct optimum (up to label permutation) reached by the restarts.

    Attributes
    ----------
    rank : int
        1 for the best.
    objective : float
        Its representative's final objective (log-likelihood, or log joint under a prior).
    log_likelihood : float
    n_restarts : int
        How many restarts ended here.
    restarts : ndarray of int
        Their indices in the restart table (the representative first).
    params : GMMParams
        The representative solution (the best of those restarts), labels aligned to
        the best optimum's.
    objective_gap : float
        Best objective minus this one (>= 0).
    distance_to_best : float
        :func:`solution_distance` to the best optimum's representative.
    objective_spread : float
        max - min final objective among its restarts (how tightly EM stopped).
    """

    rank: int
    objective: float
    log_likelihood: float
    n_restarts: int
    restarts: np.ndarray
    params: GMMParams
    objective_gap: float
    distance_to_best: float
    objective_spread: float


@dataclass(frozen=True)
class Landscape:
    """The distinct optima of a batch of restarts, best first; printable as a table.

    Attributes
    ----------
    optima : tuple of Optimum
    restarts : RestartTable
        Every restart, as :func:`ppl_gmm.fit_em` reported it.
    param_tol : float
    n_failed, n_unconverged : int
        Restarts left out of the grouping.
    description : str
        What was run (K, structure, initialiser, seed).
    """

    optima: tuple
    restarts: RestartTable
    param_tol: float
    n_failed: int
    n_unconverged: int
    description: str

    @property
    def n_optima(self) -> int:
        return len(self.optima)

    @property
    def best(self) -> Optimum:
        return self.optima[0]

    def to_dataframe(self):
        """One row per optimum (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame({
            "rank": [o.rank for o in self.optima],
            "objective": [o.objective for o in self.optima],
            "objective_gap": [o.objective_gap for o in self.optima],
            "n_restarts": [o.n_restarts for o in self.optima],
            "distance_to_best": [o.distance_to_best for o in self.optima],
            "objective_spread": [o.objective_spread for o in self.optima],
        })

    def __str__(self) -> str:
        head = (f"{'rank':>4}  {'objective':>16}  {'gap to best':>12}  {'restarts':>8}  "
                f"{'distance to best':>16}  {'spread':>9}")
        lines = [
            f"Likelihood landscape: {self.description}",
            f"{self.n_optima} distinct optima modulo label permutation from "
            f"{len(self.restarts)} restarts ({self.n_failed} failed, {self.n_unconverged} "
            "not converged)",
            f"same optimum: aligned means within {self.param_tol:g} pooled SD, weights and "
            f"whitened covariances within {self.param_tol:g}",
            head,
            "-" * len(head),
        ]
        for o in self.optima:
            lines.append(f"{o.rank:>4}  {o.objective:>16.6f}  {o.objective_gap:>12.4g}  "
                         f"{o.n_restarts:>8}  {o.distance_to_best:>16.4g}  "
                         f"{o.objective_spread:>9.2g}")
        return "\n".join(lines)

    __repr__ = __str__


def likelihood_landscape(
    X,
    n_components: int,
    *,
    n_init: int = 32,
    init="random_from_data",
    seed: int = 0,
    covariance_type: str = "full",
    prior=None,
    variant: str = "soft",
    fixed_variance: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    reg_covar: float = 0.0,
    param_tol: float = 0.1,
    restart_batch_size: int | None = None,
) -> Landscape:
    """Run `n_init` restarts of EM and group their end points into distinct optima.

    Parameters
    ----------
    X : array-like (n, d)
    n_components : int
    n_init : int
        Restarts (one batched computation).
    init : str, GMMParams batch or callable
        As for :func:`ppl_gmm.fit_em`; the default "random_from_data" spreads the
        starting points widely, which is what a landscape needs.
    seed : int
    covariance_type, prior, variant, fixed_variance, tol, max_iter, reg_covar,
    restart_batch_size
        Passed to :func:`ppl_gmm.fit_em`.
    param_tol : float
        Same-optimum tolerance (module docstring).

    Returns
    -------
    Landscape
        ``print(landscape)`` shows rank, objective, gap to the best, restarts that
        reached each optimum and its distance to the best.

    Raises
    ------
    SingularCovarianceError
        When every restart failed.
    """
    if not (isinstance(param_tol, int | float) and param_tol > 0 and np.isfinite(param_tol)):
        raise ValueError(f"param_tol must be a finite number > 0, got {param_tol!r}.")
    result = fit_em(X, n_components, n_init=n_init, init=init, seed=seed,
                    covariance_type=covariance_type, prior=prior, variant=variant,
                    fixed_variance=fixed_variance, tol=tol, max_iter=max_iter,
                    reg_covar=reg_covar, restart_batch_size=restart_batch_size)
    table = result.restarts
    usable = ~table.failed & table.converged
    groups = group_optima(table.params, table.objective, usable=usable, param_tol=param_tol)
    best_params = GMMParams(*(np.asarray(a)[groups[0][0]] for a in table.params)) if groups \
        else None
    optima = []
    for rank, members in enumerate(groups, start=1):
        rep = members[0]
        params = GMMParams(*(np.asarray(a)[rep] for a in table.params))
        distance, perm = solution_distance(params, best_params)
        objectives = table.objective[members]
        log_lik = table.objective[rep] if table.log_likelihood is None \
            else table.log_likelihood[rep]
        optima.append(Optimum(
            rank=rank,
            objective=float(table.objective[rep]),
            log_likelihood=float(log_lik),
            n_restarts=len(members),
            restarts=np.asarray(members),
            params=permute(params, perm),
            objective_gap=float(table.objective[groups[0][0]] - table.objective[rep]),
            distance_to_best=distance,
            objective_spread=float(objectives.max() - objectives.min()),
        ))
    init_name = init if isinstance(init, str) else type(init).__name__
    description = (f"K = {n_components} ({covariance_type}"
                   f"{', ' + variant if variant != 'soft' else ''}), init {init_name!r}, "
                   f"seed {seed}")
    return Landscape(
        optima=tuple(optima),
        restarts=table,
        param_tol=float(param_tol),
        n_failed=int(table.failed.sum()),
        n_unconverged=int((~table.failed & ~table.converged).sum()),
        description=description,
    )
