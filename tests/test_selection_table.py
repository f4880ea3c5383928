"""The model-selection table as mclust prints it: both sign conventions, failed cells, the
best values and their differences, the pivot, and the BIC plot with all 14 models."""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

import ppl_gmm as pg
from ppl_gmm import plotting
from ppl_gmm.plotting.selection import MCLUST_MODELS, model_style
from ppl_gmm.selection.table import PIVOT_VALUES

REFERENCE = Path(__file__).parent / "reference" / "mclust"
KS = range(1, 5)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def faithful_selection(faithful):
    return pg.select(faithful, KS, progress=False)


# Four points, each repeated (to Old Faithful's 272 rows, so that both selections share
# one compiled program): full covariances collapse from K = 2 on, spherical ones from
# K = 3 on (a component alone on one point), in every restart.
FOUR_POINTS = np.repeat(np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.5]]), 68, axis=0)


@pytest.fixture(scope="module")
def with_failures():
    return pg.select(FOUR_POINTS, KS, covariance_types=("full", "spherical"), progress=False)


def test_both_sign_conventions_are_columns(faithful_selection, with_failures):
    for selection in (faithful_selection, with_failures):
        table = selection.table
        ok = table["error"] == ""
        np.testing.assert_array_equal(table["icl_mclust"][ok], -table["icl"][ok])
        np.testing.assert_array_equal(table["bic_mclust"][ok], -table["bic"][ok])
        assert np.all(table["icl_mclust"][ok] <= table["bic_mclust"][ok])  # ICL penalises more
        for column in ("bic", "icl", "bic_mclust", "icl_mclust", "log_likelihood"):
            assert table[column][~ok].isna().all()


def test_failed_cells_show_their_reason_everywhere(with_failures):
    failed = with_failures.failed
    assert sorted(zip(failed["n_components"], failed["covariance_type"], strict=True)) == [
        (2, "full"), (3, "full"), (3, "spherical"), (4, "full"), (4, "spherical")]
    assert failed["error"].str.contains("restarts failed").all()
    wide = with_failures.pivot("bic")
    assert wide.isna().to_numpy().sum() == 5 and np.isnan(wide.loc[2, "full"])
    assert np.isfinite(wide.loc[2, "spherical"])
    text = str(with_failures)
    assert "Failed cells:" in text
    for row in failed.itertuples():
        mclust = {"full": "VVV", "spherical": "VII"}[row.covariance_type]
        assert f"K = {row.n_components}, {mclust} ({row.covariance_type}): {row.error}" in text
    # In the K x model table each failed cell reads "failed", the others are numbers.
    block = text.split("\n\n")[1].splitlines()
    columns = block[1].split()
    assert sorted(columns) == ["VII", "VVV"]  # in the registry's order
    full = columns.index("VVV") + 1
    one = f"{wide.loc[1, 'full']:.3f}"
    assert [line.split()[full] for line in block[2:6]] == [one, "failed", "failed", "failed"]


@pytest.mark.parametrize("value", ["bic", "aic", "icl", "bic_mclust", "icl_mclust",
                                   "log_likelihood"])
def test_pivot_spreads_any_criterion_into_k_by_model(faithful_selection, value):
    wide = faithful_selection.pivot(value)
    assert list(wide.index) == list(KS)
    assert list(wide.columns) == [c for c in pg.COVARIANCE_TYPES
                                  if c in {"full", "diag", "spherical", "tied"}]
    table = faithful_selection.table.set_index(["n_components", "covariance_type"])
    for k in KS:
        for structure in wide.columns:
            assert wide.loc[k, structure] == table.loc[(k, structure), value]
    mclust = faithful_selection.pivot(value, mclust_names=True)
    names = {"full": "VVV", "diag": "VVI", "spherical": "VII", "tied": "EEE"}
    assert list(mclust.columns) == [names[c] for c in wide.columns]
    np.testing.assert_array_equal(mclust.to_numpy(), wide.to_numpy())
    assert value in PIVOT_VALUES


def test_pivot_refuses_a_non_numeric_column(faithful_selection):
    with pytest.raises(ValueError, match=r"pivot\(value='error'\): not a numeric column"):
        faithful_selection.pivot("error")


def _ranked_by_hand(table, criterion, higher_is_better):
    usable = table[table["error"] == ""]
    order = np.argsort(-usable[criterion].to_numpy() if higher_is_better
                       else usable[criterion].to_numpy(), kind="stable")
    return usable.iloc[order]


def test_best_values_rank_the_cells_and_give_the_differences(faithful_selection):
    table = faithful_selection.table
    names = {"full": "VVV", "diag": "VVI", "spherical": "VII", "tied": "EEE"}
    for criterion, twin, higher in [("bic", "bic_mclust", False), ("bic_mclust", "bic", True),
                                    ("icl", "icl_mclust", False),
                                    ("icl_mclust", "icl", True)]:
        best = faithful_selection.best_values(criterion)
        expected = _ranked_by_hand(table, criterion, higher).head(3)
        assert list(best.index) == [1, 2, 3]
        assert list(best["model"]) == [f"{names[c]},{k}" for k, c in zip(
            expected["n_components"], expected["covariance_type"], strict=True)]
        values = expected[criterion].to_numpy()
        np.testing.assert_array_equal(best[criterion], values)
        np.testing.assert_array_equal(best[f"{criterion}_diff"], values - values[0])
        np.testing.assert_array_equal(best[twin], expected[twin])
        np.testing.assert_array_equal(best[f"{twin}_diff"], -(values - values[0]))
        diffs = best[f"{criterion}_diff"].to_numpy()
        assert diffs[0] == 0 and not np.signbit(diffs[0])
        # mclust's "BIC diff" is <= 0 (higher is better); scikit-learn's sign gives >= 0.
        assert np.all(diffs <= 0) if higher else np.all(diffs >= 0)
    # Both signs rank the same cells; on Old Faithful mclust's best is EEE with K = 3.
    assert list(faithful_selection.best_values("bic")["model"]) == list(
        faithful_selection.best_values("bic_mclust")["model"])
    assert faithful_selection.best_values("bic")["model"].iloc[0] == "EEE,3"
    aic = faithful_selection.best_values("aic", n=5)
    assert len(aic) == 5 and list(aic.columns) == ["model", "n_components",
                                                   "covariance_type", "aic", "aic_diff"]
    assert len(faithful_selection.best_values(n=100)) == len(table)


def test_best_values_skip_failed_cells_and_refuse_bad_arguments(with_failures):
    best = with_failures.best_values("bic", n=10)
    assert len(best) == 3 and set(best["model"]) == {"VVV,1", "VII,1", "VII,2"}
    with pytest.raises(ValueError, match=r"best_values\(criterion='log_likelihood'\): not a "
                                         "criterion"):
        with_failures.best_values("log_likelihood")
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        with_failures.best_values(n=0)


def test_summary_reads_like_mclusts_summary_of_mclustbic(faithful_selection):
    text = str(faithful_selection)
    assert text == faithful_selection.summary()
    best = faithful_selection.best_values()
    assert "bic = -2 log L + p log n, lower is better" in text
    assert "Best BIC values:" in text
    header = next(line for line in text.splitlines() if line.lstrip().startswith("EEE,3"))
    assert header.split() == list(best["model"])
    rows = {line.split("  ")[0]: line.split()[-3:] for line in text.splitlines()
            if line.startswith(("bic ", "bic diff", "bic_mclust ", "bic_mclust diff"))}
    assert rows["bic"] == [f"{v:.3f}" for v in best["bic"]]
    assert rows["bic diff"] == [f"{v:.3f}" for v in best["bic_diff"]]
    assert rows["bic_mclust diff"] == [f"{v:.3f}" for v in best["bic_mclust_diff"]]
    names = {"full": "VVV", "diag": "VVI", "spherical": "VII", "tied": "EEE"}
    renamed = ", ".join(f"{names[c]} = {c}" for c in pg.COVARIANCE_TYPES if c in names)
    assert f"(mclust's names: {renamed})" in text
    assert "Failed cells" not in text
    assert text.endswith("Best by BIC (lower is better): K = 3, covariance_type = 'tied'")


def test_mclusts_sign_as_the_criterion(faithful, faithful_selection):
    by_mclust = pg.select(faithful, KS, criterion="bic_mclust", progress=False)
    assert by_mclust.best_key == faithful_selection.best_key
    text = str(by_mclust)
    assert "bic_mclust = 2 log L - p log n, mclust's sign, higher is better" in text
    assert "Best by BIC (higher is better): K = 3, covariance_type = 'tied'" in text
    assert f"{-faithful_selection.table['bic'].min():.3f}" in text  # -2314.3..
    by_icl = pg.select(faithful, KS, criterion="icl_mclust", progress=False)
    table = by_icl.table
    best = table.loc[table["icl"].idxmin()]
    assert by_icl.best_key == (best["n_components"], best["covariance_type"])


@pytest.fixture(scope="module")
def mclust_bic_table():
    """mclust's own BIC table of Old Faithful, all 14 models x K = 1..9 (mclust 6.0.0)."""
    table = pd.read_csv(REFERENCE / "faithful_bic.csv")
    return table.rename(columns={"model": "covariance_type", "bic": "bic_mclust"})


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    return mpimg.imread(io.BytesIO(buffer.getvalue()), format="png")


def test_the_bic_plot_draws_all_14_models_apart(mclust_bic_table):
    table = mclust_bic_table
    ax = plotting.plot_selection(table, criterion="bic_mclust")
    lines = ax.get_lines()
    assert len(lines) == 14 + 1
    # mclust's order and names; each line holds that model's BIC against K.
    assert [line.get_label() for line in lines[:14]] == list(MCLUST_MODELS)
    for line in lines[:14]:
        rows = table[table["covariance_type"] == line.get_label()].sort_values("n_components")
        np.testing.assert_array_equal(line.get_xdata(), rows["n_components"])
        np.testing.assert_array_equal(line.get_ydata(), rows["bic_mclust"])
    # mclust's sign: the best is the highest, EEE with 3 components (mclust's own choice).
    assert lines[-1].get_label() == "best: K = 3, EEE"
    assert lines[-1].get_ydata()[0] == table["bic_mclust"].max()
    assert "higher is better" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [*MCLUST_MODELS, "best: K = 3, EEE"]
    # No two models look alike: colour and line style, or marker and fill, differ.
    looks = {(to_rgb(line.get_color()), line.get_linestyle()) for line in lines[:14]}
    marks = {(line.get_marker(), line.get_markerfacecolor() == "white") for line in lines[:14]}
    assert len(looks) == len(marks) == 14
    # Equal volume (E..) solid and filled, varying volume (V..) dashed and open.
    for line in lines[:14]:
        equal = line.get_label()[0] == "E"
        assert line.get_linestyle() == ("-" if equal else "--")
        assert (line.get_markerfacecolor() == "white") != equal
    image = _png(ax.figure)
    assert np.mean(np.any(np.abs(image[..., :3] - image[0, 0, :3]) > 0.1, axis=-1)) > 0.05


def test_a_model_keeps_its_style_whatever_else_is_drawn(mclust_bic_table, faithful_selection):
    # ppl_gmm's names are mclust's models: "full" is drawn as VVV is.
    assert model_style("full") == model_style("VVV")
    some = mclust_bic_table[mclust_bic_table["covariance_type"].isin(["VVV", "EII"])]
    lines = plotting.plot_selection(some, criterion="bic_mclust").get_lines()
    assert [line.get_label() for line in lines[:2]] == ["EII", "VVV"]
    assert lines[1].get_color() == model_style("VVV")["color"]
    # The table's names by default with scikit-learn's sign, mclust's on request.
    ax = plotting.plot_selection(faithful_selection)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:4] == [c for c in pg.COVARIANCE_TYPES
                          if c in {"full", "diag", "spherical", "tied"}]
    assert labels[4] == "best: K = 3, tied" and "lower is better" in ax.get_ylabel()
    ax = plotting.plot_selection(faithful_selection, criterion="icl_mclust")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:4] == ["VII", "VVI", "EEE", "VVV"]
    best = faithful_selection.table.loc[faithful_selection.table["icl_mclust"].idxmax()]
    assert ax.get_lines()[-1].get_ydata()[0] == best["icl_mclust"]
    with pytest.raises(ValueError, match="names='short' is not known"):
        plotting.plot_selection(faithful_selection, names="short")
