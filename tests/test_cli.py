"""`ppl-gmm fit` end to end, in a subprocess, on temporary CSV files good and bad."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ppl_gmm as pg
from ppl_gmm.cli import OUTPUT_FILES, parse_ks


def ppl_gmm_command():
    script = Path(sys.executable).parent / "ppl-gmm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ppl_gmm.cli"]


def run(*args, cwd):
    return subprocess.run([*ppl_gmm_command(), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def write_csv(path, X, names=("eruptions", "waiting"), extra=None, header=True):
    lines = [",".join(names + ((extra[0],) if extra else ()))] if header else []
    for i, row in enumerate(X):
        fields = [repr(float(v)) for v in row] + ([extra[1][i]] if extra else [])
        lines.append(",".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_fit_writes_the_table_and_the_best_model(faithful, tmp_path):
    ids = [f"id{i}" for i in range(len(faithful))]
    data = write_csv(tmp_path / "geyser.csv", faithful, extra=("id", ids))
    out = tmp_path / "results"
    done = run("fit", data, "--k", "1-3", "--covariance-type", "full,tied", "--seed", "0",
               "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "bic" in done.stdout and "Best by BIC" in done.stdout
    assert "Skipped text columns: id" in done.stdout
    assert "select" in done.stderr  # the progress bar
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)

    expected = pg.select(faithful, [1, 2, 3], ["full", "tied"], seed=0, progress=False)
    table = pd.read_csv(out / "table.csv", keep_default_na=False)
    assert len(table) == 6
    np.testing.assert_allclose(table["bic"], expected.table["bic"], rtol=1e-12)
    model = pg.load(out / "model.json")
    best = expected.best
    assert (model.params.n_components, model.covariance_type) == expected.best_key
    for ours, theirs in zip(model.params, best.params, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    labels = pd.read_csv(out / "labels.csv")["label"].to_numpy()
    np.testing.assert_array_equal(labels, best.labels)
    probabilities = pd.read_csv(out / "probabilities.csv").to_numpy()
    assert probabilities.shape == (272, model.params.n_components)
    np.testing.assert_allclose(probabilities, best.responsibilities, atol=1e-14)
    parameters = pd.read_csv(out / "parameters.csv")
    np.testing.assert_allclose(parameters["mean_waiting"], best.params.means[:, 1], rtol=1e-14)
    np.testing.assert_allclose(parameters["cov_eruptions_waiting"],
                               best.params.covariances[:, 0, 1], rtol=1e-14)


@pytest.mark.slow
def test_fit_without_header_chosen_columns_quiet_into_an_existing_dir(faithful, tmp_path):
    data = write_csv(tmp_path / "plain.csv", faithful, header=False)
    out = tmp_path / "existing"
    out.mkdir()
    (out / "notes.txt").write_text("kept")
    done = run("fit", data, "--k", "2", "--covariance-type", "diag", "--columns", "2", "1",
               "--quiet", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # --quiet: no progress bar
    assert (out / "notes.txt").read_text() == "kept"
    model = pg.load(out / "model.json")
    assert model.params.n_components == 2 and model.covariance_type == "diag"
    # --columns 2 1 swapped the columns: the first mean coordinate is the waiting time.
    assert model.params.means[:, 0].min() > 40
    assert "mean_x2" in pd.read_csv(out / "parameters.csv").columns


BAD_INPUTS = {
    "missing file": (None, "no such file"),
    "text in a numeric column": ("eruptions,waiting\n1.0,2.0\n2.0,abc\n3.0,4.0\n",
                                 "column 'waiting' is not numeric: line 3 has 'abc'"),
    "NaN": ("eruptions,waiting\n1.0,2.0\n2.0,NaN\n3.0,4.0\n",
            "missing or non-finite value 'NaN' in column 'waiting' at line 3"),
    "fewer rows than K": ("a,b\n1,2\n3,4\n5,6.5\n", "has 3 rows but --k asks for up to 9"),
    "chosen text column": ("name,x\nfoo,1\nbar,2\nbaz,3\n", "column 'name' is not numeric"),
    "ragged rows": ("a,b\n1,2\n3\n", "line 3 has 1 fields"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_status_1_and_no_output(case, tmp_path):
    text, message = BAD_INPUTS[case]
    data = tmp_path / "data.csv"
    if text is not None:
        data.write_text(text)
    extra = ["--columns", "name"] if case == "chosen text column" else []
    out = tmp_path / "out"
    done = run("fit", data, *extra, "--out", out, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ppl-gmm fit: error:"), done.stderr
    assert message in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["data.csv"] if text else [])


def test_parse_ks():
    assert parse_ks("1-9") == list(range(1, 10))
    assert parse_ks("3") == [3]
    assert parse_ks("2-4,7,3") == [2, 3, 4, 7]
    for bad in ("0-3", "a", "5-2", ""):
        with pytest.raises(ValueError, match="--k"):
            parse_ks(bad)
