"""The full model-selection grid on Old Faithful: K = 1..9 x four structures, timed cold and warm.

- **cold**: a fresh Python process, ``import ppl_gmm`` then the first ``select`` call
  (which compiles the one program every cell uses); import and first call reported apart.
- **warm**: later calls in the same process (the program is cached).

Every cell runs the same restarts (``--n-init``, same seed) and the same EM settings
(relative tol 1e-5, mclust's; max_iter 1000). Side by side, in the same process and
warm: scikit-learn's GaussianMixture over the same grid with the same number of
restarts (its own k-means initialisation and its default absolute tol 1e-3, so it
stops earlier; the ratio compares how long each takes to produce the table, not
identical arithmetic). R's mclust (its 14 structures x 9 K) is timed by
``--mclust-grid``, below.

Medians over repeats; the machine is shared, so read the ratio rather than the seconds
(the CPU seconds of the cold call are printed too: compilation is CPU-bound, and they
move less with other load than the wall time). The cold processes run with
``PPL_GMM_COMPILATION_CACHE=0``: by default a later process would load the program from
the persistent compilation cache instead of compiling it.

    python benchmarks/bench_select.py                 # n_init 3, 3 cold processes, 5 warm calls
    python benchmarks/bench_select.py --n-init 1 --cold 1 --warm 3
    python benchmarks/bench_select.py --fit-em-loop   # also the per-cell fit_em loop (slow, cold)
    python benchmarks/bench_select.py --mclust-grid   # 14 x 9 against R's mclustBIC

``--mclust-grid`` times mclust's default ``mclustBIC`` run instead: all 14 structures x
K = 1..9 on faithful, ``select(X, range(1, 10), "all", init="hc", n_init=1,
stopping="mclust")`` (hc start, tol 1e-5 with mclust's rule), against R's
``mclustBIC(faithful)`` in the same run (``Rscript``; skipped, with a note, when R or
mclust is absent). Warm: repeated calls in one process after a first one, ours and R's.
Cold: fresh processes. Ours: ``python -c "import ppl_gmm; select(...)"``, timed inside
(import + select) and as the whole process's wall time, with the persistent compilation
cache off (``PPL_GMM_COMPILATION_CACHE=0``: import and compilation included, the honest
cold) and on (a temporary cache directory, filled by one process first: what a later
session of a user gets by default). R's: ``library(mclust); mclustBIC(faithful)`` in a
fresh ``Rscript``, its wall time measured here around the subprocess. The three kinds of
process are interleaved, so drifting load hits them alike. Targets: warm at least as
fast as mclust, cold under 3x mclust.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import ppl_gmm as pg
from ppl_gmm.selection import grid
imported = time.perf_counter()
X = pg.datasets.load_faithful()
n_init = int(sys.argv[1])
first_start, first_cpu = time.perf_counter(), time.process_time()
selection = pg.select(X, range(1, 10), n_init=n_init, progress=False)
first = time.perf_counter() - first_start
first_cpu = time.process_time() - first_cpu
second_start = time.perf_counter()
pg.select(X, range(1, 10), n_init=n_init, progress=False)
second = time.perf_counter() - second_start
print(json.dumps({"import": imported - start, "first": first, "first_cpu": first_cpu,
                  "second": second,
                  "programs": grid.fit_cell._cache_size(),
                  "best": list(selection.best_key)}))
"""

LOOP_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import ppl_gmm as pg
X = pg.datasets.load_faithful()
n_init = int(sys.argv[1])
start = time.perf_counter()
for structure in ("full", "diag", "spherical", "tied"):  # select's default grid
    for k in range(1, 10):
        try:
            pg.fit_em(X, k, covariance_type=structure, n_init=n_init, seed=0, tol=1e-5)
        except ValueError:
            pass
print(json.dumps({"loop": time.perf_counter() - start}))
"""


#: Cold processes compile: the persistent compilation cache (on by default) is turned off.
COLD_ENVIRONMENT = {**os.environ, "PPL_GMM_COMPILATION_CACHE": "0"}


def cold_runs(n_init: int, repeats: int) -> list[dict]:
    runs = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", CHILD, str(n_init)], capture_output=True,
                              text=True, check=True, env=COLD_ENVIRONMENT)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs


def warm_times(n_init: int, repeats: int):
    import ppl_gmm as pg

    X = pg.datasets.load_faithful()
    selection = pg.select(X, range(1, 10), n_init=n_init, progress=False)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pg.select(X, range(1, 10), n_init=n_init, progress=False)
        times.append(time.perf_counter() - start)
    return times, selection


def sklearn_times(n_init: int, repeats: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    import ppl_gmm as pg

    X = pg.datasets.load_faithful()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for structure in ("full", "diag", "spherical", "tied"):  # select's default grid
                for k in range(1, 10):
                    GaussianMixture(k, covariance_type=structure, n_init=n_init,
                                    max_iter=1000, random_state=0).fit(X).bic(X)
        times.append(time.perf_counter() - start)
    return times


# ------------------------------------------------------------ --mclust-grid

#: mclust's default mclustBIC run: 14 structures x K = 1..9, hc start, one EM run per cell,
#: tol 1e-5 (select's default) with mclust's stopping rule.
MCLUST_KS = range(1, 10)
MCLUST_SELECT = dict(covariance_types="all", init="hc", n_init=1, stopping="mclust",
                     progress=False)

#: A fresh process: import ppl_gmm + the mclust grid, timed inside (the wall time of the
#: whole process is taken by the caller).
MCLUST_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
start, cpu = time.perf_counter(), time.process_time()
import ppl_gmm as pg
imported = time.perf_counter()
X = pg.datasets.load_faithful()
pg.select(X, range(1, 10), **json.loads(sys.argv[1]))
end = time.perf_counter()
print(json.dumps({"import": imported - start, "select": end - imported, "total": end - start,
                  "cpu": time.process_time() - cpu}))
"""

#: R, warm: a first mclustBIC (untimed), then `repeats` timed ones; the BIC table of the
#: first, for the agreement check.
R_WARM = r"""
suppressPackageStartupMessages(library(mclust))
repeats <- as.integer(commandArgs(trailingOnly = TRUE)[1])
bic <- mclustBIC(faithful)
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  started <- Sys.time()
  invisible(mclustBIC(faithful))
  times[i] <- as.numeric(difftime(Sys.time(), started, units = "secs"))
}
cat("version", as.character(packageVersion("mclust")), "\n")
cat("times", formatC(times, digits = 6, format = "f"), "\n")
cat("models", colnames(bic), "\n")
for (g in rownames(bic)) cat("G", g, formatC(bic[g, ], digits = 17, format = "g"), "\n")
"""

#: R, cold: what a fresh R session does; the caller times the whole process. The split
#: (library vs mclustBIC) is printed for the report.
R_COLD = r"""
started <- Sys.time()
suppressPackageStartupMessages(library(mclust))
loaded <- Sys.time()
invisible(mclustBIC(faithful))
done <- Sys.time()
cat("split", as.numeric(difftime(loaded, started, units = "secs")),
    as.numeric(difftime(done, loaded, units = "secs")), "\n")
"""


def _environment(**settings) -> dict:
    """os.environ without any compilation-cache setting, plus `settings`."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("JAX_COMPILATION_CACHE_DIR", "PPL_GMM_COMPILATION_CACHE")}
    env.update(settings)
    return env


def _ours_cold(env: dict) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MCLUST_CHILD, json.dumps(MCLUST_SELECT)],
                          capture_output=True, text=True, check=True, env=env)
    wall = time.perf_counter() - started
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["wall"] = wall
    return report


def _rscript(code: str, *args: str) -> tuple[str, float]:
    """Run R `code` in a fresh Rscript; its stdout and the process's wall seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as script:
        script.write(code)
    try:
        started = time.perf_counter()
        done = subprocess.run(["Rscript", "--vanilla", script.name, *args],
                              capture_output=True, text=True, check=True)
        return done.stdout, time.perf_counter() - started
    finally:
        os.unlink(script.name)


def _parse_r_warm(stdout: str) -> dict:
    out = {"bic": {}}
    models = []
    for line in stdout.splitlines():
        key, *values = line.split()
        if key == "version":
            out["version"] = values[0]
        elif key == "times":
            out["times"] = [float(v) for v in values]
        elif key == "models":
            models = values
        elif key == "G":
            g = int(values[0])
            for model, value in zip(models, values[1:], strict=True):
                out["bic"][(g, model)] = float("nan") if value == "NA" else float(value)
    return out


def r_available() -> str | None:
    """Why the R side cannot run (None when Rscript and mclust are there)."""
    if shutil.which("Rscript") is None:
        return "R is absent (Rscript not found on PATH): the mclust side is skipped"
    try:
        _rscript("suppressPackageStartupMessages(library(mclust))")
    except subprocess.CalledProcessError as error:
        tail = (error.stderr or "").strip().splitlines()[-1:]
        return f"R's mclust package could not be loaded ({' '.join(tail)}): mclust side skipped"
    return None


def mclust_grid_cold(repeats: int, with_r: bool) -> dict:
    """Fresh processes, interleaved: ours (cache off, cache on) and Rscript."""
    runs = {"off": [], "on": [], "r": [], "r_split": []}
    with tempfile.TemporaryDirectory() as cache:
        on = _environment(PPL_GMM_COMPILATION_CACHE=cache)
        off = _environment(PPL_GMM_COMPILATION_CACHE="0")
        runs["empty"] = _ours_cold(on)  # compiles and fills the cache for the "on" runs
        for _ in range(repeats):
            if with_r:
                stdout, wall = _rscript(R_COLD)
                runs["r"].append(wall)
                split = next(line.split()[1:] for line in stdout.splitlines()
                             if line.startswith("split"))
                runs["r_split"].append([float(v) for v in split])
            runs["off"].append(_ours_cold(off))
            runs["on"].append(_ours_cold(on))
    return runs


def mclust_grid_warm(repeats: int):
    import ppl_gmm as pg

    X = pg.datasets.load_faithful()
    selection = pg.select(X, MCLUST_KS, **MCLUST_SELECT)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pg.select(X, MCLUST_KS, **MCLUST_SELECT)
        times.append(time.perf_counter() - start)
    return times, selection


def _agreement(selection, r_bic: dict) -> str:
    """Our bic_mclust against R's table, cell by cell."""
    from ppl_gmm.structures.registry import get_structure

    ours = {(int(k), get_structure(c).mclust_name): b for k, c, b in zip(
        selection.table["n_components"], selection.table["covariance_type"],
        selection.table["bic_mclust"], strict=True)}
    gaps = {key: abs(value - r_bic[key]) for key, value in ours.items()
            if key in r_bic and value == value and r_bic[key] == r_bic[key]}
    nan_mismatch = [key for key, value in ours.items()
                    if key in r_bic and (value != value) != (r_bic[key] != r_bic[key])]
    worst = max(gaps, key=gaps.get)
    off = sorted(key for key, gap in gaps.items() if gap > 1e-3)
    r_best = max((key for key in r_bic if r_bic[key] == r_bic[key]), key=r_bic.get)
    k, structure = selection.best_key
    text = (f"BIC tables: {len(gaps)} cells compared, max |ours - mclust| = {gaps[worst]:.2g} "
            f"({worst[1]},{worst[0]}); {len(off)} cells differ by > 1e-3"
            + (f": {', '.join(f'{m},{g}' for g, m in off)}" if off else ""))
    if off and {m for _, m in off} <= {"VVE", "EVE"}:
        text += (" (known: mclust's VVE orientation step is not the likelihood's MM step, "
                 "and its EVE / VVE inner loops stop differently; README)")
    if nan_mismatch:
        text += f"; failed in one only: {nan_mismatch}"
    text += (f"\nbest: ours {get_structure(structure).mclust_name},{k}; "
             f"mclust {r_best[1]},{r_best[0]}")
    return text


def mclust_grid(warm_repeats: int, cold_repeats: int) -> None:
    median = statistics.median
    why_not = r_available()
    with_r = why_not is None
    cold = mclust_grid_cold(cold_repeats, with_r)
    warm, selection = mclust_grid_warm(warm_repeats)
    r_warm = _parse_r_warm(_rscript(R_WARM, str(warm_repeats))[0]) if with_r else None

    cells = len(selection.table)
    iterations = selection.table["n_iter"]
    print(f"Old Faithful (n=272, d=2): K = 1..9 x 14 structures = {cells} cells, mclust's "
          "default mclustBIC run (hc start, one EM run per cell, tol 1e-5, mclust's rule)")
    print(f"EM iterations per cell: median {int(iterations.median())}, max "
          f"{int(iterations.max())}, total {int(iterations.sum())}")
    if with_r:
        print(f"R's mclust {r_warm['version']}; " + _agreement(selection, r_warm["bic"]))
    else:
        print(why_not)
    print(f"medians of {warm_repeats} warm calls and {cold_repeats} fresh processes of each "
          "kind (cold: ours timed inside, import + select, and as the whole process; R's as "
          "the whole process, from here)")
    print()
    r_warm_median = median(r_warm["times"]) if with_r else None
    r_cold_median = median(cold["r"]) if with_r else None
    header = f"{'':46}{'median s':>10}{'vs mclust':>11}  {'target':<13}runs"
    print(header)

    def row(name, value, reference, target, runs, limit):
        ratio = f"{value / reference:>10.2f}x" if reference else f"{'':>11}"
        if reference:
            met = "met" if value / reference <= limit else "MISSED"
            verdict = f"{target} {met}"
        else:
            verdict = ""
        print(f"{name:46}{value:>10.3f}{ratio}  {verdict:<13}{[round(t, 3) for t in runs]}")

    row("warm: ppl_gmm select", median(warm), r_warm_median, "<=1x", warm, 1.0)
    if with_r:
        row("warm: R mclustBIC", r_warm_median, None, "", r_warm["times"], 0)
    for kind, label in (("off", "cache off"), ("on", "cache on (filled)")):
        inside = [r["total"] for r in cold[kind]]
        walls = [r["wall"] for r in cold[kind]]
        row(f"cold: ppl_gmm {label}, import+select", median(inside), r_cold_median, "<3x",
            inside, 3.0)
        row(f"cold: ppl_gmm {label}, process", median(walls), r_cold_median, "<3x", walls,
            3.0)
    if with_r:
        row("cold: Rscript mclustBIC, process", r_cold_median, None, "", cold["r"], 0)
    print()
    print("inside the fresh processes (medians, s):")
    for kind, label in (("off", "cache off"), ("on", "cache on")):
        runs = cold[kind]
        rest = median(r["wall"] - r["total"] for r in runs)
        print(f"  ppl_gmm, {label:10} import {median(r['import'] for r in runs):.2f}  select "
              f"{median(r['select'] for r in runs):.2f}  (CPU seconds of both "
              f"{median(r['cpu'] for r in runs):.2f}); the other {rest:.2f} s of the process: "
              "interpreter start-up and exit")
    empty = cold["empty"]
    print(f"  ppl_gmm, empty cache (the run that filled it): import {empty['import']:.2f}  "
          f"select {empty['select']:.2f}  process {empty['wall']:.2f}")
    if with_r:
        library = median(s[0] for s in cold["r_split"])
        fit = median(s[1] for s in cold["r_split"])
        print(f"  R: library(mclust) {library:.2f}  mclustBIC {fit:.2f}  (the rest of the "
              f"{r_cold_median:.2f} s process: R's start-up and exit)")
    print("\nTargets: warm at least as fast as mclust (<= 1x); cold under 3x mclust, against "
          "the Rscript process's wall time (import and compilation included).")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-init", type=int, default=3)
    parser.add_argument("--cold", type=int, default=3, help="fresh processes")
    parser.add_argument("--warm", type=int, default=5, help="warm calls")
    parser.add_argument("--fit-em-loop", action="store_true",
                        help="also time fit_em cell by cell in a fresh process (compiles per cell)")
    parser.add_argument("--mclust-grid", action="store_true",
                        help="instead: mclust's 14 x 9 mclustBIC grid (hc start, n_init 1) "
                             "against R's mclustBIC, warm and cold")
    args = parser.parse_args(argv)
    if args.mclust_grid:
        mclust_grid(args.warm, args.cold)
        return

    cold = cold_runs(args.n_init, args.cold)
    warm, selection = warm_times(args.n_init, args.warm)
    peer = sklearn_times(args.n_init, max(1, args.warm // 2))
    median = statistics.median
    first = median(r["first"] for r in cold)
    imported = median(r["import"] for r in cold)
    cells = len(selection.table)
    iterations = selection.table["n_iter"]
    print(f"Old Faithful (n=272, d=2): K = 1..9 x 4 structures = {cells} cells, "
          f"n_init = {args.n_init} restarts each ({cells * args.n_init} EM runs)")
    print(f"best: K = {selection.best_key[0]}, {selection.best_key[1]}; iterations of the "
          f"chosen restarts: median {int(iterations.median())}, max {int(iterations.max())}")
    print(f"compiled programs after a cold select: {cold[0]['programs']}")
    print()
    print(f"{'':32}{'median s':>10}   runs")
    print(f"{'cold: import ppl_gmm':32}{imported:>10.2f}   "
          f"{[round(r['import'], 2) for r in cold]}")
    print(f"{'cold: first select (compiles)':32}{first:>10.2f}   "
          f"{[round(r['first'], 2) for r in cold]}")
    print(f"{'cold: import + first select':32}{imported + first:>10.2f}")
    print(f"{'cold: first select, CPU seconds':32}{median(r['first_cpu'] for r in cold):>10.2f}"
          "   (all threads; less sensitive to other load)")
    print(f"{'warm: select':32}{median(warm):>10.3f}   {[round(t, 3) for t in warm]}")
    print(f"{'warm: scikit-learn loop':32}{median(peer):>10.3f}   {[round(t, 3) for t in peer]}")
    print(f"{'ratio sklearn / select (warm)':32}{median(peer) / median(warm):>10.2f}")
    if args.fit_em_loop:
        done = subprocess.run([sys.executable, "-c", LOOP_CHILD, str(args.n_init)],
                              capture_output=True, text=True, check=True,
                              env=COLD_ENVIRONMENT)
        loop = json.loads(done.stdout.strip().splitlines()[-1])["loop"]
        print(f"{'cold: fit_em cell by cell':32}{loop:>10.2f}   (one compilation per cell)")
    print("\nTargets: warm < 1 s, cold < 10 s. R's mclust on its 14 x 9 grid: --mclust-grid.")


if __name__ == "__main__":
    main()
