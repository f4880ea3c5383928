"""EM as a kernel: an ``init`` / ``step`` pair of pure functions over a NamedTuple state.

The kernel is built from two parameters (BlackJAX's pattern: ``build_kernel`` returns
pure functions, a thin driver runs them):

- an **E-step** ``(problem, params, factors, variant) -> SufficientStatistics``: sums over
  rows (:func:`ppl_gmm.engine.statistics.block_e_step` for blocks in memory; one over
  blocks streamed from disk, or sharded over devices with the sums ``psum``-ed, has the
  same signature);
- an **M-step** ``(moments, previous params) -> params``: by default the structure's
  (:func:`ppl_gmm.engine.mstep.m_step`, with the problem's prior, regularisation and
  fixed covariance); the model-selection grid passes one that masks padded components
  and switches structures on a traced index.

The state carries theta_t, its Cholesky factors and E-step statistics, the objective,
the iteration count and two flags; ``step`` also returns the trace entries of the new
iterate (:class:`EMTrace` of scalars). The loops that run a kernel, alone or for many
restarts at once, are :mod:`ppl_gmm.engine.schedule`'s; they need only ``iteration``,
``converged`` and ``failed_component`` of the state.

Everything here works in the *internal* coordinates (:mod:`ppl_gmm.engine.coordinates`);
the objective values recorded are mapped back to the user's coordinates by a constant
log-Jacobian.

Variants (static, chosen once per compiled loop):

- ``"soft"``: the usual EM. Objective: log p(X | theta) (+ log p(theta) under a prior).
- ``"hard"``: classification EM (Celeux & Govaert, 1992). The E-step keeps only
  one-hot responsibilities, r_ik = 1 for k = argmax_j pi_j N(x_i | theta_j). Its
  objective is the classification log-likelihood
  C(theta) = max_z log p(X, z | theta) = sum_i max_k log(pi_k N(x_i | mu_k, Sigma_k))
  (+ log p(theta)). It never decreases: the C-step maximises log p(X, z | theta) over z
  for fixed theta, the M-step over theta for fixed z. C is also the EM lower bound
  L(q, theta) at one-hot q (entropy 0), so the trace's bounds keep their meaning.

A fixed covariance (``EMProblem.fixed_covariance``, e.g. sigma^2 I) replaces the
covariance update: only weights and means are estimated. As sigma -> 0 this EM
becomes K-means (:mod:`ppl_gmm.fit.kmeans`).

References
----------
Celeux, G. and Govaert, G. (1992). A classification EM algorithm for clustering and two
stochastic versions. Computational Statistics & Data Analysis 14, 315-332.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ..params import GMMParams
from ..prior import log_prior_density
from .bounds import lower_bound, lower_bound_at_e_step
from .coordinates import Coordinates
from .gaussian import CholeskyFactors, cholesky_factors
from .mstep import m_step
from .statistics import (
    SufficientStatistics,
    block_e_step,
    moments_from_statistics,
    with_design_rows,
)

VARIANTS = ("soft", "hard")


def check_variant(variant) -> str:
    """Validate the EM variant name ("soft" or "hard")."""
    if variant not in VARIANTS:
        raise ValueError(
            f"variant={variant!r} is not known; use 'soft' (EM) or 'hard' (classification EM)."
        )
    return variant


class EMProblem(NamedTuple):
    """Everything the loop reads but never changes (all jit arguments, no closures).

    Attributes
    ----------
    X_blocks : (n_blocks, block, d) internal-coordinate data, zero-padded
    w_blocks : (n_blocks, block) row weights, 0 on padding
    prior : ResolvedPrior or None, internal coordinates
    user_prior : ResolvedPrior or None, user coordinates (for the log prior)
    coordinates : Coordinates
    reg_covar : (d,) internal-coordinate diagonal regularisation
    tol : scalar, relative tolerance on the objective
    fixed_covariance : (d, d) internal-coordinate covariance shared by every component and
        never updated, or None (estimate the covariances)
    F_blocks : (n_blocks, block, d(d+1)/2 + d + 1) design rows (z(x), x, 1), computed
        once per fit, or None: each E-step then builds them block by block from
        X_blocks (memory one block)
    n_blocks : int scalar or None
        How many leading blocks hold data (None: all). The row count is padded into a
        few size buckets so that a new n reuses a compiled program; the blocks past
        `n_blocks` are all padding and the E-step skips them.
    component_mask : (K,) bool or None
        The live components (None: all). K is padded to a bucket so that a new K reuses a
        compiled program; a dead component has weight exactly 0 (so responsibility 0),
        mean 0 and identity covariance, and every M-step puts it back there.
    mclust_stopping : bool scalar or None
        True: mclust's stopping rule (see :func:`objective_change`); None or False:
        ppl_gmm's.
    """

    X_blocks: jnp.ndarray
    w_blocks: jnp.ndarray
    prior: object
    user_prior: object
    coordinates: Coordinates
    reg_covar: jnp.ndarray
    tol: jnp.ndarray
    fixed_covariance: object = None
    F_blocks: object = None
    n_blocks: object = None
    component_mask: object = None
    mclust_stopping: object = None


def live_count(problem: EMProblem, n_components: int):
    """The number of live components (traced when K is padded)."""
    if problem.component_mask is None:
        return n_components
    return jnp.sum(problem.component_mask)


def masked(params: GMMParams, mask) -> GMMParams:
    """Dead components (``mask`` False) back to weight 0, mean 0, identity covariance."""
    if mask is None:
        return params
    eye = jnp.eye(params.means.shape[-1], dtype=params.means.dtype)
    return GMMParams(
        jnp.where(mask, params.weights, 0.0),
        jnp.where(mask[:, None], params.means, 0.0),
        jnp.where(mask[:, None, None], params.covariances, eye),
    )


class EMTrace(NamedTuple):
    """The trace entries of one iterate (scalars), or their buffers (one entry per iterate)."""

    log_likelihood: jnp.ndarray
    objective: jnp.ndarray
    lower_bound: jnp.ndarray
    lower_bound_after_e_step: jnp.ndarray


class EMState(NamedTuple):
    """The kernel's state: theta_t, its E-step statistics, the objective, counters, flags."""

    params: GMMParams
    factors: CholeskyFactors
    stats: SufficientStatistics
    objective: jnp.ndarray
    iteration: jnp.ndarray
    converged: jnp.ndarray
    failed_component: jnp.ndarray


class EMKernel(NamedTuple):
    """A pair of pure functions: ``init(params) -> (state, entries)`` (the E-step at the
    start and entry 0 of the trace) and ``step(state) -> (state, entries)`` (one
    iteration). The schedulers of :mod:`ppl_gmm.engine.schedule` run any such pair."""

    init: Callable
    step: Callable


def log_jacobian(problem: EMProblem):
    """log-density change from internal to user coordinates: -sum_i w_i sum_j log s_j."""
    return -jnp.sum(problem.w_blocks) * jnp.sum(jnp.log(problem.coordinates.scale))


def objective_change(problem: EMProblem, objective, previous, log_likelihood,
                     previous_log_likelihood):
    """The stopping rule's two sides: |objective - previous| and the scale it is relative to.

    The scale is the objective on the standardised scale (the log-Jacobian of the
    user's units removed), so the rule does not depend on those units; EM stops when
    change <= tol * scale. Under mclust's rule (``problem.mclust_stopping``, its
    ``emControl``) the change is that of the log-likelihood (user units; mclust tracks it
    under a prior too) and the scale 1 + |log-likelihood|.
    """
    change = jnp.abs(objective - previous)
    scale = jnp.abs(objective - log_jacobian(problem))
    if problem.mclust_stopping is not None:
        change = jnp.where(problem.mclust_stopping,
                           jnp.abs(log_likelihood - previous_log_likelihood), change)
        scale = jnp.where(problem.mclust_stopping, 1.0 + jnp.abs(log_likelihood), scale)
    return change, scale


#: A covariance whose Cholesky pivot (a conditional variance) falls below this, in the
#: standardised internal coordinates (data variance 1), has collapsed: the raw-moment
#: E-step resolves variances only to about eps |x_bar|^2, so such a component sits on a
#: few (near-)coincident rows and its likelihood grows without bound.
COLLAPSED_VARIANCE = 1e-12


def first_failure(factors: CholeskyFactors, stats: SufficientStatistics,
                  check_collapse: bool = True, mask=None):
    """Index of the first component whose covariance is not positive definite, else -1.

    A covariance with a pivot below ``COLLAPSED_VARIANCE`` counts as singular
    (`check_collapse`, off for a fixed covariance). A non-finite log-likelihood with
    every factor finite (overflow) blames the live component (`mask`) with the least
    responsibility.
    """
    singular = ~factors.finite
    if check_collapse:
        pivots = jnp.diagonal(factors.scale_tril, axis1=-2, axis2=-1) ** 2
        singular = singular | jnp.any(pivots < COLLAPSED_VARIANCE, axis=-1)
    overflow = ~jnp.isfinite(stats.log_likelihood) | ~jnp.all(jnp.isfinite(stats.counts))
    counts = jnp.nan_to_num(stats.counts)
    if mask is not None:
        counts = jnp.where(mask, counts, jnp.inf)
    return jnp.where(jnp.any(singular), jnp.argmax(singular),
                     jnp.where(overflow, jnp.argmin(counts), -1))


def still_running(state, max_iter: int):
    """Whether a kernel's loop goes on: below `max_iter`, not converged, not failed."""
    return (state.iteration < max_iter) & ~state.converged & (state.failed_component < 0)


def gaussian_em_kernel(problem: EMProblem, covariance_type="full", variant: str = "soft",
                       e_step: Callable = block_e_step, update: Callable | None = None,
                       store_design_rows: bool = False) -> EMKernel:
    """The EM kernel of a Gaussian mixture on `problem`.

    Parameters
    ----------
    problem : EMProblem
    covariance_type : str or CovarianceStructure
        The structure of the default M-step and of the prior's density (unused when
        `update` replaces the M-step and there is no prior).
    variant : {"soft", "hard"}
    e_step : callable
        ``(problem, params, factors, variant) -> SufficientStatistics``.
    update : callable, optional
        ``(moments, previous params) -> params``, replacing the default M-step
        :func:`ppl_gmm.engine.mstep.m_step` of `covariance_type` under the problem's
        prior, `reg_covar` and fixed covariance.
    store_design_rows : bool
        With :func:`block_e_step`: compute the design rows once per program and read them
        in every E-step (when they fit in ``STORED_DESIGN_BYTES``), instead of building
        each block's in cache (memory traffic O(n d) per iteration, the default). Which
        is faster depends on the machine (:mod:`ppl_gmm.fit.estep_choice` measures it).
    """
    if store_design_rows and e_step is block_e_step:
        problem = with_design_rows(problem)
    mask = problem.component_mask
    if update is None:
        def update(moments, previous):
            live = live_count(problem, previous.weights.shape[-1])
            return masked(m_step(moments, covariance_type, problem.prior, problem.reg_covar,
                                 problem.fixed_covariance, previous, live), mask)

    check_collapse = problem.fixed_covariance is None

    def objective_offset(params):
        """Constant added to internal log-likelihoods to give the user-space objective."""
        offset = log_jacobian(problem)
        if problem.user_prior is not None:
            user_params = problem.coordinates.params_to_user(params)
            offset = offset + log_prior_density(user_params, problem.user_prior,
                                                covariance_type)
        return offset

    def objective_of(stats):
        if variant == "hard":
            return stats.classification_log_likelihood
        return stats.log_likelihood

    def init(params: GMMParams):
        factors = cholesky_factors(params.covariances)
        stats = e_step(problem, params, factors, variant)
        offset = objective_offset(params)
        objective = objective_of(stats) + offset
        after = lower_bound_at_e_step(stats, params, factors) + offset
        state = EMState(params, factors, stats, objective, jnp.asarray(0), jnp.asarray(False),
                        first_failure(factors, stats, check_collapse, mask))
        entries = EMTrace(stats.log_likelihood + log_jacobian(problem), objective, objective,
                          after)
        return state, entries

    def step(state: EMState):
        moments = moments_from_statistics(state.stats)
        params = update(moments, state.params)
        factors = cholesky_factors(params.covariances)
        stats = e_step(problem, params, factors, variant)
        offset = objective_offset(params)
        bound_before = lower_bound(state.stats, moments, params, factors) + offset
        bound_after = lower_bound_at_e_step(stats, params, factors) + offset
        objective = objective_of(stats) + offset
        t = state.iteration + 1
        units = log_jacobian(problem)
        change, scale = objective_change(problem, objective, state.objective,
                                         stats.log_likelihood + units,
                                         state.stats.log_likelihood + units)
        failed = first_failure(factors, stats, check_collapse, mask)
        new = EMState(params, factors, stats, objective, t, change <= problem.tol * scale,
                      failed)
        # A failed iterate is not accepted: keep the last good one and stop (the trace
        # entry for the failed iteration records the failed values).
        kept = jax.tree.map(lambda n, o: jnp.where(failed >= 0, o, n), new, state)
        entries = EMTrace(stats.log_likelihood + units, objective,
                          bound_before, bound_after)
        return kept._replace(iteration=t, failed_component=failed), entries

    return EMKernel(init, step)


def em_path(problem: EMProblem, start: GMMParams, covariance_type, n_steps: int,
            variant: str = "soft"):
    """theta_0 .. theta_{n_steps} (internal coordinates) by the kernel's own step, in ``lax.scan``.

    The steps are not stopped by convergence or failure: this replays a run exactly.
    """
    kernel = gaussian_em_kernel(problem, covariance_type, variant)
    state, _ = kernel.init(start)

    def step(state, _):
        state, _ = kernel.step(state._replace(failed_component=jnp.asarray(-1)))
        return state, state.params

    _, path = lax.scan(step, state, None, length=n_steps)
    return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), start, path)


__all__ = [
    "COLLAPSED_VARIANCE",
    "VARIANTS",
    "EMKernel",
    "EMProblem",
    "EMState",
    "EMTrace",
    "check_variant",
    "em_path",
    "first_failure",
    "gaussian_em_kernel",
    "live_count",
    "log_jacobian",
    "masked",
    "objective_change",
    "still_running",
]
