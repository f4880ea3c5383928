"""What a figure is given, read into arrays: parameters, data, feature choices, radii.

A mixture can be passed as a :class:`ppl_gmm.params.GMMParams`, an
:class:`ppl_gmm.params.EMResult`, a fitted :class:`ppl_gmm.estimator.GaussianMixture`,
or any estimator with scikit-learn's fitted attributes (``weights_``, ``means_``,
``covariances_``, ``covariance_type``); scikit-learn's ``covariances_`` is the
structure's site value, turned into full matrices by the covariance-structure registry.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_data, check_params
from ..params import EMResult, GMMParams
from ..structures.registry import get_structure

__all__ = [
    "as_params",
    "checked_data",
    "checked_features",
    "checked_sigmas",
    "feature_labels",
    "params_from_fitted_attributes",
]


def as_params(model) -> GMMParams:
    """GMMParams (float64, validated) from a GMMParams, an EMResult, or a fitted estimator.

    Estimators are read through ``result_`` (a fitted ppl_gmm estimator), ``params_``
    (a GMMParams) or scikit-learn's ``weights_``, ``means_``, ``covariances_`` and
    ``covariance_type``.
    """
    model = getattr(model, "result_", model)  # a fitted ppl_gmm.GaussianMixture
    if isinstance(model, EMResult):
        model = model.params
    elif not isinstance(model, GMMParams | tuple):
        if isinstance(getattr(model, "params_", None), GMMParams):
            model = model.params_
        elif hasattr(model, "means_") and hasattr(model, "covariances_"):
            model = params_from_fitted_attributes(model)
        elif isinstance(getattr(model, "params", None), GMMParams):
            model = model.params
        else:
            raise ValueError(
                f"Cannot read mixture parameters from {type(model).__name__}; pass a "
                "GMMParams, an EMResult or a fitted estimator."
            )
    return check_params(model)


def params_from_fitted_attributes(model) -> GMMParams:
    """GMMParams from scikit-learn's fitted attributes (``covariance_type`` default "full").

    ``covariances_`` holds the structure's site value (full (K, d, d), tied (d, d),
    diag (K, d), spherical (K,)); the registry's structure expands it to (K, d, d).
    """
    means = np.asarray(model.means_, np.float64)
    k, d = means.shape
    structure = get_structure(getattr(model, "covariance_type", "full"))
    site = np.asarray(model.covariances_, np.float64)
    covariances = np.array(structure.covariances_from_site(site, k, d), np.float64)
    return GMMParams(np.asarray(model.weights_, np.float64), means, covariances)


def checked_data(params: GMMParams, X):
    """X as a float64 (n, d) array with the mixture's d columns, or None for None."""
    if X is None:
        return None
    X = check_data(X)
    if X.shape[1] != params.n_features:
        raise ValueError(
            f"X has {X.shape[1]} columns but the mixture has d={params.n_features} features."
        )
    return X


def feature_labels(feature_names, d: int) -> list[str]:
    """Axis labels of the d features: the names given, else "feature j" ("x" for d = 1)."""
    if feature_names is None:
        return [f"feature {j}" for j in range(d)] if d > 1 else ["x"]
    names = [str(name) for name in feature_names]
    if len(names) != d:
        raise ValueError(f"feature_names has {len(names)} entries but the data have d={d}.")
    return names


def checked_features(features, d: int):
    """Distinct column indices in [0, d) as a list, or None for None."""
    if features is None:
        return None
    features = [int(j) for j in np.atleast_1d(features)]
    if not 1 <= len(features) or any(not 0 <= j < d for j in features):
        raise ValueError(f"features must be column indices between 0 and {d - 1}, got {features}.")
    if len(set(features)) != len(features):
        raise ValueError(f"features must be distinct, got {features}.")
    return features


def checked_sigmas(sigmas) -> tuple:
    """Mahalanobis radii of the ellipses, as a tuple of positive floats."""
    sigmas = tuple(float(s) for s in np.atleast_1d(sigmas))
    if not sigmas or not all(np.isfinite(s) and s > 0 for s in sigmas):
        raise ValueError(f"sigmas must be positive numbers (Mahalanobis radii), got {sigmas}.")
    return sigmas
