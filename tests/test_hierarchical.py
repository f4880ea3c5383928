"""Model-based hierarchical clustering against R's mclust ``hc`` / ``hclass``.

The reference numbers in tests/reference/mclust/ come from mclust 6.0.0 itself
(``hc_partitions.R``): ``hclass(hc(X, modelName, use = "SVD"), 1:9)`` on faithful and
iris[, 1:4], the raw merge pairs, and the transformed matrix Z that ``hc`` clusters
(17 significant digits, i.e. the exact doubles).

What must agree, and why:

- From mclust's own Z every merge of every criterion, in order: the arithmetic follows
  the Fortran (including how hcvvv stores its factors), so even pairs tied to the last
  bit are broken as mclust breaks them.
- From the raw data, the partitions for G = 1..9, labels identical (mclust's numbering
  minus 1), for all four criteria. Our Z differs from mclust's in the last bits (a
  different LAPACK computes the SVD): the default VVV (and VII) still merge exactly as
  mclust does; EII and EEE merge some pairs that tie exactly in the raw data (equal
  differences of rounded measurements) in another order, which leaves these partitions
  unchanged.
"""

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from ppl_gmm.datasets import load_faithful
from ppl_gmm.fit import hierarchical as hc

REFERENCE = Path(__file__).parent / "reference" / "mclust"
PARTITIONS = REFERENCE / "hc_partitions.csv"
MERGES = REFERENCE / "hc_merges.csv"
MODELS = ("VVV", "VII", "EII", "EEE")
DATASETS = ("faithful", "iris")


def _read_csv(path: Path) -> np.ndarray:
    """A reference table (committed beside `hc_partitions.R`, which rewrites it); a
    missing file fails the test rather than skipping it."""
    return np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")


def _data(name: str) -> np.ndarray:
    if name == "faithful":
        return load_faithful()
    return load_iris().data  # same values as R's iris[, 1:4]


@pytest.fixture(scope="module")
def reference_partitions():
    table = _read_csv(PARTITIONS)
    out = {}
    for name in DATASETS:
        for model in MODELS:
            for k in range(1, 10):
                sel = ((table["data"] == name) & (table["hc_model"] == model)
                       & (table["n_components"] == k))
                rows = table[sel]
                classes = np.empty(rows.size, dtype=np.int64)
                classes[rows["row"] - 1] = rows["class"] - 1  # R: 1-based rows, classes
                out[name, model, k] = classes
    return out


@pytest.fixture(scope="module")
def reference_merges():
    table = _read_csv(MERGES)
    out = {}
    for name in DATASETS:
        for model in MODELS:
            rows = table[(table["data"] == name) & (table["hc_model"] == model)]
            rows = rows[np.argsort(rows["step"])]
            out[name, model] = np.stack([rows["first"], rows["second"]], axis=1) - 1
    return out


def _mclust_z(name: str) -> np.ndarray:
    table = _read_csv(REFERENCE / f"hc_svd_data_{name}.csv")
    return np.stack([table[c] for c in table.dtype.names if c.startswith("z")], axis=1)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("model", MODELS)
def test_partitions_equal_mclust(name, model, reference_partitions):
    """hclass(hc(X, model, use = "SVD"), 1:9) from the raw data: identical labels."""
    X = _data(name)
    parts = hc.hierarchical_partitions(X, range(1, 10), model=model)
    assert sorted(parts) == list(range(1, 10))
    for k in range(1, 10):
        np.testing.assert_array_equal(parts[k], reference_partitions[name, model, k],
                                      err_msg=f"{name} {model} G={k}")


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("model", MODELS)
def test_every_merge_equals_mclust_on_its_transformed_data(name, model, reference_merges):
    """Started from mclust's exact Z (use="VARS": no transform), all n - 1 merges agree."""
    merges = hc.hierarchical_merges(_mclust_z(name), model=model, use="VARS")
    np.testing.assert_array_equal(merges, reference_merges[name, model])


@pytest.mark.parametrize("name", DATASETS)
def test_default_vvv_merges_equal_mclust_from_raw_data(name, reference_merges):
    """mclust's default tree (VVV on the SVD transform), merge for merge."""
    merges = hc.hierarchical_merges(_data(name))
    assert merges.shape == (_data(name).shape[0] - 1, 2)
    np.testing.assert_array_equal(merges, reference_merges[name, "VVV"])


@pytest.mark.parametrize("name", DATASETS)
def test_svd_transform_matches_mclust(name):
    """Z = scale(X) V diag(1/sqrt(d)) as hc(use = "SVD") forms it, up to LAPACK rounding
    (and the signs of V, which LAPACK fixes the same way here); alpha = traceW(Z/sqrt(np))."""
    z_ref = _mclust_z(name)
    z = hc.transform_data(_data(name), use="SVD")
    np.testing.assert_allclose(z, z_ref, rtol=0, atol=1e-13)
    info = _read_csv(REFERENCE / "hc_svd_info.csv")
    alpha = info[(info["data"] == name) & (info["quantity"] == "alpha_VVV")]["value"][0]
    n, p = z.shape
    scaled = z / np.sqrt(n * p)
    assert np.sum((scaled - scaled.mean(axis=0)) ** 2) == pytest.approx(alpha, rel=1e-9)


# A 50 x 5 integer matrix and mclust 6.0.0's hc(X, modelName, use = "VARS") for it
# (R: t(unclass(tree)), 1-based), so this check needs no R. On raw data of this scale
# the VVV determinants matter, and there mclust's stored factors (row 1 of R in every
# stored row, see ppl_gmm.fit.hierarchical) decide merges: the textbook criterion
# gives other partitions into 2..9 groups here. EEE exercises the pooled factor.
QUIRK_X = """
    -3 2 3 -6 -4 0 -1 0 -3 3 2 0 3 1 -3 1 -3 3 0 -1 -2 4 0 -1 -1 2 1 1 1 6 -1 -2 -2 2 3
    0 -3 -2 2 2 2 -2 1 0 1 3 1 2 0 1 2 -4 -1 -1 -2 -1 4 -3 3 -5 -1 0 2 2 2 -1 -1 3 -1 -4
    -3 -3 1 0 2 -1 0 2 -1 1 -2 -1 -1 -4 1 -1 0 1 1 2 0 -1 0 -5 -4 -4 -3 1 -3 -1 4 -1 2
    -3 -1 -3 -1 3 -5 1 1 -2 -4 0 -2 1 0 5 -1 -3 1 1 4 3 1 4 -4 -2 -3 -1 -4 2 -1 -4 -3 1
    3 6 9 1 -3 -6 1 -2 -1 -2 0 3 0 0 -3 -5 -1 0 5 0 3 -1 -4 -3 -2 6 -2 3 -3 3 1 0 0 -2 1
    -1 -4 -4 1 5 0 0 1 4 1 -1 3 1 5 1 -4 -4 5 5 -1 -1 4 -3 -3 2 -1 0 0 1 4 0 2 -6 0 -3
    -4 -3 -1 3 -4 0 -1 -1 3 2 4 0 -2 -1 1 1 -3 0 1 8 6 -3 -1 -4 -2 1 4 -2 -2 -6 0 -3 -2
    -3 0 -5 -4 6 -4 -3 6 9 -4 -1
"""
QUIRK_MERGES = {
    "VVV": """
    9 40 13 18 7 8 16 30 14 39 3 24 14 47 31 42 6 37 12 33 11 26 2 17 21 41 20 29 10 34
    32 44 13 16 15 43 27 48 23 45 5 32 3 4 9 10 23 35 6 36 1 19 2 22 15 31 13 25 7 38 3
    14 11 23 1 27 2 20 1 5 9 21 7 15 28 49 28 46 28 50 6 13 1 12 3 9 2 11 3 6 2 3 1 28 1
    2 1 7
""",
    "EEE": """
    9 40 13 18 7 8 16 30 14 39 3 24 11 26 6 37 14 47 12 33 31 42 2 17 21 41 20 29 9 10
    32 44 13 16 15 43 27 48 23 45 3 4 5 32 9 34 2 35 6 36 1 19 13 25 15 31 7 38 20 22 3
    14 11 21 9 23 1 27 6 7 2 15 9 13 3 50 12 46 11 20 1 5 28 49 2 6 9 11 3 28 1 12 3 9 2
    3 1 2
""",
}


@pytest.mark.parametrize("model", ["VVV", "EEE"])
def test_merges_equal_mclust_where_its_stored_factors_matter(model):
    X = np.array(QUIRK_X.split(), dtype=float).reshape(50, 5)
    expected = np.array(QUIRK_MERGES[model].split(), dtype=int).reshape(49, 2) - 1
    np.testing.assert_array_equal(hc.hierarchical_merges(X, model=model, use="VARS"),
                                  expected)


def test_hclass_cuts_and_numbers_by_first_appearance():
    """hclass: replay n - G merges (the larger label joins the smaller), then number
    the groups in order of their first row."""
    merges = np.array([[3, 4], [0, 2], [1, 3], [0, 1]])  # 5 rows
    parts = hc.merges_to_partitions(merges, [1, 2, 3, 5])
    np.testing.assert_array_equal(parts[5], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(parts[3], [0, 1, 0, 2, 2])
    np.testing.assert_array_equal(parts[2], [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(parts[1], [0, 0, 0, 0, 0])


def test_first_merge_is_the_closest_pair():
    """With all singletons every criterion merges the two nearest rows (in Z) first."""
    X = np.array([[0.0, 0.0], [5.0, 1.0], [5.1, 1.05], [1.0, 4.0], [-3.0, 2.0], [2.0, -2.0]])
    for model in hc.HC_MODELS:
        assert hc.hierarchical_merges(X, model=model)[0].tolist() == [1, 2]


def test_subset_for_large_data():
    """Above max_rows only a subset is clustered (mclust: 2000 random rows); the other
    rows are labelled -1, and an explicit subset is clustered in the order given."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 6.0])
    parts = hc.hierarchical_partitions(X, [2, 3], max_rows=50, random_state=1)
    for k, labels in parts.items():
        assert labels.shape == (120,)
        assert np.sum(labels >= 0) == 50
        assert set(np.unique(labels[labels >= 0])) == set(range(k))
    rows = np.array([5, 70, 3, 100, 90, 11, 64, 30])
    sub = hc.hierarchical_partitions(X, [2], subset=rows)[2]
    np.testing.assert_array_equal(sub[rows], hc.hierarchical_partitions(X[rows], [2])[2])
    assert np.all(np.delete(sub, rows) == -1)
    full = hc.hierarchical_partitions(X, [2], max_rows=None)[2]
    assert np.all(full >= 0)


def test_constant_column_is_dropped():
    """mclust's dropCols: a constant column is non-finite once standardised, and goes."""
    X = load_faithful()[:40]
    with_constant = np.column_stack([X[:, 0], np.full(40, 3.0), X[:, 1]])
    assert hc.transform_data(with_constant).shape == (40, 2)
    np.testing.assert_array_equal(hc.hierarchical_merges(with_constant),
                                  hc.hierarchical_merges(X))


def test_bad_input():
    X = load_faithful()[:20]
    with pytest.raises(ValueError, match="EII, VII, EEE, VVV"):
        hc.hierarchical_merges(X, model="VVI")
    with pytest.raises(ValueError, match="EII, VII, EEE, VVV"):
        hc.hierarchical_partitions(X, [2], model="full")
    with pytest.raises(ValueError, match="use must be one of"):
        hc.hierarchical_merges(X, use="RND")
    with pytest.raises(ValueError, match="larger than the 20 rows"):
        hc.hierarchical_partitions(X, [2, 21])
    with pytest.raises(ValueError, match="n_components"):
        hc.hierarchical_partitions(X, [0])
    with pytest.raises(ValueError, match="n_components"):
        hc.hierarchical_partitions(X, [2.5])
    with pytest.raises(ValueError, match="at least 2 rows"):
        hc.hierarchical_merges(X[:1])
    with pytest.raises(ValueError, match=r"NaN|nan|finite"):
        hc.hierarchical_merges(np.where(np.arange(40).reshape(20, 2) == 7, np.nan, X))
    with pytest.raises(ValueError, match="subset"):
        hc.hierarchical_partitions(X, [2], subset=[0, 0, 3])
