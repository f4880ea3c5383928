"""Posterior draws as arrays: read off an InferenceData, and cut into whole batches.

jaxlib 0.10 on CPU
------------------
jaxlib 0.10's CPU LAPACK kernels (Cholesky, triangular solve) split a batched call
across XLA's intra-op thread pool and block until the pieces finish; when as many
such calls run at once as the pool has threads (2 on a 2-core machine), the pool
deadlocks. Per-draw quantities (the pointwise log-likelihood of the InferenceData,
memberships) are therefore computed one kind per program, each a single chain of
dependent operations (``lax.map`` over batches of draws), with the draws padded to
whole batches by :func:`padded_batches`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DRAW_BATCH", "MIXTURE_VARIABLES", "padded_batches", "posterior_draws"]

#: Draws per vectorised batch when evaluating per-draw quantities (bounds memory).
DRAW_BATCH = 256
#: The posterior variables that describe a mixture: weights, means, full covariances.
MIXTURE_VARIABLES = ("weights", "means", "covariances")


def posterior_draws(posterior, names=MIXTURE_VARIABLES) -> tuple:
    """Arrays (chain, draw, component, ...) of the posterior variables `names`.

    Parameters
    ----------
    posterior : xarray.Dataset
        An InferenceData's ``posterior`` group.
    names : sequence of str
        Defaults to weights, means and (full) covariances.

    Raises
    ------
    ValueError
        When a variable is missing.
    """
    for name in names:
        if name not in posterior:
            raise ValueError(
                f"The posterior has no {name!r} variable; this needs weights, means and (full) "
                "covariances as ppl_gmm.sample_posterior produces them."
            )
    return tuple(posterior[name].transpose("chain", "draw", "component", ...).values
                 for name in names)


def padded_batches(arrays, batch_size=DRAW_BATCH):
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
