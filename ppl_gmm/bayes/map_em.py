"""MAP by EM: the default start of the NUTS chains and their default relabelling reference."""

from __future__ import annotations

from ..fit.driver import fit_em
from ..params import EMResult
from ..prior import Prior

__all__ = ["map_em"]


def map_em(X, n_components: int, *, prior=None, covariance_type: str = "full", seed: int = 0,
           n_init: int = 4, **fit_kwargs) -> EMResult:
    """MAP-EM with `n_init` restarts (``fit_em(..., prior=prior, n_init=n_init)``).

    Parameters
    ----------
    X : array-like (n, d)
    n_components : int
    prior : Prior or ResolvedPrior, optional
        Defaults to ``Prior()``.
    covariance_type : str
    seed, n_init : int
    **fit_kwargs
        Passed to :func:`ppl_gmm.fit_em` (``tol``, ``max_iter``, ``init``, ...).

    Returns
    -------
    EMResult
        The restart with the highest log joint.
    """
    prior = Prior() if prior is None else prior
    return fit_em(X, n_components, covariance_type=covariance_type, prior=prior, seed=seed,
                  n_init=n_init, **fit_kwargs)
