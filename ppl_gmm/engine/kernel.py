"""EM as pure JAX functions: sufficient statistics over row blocks, M-step, bounds, the loop.

The E-step never materialises more than one block of rows: it accumulates

    N_k  = sum_i w_i r_ik
    S1_k = sum_i w_i r_ik x_i
    S2_k = sum_i w_i r_ik x_i x_i^T          (packed upper triangle, in R^T F)
    log-likelihood, and sum_i w_i r_ik log r_ik

over blocks of rows with ``lax.scan``, plus sum_i w_i max_k log(pi_k N(x_i | mu_k, Sigma_k)),
the classification log-likelihood that hard EM maximises. Each block costs two matrix
products (:mod:`ppl_gmm.gaussian`): the log densities F W^T from the design rows
f_i = (z(x_i), x_i, 1), z the packed outer products, then R^T F, which holds S2, S1 and
N at once; about 4 n K (d(d+1)/2 + d + 1) flops per iteration and no (n, K, d) temporary.
Raw moments lose accuracy when a component sits far from the origin relative to its
spread (C_k = S2_k - N_k x_bar x_bar^T); the data are centred and scaled first, so in
float64 the loss stays near eps * (|x_bar_k| / sigma_k)^2. Row weights w_i are 1 for
data and 0 for the padding that fills the last block (the same slot takes sample
weights). Streaming blocks from disk or summing statistics across devices (``psum``)
reuse `accumulate_statistics` unchanged.

Everything here works in the *internal* coordinates set up by :mod:`ppl_gmm.fit`
(data centred and scaled); the objective values it records are mapped back to the
user's coordinates by a constant log-Jacobian.

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
becomes K-means (:mod:`ppl_gmm.kmeans`).

References
----------
Celeux, G. and Govaert, G. (1992). A classification EM algorithm for clustering and two
stochastic versions. Computational Statistics & Data Analysis 14, 315-332.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.nn import logsumexp
from jax.scipy.linalg import cho_solve

from ..params import GMMParams
from ..structures.registry import get_structure
from .gaussian import (
    CholeskyFactors,
    cholesky_factors,
    component_log_joint,
    design_matrix,
    design_width,
    log_joint_coefficients,
    unpack_symmetric,
)

VARIANTS = ("soft", "hard")


def check_variant(variant) -> str:
    """Validate the EM variant name ("soft" or "hard")."""
    if variant not in VARIANTS:
        raise ValueError(
            f"variant={variant!r} is not known; use 'soft' (EM) or 'hard' (classification EM)."
        )
    return variant


class SufficientStatistics(NamedTuple):
    """E-step output: weighted counts and raw moments in internal coordinates.

    Attributes
    ----------
    counts : (K,)
    sum_x : (K, d)
    sum_xx : (K, d, d)
    log_likelihood : scalar
    sum_r_log_r : scalar
        sum_i w_i sum_k r_ik log r_ik (minus the entropy of q); 0 for hard assignments.
    classification_log_likelihood : scalar
        sum_i w_i max_k log(pi_k N(x_i | mu_k, Sigma_k)), the hard-EM objective.
    """

    counts: jnp.ndarray
    sum_x: jnp.ndarray
    sum_xx: jnp.ndarray
    log_likelihood: jnp.ndarray
    sum_r_log_r: jnp.ndarray
    classification_log_likelihood: jnp.ndarray = 0.0


class Moments(NamedTuple):
    """Weighted moments of each component: N_k, the mean x_bar_k, the centred scatter C_k."""

    counts: jnp.ndarray
    mean: jnp.ndarray
    scatter: jnp.ndarray


def block_statistics(F_block, w_block, W, variant: str = "soft"):
    """Sufficient statistics of one block from its design rows f = (z(x), x, 1).

    Two matrix products: the log densities F W^T, then R^T F, whose columns are the
    packed second moments, the first moments and the counts. ``variant="hard"`` replaces
    the responsibilities by one-hot assignments to the most responsible component (ties:
    the lowest index).
    """
    log_joint = F_block @ W.T
    # One exp per entry: the shifted exponentials give both the normaliser and r.
    top = jnp.max(log_joint, axis=1, keepdims=True)
    shifted = jnp.exp(log_joint - top)
    total = jnp.sum(shifted, axis=1)
    log_norm = top[:, 0] + jnp.log(total)
    if variant == "hard":
        k = log_joint.shape[1]
        resp = jax.nn.one_hot(jnp.argmax(log_joint, axis=1), k, dtype=F_block.dtype)
        resp = resp * w_block[:, None]
        sum_r_log_r = jnp.zeros((), F_block.dtype)
    else:
        resp = shifted * (w_block / total)[:, None]
        log_resp = log_joint - log_norm[:, None]
        sum_r_log_r = jnp.sum(jnp.where(resp > 0, resp * log_resp, 0.0))
    moments = resp.T @ F_block
    return moments, jnp.sum(w_block * log_norm), sum_r_log_r, jnp.sum(w_block * top[:, 0])


def accumulate_statistics(problem, params: GMMParams, factors: CholeskyFactors,
                          variant: str = "soft"):
    """E-step: sum `block_statistics` over the problem's row blocks with ``lax.scan``."""
    W = log_joint_coefficients(params.weights, params.means, factors)
    stored = problem.F_blocks is not None

    def add_block(total, block):
        rows, w_block = block
        F_block = rows if stored else design_matrix(rows)  # built here: one block in memory
        return jax.tree.map(jnp.add, total, block_statistics(F_block, w_block, W, variant)), None

    k, d = params.means.shape
    dtype = problem.X_blocks.dtype
    zero = jnp.zeros((), dtype)
    start = (jnp.zeros((k, W.shape[1]), dtype), zero, zero, zero)
    blocks = (problem.F_blocks if stored else problem.X_blocks, problem.w_blocks)
    (moments, log_likelihood, sum_r_log_r, classification), _ = lax.scan(add_block, start,
                                                                          blocks)
    return _statistics_from_moments(moments, d, log_likelihood, sum_r_log_r, classification)


def _statistics_from_moments(moments, d: int, *scalars) -> SufficientStatistics:
    """Split R^T F (columns: packed S2, S1, N) into :class:`SufficientStatistics`."""
    m = design_width(d) - d - 1
    return SufficientStatistics(moments[:, -1], moments[:, m:m + d],
                                unpack_symmetric(moments[:, :m], d), *scalars)


def statistics_from_responsibilities(X, w, resp) -> SufficientStatistics:
    """Counts and raw moments for given responsibilities (an M-step's input without an E-step).

    Used to start EM from memberships (k-means labels, random responsibilities).
    """
    zero = jnp.zeros((), X.dtype)
    moments = (resp * w[:, None]).T @ design_matrix(X)
    return _statistics_from_moments(moments, X.shape[1], zero, zero, zero)


def block_responsibilities(X_blocks, params: GMMParams):
    """r_ik for every row, shape (n_blocks * block, K), one block at a time."""
    factors = cholesky_factors(params.covariances)

    def one_block(X_block):
        log_joint, _ = component_log_joint(X_block, params.weights, params.means, factors)
        return jnp.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))

    resp = lax.map(one_block, X_blocks)
    return resp.reshape(-1, resp.shape[-1])


def moments_from_statistics(stats: SufficientStatistics) -> Moments:
    """Component moments: x_bar_k = S1_k / N_k and C_k = S2_k - N_k x_bar_k x_bar_k^T.

    As in scikit-learn, 10 eps is added to N_k so an empty component gives finite
    moments (its covariance is then singular and reported, see :mod:`ppl_gmm.fit`).
    """
    counts = stats.counts + 10 * jnp.finfo(stats.counts.dtype).eps
    mean = stats.sum_x / counts[:, None]
    scatter = stats.sum_xx - counts[:, None, None] * mean[:, :, None] * mean[:, None, :]
    return Moments(counts, mean, scatter)


def _symmetric(a):
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


def m_step(moments: Moments, covariance_type: str, prior, reg_covar,
           fixed_covariance=None) -> GMMParams:
    """Closed-form maximiser of the expected complete-data log-likelihood (or log joint).

    Parameters
    ----------
    moments : Moments
    covariance_type : str
    prior : ResolvedPrior or None
        None: maximum likelihood. Otherwise the MAP update
        pi_k = (N_k + alpha_k - 1) / (n + sum alpha - K),
        mu_k = (N_k x_bar_k + kappa m0) / (N_k + kappa),
        B_k = C_k + kappa N_k / (N_k + kappa) (x_bar_k - m0)(x_bar_k - m0)^T,
        Sigma_k = (pool(B)_k + pool(Psi)) / MAP denominator (:mod:`ppl_gmm.covariance`).
    reg_covar : array (d,)
        Added to every covariance diagonal.
    fixed_covariance : array (d, d) or None
        When given, every covariance is this matrix (not estimated, no `reg_covar`);
        the weights and means take their usual updates, which do not depend on it.
    """
    structure = get_structure(covariance_type)
    counts, mean, scatter = moments
    k, d = mean.shape
    total = jnp.sum(counts)
    if prior is None:
        weights = counts / total
        means = mean
        covariances = structure.pool(scatter) / structure.ml_denominator(counts, total, d, k)[
            :, None, None
        ]
    else:
        alpha = prior.concentration
        weights = (counts + alpha - 1.0) / (total + jnp.sum(alpha) - k)
        kappa = prior.shrinkage
        means = (counts[:, None] * mean + kappa * prior.mean) / (counts + kappa)[:, None]
        offset = mean - prior.mean
        shrink = kappa * counts / (counts + kappa)
        scatter = scatter + shrink[:, None, None] * offset[:, :, None] * offset[:, None, :]
        denominator = structure.map_denominator(counts, total, d, k, prior.dof)
        pooled = structure.pool(scatter) + structure.pool(prior.scale[None])
        covariances = pooled / denominator[:, None, None]
    if fixed_covariance is not None:
        return GMMParams(weights, means, jnp.broadcast_to(fixed_covariance, (k, d, d)))
    covariances = _symmetric(covariances) + jnp.diag(reg_covar)
    return GMMParams(weights, means, covariances)


def expected_log_gaussian(moments: Moments, params: GMMParams, factors: CholeskyFactors):
    """sum_i r_ik log N(x_i | mu_k, Sigma_k) for each k, from the moments of r.

    = -1/2 [N_k (d log 2 pi + log|Sigma_k|) + tr(Sigma_k^{-1} D_k)],
    D_k = C_k + N_k (x_bar_k - mu_k)(x_bar_k - mu_k)^T.
    """
    counts, mean, scatter = moments
    d = mean.shape[-1]
    offset = mean - params.means
    spread = scatter + counts[:, None, None] * offset[:, :, None] * offset[:, None, :]
    quadratic = jnp.trace(cho_solve((factors.scale_tril, True), spread), axis1=-2, axis2=-1)
    return -0.5 * (counts * (d * jnp.log(2.0 * jnp.pi) + 2.0 * factors.half_log_det) + quadratic)


def _counts_log_weights(counts, weights):
    """N_k log pi_k, with 0 log 0 = 0 (a component emptied by hard EM has weight 0)."""
    return jnp.where(counts > 0, counts * jnp.log(weights), 0.0)


def lower_bound(stats: SufficientStatistics, moments: Moments, params: GMMParams,
                factors: CholeskyFactors):
    """L(q, theta) = E_q[log p(X, Z | theta)] + H(q), q the responsibilities behind `stats`."""
    expected = jnp.sum(_counts_log_weights(stats.counts, params.weights))
    expected = expected + jnp.sum(expected_log_gaussian(moments, params, factors))
    return expected - stats.sum_r_log_r


def lower_bound_at_e_step(stats: SufficientStatistics, params: GMMParams,
                          factors: CholeskyFactors):
    """L(q_theta, theta) from statistics taken at theta itself.

    The bound touches the log-likelihood here; computed through the moments and
    the entropy, not the log-sum-exp, it is an independent check of the E-step.
    """
    return lower_bound(stats, moments_from_statistics(stats), params, factors)


class Coordinates(NamedTuple):
    """Internal coordinates x_int = (x - shift) / scale, per feature."""

    shift: jnp.ndarray
    scale: jnp.ndarray

    def params_to_user(self, params: GMMParams) -> GMMParams:
        s = self.scale
        return GMMParams(
            params.weights,
            self.shift + params.means * s,
            params.covariances * s[:, None] * s[None, :],
        )

    def params_to_internal(self, params: GMMParams) -> GMMParams:
        s = self.scale
        return GMMParams(
            params.weights,
            (params.means - self.shift) / s,
            params.covariances / (s[:, None] * s[None, :]),
        )

    def prior_to_internal(self, prior):
        if prior is None:
            return None
        s = self.scale
        return prior._replace(
            mean=(prior.mean - self.shift) / s, scale=prior.scale / (s[:, None] * s[None, :])
        )


class EMTrace(NamedTuple):
    """Preallocated per-iteration buffers (length max_iter + 1, NaN past the last entry)."""

    log_likelihood: jnp.ndarray
    objective: jnp.ndarray
    lower_bound: jnp.ndarray
    lower_bound_after_e_step: jnp.ndarray


class EMState(NamedTuple):
    """Carry of the EM ``while_loop``: theta_t, its E-step statistics and the trace."""

    params: GMMParams
    factors: CholeskyFactors
    stats: SufficientStatistics
    objective: jnp.ndarray
    iteration: jnp.ndarray
    converged: jnp.ndarray
    failed_component: jnp.ndarray
    trace: EMTrace


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
        once per fit (memory n (d(d+1)/2 + d + 1)), or None: each E-step then builds
        them block by block from X_blocks (memory one block)
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


def _log_jacobian(problem: EMProblem):
    """log-density change from internal to user coordinates: -sum_i w_i sum_j log s_j."""
    return -jnp.sum(problem.w_blocks) * jnp.sum(jnp.log(problem.coordinates.scale))


def _user_objective_terms(problem: EMProblem, params: GMMParams, covariance_type: str):
    """Constant added to internal log-likelihoods to give the user-space objective."""
    offset = _log_jacobian(problem)
    if problem.user_prior is not None:
        from ..ppl.model import log_prior_density

        user_params = problem.coordinates.params_to_user(params)
        offset = offset + log_prior_density(user_params, problem.user_prior, covariance_type)
    return offset


#: A covariance whose Cholesky pivot (a conditional variance) falls below this, in the
#: standardised internal coordinates (data variance 1), has collapsed: the raw-moment
#: E-step resolves variances only to about eps |x_bar|^2, so such a component sits on a
#: few (near-)coincident rows and its likelihood grows without bound.
COLLAPSED_VARIANCE = 1e-12


def objective_change(problem: EMProblem, objective, previous):
    """The stopping rule's two sides: |objective - previous| and the scale it is relative to.

    The scale is the objective on the standardised scale (the log-Jacobian of the
    user's units removed), so the rule does not depend on those units; EM stops when
    change <= tol * scale.
    """
    return jnp.abs(objective - previous), jnp.abs(objective - _log_jacobian(problem))


def _first_failure(factors: CholeskyFactors, stats: SufficientStatistics,
                   check_collapse: bool = True):
    """Index of the first component whose covariance is not positive definite, else -1.

    A covariance with a pivot below ``COLLAPSED_VARIANCE`` counts as singular
    (`check_collapse`, off for a fixed covariance). A non-finite log-likelihood with
    every factor finite (overflow) blames the component with the least responsibility.
    """
    singular = ~factors.finite
    if check_collapse:
        pivots = jnp.diagonal(factors.scale_tril, axis1=-2, axis2=-1) ** 2
        singular = singular | jnp.any(pivots < COLLAPSED_VARIANCE, axis=-1)
    overflow = ~jnp.isfinite(stats.log_likelihood) | ~jnp.all(jnp.isfinite(stats.counts))
    return jnp.where(jnp.any(singular), jnp.argmax(singular),
                     jnp.where(overflow, jnp.argmin(jnp.nan_to_num(stats.counts)), -1))


def _objective(stats: SufficientStatistics, variant: str):
    """Internal-coordinate objective (before prior and Jacobian) from E-step statistics."""
    if variant == "hard":
        return stats.classification_log_likelihood
    return stats.log_likelihood


def em_step(problem: EMProblem, params: GMMParams, factors: CholeskyFactors,
            stats: SufficientStatistics, covariance_type: str, variant: str = "soft",
            update=None):
    """One EM iteration from theta_t (with its E-step `stats`) to theta_{t+1}.

    Returns the new parameters, their factors and statistics, the user-space
    objective, the lower bound L(q_t, theta_{t+1}) and L(q_{t+1}, theta_{t+1}) (both
    plus log prior and log-Jacobian). For ``variant="hard"`` q is one-hot and the
    objective is the classification log-likelihood (module docstring). `update`
    (moments -> GMMParams) replaces the M-step :func:`m_step` for `covariance_type`
    (the model-selection grid masks components and switches structures there,
    :mod:`ppl_gmm.grid`).
    """
    moments = moments_from_statistics(stats)
    if update is None:
        new_params = m_step(moments, covariance_type, problem.prior, problem.reg_covar,
                            problem.fixed_covariance)
    else:
        new_params = update(moments)
    new_factors = cholesky_factors(new_params.covariances)
    new_stats = accumulate_statistics(problem, new_params, new_factors, variant)
    offset = _user_objective_terms(problem, new_params, covariance_type)
    bound_before = lower_bound(stats, moments, new_params, new_factors) + offset
    bound_after = lower_bound_at_e_step(new_stats, new_params, new_factors) + offset
    objective = _objective(new_stats, variant) + offset
    return new_params, new_factors, new_stats, objective, bound_before, bound_after


def initial_state(problem: EMProblem, params: GMMParams, covariance_type: str, max_iter: int,
                  variant: str = "soft"):
    """E-step at the initial parameters and an empty trace with entry 0 filled."""
    factors = cholesky_factors(params.covariances)
    stats = accumulate_statistics(problem, params, factors, variant)
    offset = _user_objective_terms(problem, params, covariance_type)
    objective = _objective(stats, variant) + offset
    after = lower_bound_at_e_step(stats, params, factors) + offset
    empty = jnp.full(max_iter + 1, jnp.nan, dtype=objective.dtype)
    trace = EMTrace(
        log_likelihood=empty.at[0].set(stats.log_likelihood + _log_jacobian(problem)),
        objective=empty.at[0].set(objective),
        lower_bound=empty.at[0].set(objective),
        lower_bound_after_e_step=empty.at[0].set(after),
    )
    return EMState(params, factors, stats, objective, jnp.asarray(0), jnp.asarray(False),
                   _first_failure(factors, stats, problem.fixed_covariance is None), trace)


def run_em(problem: EMProblem, init_params: GMMParams, covariance_type: str, max_iter: int,
           variant: str = "soft", update=None):
    """Iterate EM inside ``lax.while_loop`` until converged, failed or `max_iter`.

    Pure and traceable: ``jax.vmap`` over `init_params` runs restarts as one batch
    (:mod:`ppl_gmm.restarts`); a restart that fails stops, its state frozen, while the
    others go on. Convergence: |objective_t - objective_{t-1}|
    <= tol * |objective_t + n sum_j log s_j|, the objective on the standardised scale
    (unit-free).
    `variant` is "soft" (EM) or "hard" (classification EM), see the module docstring;
    `update` replaces the M-step, see :func:`em_step`.
    """

    def keep_going(state: EMState):
        return still_running(state, max_iter)

    def iterate(state: EMState):
        new_state, entries = em_iteration(problem, state, covariance_type, variant, update)
        t = new_state.iteration
        trace = EMTrace(*(buffer.at[t].set(entry) for buffer, entry in zip(state.trace, entries,
                                                                             strict=True)))
        return new_state._replace(trace=trace)

    state = initial_state(problem, init_params, covariance_type, max_iter, variant)
    return lax.while_loop(keep_going, iterate, state)


def still_running(state: EMState, max_iter: int):
    """Whether the loop goes on: below `max_iter`, not converged, not failed."""
    return (state.iteration < max_iter) & ~state.converged & (state.failed_component < 0)


def em_iteration(problem: EMProblem, state: EMState, covariance_type: str, variant: str = "soft",
                 update=None):
    """The body of the EM loop, without the trace buffers.

    Returns the next state (its ``trace`` field passed through untouched) and the four
    trace entries of the new iteration (an :class:`EMTrace` of scalars), so that the
    single-run loop (:func:`run_em`) and the lockstep restart loop
    (:func:`ppl_gmm.restarts.run_em_batch`) share every step.
    """
    params, factors, stats, objective, bound_before, bound_after = em_step(
        problem, state.params, state.factors, state.stats, covariance_type, variant, update
    )
    t = state.iteration + 1
    log_likelihood = stats.log_likelihood + _log_jacobian(problem)
    entries = EMTrace(log_likelihood, objective, bound_before, bound_after)
    change, scale = objective_change(problem, objective, state.objective)
    converged = change <= problem.tol * scale
    failed = _first_failure(factors, stats, problem.fixed_covariance is None)
    new_state = EMState(params, factors, stats, objective, t, converged, failed, state.trace)
    # A failed iterate is not accepted: keep the last good one and stop (the trace
    # entry for the failed iteration records the failed values).
    kept = jax.tree.map(lambda new, old: jnp.where(failed >= 0, old, new), new_state, state)
    return kept._replace(iteration=t, failed_component=failed), entries


def em_path(problem: EMProblem, init_params: GMMParams, covariance_type: str, n_steps: int,
            variant: str = "soft"):
    """theta_0 .. theta_{n_steps} (internal coordinates) by the same `em_step`, in ``lax.scan``."""
    state = initial_state(problem, init_params, covariance_type, 0, variant)

    def step(carry, _):
        params, factors, stats = carry
        params, factors, stats, *_ = em_step(problem, params, factors, stats, covariance_type,
                                             variant)
        return (params, factors, stats), params

    _, path = lax.scan(step, (state.params, state.factors, state.stats), None, length=n_steps)
    return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), init_params, path)
