"""mclust's sequential bootstrap likelihood-ratio test for the number of components.

For one covariance structure and K = 1, 2, ... the test of H0: K components against
H1: K + 1 components (McLachlan, 1987; mclust's ``mclustBootstrapLRT``):

1. Fit K and K + 1 components to the data by maximum-likelihood EM; the observed
   statistic is ``LRTS = 2 (log L_{K+1} - log L_K)``.
2. Draw `n_bootstrap` data sets of n rows from the fitted K-component model (the
   *parametric* bootstrap under H0), by running `gmm_model` forward
   (:func:`ppl_gmm.sample`).
3. Refit K and K + 1 components to each, and take the bootstrap statistics
   ``LRTS*_b = 2 (log L*_{K+1} - log L*_K)``. As in mclust, each refit starts from the fit
   to the observed data (K components for H0, K + 1 for H1); unlike mclust, it also
   runs as many k-means++ restarts as the fits to the data did (`bootstrap_n_init`,
   default `n_init`) and keeps the best. The bootstrap has to repeat on each data set the
   procedure applied to the data: an H1 refit that searches less stops at lower maxima,
   the bootstrap statistics come out too small, and the test rejects too often. A data
   set on which every start of a refit fails (a singular covariance) is redrawn, as mclust
   redraws when its statistic is NA.
4. The p-value is mclust's, eq. (13) of McLachlan & Rathnayake (2014) (Davison & Hinkley,
   1997): ``p = (1 + #{b : LRTS*_b >= LRTS}) / (B + 1)``, B the number of bootstrap
   statistics. H0 is rejected when ``p <= level``.
5. Sequential rule (mclust's when ``maxG`` is not given): stop at the first K whose test
   is not rejected; that K is the selected number of components. Without the rule
   (``sequential=False``, mclust's behaviour when ``maxG`` is given) every test up to
   ``max_components - 1`` vs ``max_components`` runs.

The usual chi-squared asymptotics do not hold for the number of components (the null
value lies on the boundary of the parameter space), hence the bootstrap.

Speed: the bootstrap refits of a test run as a few calls of one compiled program, each
over a batch of data sets (``jax.vmap`` over the data sets of the restart scheduler's
loop over the starts, queued through a few lanes on a CPU). The components are padded
to `max_components` and masked (as the model-selection grid does), so every K of a run
shares the program; the sampler draws all the data sets of a test in one call, its
components padded the same way. The rows are not padded into a size bucket (a new n
compiles the program again, about 5 s): every refit would pay for the padding rows, and
on Old Faithful 3 tests x 499 data sets (2 starts per refit) took 5.6 s with exact rows
against 17.6 s padded to 1024 rows. With the default 10 restarts, mclust's
``mclustBootstrapLRT(faithful, "VVV")`` (999 data sets, 3 tests) took 110 s, 17 s with
``bootstrap_n_init=1`` (2-core machine).

References
----------
McLachlan, G. J. (1987). On bootstrapping the likelihood ratio test statistic for the
number of components in a normal mixture. Applied Statistics 36, 318-324.
McLachlan, G. J. and Rathnayake, S. (2014). On the number of components in a Gaussian
mixture model. WIREs Data Mining and Knowledge Discovery 4, 341-355.
Davison, A. C. and Hinkley, D. V. (1997). Bootstrap Methods and their Application.
Cambridge University Press.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax import lax
from tqdm.auto import tqdm

from .._validation import (
    check_data,
    check_positive_int,
    check_positive_number,
    check_probability,
    check_seed,
)
from ..engine.kernel import EMKernel, EMProblem, gaussian_em_kernel, masked
from ..engine.schedule import MEMORY_BUDGET, default_lanes, run_restarts
from ..fit.driver import DEFAULT_BLOCK_SIZE, ConvergenceWarning, make_problem
from ..fit.init import padded_initial_params
from ..fit.program import pad_components, trace_length
from ..params import EMResult, GMMParams
from ..structures.registry import canonical_name, get_structure
from .grid import GRID_INITS
from .table import DEFAULT_TOL, Selection, select

__all__ = ["BootstrapLRT", "bootstrap_lrt"]

#: mclust's default number of components fitted when ``maxG`` is not given (G = 1..9).
DEFAULT_MAX_COMPONENTS = 9
#: Restarts of each fit to the observed data.
DEFAULT_N_INIT_DATA = 10
#: Data sets refitted per call of the compiled program, at most (fewer when their E-step
#: temporaries would pass ``ppl_gmm.engine.schedule.MEMORY_BUDGET``).
MAX_BATCH = 256
#: Rounds of redrawing data sets whose refits all failed, before giving up on them.
MAX_REDRAW_ROUNDS = 10
#: Rows drawn from the model per call of the sampler (8 MB per feature).
ROWS_PER_DRAW = 2**20

TABLE_COLUMNS = ("test", "n_components", "alternative", "log_likelihood_null",
                 "log_likelihood_alternative", "lrts", "p_value", "rejected",
                 "n_bootstrap", "n_redrawn")


@dataclass(frozen=True)
class BootstrapLRT:
    """What :func:`bootstrap_lrt` returns; ``print`` shows mclust's summary.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per test run: ``test`` ("K vs K+1"), ``n_components`` (K, under H0),
        ``alternative`` (K + 1), ``log_likelihood_null`` and
        ``log_likelihood_alternative`` (the fits to the data), ``lrts`` (the observed
        statistic 2 (log L_{K+1} - log L_K)), ``p_value`` (the bootstrap p-value),
        ``rejected`` (``p_value <= level``), ``n_bootstrap`` (bootstrap statistics behind
        the p-value) and ``n_redrawn`` (bootstrap data sets redrawn because a refit failed).
    bootstrap_lrts : ndarray, shape (n_bootstrap, n_tests)
        The bootstrap statistics, one column per test (mclust's ``boot``); NaN pads a
        column with fewer than `n_bootstrap` statistics (too many refits failed).
    covariance_type : str
        ppl_gmm's name of the structure (``mclust_name`` gives mclust's).
    level : float
    n_bootstrap : int
        Bootstrap data sets asked for per test.
    sequential : bool
        Whether the tests stopped at the first one not rejected.
    stop_reason : str
        Why the sequence of tests ended: the first test not rejected, the last K allowed,
        or a fit to the data that failed.
    fits : dict
        ``K -> EMResult``: the maximum-likelihood fits to the data (those of `selection`).
    selection : Selection
        The BIC / ICL table of the same fits (:func:`ppl_gmm.select`).
    """

    table: pd.DataFrame
    bootstrap_lrts: np.ndarray = field(repr=False)
    covariance_type: str
    level: float
    n_bootstrap: int
    sequential: bool
    stop_reason: str
    fits: dict = field(repr=False)
    selection: Selection = field(repr=False)

    @property
    def mclust_name(self) -> str:
        return get_structure(self.covariance_type).mclust_name

    @property
    def n_components(self) -> int:
        """The selected K: that of the first test not rejected; when every test run was
        rejected, the largest alternative tested (a lower bound)."""
        kept = self.table[~self.table["rejected"].astype(bool)]
        if len(kept):
            return int(kept["n_components"].iloc[0])
        return int(self.table["alternative"].iloc[-1])

    def __str__(self) -> str:
        rule = "-" * 61
        shown = pd.DataFrame({"LRTS": self.table["lrts"].to_numpy(),
                              "bootstrap p-value": self.table["p_value"].to_numpy()},
                             index=[f"{t:<8}" for t in self.table["test"]])
        text = shown.to_string(float_format=lambda v: f"{v:.6g}")
        lines = [rule, "Bootstrap sequential LRT for the number of mixture components", rule,
                 f"{'Model':<12} = {self.mclust_name} ({self.covariance_type})",
                 f"{'Replications':<12} = {self.n_bootstrap}", text, ""]
        kept = self.table[~self.table["rejected"].astype(bool)]
        if len(kept):
            lines.append(f"Selected K = {self.n_components}: the first test not rejected at "
                         f"level {self.level:g} ({kept['test'].iloc[0]}).")
        else:
            lines.append(f"Every test was rejected at level {self.level:g}: K >= "
                         f"{self.n_components}.")
        lines.append(f"The tests stopped: {self.stop_reason}.")
        short = self.table[self.table["n_bootstrap"] < self.n_bootstrap]
        for row in short.itertuples():
            lines.append(f"{row.test}: only {row.n_bootstrap} of {self.n_bootstrap} bootstrap "
                         "refits succeeded (the others stayed singular).")
        return "\n".join(lines)


class _Refits(NamedTuple):
    """The best start of each data set's refit (arrays over data sets)."""

    log_likelihood: jnp.ndarray  # NaN where every start failed
    converged: jnp.ndarray


def _objective_only(kernel: EMKernel) -> EMKernel:
    """The kernel with its trace entries cut to the objective: the bootstrap keeps only the
    final states, and the vmapped trace buffers would be the largest arrays in the batch."""

    def init(params):
        state, entries = kernel.init(params)
        return state, entries.objective

    def step(state):
        state, entries = kernel.step(state)
        return state, entries.objective

    return EMKernel(init, step)


@functools.partial(jax.jit, static_argnames=("covariance_type", "init", "lanes", "length"))
def _refit(problem: EMProblem, X_blocks, warm: GMMParams, keys, n_active, max_iter, *,
           covariance_type: str, init: str, lanes: int, length: int) -> _Refits:
    """Maximum-likelihood EM with `n_active` live components on each data set of a batch.

    Parameters
    ----------
    problem : EMProblem
        Of the observed data (its coordinates, row weights, regularisation, tolerance);
        its rows are replaced by each data set's.
    X_blocks : (B, n_blocks, block, d)
        The data sets, in the problem's internal coordinates and row layout.
    warm : GMMParams
        Start shared by every data set (internal coordinates, padded to the width).
    keys : key array (B, R)
        Keys of R more starts per data set from `init` (R may be 0).
    n_active : int scalar
        K, at most the width; traced, so every K shares the program.
    lanes : int
        Starts of one data set advancing together (:func:`ppl_gmm.engine.schedule.run_restarts`:
        queued when fewer than the starts). On a CPU the queue matters: the refits under H1
        (K + 1 components for K-component data) run from a few to `max_iter` iterations,
        and on Old Faithful 3 tests x 199 data sets x 11 starts took 18 s queued through 3
        lanes against 47 s in lockstep.
    """
    width = warm.weights.shape[0]
    d = X_blocks.shape[-1]
    mask = jnp.arange(width) < n_active
    problem = problem._replace(component_mask=mask)
    w = problem.w_blocks.reshape(-1)

    def one(X_set, set_keys):
        data = problem._replace(X_blocks=X_set)
        starts = jax.tree.map(lambda a: a[None], warm)
        if set_keys.shape[0]:
            X = X_set.reshape(-1, d)

            def start_from(key):
                start = padded_initial_params(init, key, X, w, n_active, mask, covariance_type)
                # Regularised as fit_em's initial M-step is.
                start = start._replace(covariances=start.covariances + jnp.diag(data.reg_covar))
                return masked(start, mask)

            drawn = lax.map(start_from, set_keys)
            starts = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), starts, drawn)
        kernel = _objective_only(gaussian_em_kernel(data, covariance_type))
        states, _ = run_restarts(kernel, starts, max_iter, lanes, length)
        usable = (states.failed_component < 0) & jnp.isfinite(states.objective)
        best = jnp.argmax(jnp.where(usable, states.objective, -jnp.inf))
        return _Refits(jnp.where(jnp.any(usable), states.objective[best], jnp.nan),
                       states.converged[best])

    return jax.vmap(one)(X_blocks, keys)


def _check_max_components(max_components, n: int) -> int:
    if (isinstance(max_components, bool) or not isinstance(max_components, numbers.Integral)
            or max_components < 2):
        raise ValueError(f"max_components must be an integer >= 2 (the first test is 1 vs 2 "
                         f"components), got {max_components!r}.")
    if max_components > n:
        raise ValueError(f"max_components={max_components} exceeds the {n} rows of X: EM "
                         "needs at least as many observations as components; lower "
                         "max_components.")
    return int(max_components)


def _check_n_bootstrap(n_bootstrap, level: float) -> int:
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap")
    # The smallest p-value is 1 / (B + 1): below 1 / level - 1 replications nothing can
    # ever be rejected, and the test would select K = 1 whatever the data.
    if 1.0 / (n_bootstrap + 1) > level:
        needed = int(np.ceil(1.0 / level - 1.0))
        raise ValueError(f"n_bootstrap={n_bootstrap} cannot reject at level={level:g}: the "
                         f"smallest possible p-value is 1/(n_bootstrap + 1) = "
                         f"{1.0 / (n_bootstrap + 1):.3g}; use n_bootstrap >= {needed} "
                         "(mclust's default is 999).")
    return n_bootstrap


def _derived_seed(*entropy: int) -> int:
    """A seed for one stream of draws (a test, a redraw round, data or starts), from the
    user's seed: streams never overlap, and the same seed gives the same streams."""
    words = [int(e) % 2**64 for e in entropy]  # SeedSequence takes non-negative integers
    return int(np.random.SeedSequence(words).generate_state(1, np.uint32)[0])


def _start_keys(seed: int, count: int, per_set: int):
    """Keys of the extra starts, (count, per_set): data set j's from ``fold_in(key, j)``, so
    they do not depend on how the data sets are batched."""
    base = jax.random.key(seed)
    return jax.vmap(lambda j: jax.random.split(jax.random.fold_in(base, j), per_set))(
        jnp.arange(count))


def _draw_data_sets(params: GMMParams, n: int, count: int, seed: int) -> np.ndarray:
    """`count` data sets of n rows from `params`, shape (count, n, d), by running the model.

    Rows are independent draws, so one draw of count x n rows cut into data sets is
    `count` independent data sets (and one call of the sampler).
    """
    from ..ppl.sampling import sample  # NumPyro: imported only when a test runs

    X, _ = sample(params, count * n, seed=seed)
    return X.reshape(count, n, -1)


def _data_set_source(params: GMMParams, n: int, count: int, seed: int):
    """``take(index) -> (len(index), n, d)``: data sets `index` of `count` drawn from
    `params`.

    The data sets are drawn in groups of about ``ROWS_PER_DRAW`` rows (data set j in group
    j // size, each group from its own seed), one group or two in memory at a time: a
    large n times mclust's 999 data sets would not fit in memory at once. The groups
    depend only on n, so the draws do not depend on how the refits are batched.
    """
    size = max(1, ROWS_PER_DRAW // n)
    groups: dict[int, np.ndarray] = {}

    def take(index: np.ndarray) -> np.ndarray:
        needed = set((index // size).tolist())
        for group in [g for g in groups if g not in needed]:
            del groups[group]
        for group in needed - set(groups):
            groups[group] = _draw_data_sets(params, n, min(size, count - group * size),
                                            _derived_seed(seed, group))
        return np.stack([groups[j // size][j % size] for j in index.tolist()])

    return take


def _to_blocks(X_sets: np.ndarray, problem: EMProblem) -> np.ndarray:
    """Data sets (B, n, d) into the problem's internal coordinates and padded row blocks."""
    count, n, d = X_sets.shape
    blocks, block = problem.X_blocks.shape[:2]
    coordinates = problem.coordinates
    padded = np.zeros((count, blocks * block, d))
    padded[:, :n] = (X_sets - np.asarray(coordinates.shift)) / np.asarray(coordinates.scale)
    return padded.reshape(count, blocks, block, d)


def _batch_size(problem: EMProblem, width: int, n_starts: int, lanes: int, length: int,
                n_bootstrap: int) -> int:
    """Data sets per call, within ``MEMORY_BUDGET`` bytes of E-step temporaries, states and
    traces (:func:`ppl_gmm.engine.schedule.default_lanes`'s estimate per lane) and at most
    ``MAX_BATCH``; the data sets are then split into calls of equal size, so that the last
    call is not mostly padding."""
    rows, d = problem.X_blocks.shape[1:3]
    per_lane = 8 * (6 * rows * width * (d + 1) + 8 * width * d * d)
    per_set = lanes * per_lane + n_starts * 8 * (4 * width * d * d + length)
    per_set += 8 * problem.X_blocks.size
    largest = int(max(1, min(n_bootstrap, MAX_BATCH, MEMORY_BUDGET // per_set)))
    calls = -(-n_bootstrap // largest)
    return -(-n_bootstrap // calls)


class _Settings(NamedTuple):
    """The bootstrap's fixed arguments (validated)."""

    problem: EMProblem
    structure: str
    width: int
    n: int
    n_bootstrap: int
    n_random_starts: int
    init: str
    max_iter: int
    lanes: int
    length: int
    batch: int
    seed: int


def _bootstrap_statistics(settings: _Settings, null: EMResult, alternative: EMResult, k: int,
                          bar) -> tuple[np.ndarray, int, int]:
    """The bootstrap LRTS of the test K vs K + 1.

    Returns the statistics (at most `n_bootstrap`), the number of data sets redrawn
    because a refit failed on them, and the number of refits that stopped at `max_iter`.
    """
    s = settings
    coordinates = s.problem.coordinates

    def warm(result: EMResult) -> GMMParams:
        internal = coordinates.params_to_internal(GMMParams(*map(np.asarray, result.params)))
        return pad_components(GMMParams(*map(np.asarray, internal)), s.width)

    warm_null, warm_alternative = warm(null), warm(alternative)
    # The null model padded with weight-0 components: every K shares the sampler's program.
    generator = pad_components(GMMParams(*map(np.asarray, null.params)), s.width)
    statistics, redrawn, unconverged = [], 0, 0
    for round_ in range(MAX_REDRAW_ROUNDS):
        need = s.n_bootstrap - len(statistics)
        if need == 0:
            break
        data_sets = _data_set_source(generator, s.n, need, _derived_seed(s.seed, k, round_, 0))
        keys = _start_keys(_derived_seed(s.seed, k, round_, 1), need, s.n_random_starts)
        for start in range(0, need, s.batch):
            chunk = np.arange(start, min(start + s.batch, need))
            # The last chunk is padded with copies of its first data set (results
            # dropped), so every call has the compiled batch size.
            index = np.concatenate([chunk, np.full(s.batch - len(chunk), chunk[0])])
            X_blocks = _to_blocks(data_sets(index), s.problem)
            fitted = [jax.device_get(_refit(s.problem, X_blocks, warm_start, keys[index],
                                            components, s.max_iter,
                                            covariance_type=s.structure, init=s.init,
                                            lanes=s.lanes, length=s.length))
                      for warm_start, components in ((warm_null, k),
                                                     (warm_alternative, k + 1))]
            lrts = 2.0 * (fitted[1].log_likelihood - fitted[0].log_likelihood)[: len(chunk)]
            ok = np.isfinite(lrts)
            statistics.extend(lrts[ok])
            redrawn += int(np.sum(~ok))
            unconverged += int(sum(np.sum(~f.converged[: len(chunk)][ok]) for f in fitted))
            bar.update(int(np.sum(ok)))
    return np.asarray(statistics), redrawn, unconverged


def bootstrap_lrt(
    X,
    covariance_type: str = "VVV",
    *,
    max_components: int = DEFAULT_MAX_COMPONENTS,
    n_bootstrap: int = 999,
    level: float = 0.05,
    sequential: bool = True,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT_DATA,
    bootstrap_n_init: int | None = None,
    init: str = "kmeans++",
    tol: float = DEFAULT_TOL,
    max_iter: int = 1000,
    reg_covar: float = 0.0,
    progress: bool | None = None,
) -> BootstrapLRT:
    """mclust's sequential bootstrap likelihood-ratio test for the number of components.

    Tests K vs K + 1 components for K = 1, 2, ... under one covariance structure, with
    bootstrap p-values ``(1 + #{LRTS*_b >= LRTS}) / (B + 1)`` (mclust's formula), and stops
    at the first K not rejected at `level` (the method is described in the module
    docstring of :mod:`ppl_gmm.selection.bootstrap`).

    Parameters
    ----------
    X : array-like, shape (n, d)
    covariance_type : str
        One registered structure, by mclust's name ("VVV", the default, is "full") or
        ppl_gmm's (:data:`ppl_gmm.COVARIANCE_TYPES`).
    max_components : int
        The largest K fitted (>= 2): the last possible test is ``max_components - 1`` vs
        ``max_components`` (mclust's ``maxG`` is ``max_components - 1``). The default 9 is
        mclust's when ``maxG`` is not given.
    n_bootstrap : int
        Bootstrap data sets per test (mclust's ``nboot``); the p-value resolves steps of
        1 / (n_bootstrap + 1), so it must be at least ``1 / level - 1``.
    level : float
        Significance level of each test, strictly between 0 and 1.
    sequential : bool
        Stop at the first test not rejected (True, mclust's default) or run every test up
        to `max_components` (mclust with ``maxG``).
    seed : int
        Seeds the fits to the data (as ``fit_em(..., seed=seed)``), the bootstrap draws
        and the extra starts of the refits: the same seed gives the same result.
    n_init : int
        Restarts of each fit to the data (as ``fit_em(..., n_init=n_init)``). More than
        :func:`ppl_gmm.select`'s 3 by default: the observed statistic needs the maxima
        (on Old Faithful, VVV with K = 3, 3 restarts missed the best optimum for one seed
        and the 2 vs 3 statistic came out 22.0 instead of 31.6), and these fits cost
        little next to the bootstrap.
    bootstrap_n_init : int, optional
        Starts from `init` of each bootstrap refit, besides the start at the fit to the
        data (mclust's only start); by default `n_init`. The bootstrap must repeat on each
        data set what was done to the data: refits searched less thoroughly than the fits
        to the data find lower maxima under H1, so the bootstrap statistics come out too
        small and H0 is rejected too often (on three well-separated clusters, 10 restarts
        for the data and 1 extra start per refit rejected 3 vs 4 components with p = 1/40).
        0 is mclust's procedure exactly (one start per refit), and fewer starts are
        proportionally faster.
    init : {"kmeans++", "random_from_data"}
        Initialiser of the fits to the data and of the extra starts.
    tol : float
        Relative tolerance of EM; the default 1e-5 is mclust's.
    max_iter : int
    reg_covar : float
        Added to covariance diagonals in the data's units; 0 (exact EM, as mclust).
    progress : bool or None
        A tqdm progress bar over the bootstrap refits; None shows it only on a terminal.

    Returns
    -------
    BootstrapLRT
        ``result.table`` (one row per test), ``result.n_components`` (the selected K),
        ``result.bootstrap_lrts``; ``print(result)`` shows mclust's summary.

    Raises
    ------
    ValueError
        Invalid input, or the 1- or 2-component fit to the data failed.

    Warns
    -----
    ConvergenceWarning
        Fits to the data or bootstrap refits that reached `max_iter` before converging.
    UserWarning
        A fit to the data with K + 1 > 2 components failed (the tests stop before it), or
        after ``MAX_REDRAW_ROUNDS`` rounds of redrawing a test has fewer than
        `n_bootstrap` bootstrap statistics (its p-value uses those it has).

    Notes
    -----
    The p-values are valid for the sequence of tests only in mclust's sense: each test is
    at `level`, and the sequence stops at the first K not rejected; no correction for the
    number of tests is made.
    """
    X = check_data(X)
    n = X.shape[0]
    structure = canonical_name(covariance_type)
    max_components = _check_max_components(max_components, n)
    level = check_probability(level, "level")
    n_bootstrap = _check_n_bootstrap(n_bootstrap, level)
    if not isinstance(sequential, bool | np.bool_):
        raise ValueError(f"sequential must be True or False, got {sequential!r}.")
    if init not in GRID_INITS:
        raise ValueError(f"bootstrap_lrt supports init in {GRID_INITS}, got {init!r}.")
    seed = check_seed(seed)
    n_init = check_positive_int(n_init, "n_init")
    bootstrap_n_init = n_init if bootstrap_n_init is None else check_positive_int(
        bootstrap_n_init, "bootstrap_n_init", allow_zero=True)
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_positive_number(tol, "tol", allow_zero=True)
    reg_covar = check_positive_number(reg_covar, "reg_covar", allow_zero=True)

    # Every K up front, as mclust does (mclustBIC over G = 1..maxG + 1): one compiled
    # program for the grid, each cell the same fit as fit_em.
    selection = select(X, range(1, max_components + 1), structure, n_init=n_init, seed=seed,
                       init=init, tol=tol, max_iter=max_iter, reg_covar=reg_covar,
                       progress=False)
    fits = {k: result for (k, _), result in selection.results.items()}
    for k in (1, 2):
        if k not in fits:
            error = selection.table.set_index("n_components").loc[k, "error"]
            raise ValueError(f"The {k}-component {structure!r} fit to X failed ({error}); no "
                             "test can run. Set reg_covar > 0 or check the data.")
    # Exact row shapes (no padding bucket): the refits cost B x starts fits each, and
    # padding rows would cost every one of them; n is fixed for the whole run anyway.
    problem = make_problem(X, max_components, structure, None, reg_covar, tol,
                           DEFAULT_BLOCK_SIZE, pad=False)
    problem = jax.tree.map(jnp.asarray, problem)
    length = trace_length(max_iter)
    n_starts = 1 + bootstrap_n_init
    lanes = default_lanes(problem.X_blocks.shape[1], problem.X_blocks.shape[2],
                          max_components, max_iter, n_starts)
    settings = _Settings(problem, structure, max_components, n, n_bootstrap, bootstrap_n_init,
                         init, max_iter, lanes, length,
                         _batch_size(problem, max_components, n_starts, lanes, length,
                                     n_bootstrap),
                         seed)
    rows, columns, unconverged = [], [], 0
    stop_reason = f"max_components={max_components} reached (raise it to test further)"
    bar = tqdm(total=(max_components - 1) * n_bootstrap, unit="set", desc="bootstrap LRT",
               disable=None if progress is None else not progress, leave=False)
    with bar:
        for k in range(1, max_components):
            if k + 1 not in fits:  # the (K+1)-component fit to X failed: nothing to test
                stop_reason = (f"the {k + 1}-component fit to X failed, so {k} vs {k + 1} "
                               "could not run (set reg_covar > 0 to go on)")
                warnings.warn(f"The {k + 1}-component fit to X failed; the tests stop at "
                              f"{k - 1} vs {k}.", stacklevel=2)
                break
            bar.set_postfix_str(f"{k} vs {k + 1}")
            null, alternative = fits[k], fits[k + 1]
            observed = 2.0 * (alternative.log_likelihood - null.log_likelihood)
            boot, redrawn, stuck = _bootstrap_statistics(settings, null, alternative, k, bar)
            unconverged += stuck
            if boot.size < n_bootstrap:
                warnings.warn(f"{k} vs {k + 1}: only {boot.size} of {n_bootstrap} bootstrap "
                              f"data sets could be refitted ({redrawn} refits failed with a "
                              "singular covariance); the p-value uses those. Set "
                              "reg_covar > 0 to refit them all.", stacklevel=2)
            p_value = (1.0 + np.sum(boot >= observed)) / (boot.size + 1.0)
            rejected = bool(p_value <= level)
            rows.append(dict(test=f"{k} vs {k + 1}", n_components=k, alternative=k + 1,
                             log_likelihood_null=null.log_likelihood,
                             log_likelihood_alternative=alternative.log_likelihood,
                             lrts=observed, p_value=p_value, rejected=rejected,
                             n_bootstrap=boot.size, n_redrawn=redrawn))
            columns.append(boot)
            if not rejected and sequential:
                stop_reason = f"{k} vs {k + 1} was not rejected (the sequential rule)"
                break
    if unconverged:
        warnings.warn(ConvergenceWarning(
            f"{unconverged} bootstrap refit(s) reached max_iter={max_iter} before converging; "
            "raise max_iter or tol."), stacklevel=2)
    statistics = np.full((n_bootstrap, len(columns)), np.nan)
    for j, boot in enumerate(columns):
        statistics[: boot.size, j] = boot
    return BootstrapLRT(table=pd.DataFrame(rows, columns=list(TABLE_COLUMNS)),
                        bootstrap_lrts=statistics, covariance_type=structure, level=level,
                        n_bootstrap=n_bootstrap, sequential=sequential,
                        stop_reason=stop_reason, fits=fits,
                        selection=selection)
