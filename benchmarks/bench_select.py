"""The full model-selection grid on Old Faithful: K = 1..9 x four structures, timed cold and warm.

- **cold**: a fresh Python process, ``import ppl_gmm`` then the first ``select`` call
  (which compiles the one program every cell uses); import and first call reported apart.
- **warm**: later calls in the same process (the program is cached).

Every cell runs the same restarts (``--n-init``, same seed) and the same EM settings
(relative tol 1e-5, mclust's; max_iter 1000). Side by side, in the same process and
warm: scikit-learn's GaussianMixture over the same grid with the same number of
restarts (its own k-means initialisation and its default absolute tol 1e-3, so it
stops earlier; the ratio compares how long each takes to produce the table, not
identical arithmetic). For reference (not measured here: no R on this machine), R's
mclust runs its 14 structures x 9 K on faithful in about 0.5 s.

Medians over repeats; the machine is shared, so read the ratio rather than the seconds
(the CPU seconds of the cold call are printed too: compilation is CPU-bound, and they
move less with other load than the wall time). The cold processes run with
``PPL_GMM_COMPILATION_CACHE=0``: by default a later process would load the program from
the persistent compilation cache instead of compiling it.

    python benchmarks/bench_select.py                 # n_init 3, 3 cold processes, 5 warm calls
    python benchmarks/bench_select.py --n-init 1 --cold 1 --warm 3
    python benchmarks/bench_select.py --fit-em-loop   # also the per-cell fit_em loop (slow, cold)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-init", type=int, default=3)
    parser.add_argument("--cold", type=int, default=3, help="fresh processes")
    parser.add_argument("--warm", type=int, default=5, help="warm calls")
    parser.add_argument("--fit-em-loop", action="store_true",
                        help="also time fit_em cell by cell in a fresh process (compiles per cell)")
    args = parser.parse_args(argv)

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
    print("\nTargets: warm < 1 s, cold < 10 s. R's mclust: ~0.5 s for 14 x 9 (not measured here).")


if __name__ == "__main__":
    main()
