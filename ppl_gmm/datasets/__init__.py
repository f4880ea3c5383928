"""Data: R's Old Faithful shipped with the package, and draws from `gmm_model` itself."""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["FAITHFUL_COLUMNS", "load_faithful", "make_synthetic"]

FAITHFUL_COLUMNS = ("eruptions", "waiting")


def load_faithful() -> np.ndarray:
    """Old Faithful geyser eruptions (R's ``datasets::faithful``), shape (272, 2), float64.

    Columns: eruption duration (minutes), waiting time to the next eruption (minutes).
    Public domain; read from the copy inside the package, never downloaded.
    """
    path = resources.files(__package__).joinpath("faithful.csv")
    with path.open("r", encoding="utf-8") as handle:
        return np.loadtxt(handle, delimiter=",", skiprows=1, dtype=np.float64)


def make_synthetic(n_samples: int, n_components: int, n_features: int = 2, *, prior=None,
                   covariance_type: str = "full", seed: int = 0):
    """Draw data from the prior predictive of `gmm_model`.

    A thin front for :func:`ppl_gmm.ppl.sampling.sample_prior_predictive`.

    Returns
    -------
    X : ndarray (n, d)
    z : ndarray (n,)
        The true component of each row.
    params : GMMParams
        The parameters drawn from the prior.
    """
    from ..ppl.sampling import sample_prior_predictive  # NumPyro on first use

    return sample_prior_predictive(n_samples, n_components, n_features, prior=prior,
                                   covariance_type=covariance_type, seed=seed)
