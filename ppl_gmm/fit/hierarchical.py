"""Model-based agglomerative hierarchical clustering, as R's mclust ``hc`` runs it.

mclust (Fraley 1998, "Algorithms for model-based Gaussian hierarchical clustering")
starts EM from this tree: ``Mclust`` / ``mclustBIC`` call
``hc(data, modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))``,
i.e. ``modelName = "VVV"``, ``use = "SVD"``, and cut it with ``hclass(tree, G)``. This
module re-implements the R function ``hc`` and the Fortran routines ``hcvvv``,
``hcvii``, ``hceii`` and ``hceee`` (mclust 6.x, ``src/mclust.f``) operation by
operation, so that the merges, and so the partitions, are mclust's own.

What mclust does
----------------
1. **Transform** (``use``). ``"SVD"``: standardise the columns (centre, divide by the
   standard deviation with divisor n - 1), drop non-finite columns, take the thin SVD
   ``S = U diag(d) V'`` and cluster ``Z = S V diag(1 / sqrt(d))``: the principal-
   component scores scaled by ``1/sqrt(d)`` (not ``1/d``, so Z is *not* whitened).
2. **Start** from singletons. ``hc``'s default ``partition = dupPartition(data)`` is never
   passed on (``match.call`` only carries supplied arguments), so every row, duplicates
   included, starts as its own cluster; n - 1 merges follow.
3. **Merge** the pair with the smallest increase of the criterion, ``d(i, j) = T(i u j) -
   T(i) - T(j)`` with the cluster term T:

   - ``"VVV"``: ``T = n_k log(det(W_k / n_k) + beta (tr W_k + alpha) / n_k)``, the
     determinant dropped while n_k <= p (W_k: the cluster's scatter matrix);
     singletons ``log(alpha beta)``. ``alpha = traceW(Z / sqrt(n p))`` (the total sum
     of squares of Z / sqrt(n p)), ``beta = 1`` (``hcVVV``'s ``alpha = 1, beta = 1``
     multiply these).
   - ``"VII"``: ``T = n_k log((tr W_k + alpha) / n_k)``, singletons ``log(alpha)``.
   - ``"EII"``: Ward's criterion, the increase of the pooled sum of squares, updated by
     the Lance-Williams formula.
   - ``"EEE"``: the pooled scatter W: trace while fewer than p merges were made, then
     ``log(det W + tr W)`` until ``log det W`` passes ``log`` of the total trace, then
     ``log det W``. Every step re-examines every pair (O(n^3) in all).

   The pair table is the packed lower triangle (pair (i, j), i < j, in order of j,
   then i); a tie goes to the *last* minimum in that order. After a merge the new
   cluster takes slot i and the last cluster moves into slot j; the slots, and so the
   tie-breaking, follow mclust exactly.
4. **Label** (``hclass``). The merge list names clusters by their smallest label; cutting
   at G clusters replays n - G merges and numbers the groups by first appearance.

mclust's VVV criterion is not quite the formula above. ``hcvvv`` keeps each cluster's
scatter as a triangular factor R and, when it stores a merged cluster's factor, copies
*row 1 of R into every stored row* (``dcopy(p, r(1,1), p, x(l,1), n)``); row t is then
read back from column t on. Every cluster but the newest therefore enters later
determinants with that factor, and the Fortran adds a cluster's rows block by block
with calls whose row counts do not always match the block. This module keeps the
factors the way mclust does and emulates its Givens updates (``mclrup``, reference
BLAS ``drotg`` / ``drot``) call by call, so its VVV determinants, and merges, are
mclust's. (``hceee``'s pooled factor is emulated the same way.) A merged cluster's
term is also mclust's: recomputed when the pair involves the newest cluster, else
``d + T(i) + T(j)`` from the stored d.

Large n: ``mclustBIC`` clusters only ``sample(seq.int(n), size = 2000)`` rows when
n > ``mclust.options("subset")`` = 2000, then runs one M-step on those rows and an
E-step on all; see :func:`hierarchical_partitions`'s `max_rows`. (With n <= d it uses
"EII" instead of "VVV"; with d = 1 it uses quantiles, not this tree. On one column
mclust's own hcvii / hceii / hceee crash, writing past the n x 1 matrix; the criteria
here are still computed, but there is no mclust result to match.)

Exactness: every operation follows the Fortran and R code in order (sums left to right
as reference BLAS adds them, R's long-double column sums), so given the same input
matrix the merges are mclust's bit for bit; checked against mclust 6.0.0 on faithful,
iris and random data with all four criteria. The one difference left is the SVD of
``use = "SVD"``: numpy's LAPACK is not R's reference LAPACK, so Z differs in the last
bits, which changes the order in which *exactly tied* pairs (equal differences of
rounded measurements) merge. The default VVV tree of faithful and iris is still
mclust's merge for merge, and the partitions into 1..9 groups agree for all criteria.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from .._validation import check_data, check_n_components, check_positive_int

HC_MODELS = ("EII", "VII", "EEE", "VVV")
"""The criteria implemented, mclust's names (``hc``'s 1-D "E" and "V" are not)."""

HC_USES = ("VARS", "STD", "SPH", "PCS", "PCR", "SVD")
"""The data transformations of mclust's ``hc(use = ...)`` (its random "RND" is not)."""

MCLUST_SUBSET = 2000
"""``mclust.options("subset")``: above this many rows mclust clusters a random subset."""

_EPSMAX = 2.2204460492503131e-16  # Fortran's EPSMAX = .Machine$double.eps
_EPSMIN = 1.1102230246251565e-16  # Fortran's EPSMIN (hceee)
_RTHALF = 0.7071067811865476  # Fortran's rthalf = sqrt(1/2) (hcvvv)


# --------------------------------------------------------------------------- helpers


def _sumsq(v: np.ndarray) -> np.ndarray:
    """Sum of squares over the last axis, added left to right as reference BLAS ddot.

    numpy's pairwise sums would round differently; mclust's decisions between nearly
    tied pairs depend on the exact bits, so the order is kept.
    """
    acc = v[..., 0] * v[..., 0]
    for k in range(1, v.shape[-1]):
        acc = acc + v[..., k] * v[..., k]
    return acc


def _sequential_sum(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """Left-to-right sum along `axis` (np.cumsum never pairs), like a Fortran loop."""
    if a.shape[axis] == 0:
        return np.sum(a, axis=axis)
    return np.take(np.cumsum(a, axis=axis), -1, axis=axis)


def _long_double_mean(x: np.ndarray) -> np.ndarray:
    """Column means as R's colMeans: a long-double sum divided by n, then rounded."""
    return (np.sum(x.astype(np.longdouble), axis=0) / x.shape[0]).astype(np.float64)


def _r_scale(x: np.ndarray, scale: bool = True) -> np.ndarray:
    """R's ``scale(x, center = TRUE, scale = scale)``: sd with divisor n - 1."""
    x = x - _long_double_mean(x)
    if scale:
        # R: sqrt(sum(v^2) / max(1, n - 1)), sum() accumulating in long double.
        ss = np.sum((x * x).astype(np.longdouble), axis=0).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = x / np.sqrt(ss / max(1, x.shape[0] - 1))
    return x


def _drop_nonfinite_columns(x: np.ndarray) -> np.ndarray:
    """mclust's dropCols: keep only the columns whose values are all finite."""
    return x[:, np.all(np.isfinite(x), axis=0)]


def _matmul_sequential(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b with each entry summed left to right, as reference BLAS dgemm does."""
    out = np.zeros((a.shape[0], b.shape[1]))
    for k in range(a.shape[1]):
        out = out + a[:, k:k + 1] * b[k:k + 1, :]
    return out


def _trace_w(x: np.ndarray) -> float:
    """mclust's traceW (Fortran mcltrw): total sum of squares about the column means."""
    fac = 1.0 / math.sqrt(x.shape[0])
    u = _sequential_sum(fac * x, axis=0)  # = sqrt(n) * mean
    centred = x + (-fac) * u
    ss = 0.0
    for j in range(x.shape[1]):
        ss = ss + float(_sequential_sum(centred[:, j] * centred[:, j]))
    return ss


def transform_data(X, use: str = "SVD") -> np.ndarray:
    """The matrix mclust's ``hc(X, use = use)`` clusters.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The data.
    use : {"SVD", "VARS", "STD", "PCS", "PCR", "SPH"}
        mclust's transformation. ``"SVD"`` (mclust's default ``hcUse``): standardise,
        then ``Z = S V diag(1 / sqrt(d))`` from the thin SVD ``S = U diag(d) V'``.
        ``"VARS"``: the data as they are. ``"STD"``: standardised. ``"PCS"``: principal
        components of the centred data. ``"PCR"``: principal components of the
        standardised data. ``"SPH"``: sphered (whitened) with the ML covariance.

    Returns
    -------
    ndarray, shape (n, q)
        q = d for most options; ``"SVD"`` gives min(n, d) columns, and the options that
        standardise drop constant (non-finite after scaling) columns.
    """
    use = _check_use(use)
    x = check_data(X)
    if use == "VARS":
        return x.copy()
    if use == "STD":
        return _drop_nonfinite_columns(_r_scale(x, scale=True))
    if use == "PCR":
        s = _drop_nonfinite_columns(_r_scale(x, scale=True))
        _, _, vt = np.linalg.svd(s, full_matrices=False)
        return _matmul_sequential(s, vt.T)
    if use == "PCS":
        s = _r_scale(x, scale=False)
        _, _, vt = np.linalg.svd(s, full_matrices=False)
        return _drop_nonfinite_columns(_matmul_sequential(s, vt.T))
    if use == "SPH":
        s = _r_scale(x, scale=False)
        n = s.shape[0]
        sigma = (s.T @ s) / (n - 1) * (n - 1) / n  # var(data) * (n - 1) / n
        _, sv, vt = np.linalg.svd(sigma)
        _check_singular_values(sv)
        z = _matmul_sequential(_matmul_sequential(s, vt.T), np.diag(1.0 / np.sqrt(sv)))
        return _drop_nonfinite_columns(z)
    # "SVD": Z <- data %*% SVD$v %*% diag(1/sqrt(SVD$d), p, p), both products in
    # R's reference dgemm; the diagonal product is just a column scaling.
    s = _drop_nonfinite_columns(_r_scale(x, scale=True))
    _, sv, vt = np.linalg.svd(s, full_matrices=False)
    _check_singular_values(sv)
    return _matmul_sequential(s, vt.T) * (1.0 / np.sqrt(sv))


def _check_singular_values(sv: np.ndarray) -> None:
    # mclust would divide by sqrt(0) and then refuse the NaN / Inf data
    if sv.size == 0 or not np.all(sv > 0):
        raise ValueError(
            "the columns are linearly dependent (a zero singular value): the SVD "
            "transform divides by sqrt(d); drop the redundant columns or use='STD'")


def _check_model(model) -> str:
    if not isinstance(model, str) or model.upper() not in HC_MODELS:
        raise ValueError(
            f"model must be one of {', '.join(HC_MODELS)} (mclust's hierarchical "
            f"clustering criteria), got {model!r}")
    return model.upper()


def _check_use(use) -> str:
    if not isinstance(use, str) or use.upper() not in HC_USES:
        raise ValueError(
            f"use must be one of {', '.join(HC_USES)} (mclust's data transformations "
            f"for hierarchical clustering), got {use!r}")
    return use.upper()


# ----------------------------------------------------------------- the pair table


class _PairTable:
    """The criterion of every pair of active slots, and its minimum in mclust's order.

    ``D[i, j]`` (i < j) holds the pair's criterion; the diagonal and below are +inf.
    mclust scans the packed triangle (j outer, i inner) keeping the *last* minimum
    (``dij .le. dopt``); caching each column's minimum, with the largest row among
    ties, finds the same pair without rescanning all lg^2 / 2 pairs every merge.
    """

    def __init__(self, D: np.ndarray):
        self.D = D
        self.lg = D.shape[0]
        self.colmin = np.full(self.lg, np.inf)
        self.colarg = np.zeros(self.lg, dtype=np.int64)
        self._refresh(np.arange(1, self.lg))

    def _refresh(self, cols: np.ndarray) -> None:
        """Recompute the minima of whole columns (largest row index among ties)."""
        cols = cols[cols > 0]  # column 0 has no pair (i < 0): its minimum stays inf
        if cols.size == 0:
            return
        sub = self.D[: self.lg, cols]
        arg = self.lg - 1 - np.argmin(sub[::-1], axis=0)
        self.colmin[cols] = sub[arg, np.arange(cols.size)]
        self.colarg[cols] = arg

    def best(self) -> tuple[int, int, float]:
        """The pair (i, j), i < j, mclust merges next, and its criterion."""
        cm = self.colmin[1 : self.lg]
        j = self.lg - 1 - int(np.argmin(cm[::-1]))  # last column holding the minimum
        return int(self.colarg[j]), j, float(self.colmin[j])

    def row(self, slot: int) -> np.ndarray:
        """Criterion of `slot` with every active slot (+inf with itself)."""
        out = np.concatenate([self.D[:slot, slot], self.D[slot, slot : self.lg]])
        out[slot] = np.inf
        return out

    def merge(self, i: int, j: int, values: np.ndarray) -> None:
        """Slot i becomes the merged cluster, the last slot moves into j (mclust's
        wardsw), and `values` (criterion of slot i with each new slot) are written."""
        D, last = self.D, self.lg - 1
        if j != last:
            D[:j, j] = D[:j, last]
            D[j, j + 1 : last] = D[j + 1 : last, last]
        D[:, last] = np.inf
        D[last, :] = np.inf
        self.colmin[last] = np.inf
        lg = self.lg = last
        values = np.where(np.isnan(values), np.inf, values)  # Fortran never picks NaN
        D[:i, i] = values[:i]
        D[i, i + 1 : lg] = values[i + 1 : lg]
        # Columns right of i changed in row i (and right of j in row j); a column whose
        # minimum sat in one of those rows is recomputed, the others just compare.
        cols = np.arange(i + 1, lg)
        cols = cols[cols != j]
        stale = (self.colarg[cols] == i) | (self.colarg[cols] == j)
        self._refresh(np.concatenate([[i], [j] if j < lg else [], cols[stale]]).astype(
            np.int64))
        cols = cols[~stale]
        for r in (i, j):
            c = cols[cols > r]
            new = D[r, c]
            better = (new < self.colmin[c]) | ((new == self.colmin[c]) & (r > self.colarg[c]))
            self.colmin[c[better]] = new[better]
            self.colarg[c[better]] = r


def _initial_table(Z: np.ndarray, pair_value) -> _PairTable:
    """Pair table of the singletons, built in blocks of rows (memory O(n^2) only)."""
    n = Z.shape[0]
    D = np.full((n, n), np.inf)
    block = max(1, 2_000_000 // max(1, n * Z.shape[1]))
    for start in range(0, n - 1, block):
        stop = min(n - 1, start + block)
        vals = pair_value(Z[start:stop, None, :], Z[None, :, :])  # (b, n)
        rows = np.arange(start, stop)[:, None]
        upper = np.arange(n)[None, :] > rows
        D[start:stop] = np.where(upper, vals, np.inf)
    D[np.isnan(D)] = np.inf
    return _PairTable(D)


# ------------------------------------------------------------ Givens rotations

_SAFMIN = 2.0 ** -1022  # reference BLAS drotg: radix ** max(minexponent - 1, ...)
_SAFMAX = 2.0 ** 1023


def _drotg(a: np.ndarray, b: np.ndarray):
    """Reference BLAS drotg (LAPACK >= 3.10, the one R links), elementwise.

    Returns (r, z, c, s): the new a (= r), the new b (the reconstruction value z,
    which mclust leaves in the eliminated entry), and the rotation. Checked bit for
    bit against libblas.so.3 (netlib 3.11), signed zeros included.
    """
    anorm, bnorm = np.abs(a), np.abs(b)
    special = (anorm == 0.0) | (bnorm == 0.0)
    a_bigger = anorm > bnorm
    scl = np.clip(np.maximum(anorm, bnorm), _SAFMIN, _SAFMAX)  # min(safmax, max(...))
    if special.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            return _drotg_special(a, b, anorm, bnorm, scl, a_bigger)
    ta, tb = a / scl, b / scl
    # sigma * (scl * sqrt(...)), sigma = sign(1, a or b): a sign change, exact
    r = np.copysign(scl * np.sqrt(ta * ta + tb * tb), np.where(a_bigger, a, b))
    c, s = a / r, b / r
    z = np.where(a_bigger, s, np.divide(1.0, c, out=np.ones_like(c), where=c != 0.0))
    return r, z, c, s


def _drotg_special(a, b, anorm, bnorm, scl, a_bigger):
    """drotg where some a or b is zero: b = 0 leaves a (c = 1); a = 0 swaps (s = 1)."""
    ta, tb = a / scl, b / scl
    r = np.copysign(scl * np.sqrt(ta * ta + tb * tb), np.where(a_bigger, a, b))
    c, s = a / r, b / r
    z = np.where(a_bigger, s, np.where(c != 0.0, 1.0 / c, 1.0))
    b_zero = bnorm == 0.0
    a_zero = (anorm == 0.0) & ~b_zero
    r = np.where(b_zero, a, np.where(a_zero, b, r))
    z = np.where(b_zero, 0.0, np.where(a_zero, 1.0, z))
    c = np.where(b_zero, 1.0, np.where(a_zero, 0.0, c))
    s = np.where(b_zero, 0.0, np.where(a_zero, 1.0, s))
    return r, z, c, s


def _drot(x: np.ndarray, y: np.ndarray, c: np.ndarray, s: np.ndarray) -> None:
    """Reference BLAS drot on rows x, y (batch, m), in place."""
    c, s = c[:, None], s[:, None]
    t = c * x + s * y
    y[...] = c * y - s * x
    x[...] = t


def _mclrup(l: int, n: int, v: np.ndarray, R: np.ndarray) -> None:  # noqa: E741 (Fortran name)
    """mclust's mclrup: add the row v to the triangular factor R (batch, >= n, >= n)
    of a set of l - 1 rows, in place, by Givens rotations.

    While l - 1 <= n the row is *copied into row l - 1* and rotated against the rows
    above; otherwise it is rotated into the full n x n triangle. mclust calls it on
    sub-blocks R[t:, t:] as well, with an l that does not always count the rows the
    block really holds; emulating it call by call reproduces its factors exactly.
    """
    if l == 1:
        return
    k = l - 1
    if k <= n:
        R[:, k - 1, :n] = v
        if k == 1 or n == 1:
            return  # (n == 1 with k > 1 cannot happen here)
        for i in range(k - 1):
            r, z, c, s = _drotg(R[:, i, i], R[:, k - 1, i])
            R[:, i, i], R[:, k - 1, i] = r, z
            _drot(R[:, i, i + 1 : n], R[:, k - 1, i + 1 : n], c, s)
    else:
        v = v.copy()
        for i in range(n - 1):
            r, z, c, s = _drotg(R[:, i, i], v[:, i])
            R[:, i, i], v[:, i] = r, z
            _drot(R[:, i, i + 1 : n], v[:, i + 1 : n], c, s)
        R[:, n - 1, n - 1] = _drotg(R[:, n - 1, n - 1], v[:, n - 1])[0]


def _det2mc(R: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Fortran det2mc: 2 sum_k log|R_kk s|, -inf (mclust: -FLMAX) if a term is 0."""
    q = np.abs(np.diagonal(R, axis1=1, axis2=2) * s[:, None])
    with np.errstate(divide="ignore"):
        logs = np.log(q)
    return np.where(np.all(q > 0.0, axis=1), 2.0 * _sequential_sum(logs, axis=1), -np.inf)


def _vvv_term(nij: np.ndarray, R: np.ndarray, s: np.ndarray, trac: np.ndarray,
              alpha: float, beta: float) -> np.ndarray:
    """Fortran vvvtij: l log(det(W/l) + beta (tr W + alpha) / l), det dropped for l <= p,
    with det(W/l) read off the factor R as mclust's det2mc does."""
    p = R.shape[-1]
    size = nij.astype(np.float64)
    tr_part = beta * (trac + alpha) / size
    out = np.log(tr_part)  # l <= p, and det2mc = -FLMAX
    out = np.where((nij > p) & (trac == 0.0), np.log((alpha * beta) / size), out)
    big = np.flatnonzero((nij > p) & (trac != 0.0))
    if big.size:
        det = _det2mc(R[big], s[big])
        tp = tr_part[big]
        # each branch is evaluated everywhere, also where np.where discards it
        with np.errstate(over="ignore", invalid="ignore"):
            low = np.log(np.exp(det) + tp)  # detlog <= 0
            high = np.log(1.0 + np.exp(-det) * tp) + det  # detlog > 0
        out[big] = np.where(det == -np.inf, out[big], np.where(det <= 0.0, low, high))
    return size * out


# ------------------------------------------------------------------ VVV and VII


class _TraceModel:
    """Cluster statistics of hcvvv / hcvii, one row per slot.

    ``x``: sqrt(n_k) times the cluster mean (mclust's "scaled column sum"); ``tr``: the
    trace of the scatter matrix; ``term``: the cluster term. VVV also keeps the
    triangular factor R of the scatter matrix, the way mclust keeps it: the newest
    cluster's factor in memory (``r``), every other cluster's as the rows stored in its
    chain of rows of x. mclust stores a merged cluster's factor with
    ``dcopy(p, r(1,1), p, x(l,1), n)`` for every row l of the chain, i.e. *row 1 of R
    in every row*; row t is later read from column t on. So a cluster's stored factor
    is the single vector ``rho`` (row 1 of R when it was formed), read back as rows
    ``rho[t:]``, t < min(n_k - 1, p). mclust's criterion uses that factor, and so does
    this one.
    """

    def __init__(self, Z: np.ndarray, model: str, alpha: float, beta: float):
        n, p = Z.shape
        self.p = p
        self.vvv = model == "VVV"
        self.alpha = max(alpha, _EPSMAX)
        self.beta = beta
        # singleton term: ABLOG = log(beta alpha) (hcvvv), ALFLOG = log(alpha) (hcvii)
        self.base = math.log(beta * self.alpha) if self.vvv else math.log(self.alpha)
        self.size = np.ones(n, dtype=np.int64)
        self.x = Z.copy()
        self.tr = np.zeros(n)
        self.term = np.full(n, self.base)
        if self.vvv:
            self.rho = np.zeros((n, p))  # stored factor row (see the class docstring)
            self.r = np.zeros((p, p))  # the newest cluster's factor

    def _rows(self, k: int) -> int:
        """How many factor rows mclust keeps for the cluster in slot k."""
        return min(int(self.size[k]) - 1, self.p)

    # -- the initial scan: all pairs are singletons
    def singleton_pair_value(self, xi: np.ndarray, xj: np.ndarray) -> np.ndarray:
        if self.vvv:
            v = (xi - xj) * _RTHALF  # hcvvv: dcopy, daxpy(-1), dscal(rthalf)
            trc = _sumsq(v)
            trm = 2.0 * np.log(self.beta * (trc + self.alpha) / 2.0)
        else:
            s = math.sqrt(0.5)  # hcvii: sqrt(qi), qi = 1 * (1/2)
            v = s * xi - s * xj
            trc = (0.0 + 0.0) + _sumsq(v)
            trm = 2.0 * np.log((trc + self.alpha) / 2.0)
        return trm - (self.base + self.base)

    # -- the newest cluster a against many clusters b (the loops after a merge)
    def pairs_with(self, a: int, b: np.ndarray) -> dict:
        """Merged statistics of the newest cluster a with each cluster in b, as the
        Fortran's loops after a merge form them. The between-cluster vector is
        v = sqrt(n_a / n) x_b - sqrt(n_b / n) x_a = sqrt(n_a n_b / n)(m_b - m_a)."""
        ra = float(self.size[a])
        rb = self.size[b].astype(np.float64)
        rij = ra + rb
        qij = 1.0 / rij
        on_b = np.sqrt(ra * qij)
        on_a = np.sqrt(rb * qij)
        v = on_b[:, None] * self.x[b] - on_a[:, None] * self.x[a]
        trc = (self.tr[a] + self.tr[b]) + _sumsq(v)
        nij = self.size[a] + self.size[b]
        out = {"trc": trc, "nij": nij, "coef_a": np.sqrt(ra * qij), "coef_b": np.sqrt(rb * qij)}
        if self.vvv:
            U = self._factors_with_newest(a, b, v, nij)
            out["U"] = U
            term = _vvv_term(nij, U, np.sqrt(qij), trc, self.alpha, self.beta)
        else:
            term = rij * np.log((trc + self.alpha) / rij)
        out["term"] = term
        out["d"] = term - (self.term[a] + self.term[b])
        return out

    def _factors_with_newest(self, a, b, v, nij) -> np.ndarray:
        """Loops 310 / 410 of hcvvv: u = rows of a's in-memory factor, then b's stored
        rows added block by block (row t: mclrup(ni + t + 1, p - t, ., u(t, t))), then
        v (mclrup(nij, p, v, u)). The call at block t is the same for every partner
        with more than t stored rows, so partners sorted by that count run it at once
        on a prefix; the calls each partner sees, and their order, are mclust's."""
        p, ni = self.p, int(self.size[a])
        rows_b = np.minimum(self.size[b] - 1, p)
        order = np.argsort(-rows_b, kind="stable")
        rows_sorted, b_sorted = rows_b[order], b[order]
        U = np.zeros((b.size, p, p))
        for t in range(min(ni - 1, p)):
            U[:, t, t:] = self.r[t, t:]
        for t in range(int(rows_sorted[0]) if b.size else 0):
            cnt = int(np.count_nonzero(rows_sorted > t))
            _mclrup(ni + t + 1, p - t, self.rho[b_sorted[:cnt], t:], U[:cnt, t:, t:])
        # the final call's first argument: n_ij, all alike beyond p + 1 (one branch)
        first = np.minimum(nij[order], p + 2)
        starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
        for lo, hi in zip(starts, np.r_[starts[1:], b.size], strict=True):
            _mclrup(int(first[lo]), p, v[order[lo:hi]], U[lo:hi])
        out = np.empty_like(U)
        out[order] = U
        return out

    def pair(self, i: int, j: int, dopt: float) -> dict:
        """Statistics of the chosen pair (i, j), i < j, neither of them the newest
        cluster: the Fortran's branch that rebuilds it from the stored values."""
        if not self.vvv:
            return self.pairs_with_stored(i, j)
        p = self.p
        ni, nj = int(self.size[i]), int(self.size[j])
        R = np.zeros((1, p, p))
        if ni == 1 and nj == 1:
            v = (self.x[i] - self.x[j]) * _RTHALF
            trc = float(_sumsq(v))
            R[0, 0, :] = v
            coef_i = coef_j = _RTHALF
        else:
            rij = float(ni + nj)
            qij = 1.0 / rij
            si, sj = math.sqrt(ni * qij), math.sqrt(nj * qij)
            v = sj * self.x[i] - si * self.x[j]
            trc = float((self.tr[i] + self.tr[j]) + _sumsq(v))
            if nj == 1:  # loop 610: i's rows, then v
                for t in range(self._rows(i)):
                    R[0, t, t:] = self.rho[i, t:]
            else:  # loop 620: j's rows; loop 630: i's rows block by block; then v
                for t in range(self._rows(j)):
                    R[0, t, t:] = self.rho[j, t:]
                if ni > 1:
                    for t in range(self._rows(i)):
                        _mclrup(nj + t + 1, p - t, self.rho[i, t:][None], R[:, t:, t:])
            _mclrup(ni + nj, p, v[None], R)
            coef_i, coef_j = si, sj
        # hcvvv keeps tmop = dopt + (termi + termj) here, not a fresh vvvtij
        return {"trc": np.array([trc]), "nij": np.array([ni + nj]), "U": R,
                "term": np.array([dopt + (self.term[i] + self.term[j])]),
                "coef_a": np.array([coef_i]), "coef_b": np.array([coef_j])}

    def pairs_with_stored(self, i: int, j: int) -> dict:
        """hcvii's rebuild of a chosen pair: the same formulas, a fresh term."""
        return self.pairs_with(i, np.array([j]))

    def first_pair(self, i: int, j: int) -> dict:
        """Statistics of the first merge, as the initial scan left them (fresh term)."""
        if not self.vvv:
            return self.pairs_with(i, np.array([j]))
        v = (self.x[i] - self.x[j]) * _RTHALF
        trc = float(_sumsq(v))
        R = np.zeros((1, self.p, self.p))
        R[0, 0, :] = v
        term = 2.0 * math.log(self.beta * (trc + self.alpha) / 2.0)
        return {"trc": np.array([trc]), "nij": np.array([2]), "U": R,
                "term": np.array([term]), "coef_a": np.array([_RTHALF]),
                "coef_b": np.array([_RTHALF])}

    def apply(self, i: int, j: int, st: dict, k: int, last: int) -> None:
        """Slot i := merge of slots i and j (entry k of `st`, formed with i as "a":
        coef_a on x_i, coef_b on x_j); slot last moves to j."""
        self.x[i] = st["coef_a"][k] * self.x[i] + st["coef_b"][k] * self.x[j]
        self.size[i] = st["nij"][k]
        self.tr[i] = st["trc"][k]
        self.term[i] = st["term"][k]
        moved = [self.x, self.size, self.tr, self.term]
        if self.vvv:
            # r keeps the upper parts of rows < min(n - 1, p) of the pair's factor
            # (hcvvv copies u(k, k:p) into s and s(k, k:p) into r, rows beyond dropped)
            U = st["U"][k]
            self.r = np.zeros_like(self.r)
            for t in range(min(int(st["nij"][k]) - 1, self.p)):
                self.r[t, t:] = U[t, t:]
            self.rho[i] = self.r[0]  # the bug: row 1 of r into every stored row
            moved.append(self.rho)
        if j != last:
            for arr in moved:
                arr[j] = arr[last]


def _merges_trace_model(Z: np.ndarray, model: str, alpha: float, beta: float) -> list:
    """Slot-numbered merges of hcvvv / hcvii."""
    n = Z.shape[0]
    state = _TraceModel(Z, model, alpha, beta)
    table = _initial_table(Z, state.singleton_pair_value)
    merges = []
    cache, iold = None, -1
    for step in range(n - 1):
        i, j, dopt = table.best()
        merges.append((i, j))
        if step == n - 2:
            break
        if step == 0:
            st, k = state.first_pair(i, j), 0
        elif iold in (i, j):
            # the pair was formed in the loop after the last merge; the Fortran keeps
            # that loop's statistics (note: with the newest cluster as "a")
            other = j if i == iold else i
            st, k = cache, int(np.flatnonzero(cache["partners"] == other)[0])
            if i != iold:  # stats are oriented (a = iold = j, b = i): swap coefficients
                st = dict(st, coef_a=st["coef_b"], coef_b=st["coef_a"])
        else:
            st, k = state.pair(i, j, dopt), 0
        last = table.lg - 1
        state.apply(i, j, st, k, last)
        lg = last
        partners = np.concatenate([np.arange(i), np.arange(i + 1, lg)])
        cache = state.pairs_with(i, partners)
        cache["partners"] = partners
        values = np.full(lg, np.inf)
        values[partners] = cache["d"]
        table.merge(i, j, values)
        iold = i
    return merges


# -------------------------------------------------------------------------- EII


def _merges_eii(Z: np.ndarray) -> list:
    """Slot-numbered merges of hceii: Ward's criterion with Lance-Williams updates."""
    n = Z.shape[0]
    s = math.sqrt(1.0 / 2.0)  # sqrt(ri / rij) for two singletons

    def pair_value(xi, xj):
        return _sumsq(s * xi - s * xj)

    table = _initial_table(Z, pair_value)
    size = np.ones(n, dtype=np.int64)
    merges = []
    for step in range(n - 1):
        i, j, dopt = table.best()
        merges.append((i, j))
        if step == n - 2:
            break
        last = table.lg - 1
        d_i, d_j = table.row(i), table.row(j)  # criteria with the old clusters i, j
        si, sj = float(size[i]), float(size[j])
        sij = float(size[i] + size[j])
        size[i] = size[i] + size[j]
        if j != last:
            size[j] = size[last]
            d_i[j], d_j[j] = d_i[last], d_j[last]  # slot j now holds the old last
        lg = last
        rj = size[:lg].astype(np.float64)
        with np.errstate(invalid="ignore"):
            dij = (rj + si) * d_i[:lg] + (rj + sj) * d_j[:lg]
            dij = (dij - rj * dopt) / (rj + sij)
        dij[i] = np.inf
        table.merge(i, j, dij)
    return merges


# -------------------------------------------------------------------------- EEE


def _mclrup_diagonal(l: int, n: int, v: np.ndarray, R: np.ndarray) -> np.ndarray:  # noqa: E741
    """Diagonal of mclrup(l, n, v, copy of R) for a batch of rows v (batch, n) and one
    factor R (n, n), without copying R per row: a row of R is rotated only against
    the new row, so the new row's entries can be carried alone."""
    w = v.copy()
    diag = np.broadcast_to(np.diagonal(R)[:n], w.shape).copy()
    k = l - 1
    if l == 1:
        return diag
    pivots = k - 1 if k <= n else n - 1
    for i in range(pivots):
        r, _, c, s = _drotg(np.full(w.shape[0], R[i, i]), w[:, i])
        diag[:, i] = r
        w[:, i + 1 : n] = c[:, None] * w[:, i + 1 : n] - s[:, None] * R[i, i + 1 : n]
    if k <= n:
        diag[:, k - 1] = w[:, k - 1]  # the new row stays as row k
    else:
        diag[:, n - 1] = _drotg(np.full(w.shape[0], R[n - 1, n - 1]), w[:, n - 1])[0]
    return diag


def _detmc2(diag: np.ndarray) -> np.ndarray:
    """Fortran detmc2 from the diagonals (batch, p): 2 sum log|u_kk|, -inf if one is 0."""
    with np.errstate(divide="ignore"):
        logs = np.log(np.abs(diag))
    return np.where(np.all(diag != 0.0, axis=1), 2.0 * _sequential_sum(logs, axis=1),
                    -np.inf)


def _merges_eee(Z: np.ndarray) -> list:
    """Slot-numbered merges of hceee: criteria of the pooled scatter matrix.

    mclust keeps the Givens factor R of the pooled within-cluster scatter and, every
    step, evaluates every pair anew (R changes with every merge): Ward's trace while
    fewer than p merges were made, then log(det + trace) until log det passes
    DELOG = log(total trace), then log det. O(n^3) overall, like mclust: fine for
    hundreds of rows, slow for thousands.
    """
    n, p = Z.shape
    x = Z * (1.0 / math.sqrt(n))  # hceee first scales the data by 1/sqrt(n)
    # DELOG: log of the total scatter of the scaled rows divided by sqrt(p)
    si0 = 1.0 / math.sqrt(p)
    centre = _sequential_sum((si0 / n) * x, axis=0)
    trc0 = float(_sequential_sum(_sumsq(centre + (-si0) * x)))
    delog = math.log(trc0 + _EPSMIN)

    size = np.ones(n, dtype=np.int64)
    R = np.zeros((1, p, p))
    trcw = 0.0
    q = 1  # mclust's row counter of R, plus one
    stage = 1 if q < p else 2  # with q >= p, detw = detmc2(zero R) = -FLMAX < DELOG
    merges = []
    lg = n
    for ls in range(1, n):
        if stage > 1:
            q += 1
        jj, ii = np.nonzero(np.tril(np.ones((lg, lg), dtype=bool), -1))  # j, then i
        ri = size[ii].astype(np.float64)
        rj = size[jj].astype(np.float64)
        rij = ri + rj
        si = np.sqrt(ri / rij)
        sj = np.sqrt(rj / rij)
        v = sj[:, None] * x[ii] - si[:, None] * x[jj]
        tij = trcw + _sumsq(v)
        if stage == 1:
            zij = np.maximum(tij, _EPSMIN)
            k = _last_argmin(zij)
            trcw = float(zij[k])
        else:
            dij = _detmc2(_mclrup_diagonal(q, p, v, R[0]))
            if stage == 2:
                with np.errstate(over="ignore", invalid="ignore"):
                    zc = np.maximum(tij, _EPSMIN)
                    zij = np.where(
                        dij == -np.inf, np.log(zc),
                        np.where(dij <= 0.0, np.log(np.exp(dij) + zc),
                                 np.log(1.0 + zc * np.exp(-dij)) + dij))
                zij = np.where(tij == 0.0, -np.inf, zij)
                kd = _last_argmin(dij)
                k = _last_argmin(zij) if dij[kd] < delog else kd
                trcw, detw = float(tij[k]), float(dij[k])
            else:
                k = _last_argmin(dij)
                trcw = trcw + float(_sumsq(v[k]))
        i, j = int(ii[k]), int(jj[k])
        merges.append((i, j))
        if ls == n - 1:
            break
        if stage == 1:
            q += 1
        _mclrup(q, p, v[k][None], R)  # the chosen pair's row joins the pooled factor
        x[i] = si[k] * x[i] + sj[k] * x[j]
        size[i] = size[i] + size[j]
        last = lg - 1
        if j != last:
            x[j] = x[last]
            size[j] = size[last]
        lg = last
        if stage == 1 and q >= p:
            stage = 2  # detw is still -FLMAX here, below any DELOG
        elif stage == 2 and detw >= delog:
            stage = 3
    return merges


def _last_argmin(a: np.ndarray) -> int:
    """Index of the last minimum (mclust's ``.le.`` comparisons); NaN never wins."""
    a = np.where(np.isnan(a), np.inf, a)
    return a.size - 1 - int(np.argmin(a[::-1]))


# --------------------------------------------------------------- labels and API


def _decode(slot_merges: list, n: int) -> np.ndarray:
    """Slot pairs to mclust's merge labels (the Fortran's final loop, 0-based).

    A merged cluster keeps the smaller label; when the last slot moves into slot j,
    slot j inherits that cluster's label.
    """
    ic = np.arange(n)
    out = np.empty((len(slot_merges), 2), dtype=np.int64)
    for k, (i, j) in enumerate(slot_merges):
        a, b = ic[i], ic[j]
        if a > b:
            ic[i] = b
        ic[j] = ic[n - k - 1]  # the last active slot before merge k
        out[k] = (min(a, b), max(a, b))
    return out


def hierarchical_merges(X, *, model: str = "VVV", use: str = "SVD") -> np.ndarray:
    """The merge sequence of mclust's ``hc(X, modelName = model, use = use)``.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The data, n >= 2.
    model : {"VVV", "VII", "EII", "EEE"}
        The criterion (mclust's ``hcModelName``, default "VVV").
    use : {"SVD", "VARS", "STD", "PCS", "PCR", "SPH"}
        The transformation applied first (mclust's ``hcUse``, default "SVD"); see
        :func:`transform_data`.

    Returns
    -------
    ndarray of int, shape (n - 1, 2)
        Row k: the labels merged at step k, smaller first; 0-based, i.e. the transpose
        of mclust's ``hc`` object minus 1. Rows start labelled 0..n-1 and a merged
        cluster keeps the smaller label.

    Raises
    ------
    ValueError
        Unknown `model` or `use`, fewer than 2 rows, or invalid data.
    """
    model = _check_model(model)
    x = check_data(X)
    if x.shape[0] < 2:
        raise ValueError(f"hierarchical clustering needs at least 2 rows, got {x.shape[0]}")
    return _merges_of_transformed(transform_data(x, use), model)


def _merges_of_transformed(Z: np.ndarray, model: str) -> np.ndarray:
    n, p = Z.shape
    if n < 2:
        raise ValueError(f"hierarchical clustering needs at least 2 rows, got {n}")
    if p == 0:
        raise ValueError("no column left after the transformation (all constant?)")
    if model in ("VVV", "VII"):
        # hcVVV / hcVII: alpha = 1 * traceW(data / sqrt(n p)), at least double.eps
        alpha = max(_trace_w(Z / math.sqrt(n * p)), _EPSMAX)
        slots = _merges_trace_model(Z, model, alpha, 1.0)
    elif model == "EII":
        slots = _merges_eii(Z)
    else:
        slots = _merges_eee(Z)
    return _decode(slots, n)


def merges_to_partitions(merges, n_components_list: Iterable[int]) -> dict[int, np.ndarray]:
    """Cut a merge sequence into partitions, as mclust's ``hclass``.

    Parameters
    ----------
    merges : array-like of int, shape (n - 1, 2) or fewer rows
        0-based merge labels as :func:`hierarchical_merges` returns them.
    n_components_list : iterable of int
        Numbers of clusters G, each in 1..n (with m merges given: n - m .. n).

    Returns
    -------
    dict
        G -> labels, shape (n,), int in 0..G-1 numbered by first appearance (mclust's
        ``partconv(consec = TRUE)``), i.e. mclust's class numbers minus 1.
    """
    merges = np.asarray(merges, dtype=np.int64).reshape(-1, 2)
    n = merges.shape[0] + 1
    if merges.min(initial=0) < 0 or merges.max(initial=0) >= n:
        raise ValueError(f"merge labels must lie in 0..{n - 1} for {n - 1} merges")
    ks = _check_ks(n_components_list, n)[::-1]  # most groups first: fewest merges
    labels = np.arange(n)
    out, done = {}, 0
    for k in ks:
        for a, b in merges[done : n - k]:
            labels[labels == max(a, b)] = min(a, b)
        done = n - k
        out[k] = _first_appearance(labels)
    return dict(sorted(out.items()))


def _check_ks(n_components_list, n_rows: int) -> list[int]:
    """Distinct integers G in 1..n_rows, sorted (one int is accepted as well)."""
    if isinstance(n_components_list, numbers.Integral):
        n_components_list = [n_components_list]
    try:
        ks = sorted({check_n_components(k) for k in n_components_list})
    except TypeError:
        raise ValueError("n_components_list must be an iterable of integers, got "
                         f"{n_components_list!r}") from None
    for k in ks:
        if k > n_rows:
            raise ValueError(
                f"n_components {k} is larger than the {n_rows} rows clustered: the tree "
                f"has partitions into 1..{n_rows} groups only")
    return ks


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    """Renumber groups 0, 1, ... in order of their first row (mclust's partconv)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


def hierarchical_partitions(X, n_components_list: Iterable[int], *, model: str = "VVV",
                            use: str = "SVD", max_rows: int | None = MCLUST_SUBSET,
                            subset=None, random_state=None) -> dict[int, np.ndarray]:
    """mclust's initial partitions: ``hclass(hc(X, model, use), G)`` for each G.

    Parameters
    ----------
    X : array-like, shape (n, d)
        The data.
    n_components_list : iterable of int
        The numbers of clusters G, each in 1..(rows clustered).
    model, use : str
        As in :func:`hierarchical_merges` (mclust's defaults "VVV", "SVD").
    max_rows : int or None, default 2000
        mclust (``mclustBIC``) clusters only a random subset of ``mclust.options(
        "subset")`` = 2000 rows when n is larger. With n > `max_rows` and no `subset`,
        `max_rows` rows are drawn without replacement by ``numpy.random.default_rng(
        random_state)`` (R's own draw cannot be reproduced) and kept in row order.
        None clusters every row.
    subset : array-like of int, optional
        Row indices (0-based) to cluster, in this order, e.g. mclust's
        ``initialization$subset - 1`` to reproduce a run exactly. Overrides `max_rows`.
    random_state : int, numpy Generator or None
        Seed of the subset draw.

    Returns
    -------
    dict
        G -> labels, shape (n,), int: 0..G-1 for the rows clustered, numbered by first
        appearance among them (mclust's class numbers minus 1); -1 for rows outside
        the subset. mclust gives those rows their classes only after an M-step on the
        subset and an E-step on all rows, which is EM's business, not this tree's.

    Raises
    ------
    ValueError
        Unknown `model` or `use`; a G outside 1..(rows clustered); a bad `subset`.
    """
    model = _check_model(model)
    _check_use(use)
    x = check_data(X)
    n = x.shape[0]
    if subset is not None:
        rows = np.asarray(subset).reshape(-1)
        if (rows.size == 0 or not np.issubdtype(rows.dtype, np.integer) or rows.min() < 0
                or rows.max() >= n or np.unique(rows).size != rows.size):
            raise ValueError(f"subset must hold distinct integer row indices in 0..{n - 1}")
        rows = rows.astype(np.int64)
    elif max_rows is not None and n > check_positive_int(max_rows, "max_rows"):
        rng = np.random.default_rng(random_state)
        rows = np.sort(rng.choice(n, size=int(max_rows), replace=False))
    else:
        rows = np.arange(n)
    m = rows.size
    ks = _check_ks(n_components_list, m)
    out = {}
    if m == 1:
        parts = {1: np.zeros(1, dtype=np.int64)}
    else:
        merges = _merges_of_transformed(transform_data(x[rows], use), model)
        parts = merges_to_partitions(merges, ks)
    for k in ks:
        labels = np.full(n, -1, dtype=np.int64)
        labels[rows] = parts[k]
        out[k] = labels
    return out
