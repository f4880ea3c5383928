"""The ``ppl-gmm`` command line.

``ppl-gmm demo``: EM against NumPyro on the built-in Old Faithful data.

``ppl-gmm fit DATA.csv --k 1-9 --covariance-type all --seed 0 --out DIR``: reads the
numeric columns of a CSV file, fits every (K, covariance structure) with
:func:`ppl_gmm.select`, prints the table and writes into DIR:

- ``table.csv``: the selection table (log-likelihood, parameters, BIC, AIC, ICL, ...);
- ``model.json``: the best fit, an EMResult in the ppl_gmm format (``ppl_gmm.load``);
- ``parameters.csv``: one row per component: weight, means, covariance entries;
- ``labels.csv``: the most probable component of each data row (0-based);
- ``probabilities.csv``: membership probabilities, one column per component.

Bad input gives a one-line error and exit status 1; DIR is written only after every
computation succeeded, and then atomically (a new DIR appears complete, or not at all).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path


def demo(max_components: int = 4, seed: int = 0) -> int:
    """Fit K = 1..max_components full GMMs on Old Faithful; EM against NumPyro, side by side."""
    import ppl_gmm as pg

    X = pg.datasets.load_faithful()
    print(f"Old Faithful: n = {X.shape[0]} eruptions, d = {X.shape[1]} "
          "(eruption minutes, waiting minutes); full covariances, EM from k-means++, "
          f"seed {seed}\n")
    header = f"{'K':>2}  {'EM log-lik':>14}  {'NumPyro log-lik':>15}  {'|diff|':>9}  " \
             f"{'iter':>5}  {'BIC':>10}  cross-check"
    print(header)
    print("-" * len(header))
    verdicts, bics = [], []
    for k in range(1, max_components + 1):
        result = pg.fit_em(X, k, covariance_type="full", seed=seed)
        ppl = pg.marginal_log_likelihood(result.params, X)
        check = pg.cross_check(result, X)
        verdicts.append(check)
        bics.append(result.bic)
        print(f"{k:>2}  {result.log_likelihood:>14.6f}  {ppl:>15.6f}  "
              f"{abs(result.log_likelihood - ppl):>9.2e}  {result.n_iter:>5}  "
              f"{result.bic:>10.3f}  {'pass' if check.passed else 'FAIL'}")
    print(f"\nLowest BIC (-2 log L + p log n): K = {bics.index(min(bics)) + 1}")
    worst = max(verdicts, key=lambda c: c.max_rel_difference)
    print(f"Cross-check verdict, all K: {'PASS' if all(c.passed for c in verdicts) else 'FAIL'}"
          f" (largest relative EM-vs-PPL difference over every iteration: "
          f"{worst.max_rel_difference:.1e})")
    return 0 if all(c.passed for c in verdicts) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppl-gmm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="EM vs NumPyro on Old Faithful")
    demo_parser.add_argument("--max-k", type=int, default=4, help="largest K to fit (default 4)")
    demo_parser.add_argument("--seed", type=int, default=0)
    _add_fit_parser(commands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return demo(args.max_k, args.seed)
    if args.command == "fit":
        return fit(args)
    return 2


# ---------------------------------------------------------------------- fit

OUTPUT_FILES = ("table.csv", "model.json", "parameters.csv", "labels.csv", "probabilities.csv")


def _add_fit_parser(commands) -> None:
    from .selection.table import CRITERIA, DEFAULT_N_INIT, DEFAULT_TOL

    fit_parser = commands.add_parser(
        "fit", help="model selection on a CSV file: BIC/AIC/ICL over K and structures",
        description="Fit every (K, covariance structure) to the numeric columns of a CSV "
                    "file, print the selection table and write the best model into --out.")
    fit_parser.add_argument("data", help="CSV file (header detected; text columns skipped)")
    fit_parser.add_argument("--k", default="1-9",
                            help="numbers of components: '1-9', '3', '1,2,5' (default 1-9)")
    fit_parser.add_argument("--covariance-type", nargs="+", default=["all"],
                            help="'all' (mclust's 14 models) or some of EII VII EEI VEI EVI VVI "
                            "EEE VEE EVE VVE EEV VEV EVV VVV (or scikit-learn's full, diag, "
                            "spherical, tied) (default all)")
    fit_parser.add_argument("--init", choices=("kmeans++", "random_from_data", "hc"),
                            default="kmeans++",
                            help="initialiser; 'hc' is mclust's hierarchical start "
                            "(default kmeans++)")
    fit_parser.add_argument("--stopping", choices=("standardised", "mclust"),
                            default="standardised",
                            help="stopping rule for --tol: ppl_gmm's or mclust's "
                            "(default standardised)")
    fit_parser.add_argument("--columns", nargs="+",
                            help="columns to use, by name or 1-based position (default: all "
                                 "numeric columns)")
    fit_parser.add_argument("--header", choices=("auto", "yes", "no"), default="auto",
                            help="whether the first row holds column names (default auto)")
    fit_parser.add_argument("--criterion", choices=CRITERIA, default="bic",
                            help="what picks the best model, lower is better (default bic)")
    fit_parser.add_argument("--n-init", type=int, default=DEFAULT_N_INIT,
                            help=f"EM restarts per cell (default {DEFAULT_N_INIT})")
    fit_parser.add_argument("--seed", type=int, default=0)
    fit_parser.add_argument("--tol", type=float, default=DEFAULT_TOL,
                            help=f"relative EM tolerance (default {DEFAULT_TOL:g}, mclust's)")
    fit_parser.add_argument("--max-iter", type=int, default=1000)
    fit_parser.add_argument("--reg-covar", type=float, default=0.0,
                            help="added to covariance diagonals, data units (default 0)")
    fit_parser.add_argument("--out", required=True, help="directory for the results")
    fit_parser.add_argument("--quiet", action="store_true", help="no progress bar")


def fit(args) -> int:
    """Run ``ppl-gmm fit``; errors in the input become one line on stderr and status 1."""
    try:
        selection, data, files = _fit_and_render(args)
        out = _write_outputs(Path(args.out), files)
    except (ValueError, OSError) as error:
        message = " ".join(str(error).split())
        print(f"ppl-gmm fit: error: {message}", file=sys.stderr)
        return 1
    print(selection)
    best = selection.best
    print(f"\nBest model: K = {best.params.n_components}, {best.covariance_type}; "
          f"log-likelihood {best.log_likelihood:.4f}; columns {', '.join(data.columns)}")
    if data.skipped:
        print(f"Skipped text columns: {', '.join(data.skipped)}")
    print(f"Wrote {', '.join(OUTPUT_FILES)} to {out}")
    return 0


def parse_ks(text: str) -> list[int]:
    """'1-9', '3', '1,2,5', '2-4,7' -> sorted distinct integers."""
    ks = set()
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            values = range(int(low), int(high) + 1) if dash else [int(low)]
        except ValueError:
            raise ValueError(f"--k {text!r}: expected numbers like 1-9, 3 or 1,2,5.") from None
        if dash and int(high) < int(low):
            raise ValueError(f"--k {text!r}: the range {part} is empty.")
        ks.update(values)
    if not ks or min(ks) < 1:
        raise ValueError(f"--k {text!r}: numbers of components must be >= 1.")
    return sorted(ks)


def _covariance_types(tokens) -> list[str]:
    names = [name.strip() for token in tokens for name in token.split(",") if name.strip()]
    return ["all"] if names == ["all"] else names


def _columns(tokens):
    if tokens is None:
        return None
    return [name.strip() for token in tokens for name in token.split(",") if name.strip()]


def _fit_and_render(args):
    """Read, validate, select, and render every output file in memory."""
    from .io.csvdata import read_csv
    from .selection.table import select

    ks = parse_ks(args.k)
    header = {"auto": None, "yes": True, "no": False}[args.header]
    data = read_csv(args.data, columns=_columns(args.columns), header=header)
    n = data.X.shape[0]
    if n < max(ks):
        raise ValueError(f"{args.data} has {n} rows but --k asks for up to {max(ks)} "
                         "components; use fewer components.")
    structures = _covariance_types(args.covariance_type)
    selection = select(data.X, ks, structures[0] if structures == ["all"] else structures,
                       criterion=args.criterion, n_init=args.n_init, seed=args.seed,
                       tol=args.tol, max_iter=args.max_iter, reg_covar=args.reg_covar,
                       init=args.init, stopping=args.stopping, progress=not args.quiet)
    return selection, data, _render(selection, data)


def _render(selection, data) -> dict[str, bytes]:
    import numpy as np
    import pandas as pd

    from .io.serial import dumps

    best = selection.best
    k = best.params.n_components
    components = [f"component_{j}" for j in range(k)]
    parameters = pd.DataFrame({"component": np.arange(k), "weight": best.params.weights})
    for a, name in enumerate(data.columns):
        parameters[f"mean_{name}"] = best.params.means[:, a]
    for a, first in enumerate(data.columns):
        for b in range(a, len(data.columns)):
            parameters[f"cov_{first}_{data.columns[b]}"] = best.params.covariances[:, a, b]
    frames = {
        "table.csv": selection.table,
        "parameters.csv": parameters,
        "labels.csv": pd.DataFrame({"label": best.labels}),
        "probabilities.csv": pd.DataFrame(best.responsibilities, columns=components),
    }
    files = {name: _csv_bytes(frame) for name, frame in frames.items()}
    files["model.json"] = dumps(best).encode("utf-8")
    return files


def _csv_bytes(frame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def _write_outputs(out: Path, files: dict[str, bytes]) -> Path:
    """Write every file into `out`: a new directory appears complete (temporary directory,
    then rename); in an existing one each file is replaced atomically."""
    from .io.serial import atomic_write

    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory.")
    if out.is_dir():
        for name, data in files.items():
            atomic_write(out / name, data)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp"))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


if __name__ == "__main__":
    sys.exit(main())
