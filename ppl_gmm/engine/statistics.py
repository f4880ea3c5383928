"""The E-step: sufficient statistics accumulated over row blocks.

The E-step never materialises more than one block of rows: it accumulates

    N_k  = sum_i w_i r_ik
    S1_k = sum_i w_i r_ik x_i
    S2_k = sum_i w_i r_ik x_i x_i^T          (packed upper triangle, in R^T F)
    log-likelihood, and sum_i w_i r_ik log r_ik

over blocks of rows with ``lax.scan``, plus sum_i w_i max_k log(pi_k N(x_i | mu_k, Sigma_k)),
the classification log-likelihood that hard EM maximises. Each block costs two matrix
products (:mod:`ppl_gmm.engine.gaussian`): the log densities F W^T from the design rows
f_i = (z(x_i), x_i, 1), z the packed outer products, then R^T F, which holds S2, S1 and
N at once; about 4 n K (d(d+1)/2 + d + 1) flops per iteration and no (n, K, d) temporary.
Raw moments lose accuracy when a component sits far from the origin relative to its
spread (C_k = S2_k - N_k x_bar x_bar^T); the data are centred and scaled first
(:mod:`ppl_gmm.engine.coordinates`), so in float64 the loss stays near
eps * (|x_bar_k| / sigma_k)^2. Row weights w_i are 1 for data and 0 for the padding that
fills the last block.

The E-step is one function of (problem, parameters, factors) -> statistics
(:func:`block_e_step`); the EM kernel (:mod:`ppl_gmm.engine.kernel`) takes it as a
parameter, so an E-step over blocks streamed from disk, or one whose blocks are spread
over devices with the statistics summed (``psum``), replaces it without touching the
loop: it has to return the same :class:`SufficientStatistics`, which are sums over rows.
:func:`block_statistics` (one block) is the piece such E-steps share.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.nn import logsumexp

from ..params import GMMParams
from .gaussian import (
    CholeskyFactors,
    cholesky_factors,
    component_log_joint,
    design_matrix,
    design_width,
    log_gaussian_from_whitened,
    log_joint_coefficients,
    unpack_symmetric,
    whitened_residuals,
)

#: The design rows (d(d+1)/2 + d + 1 float64 per row) may be stored for a whole fit, when
#: reading them was measured faster than building each block's in cache
#: (:mod:`ppl_gmm.fit.estep_choice`), only up to this many bytes, so memory stays O(n d)
#: for large n or d (stored they would take 2.6 GB at n = 10^6, d = 24, and 40 GB at d = 100).
STORED_DESIGN_BYTES = 2**31


def with_design_rows(problem):
    """`problem` with its design rows stored (computed once, inside the caller's program)
    when they take at most ``STORED_DESIGN_BYTES``; unchanged otherwise."""
    if problem.F_blocks is not None:
        return problem
    n_blocks, block, d = problem.X_blocks.shape
    if n_blocks * block * design_width(d) * problem.X_blocks.dtype.itemsize > STORED_DESIGN_BYTES:
        return problem
    return problem._replace(F_blocks=design_matrix(problem.X_blocks))


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

    Returns
    -------
    (moments (K, design width), log-likelihood, sum r log r, classification log-lik.)
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


def block_e_step(problem, params: GMMParams, factors: CholeskyFactors,
                 variant: str = "soft") -> SufficientStatistics:
    """The in-memory E-step: `block_statistics` summed over the problem's blocks.

    Reads ``problem.F_blocks`` (stored design rows) when present, otherwise builds each
    block's design rows from ``problem.X_blocks`` inside the loop (memory: one block).
    Only the first ``problem.n_blocks`` blocks are visited when it is set (the rest are
    the padding of a row-count bucket).
    """
    W = log_joint_coefficients(params.weights, params.means, factors)
    return e_step_from_coefficients(problem, W, variant)


def e_step_from_coefficients(problem, W, variant: str = "soft") -> SufficientStatistics:
    """The in-memory E-step of any log joint linear in the design rows: log rho_ik =
    (f_i @ W.T)[k] (:func:`ppl_gmm.engine.gaussian.log_joint_coefficients` for EM, the
    expected log joint for variational Bayes), summed over the problem's blocks."""
    stored = problem.F_blocks is not None
    blocks = problem.F_blocks if stored else problem.X_blocks

    def add_block(total, rows, w_block):
        F_block = rows if stored else design_matrix(rows)
        return jax.tree.map(jnp.add, total, block_statistics(F_block, w_block, W, variant))

    k, d = W.shape[0], problem.X_blocks.shape[-1]
    dtype = problem.X_blocks.dtype
    zero = jnp.zeros((), dtype)
    start = (jnp.zeros((k, W.shape[1]), dtype), zero, zero, zero)
    if problem.n_blocks is None:
        total, _ = lax.scan(lambda t, b: (add_block(t, *b), None), start,
                            (blocks, problem.w_blocks))
    else:
        blocks, weights = jnp.asarray(blocks), jnp.asarray(problem.w_blocks)
        total = lax.fori_loop(0, problem.n_blocks,
                              lambda i, t: add_block(t, blocks[i], weights[i]), start)
    moments, log_likelihood, sum_r_log_r, classification = total
    return statistics_from_moments(moments, d, log_likelihood, sum_r_log_r, classification)


def statistics_from_moments(moments, d: int, *scalars) -> SufficientStatistics:
    """Split R^T F (columns: packed S2, S1, N) into :class:`SufficientStatistics`."""
    m = design_width(d) - d - 1
    return SufficientStatistics(moments[:, -1], moments[:, m:m + d],
                                unpack_symmetric(moments[:, :m], d), *scalars)


#: Rows per chunk of :func:`statistics_from_responsibilities` (the E-step's block).
MOMENT_CHUNK_ROWS = 4096


def statistics_from_responsibilities(X, w, resp) -> SufficientStatistics:
    """Counts and raw moments for given responsibilities (an M-step's input without an E-step).

    Used to start EM from memberships (k-means labels, random responsibilities). The
    design rows are built one chunk of ``MOMENT_CHUNK_ROWS`` rows at a time (the last
    chunk padded with rows of weight 0), so the whole (n, d(d+1)/2 + d + 1) matrix is
    never written, whatever the fit's block size: at (10^5, 10) building it at once cost
    about 40 ms of a fit's start-up, and its memory is what the E-step avoids.
    """
    n, d = X.shape
    zero = jnp.zeros((), X.dtype)
    weighted = resp * w[:, None]
    if n > MOMENT_CHUNK_ROWS:
        chunks = -(-n // MOMENT_CHUNK_ROWS)
        padding = ((0, chunks * MOMENT_CHUNK_ROWS - n), (0, 0))

        def add_chunk(total, chunk):
            rows, r = chunk
            return total + r.T @ design_matrix(rows), None

        moments, _ = lax.scan(add_chunk, jnp.zeros((resp.shape[1], design_width(d)), X.dtype),
                              (jnp.pad(X, padding).reshape(chunks, MOMENT_CHUNK_ROWS, d),
                               jnp.pad(weighted, padding).reshape(chunks, MOMENT_CHUNK_ROWS, -1)))
    else:
        moments = weighted.T @ design_matrix(X)
    return statistics_from_moments(moments, d, zero, zero, zero)


def block_responsibilities(X_blocks, params: GMMParams, n_blocks=None, offsets=None):
    """r_ik for every row, shape (blocks * block, K), one block at a time.

    With `n_blocks` (traced) only the first `n_blocks` blocks are computed; the rows of
    the others (a row-count bucket's padding) are left 0. `offsets` c_k replace
    log pi_k (r_ik proportional to exp(c_k) N(x_i | mu_k, Sigma_k), variational Bayes's
    E-step; ``params.weights`` is then unused).
    """
    factors = cholesky_factors(params.covariances)

    def one_block(X_block):
        if offsets is None:
            log_joint, _ = component_log_joint(X_block, params.weights, params.means, factors)
        else:
            y = whitened_residuals(X_block, params.means, factors)
            log_joint = offsets + log_gaussian_from_whitened(y, factors)
        return jnp.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))

    if n_blocks is None:
        resp = lax.map(one_block, X_blocks)
    else:
        X_blocks = jnp.asarray(X_blocks)
        blocks, rows, _ = X_blocks.shape
        empty = jnp.zeros((blocks, rows, params.weights.shape[-1]), X_blocks.dtype)
        resp = lax.fori_loop(0, n_blocks,
                             lambda i, out: out.at[i].set(one_block(X_blocks[i])), empty)
    return resp.reshape(-1, resp.shape[-1])


def moments_from_statistics(stats: SufficientStatistics) -> Moments:
    """Component moments: x_bar_k = S1_k / N_k and C_k = S2_k - N_k x_bar_k x_bar_k^T.

    As in scikit-learn, 10 eps is added to N_k so an empty component gives finite
    moments (its covariance is then singular and reported, see :mod:`ppl_gmm.fit.driver`).
    """
    counts = stats.counts + 10 * jnp.finfo(stats.counts.dtype).eps
    mean = stats.sum_x / counts[:, None]
    scatter = stats.sum_xx - counts[:, None, None] * mean[:, :, None] * mean[:, None, :]
    return Moments(counts, mean, scatter)


__all__ = [
    "MOMENT_CHUNK_ROWS",
    "STORED_DESIGN_BYTES",
    "Moments",
    "SufficientStatistics",
    "block_e_step",
    "block_responsibilities",
    "block_statistics",
    "e_step_from_coefficients",
    "moments_from_statistics",
    "statistics_from_moments",
    "statistics_from_responsibilities",
    "with_design_rows",
]
