"""Label switching: component identities are arbitrary, so match them before comparing.

Permuting the components of a mixture leaves its likelihood unchanged: K! equally
good solutions. `align_labels` finds the permutation of a solution that best matches
a reference by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``).
"""

from __future__ import annotations

import numpy as np

from ..params import GMMParams


def matching_cost(params, reference) -> np.ndarray:
    """cost[j, i]: squared Mahalanobis distance between reference mean j and mean i.

    The metric is the reference's pooled covariance S = sum_k pi*_k Sigma*_k, one matrix
    for all pairs, so the cost is scale-free and symmetric in the two solutions' roles.
    """
    means = np.asarray(params.means, np.float64)
    ref_means = np.asarray(reference.means, np.float64)
    if means.shape != ref_means.shape:
        raise ValueError(
            f"Cannot align solutions with means of shapes {means.shape} and {ref_means.shape}."
        )
    pooled = np.einsum("k,kij->ij", np.asarray(reference.weights, np.float64),
                       np.asarray(reference.covariances, np.float64))
    from scipy.linalg import cho_factor, cho_solve  # on first use: SciPy adds 0.2 s to import

    factor = cho_factor(pooled, lower=True)
    diff = ref_means[:, None, :] - means[None, :, :]
    solved = cho_solve(factor, diff.reshape(-1, diff.shape[-1]).T).T.reshape(diff.shape)
    return np.einsum("jid,jid->ji", diff, solved)


def align_labels(params, reference) -> np.ndarray:
    """The permutation `perm` with ``permute(params, perm)`` closest to `reference`.

    Parameters
    ----------
    params, reference : GMMParams
        Two solutions with the same K and d.

    Returns
    -------
    ndarray of int, shape (K,)
        Component j of the aligned solution is component ``perm[j]`` of `params`;
        it minimises the summed :func:`matching_cost`.
    """
    cost = matching_cost(params, reference)
    # scipy.optimize on first use (0.3 s of `import ppl_gmm` otherwise).
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(rows), dtype=int)
    perm[rows] = cols
    return perm


def permute(params, perm) -> GMMParams:
    """Reorder components: component j of the result is component ``perm[j]`` of `params`."""
    perm = np.asarray(perm)
    k = np.shape(params.weights)[-1]
    if sorted(perm.tolist()) != list(range(k)):
        raise ValueError(f"perm must be a permutation of 0..{k - 1}, got {perm.tolist()}.")
    return GMMParams(*(np.take(np.asarray(a), perm, axis=0) for a in params))
