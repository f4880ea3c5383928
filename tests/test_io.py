"""save / load: bit-exact round trips, atomic writes, clear errors on bad files."""

import dataclasses
import json
import math

import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.io.serial import FileFormatError, atomic_write, dumps, loads


def assert_identical(a, b, where="value"):
    """Same type (NumPy scalars may come back as Python numbers), same bits."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype.kind == "f":
            assert np.array_equal(np.isnan(a), np.isnan(b)), where
            assert a[~np.isnan(a)].tobytes() == b[~np.isnan(b)].tobytes(), where
        else:
            assert a.tolist() == b.tolist(), where
    elif isinstance(a, float | np.floating):
        assert isinstance(b, float), where
        assert (math.isnan(a) and math.isnan(b)) or float(a).hex() == b.hex(), where
    elif isinstance(a, tuple) and hasattr(a, "_fields"):
        assert type(a) is type(b), where
        for name in a._fields:
            assert_identical(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        same_type = type(a) is type(b) or isinstance(a, np.integer | np.bool_)
        assert same_type and a == b, where


@pytest.fixture(scope="module")
def result(faithful):
    # K = 3 and max_iter = 100 as in test_estimator.py, so the compiled programs are shared.
    return pg.fit_em(faithful, 3, prior=pg.Prior(), seed=1, init="kmeans", tol=1e-4,
                     max_iter=100)


def test_em_result_round_trip_is_bit_exact(result, tmp_path):
    path = pg.save(result, tmp_path / "fit.json")
    loaded = pg.load(path)
    assert_identical(result, loaded, "result")
    assert loaded.prior is not None and loaded.restarts is not None
    # Arithmetic on the loaded result is the same arithmetic.
    assert loaded.bic == result.bic
    np.testing.assert_array_equal(loaded.labels, result.labels)


def test_non_finite_values_and_text_survive(result):
    values = np.array([np.nan, np.inf, -np.inf, 0.1, -0.0, 5e-324])
    texts = tuple(f"restart {i}: é, \"quoted\", tab\t" for i in range(len(result.restarts)))
    odd = dataclasses.replace(
        result, objective=float("nan"), history=pg.EMHistory(values, values, values, values),
        restarts=dataclasses.replace(result.restarts, reason=texts),
        options=dataclasses.replace(result.options, fixed_variance=-0.0))
    back = loads(dumps(odd))
    assert_identical(odd.history, back.history, "history")
    assert np.isnan(back.objective) and back.restarts.reason == texts
    assert np.signbit(back.history.objective[4]) and back.history.objective[5] == 5e-324
    assert np.signbit(back.options.fixed_variance)


def test_estimator_round_trip(faithful, tmp_path):
    est = pg.GaussianMixture(3, random_state=0, prior=pg.Prior(),
                             means_init=[[2.0, 50.0], [3.0, 70.0], [4.5, 80.0]]).fit(faithful)
    loaded = pg.load(pg.save(est, tmp_path / "model.json"))
    assert isinstance(loaded, pg.GaussianMixture)
    assert_identical(est.get_params(), loaded.get_params(), "params")
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
                 "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_",
                 "result_"):
        assert_identical(getattr(est, name), getattr(loaded, name), name)
    np.testing.assert_array_equal(loaded.predict_proba(faithful), est.predict_proba(faithful))
    np.testing.assert_array_equal(loaded.score_samples(faithful), est.score_samples(faithful))


def test_estimator_feature_names_round_trip(faithful, tmp_path):
    import pandas as pd

    frame = pd.DataFrame(faithful, columns=["eruptions", "waiting"])
    est = pg.GaussianMixture(3, random_state=0).fit(frame)
    loaded = pg.load(pg.save(est, tmp_path / "named.json"))
    assert list(loaded.feature_names_in_) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(loaded.predict(frame), est.predict(frame))


def test_truncated_file_raises_a_clear_error(result, tmp_path):
    path = pg.save(result, tmp_path / "fit.json")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="truncated or corrupt: invalid JSON"):
        pg.load(path)


def test_wrong_schema_version_raises_a_clear_error(result, tmp_path):
    document = json.loads(dumps(result))
    document["schema_version"] = 99
    path = tmp_path / "future.json"
    path.write_text(json.dumps(document))
    with pytest.raises(FileFormatError, match=r"schema version 99.*reads version 2.*Upgrade"):
        pg.load(path)
    document["schema_version"] = "1"
    path.write_text(json.dumps(document))
    with pytest.raises(FileFormatError, match="no valid schema_version"):
        pg.load(path)


def test_schema_version_1_files_still_load(result, tmp_path):
    """Version 1 kept the fit options as an untyped ``extras`` dict; they load typed."""
    from ppl_gmm.io.serial import _checksum

    document = json.loads(dumps(result))
    fields = document["content"]["fields"]
    del fields["options"]
    fields["extras"] = {"__dict__": {"block_size": 64, "variant": "hard", "fixed_variance": None,
                                     "n_init": 3, "seed": 5}}
    document["schema_version"] = 1
    document["sha256"] = _checksum(document["content"])
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    loaded = pg.load(path)
    assert loaded.options == pg.FitOptions(block_size=64, variant="hard", n_init=3, seed=5)
    assert loaded.log_likelihood == result.log_likelihood


def test_edited_content_foreign_files_and_missing_files(result, tmp_path):
    text = dumps(result)
    marker = f"{result.log_likelihood!r}"
    assert marker in text
    edited = tmp_path / "edited.json"
    edited.write_text(text.replace(marker, repr(result.log_likelihood + 1.0), 1))
    with pytest.raises(FileFormatError, match="checksum does not match"):
        pg.load(edited)
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"weights": [1.0]}')
    with pytest.raises(FileFormatError, match="not a ppl_gmm save file"):
        pg.load(foreign)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FileFormatError, match="not UTF-8"):
        pg.load(binary)
    with pytest.raises(FileNotFoundError):
        pg.load(tmp_path / "absent.json")
    with pytest.raises(TypeError, match=r"save writes a ppl_gmm\.EMResult"):
        pg.save({"not": "a fit"}, tmp_path / "x.json")


def test_writes_are_atomic_and_leave_nothing_behind(result, tmp_path):
    path = pg.save(result, tmp_path / "fit.json")
    original = path.read_bytes()
    # An object that cannot be encoded: the existing file is untouched, no temporary left.
    broken = dataclasses.replace(result, options=dataclasses.replace(result.options,
                                                                     seed=object()))
    with pytest.raises(TypeError, match=r"Cannot save result.options.seed"):
        pg.save(broken, path)
    assert path.read_bytes() == original
    # Replacing a file goes through a temporary file in the same directory.
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "f.json", b"x")


def test_unfitted_estimator_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        pg.save(pg.GaussianMixture(2), tmp_path / "unfitted.json")
