"""Checks at the public boundary: each error names the argument, the problem and the fix.

Validated once here, never inside jitted code. Inputs are copied, so a caller's
array is never modified.
"""

from __future__ import annotations

import numbers

import numpy as np


def check_data(X, name: str = "X", dtype=np.float64) -> np.ndarray:
    """Return `X` as a new finite 2-D floating array of shape (n, d).

    Integers and booleans are converted; strings, objects and complex numbers are
    refused. `dtype` None keeps float32 / float64 input as it is.

    Raises
    ------
    ValueError
        Not 2-D, empty, non-numeric, or containing NaN / inf.
    """
    raw = np.asarray(X)
    if raw.dtype.kind not in "biuf":
        column = _first_non_numeric_column(raw)
        where = f" (column {column})" if column is not None else ""
        raise ValueError(
            f"{name} must be numeric, got dtype {raw.dtype}{where}; convert the data to numbers "
            "first (e.g. drop or encode text columns)."
        )
    if raw.ndim != 2:
        fix = (
            f" For a single feature use {name}.reshape(-1, 1)."
            if raw.ndim == 1
            else " Pass a (n_samples, n_features) array."
        )
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {raw.shape}.{fix}"
        )
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {raw.shape}); it needs rows and columns.")
    if dtype is None:
        dtype = raw.dtype if raw.dtype in (np.float32, np.float64) else np.float64
    out = np.array(raw, dtype=dtype, copy=True)
    bad = ~np.isfinite(out)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(out[row, col]) else "inf"
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (first: {kind} at row {row}, "
            f"column {col}); remove or impute them before fitting."
        )
    return out


def _first_non_numeric_column(raw):
    if raw.ndim != 2 or raw.dtype.kind != "O":
        return None
    for j in range(raw.shape[1]):
        try:
            np.asarray(raw[:, j], dtype=np.float64)
        except (TypeError, ValueError):
            return j
    return None


def check_n_components(n_components, n_samples: int | None = None) -> int:
    """Return K as an int, checking 1 <= K <= n."""
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
        raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}.")
    k = int(n_components)
    if k < 1:
        raise ValueError(f"n_components must be >= 1, got {k}.")
    if n_samples is not None and n_samples < k:
        raise ValueError(
            f"X has {n_samples} rows but n_components={k}: EM needs at least as many "
            "observations as components; use fewer components or more data."
        )
    return k


def check_positive_number(value, name: str, *, allow_zero: bool = False) -> float:
    """A finite real > 0 (>= 0 with `allow_zero`)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")
    return float(value)


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def check_params(params, n_features: int | None = None, n_components: int | None = None):
    """Validate a :class:`GMMParams`: shapes, weights on the simplex, SPD covariances.

    Returns a float64 NumPy copy.
    """
    from .params import GMMParams

    try:
        weights, means, covariances = (np.array(a, dtype=np.float64) for a in params)
    except (TypeError, ValueError):
        raise ValueError(
            "params must be a GMMParams(weights, means, covariances) of numeric arrays."
        ) from None
    if weights.ndim != 1 or means.ndim != 2 or covariances.ndim != 3:
        raise ValueError(
            "GMMParams needs weights (K,), means (K, d), covariances (K, d, d); got shapes "
            f"{weights.shape}, {means.shape}, {covariances.shape}."
        )
    k, d = means.shape
    if weights.shape != (k,) or covariances.shape != (k, d, d):
        raise ValueError(
            f"GMMParams shapes disagree: weights {weights.shape}, means {means.shape}, "
            f"covariances {covariances.shape}; expected (K,), (K, d), (K, d, d)."
        )
    if n_features is not None and d != n_features:
        raise ValueError(f"GMMParams has d={d} features but X has {n_features} columns.")
    if n_components is not None and k != n_components:
        raise ValueError(f"GMMParams has K={k} components but n_components={n_components}.")
    for name, a in (("weights", weights), ("means", means), ("covariances", covariances)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"GMMParams.{name} contains NaN or inf.")
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8):
        raise ValueError(
            f"GMMParams.weights must be non-negative and sum to 1 (sum is {weights.sum():.12g}); "
            "normalise them with weights / weights.sum()."
        )
    for j in range(k):
        cov = covariances[j]
        if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * np.abs(cov).max()):
            raise ValueError(f"GMMParams.covariances[{j}] is not symmetric.")
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"GMMParams.covariances[{j}] is not positive definite; add a small multiple "
                "of the identity or use a valid covariance."
            ) from None
    return GMMParams(weights, means, covariances)
