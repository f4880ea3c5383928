"""Checks at the public boundary: each error names the argument, the problem and the fix.

Validated once here, never inside jitted code. Inputs are copied, so a caller's
array is never modified.

What the EM entry points refuse, and why (:func:`check_feature_scales`,
:func:`degenerate_data_message`):

- values beyond 1e150 in magnitude, or a column whose spread (standard deviation) is
  outside [1e-100, 1e100]: EM works in standardised coordinates and maps the
  covariances back with the square of each column's spread, which must stay a normal
  float64 (XLA flushes subnormal numbers to zero). Rescale such columns first.
- data on which every maximum-likelihood covariance of the structure is singular (the
  structure's rule: a constant column, linearly dependent columns or fewer rows than
  features, all rows identical): EM without `reg_covar` or a prior cannot start; the
  error says so before any work is done.
"""

from __future__ import annotations

import numbers

import numpy as np

from .params import GMMParams
from .structures.registry import get_structure


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


def check_ks(ks, n_samples: int) -> list[int]:
    """Numbers of components to compare: one K or an iterable of distinct K, sorted.

    A repeated K is refused rather than dropped: it is most likely a typo, and the
    caller should see it.
    """
    if isinstance(ks, numbers.Integral):
        ks = [ks]
    try:
        values = list(ks)
    except TypeError:
        raise ValueError(f"ks must be an iterable of integers, got {ks!r}.") from None
    if not values:
        raise ValueError("ks is empty; give at least one number of components.")
    checked = [check_n_components(k, n_samples) for k in values]
    repeated = sorted({k for k in checked if checked.count(k) > 1})
    if repeated:
        raise ValueError(f"ks must be distinct numbers of components; {repeated} appear more "
                         "than once.")
    return sorted(checked)


def check_positive_number(value, name: str, *, allow_zero: bool = False) -> float:
    """A finite real > 0 (>= 0 with `allow_zero`)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")
    return float(value)


def check_positive_int(value, name: str, allow_zero: bool = False) -> int:
    """An integer >= 1 (>= 0 with `allow_zero`)."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def check_seed(seed, name: str = "seed") -> int:
    """An integer seed that ``jax.random.key`` accepts (the int64 range)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"{name} must be an integer (e.g. 0), got {seed!r}.")
    seed = int(seed)
    if not -(2**63) <= seed < 2**63:
        raise ValueError(f"{name}={seed} is outside the 64-bit integer range; use a smaller "
                         "integer.")
    return seed


def check_probability(value, name: str) -> float:
    """A number strictly between 0 and 1."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}.")
    return float(value)


def check_result_dtype(dtype, data_dtype) -> np.dtype:
    """The floating dtype of a fit's arrays: `dtype`, or for None the data's own dtype
    when it is float32 (float64 otherwise)."""
    if dtype is None:
        return np.dtype(np.float32 if np.dtype(data_dtype) == np.float32 else np.float64)
    try:
        chosen = np.dtype(dtype)
    except TypeError:
        chosen = None
    if chosen not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(
            f"dtype must be numpy.float32, numpy.float64 or None (float32 results for float32 "
            f"data, float64 otherwise), got {dtype!r}."
        )
    return chosen


#: Bounds on the data the EM entry points accept (module docstring).
MAX_MAGNITUDE = 1e150
MIN_SPREAD = 1e-100
MAX_SPREAD = 1e100


def column_spreads(X: np.ndarray) -> np.ndarray:
    """Standard deviation of each column, computed without overflow or underflow
    (each column is divided by its largest magnitude before squaring)."""
    magnitude = np.max(np.abs(X), axis=0)
    unit = np.where(magnitude > 0, magnitude, 1.0)
    return (X / unit).std(axis=0) * unit


def check_feature_scales(X: np.ndarray, name: str = "X") -> np.ndarray:
    """Refuse values and column spreads that float64 EM cannot represent; return the spreads.

    Raises
    ------
    ValueError
        A value beyond ``MAX_MAGNITUDE`` in magnitude, or a non-constant column whose
        standard deviation is outside [``MIN_SPREAD``, ``MAX_SPREAD``].
    """
    magnitude = np.max(np.abs(X), axis=0)
    too_big = np.flatnonzero(magnitude > MAX_MAGNITUDE)
    if too_big.size:
        j = int(too_big[0])
        raise ValueError(
            f"{name} column {j} holds values of magnitude {magnitude[j]:.3g}; beyond "
            f"{MAX_MAGNITUDE:g} their squares overflow float64. Rescale the column (e.g. "
            f"divide it by {10.0 ** np.floor(np.log10(magnitude[j])):.0e})."
        )
    spreads = column_spreads(X)
    for j, s in enumerate(spreads):
        if s > MAX_SPREAD or 0 < s < MIN_SPREAD:
            factor = 10.0 ** -np.round(np.log10(s))
            raise ValueError(
                f"{name} column {j} has standard deviation {s:.3g}, outside "
                f"[{MIN_SPREAD:g}, {MAX_SPREAD:g}]: its variance is not representable in "
                f"float64. Rescale the column (multiply it by {factor:.0e}) and map the "
                "fitted means and covariances back."
            )
    return spreads


#: :func:`column_rank` answers "full rank" from the Gram matrix when its smallest
#: eigenvalue exceeds this fraction of its largest: the Gram matrix's rounding (about
#: n eps of its largest eigenvalue) cannot then hide a singular value anywhere near
#: ``numpy.linalg.matrix_rank``'s threshold (max(n, d) eps times the largest).
GRAM_SCREEN = 1e-6


def column_rank(A: np.ndarray) -> int:
    """The rank of A (n, d), as ``numpy.linalg.matrix_rank`` decides it.

    Well-conditioned columns (almost all data) are recognised from the d x d Gram
    matrix (``GRAM_SCREEN``), at a fraction of the cost of an SVD of the n rows (1 ms
    against 11 at (10^5, 10)); the others get the SVD.
    """
    n, d = A.shape
    if n > d:
        eigenvalues = np.linalg.eigvalsh(A.T @ A)
        if eigenvalues[0] > GRAM_SCREEN * eigenvalues[-1]:
            return d
    return int(np.linalg.matrix_rank(A))


def degenerate_data_message(X: np.ndarray, covariance_type, name: str = "X"):
    """Why every maximum-likelihood covariance of `covariance_type` on X is singular, or None.

    Which degenerate data do that is the structure's own rule
    (:attr:`ppl_gmm.structures.registry.CovarianceStructure.singular_data`): identical
    rows for every structure; a constant column for all but a variance times I; data
    spanning fewer than d dimensions (linearly dependent columns, or fewer rows than
    features) for full matrices.
    """
    structure = get_structure(covariance_type)
    low, high = X.min(axis=0), X.max(axis=0)
    constant = np.flatnonzero(low == high)
    n, d = X.shape
    fixes = ("set reg_covar > 0 (e.g. 1e-6 times the data's variance), or pass "
             "prior=ppl_gmm.Prior(scale=...)")
    if constant.size == d:
        return (f"every row of {name} is the same point, so every covariance is singular "
                f"(zero); {fixes}.")
    if structure.singular_data == "identical_rows":
        return None
    if constant.size:
        j = int(constant[0])
        names = ", ".join(map(str, constant[:5])) + (", ..." if constant.size > 5 else "")
        return (f"{name} column {j} is constant (every value is {X[0, j]:.6g}; constant "
                f"columns: {names}), so every {structure.name} covariance has zero variance "
                f"along it and is singular. Drop the constant column(s), {fixes}.")
    if structure.singular_data == "rank":
        # Each column centred and divided by its range (none is 0 here), so that the
        # rank does not depend on the columns' units.
        rank = column_rank((X - X.mean(axis=0)) / (high - low))
        if rank < d:
            cause = (f"{name} has {n} rows in {d} dimensions" if n <= d else
                     f"the columns of {name} are linearly dependent (e.g. a duplicated "
                     "column, or one the sum of others)")
            return (f"{cause}: the centred data span only {rank} of {d} dimensions, so every "
                    f"{structure.name} covariance is singular. Drop redundant columns, use "
                    f"covariance_type='diag', {fixes}.")
    return None


def check_params(params, n_features: int | None = None, n_components: int | None = None):
    """Validate a :class:`GMMParams`: shapes, weights on the simplex, SPD covariances.

    Returns a float64 NumPy copy. Parameters given in float32 (or float16) are held
    to that precision: their weights may miss 1 and their covariances symmetry by a
    few units of float32 rounding.
    """
    low_precision = isinstance(params, tuple) and any(
        getattr(a, "dtype", None) in (np.float16, np.float32) for a in params)
    eps = float(np.finfo(np.float32).eps) if low_precision else 0.0
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
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, rtol=0,
                                             atol=max(1e-8, 4 * k * eps)):
        raise ValueError(
            f"GMMParams.weights must be non-negative and sum to 1 (sum is {weights.sum():.12g}); "
            "normalise them with weights / weights.sum()."
        )
    for j in range(k):
        cov = covariances[j]
        if not np.allclose(cov, cov.T, rtol=max(1e-10, 8 * eps),
                           atol=max(1e-12, 8 * eps) * np.abs(cov).max()):
            raise ValueError(f"GMMParams.covariances[{j}] is not symmetric; symmetrise it "
                             "with (S + S.T) / 2.")
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"GMMParams.covariances[{j}] is not positive definite; add a small multiple "
                "of the identity or use a valid covariance."
            ) from None
    return GMMParams(weights, means, covariances)
