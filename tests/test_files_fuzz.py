"""Files from the outside world: the CSV reader, `load` and the CLI, fuzzed with hypothesis.

The contract: a malformed file gives a ValueError that says what is wrong (for save
files, :class:`ppl_gmm.FileFormatError`), never another exception, never a silently
wrong value, and never partial output. No EM runs here (the saved results are built
by hand), so every example costs microseconds and the budget is the profile's
(``conftest.py``).
"""

import contextlib
import dataclasses
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import ppl_gmm as pg
from ppl_gmm import cli
from ppl_gmm.io.csvdata import read_csv
from ppl_gmm.io.serial import FileFormatError, _checksum, atomic_write, dumps, loads

# ------------------------------------------------------------------ helpers


@contextlib.contextmanager
def scratch():
    """A fresh directory per hypothesis example (pytest's tmp_path is per test)."""
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def read_bytes_as_csv(data: bytes):
    with scratch() as directory:
        path = directory / "data.csv"
        path.write_bytes(data)
        return read_csv(path)


def assert_valid_csvdata(data):
    assert data.X.dtype == np.float64 and data.X.ndim == 2
    assert data.X.shape[0] >= 1 and data.X.shape[1] == len(data.columns) >= 1
    assert np.all(np.isfinite(data.X))


def synthetic_result(dtype=np.float64) -> pg.EMResult:
    """A small, valid EMResult built by hand (the format does not care how it was fitted)."""
    rng = np.random.default_rng(0)
    k, d, n = 2, 3, 5
    a = rng.normal(size=(k, d, d))
    covariances = a @ np.swapaxes(a, 1, 2) + np.eye(d)
    params = pg.GMMParams(np.array([0.25, 0.75], dtype), rng.normal(size=(k, d)).astype(dtype),
                          covariances.astype(dtype))
    resp = rng.dirichlet(np.ones(k), size=n)
    history = pg.EMHistory(*(np.linspace(-20.0, -10.0, 4) for _ in range(4)))
    return pg.EMResult(params=params, log_likelihood=-10.0, objective=-10.0, n_iter=3,
                       converged=True, responsibilities=resp.astype(dtype), history=history,
                       initial_params=params, covariance_type="full", prior=None,
                       reg_covar=0.0, tol=1e-8, n_samples=n,
                       options=pg.FitOptions(seed=0, n_init=2, fixed_variance=1.5))


RESULT = synthetic_result()
DOCUMENT = dumps(RESULT)


def assert_same_result(a, b):
    for x, y in zip([*a.params, a.responsibilities, *a.history],
                    [*b.params, b.responsibilities, *b.history], strict=True):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
    assert (a.log_likelihood, a.n_iter, a.options) == (b.log_likelihood, b.n_iter, b.options)


# ------------------------------------------------------------------ CSV reader

CSV_ALPHABET = list("0123456789.,;\t\n\r -+eEaNnIif\"'x#é\x00\ufeff")


@given(st.one_of(st.binary(max_size=300),
                 st.text(alphabet=st.sampled_from(CSV_ALPHABET), max_size=300)
                 .map(lambda s: s.encode("utf-8"))))
def test_read_csv_returns_finite_numbers_or_a_value_error(data):
    try:
        parsed = read_bytes_as_csv(data)
    except ValueError as error:
        assert "data.csv" in str(error)  # every message names the file
    else:
        assert_valid_csvdata(parsed)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def tables(draw):
    """A numeric table and how it is written: delimiter, header, BOM, line endings."""
    n = draw(st.integers(1, 8))
    d = draw(st.integers(1, 4))
    X = np.array(draw(st.lists(st.lists(finite, min_size=d, max_size=d), min_size=n,
                               max_size=n)), dtype=np.float64).reshape(n, d)
    header = draw(st.booleans())
    names = [f"{draw(st.sampled_from(['x', 'col', 'höhe', 'Wait ing']))}{j}" for j in range(d)]
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = ([delimiter.join(names)] if header else []) + [
        delimiter.join(repr(float(v)) for v in row) for row in X]
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 3]))
    bom = "\ufeff" if draw(st.booleans()) else ""
    return X, (names if header else [f"x{j + 1}" for j in range(d)]), (bom + text).encode()


@given(tables())
def test_read_csv_reads_every_written_table_exactly(table):
    X, names, data = table
    parsed = read_bytes_as_csv(data)
    np.testing.assert_array_equal(parsed.X, X)  # repr -> float is exact
    assert list(parsed.columns) == names and parsed.skipped == ()


@given(tables(), st.data())
def test_a_truncated_csv_reads_a_prefix_or_is_refused(table, draw):
    X, _names, data = table
    cut = draw.draw(st.integers(0, len(data) - 1))
    try:
        parsed = read_bytes_as_csv(data[:cut])
    except ValueError:
        return
    assert_valid_csvdata(parsed)
    m = parsed.X.shape[0]
    assert m <= X.shape[0]
    if parsed.X.shape[1] == X.shape[1]:
        # Every row but the last is complete; the last may hold a cut-off number.
        np.testing.assert_array_equal(parsed.X[:-1], X[:m - 1])


@pytest.mark.parametrize(("encoding", "names"), [
    ("utf-16", ("höhe", "breite", "été")), ("utf-32", ("höhe", "breite", "été")),
    ("latin-1", ("höhe", "breite", "été")), ("cp1252", ("höhe", "breite", "été")),
    ("shift_jis", ("高さ", "幅", "重さ")),
])
def test_a_csv_in_another_encoding_is_refused_as_not_utf8(encoding, names):
    text = ",".join(names) + "\n1.5,2,3\n4,5,6\n"
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        read_bytes_as_csv(text.encode(encoding))
    parsed = read_bytes_as_csv(text.encode("utf-8-sig"))  # the same table in UTF-8 reads
    assert parsed.columns == names
    np.testing.assert_array_equal(parsed.X, [[1.5, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(("text", "message"), [
    ('a,b\n1,"2\n3",4\n', "line 2 opens a quoted field"),
    ('a,b\n1,2\n"' + "9" * 200_000 + '",3\n', "line 3 is not valid CSV"),
    ("a,b\n1,2\n3,4,5\n", "line 3 has 3 fields"),
    ("a,b\n1,NaN\n", "missing or non-finite value 'NaN'"),
    ("a,b\n1,1e999\n", "non-finite value '1e999'"),
    ("a,b\n1,x\n2,3\n", "column 'b' is not numeric: line 2"),
    ("a,a\n1,2\n", "appears twice"),
    ("a,b\n", "no data rows"),
    ("\n\n  \n", "empty"),
])
def test_malformed_csv_errors_name_the_line_or_the_column(text, message):
    with pytest.raises(ValueError, match=message):
        read_bytes_as_csv(text.encode())


# ------------------------------------------------------------------ load


@given(st.binary(max_size=400))
def test_load_refuses_random_bytes(data):
    with pytest.raises(FileFormatError):
        loads(data)


@given(st.integers(0, len(DOCUMENT) - 1))
def test_load_refuses_every_truncation(cut):
    with pytest.raises(FileFormatError, match=r"truncated or corrupt|not a ppl_gmm save file"):
        loads(DOCUMENT[:cut].encode())


@given(st.integers(0, len(DOCUMENT) - 1), st.integers(0, 255))
def test_a_damaged_byte_is_refused_or_changes_nothing(position, value):
    data = bytearray(DOCUMENT.encode())
    data[position] = value
    try:
        loaded = loads(bytes(data))
    except FileFormatError:
        return
    # Only a change that leaves the JSON's meaning intact can load (e.g. 1.5 -> 1.50).
    assert_same_result(loaded, RESULT)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | finite | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["__type__", "fields", "__ndarray__", "__dict__",
                                       "__tuple__", "__float__", "dtype", "shape", "data",
                                       "x"]), children, max_size=3),
    max_leaves=12)


def _paths(value, prefix=()):
    """Every path into a decoded JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


CONTENT_PATHS = list(_paths(json.loads(DOCUMENT)["content"]))


@given(st.sampled_from(CONTENT_PATHS), json_values)
def test_foreign_content_with_a_valid_checksum_is_refused_cleanly(path, replacement):
    """A file another program wrote (checksum consistent, structure not ours) gives a
    FileFormatError or a valid result, never an AttributeError deep inside."""
    document = json.loads(DOCUMENT)
    if path:
        parent = document["content"]
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = replacement
    else:
        document["content"] = replacement
    document["sha256"] = _checksum(document["content"])
    try:
        loaded = loads(json.dumps(document))
    except FileFormatError as error:
        assert "corrupt" in str(error) or "unknown kind" in str(error)
    else:
        assert isinstance(loaded, pg.EMResult)
        pg.GMMParams(*loaded.params)  # a valid mixture: check_params passed in loads


def test_nesting_overflow_and_encodings_are_refused_with_the_reason():
    assert '"log_likelihood":-10.0' in DOCUMENT
    with pytest.raises(FileFormatError, match="checksum does not match"):  # -1e999 reads as -inf
        loads(DOCUMENT.replace('"log_likelihood":-10.0', '"log_likelihood":-1e999'))
    with pytest.raises(FileFormatError, match="nested too deeply"):
        loads(b"[" * 100_000 + b"]" * 100_000)
    for encoding in ("utf-16", "utf-32"):
        with pytest.raises(FileFormatError, match="not UTF-8"):
            loads(DOCUMENT.encode(encoding))
    assert_same_result(loads(DOCUMENT.encode("latin-1")), RESULT)  # ASCII is ASCII


def test_float32_results_and_estimators_round_trip(tmp_path):
    small = synthetic_result(np.float32)
    back = pg.load(pg.save(small, tmp_path / "small.json"))
    assert_same_result(back, small)
    est = pg.GaussianMixture(2)
    est.n_features_in_ = 3
    est._set_fitted(RESULT)
    loaded = pg.load(pg.save(est, tmp_path / "est.json"))
    np.testing.assert_array_equal(loaded.covariances_, est.covariances_)
    data = bytearray((tmp_path / "est.json").read_bytes())
    with pytest.raises(FileFormatError):
        loads(bytes(data[: len(data) // 3]))


# ------------------------------------------------------------------ no partial output


def test_failed_saves_leave_no_file_and_no_temporary(tmp_path):
    target = tmp_path / "fit.json"
    broken = dataclasses.replace(RESULT, options=pg.FitOptions(seed=lambda: 0))
    with pytest.raises(TypeError, match="Cannot save"):
        pg.save(broken, target)
    assert list(tmp_path.iterdir()) == []
    pg.save(RESULT, target)
    before = target.read_bytes()
    with pytest.raises(TypeError):
        pg.save(broken, target)
    assert target.read_bytes() == before
    # The rename itself fails (the target is a directory): the temporary file goes.
    (tmp_path / "adir").mkdir()
    with pytest.raises(OSError):
        atomic_write(tmp_path / "adir", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "fit.json"]
    assert list((tmp_path / "adir").iterdir()) == []


@given(st.text(alphabet=st.sampled_from(CSV_ALPHABET), max_size=120))
def test_the_cli_refuses_malformed_csv_without_writing(text):
    try:
        read_bytes_as_csv(text.encode("utf-8"))
    except ValueError:
        pass
    else:
        assume(False)  # well-formed files would run the fit itself: not this test's job
    with scratch() as directory:
        data = directory / "in.csv"
        data.write_bytes(text.encode("utf-8"))
        kept = directory / "kept"
        kept.mkdir()
        (kept / "table.csv").write_text("old")
        for out in (directory / "new", kept):
            stderr, stdout = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
                status = cli.main(["fit", str(data), "--k", "1", "--out", str(out), "--quiet"])
            assert status == 1 and stdout.getvalue() == ""
            lines = stderr.getvalue().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("ppl-gmm fit: error:")
        assert not (directory / "new").exists()
        assert os.listdir(kept) == ["table.csv"] and (kept / "table.csv").read_text() == "old"
        assert sorted(os.listdir(directory)) == ["in.csv", "kept"]
