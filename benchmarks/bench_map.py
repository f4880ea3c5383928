"""MAP two ways: MAP-EM (closed-form M-steps) against SVI MAP (AutoDelta + TraceEnum_ELBO).

Same process, same data, same prior (``ppl_gmm.Prior()``), same starting parameters
(``ppl_gmm.initial_parameters``, k-means++), float64, full covariances. For each method:
iterations to convergence, median wall time over repeated calls (every program is
compiled by a first, untimed call), the log joint it reaches (by ``ppl_gmm.log_joint``)
and its gap to the best of the three. The ratio is SVI time / EM time, measured side by
side. The last column says whether a method reached the same optimum as MAP-EM (up to
relabelling): from one start, EM (monotone, small steps) and the optimisers (line
searches, momentum) can end in different local optima.

- MAP-EM: ``fit_em(..., prior=Prior(), tol=1e-10)`` (relative change of the log joint).
- SVI, BFGS: ``fit_map_svi(..., optimizer="bfgs")``, gradient tolerance 1e-8 per
  observation (JAX's BFGS inside ``numpyro.optim.Minimize``, restarted after a failed
  line search).
- SVI, Adam: ``fit_map_svi(..., optimizer="adam")``, a fixed number of steps with the
  step size decaying from 0.05 to 5e-5.

    python benchmarks/bench_map.py            # three data sets
    python benchmarks/bench_map.py --quick    # one small data set, for a smoke run
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import ppl_gmm as pg
from ppl_gmm.bayes.map_svi import fit_map_svi


def problems(quick: bool):
    faithful = pg.datasets.load_faithful()
    yield "Old Faithful, K=2", faithful, 2
    if quick:
        return
    overlapping = pg.GMMParams(
        np.array([0.4, 0.35, 0.25]), np.array([[0.0, 0.0], [2.5, 0.5], [1.0, 3.0]]),
        np.array([np.eye(2), [[1.0, 0.3], [0.3, 0.8]], [[0.7, 0.0], [0.0, 1.2]]]))
    X, _ = pg.sample(overlapping, 400, seed=2)
    yield "overlapping, n=400, K=3", X, 3
    X, _, _ = pg.datasets.make_synthetic(2000, 4, 3, seed=5)
    yield "drawn from model, n=2000, d=3, K=4", X, 4


def timed(fit, repeats):
    fit()  # compile
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return result, float(np.median(times))


def run(name, X, k, repeats, adam_steps):
    prior = pg.Prior()
    start = pg.initial_parameters(X, k, init="kmeans++", seed=0)
    methods = {
        "MAP-EM": lambda: pg.fit_em(X, k, prior=prior, init=start, tol=1e-10, max_iter=100_000),
        "SVI BFGS": lambda: fit_map_svi(X, k, prior, init=start, optimizer="bfgs", tol=1e-8),
        "SVI Adam": lambda: fit_map_svi(X, k, prior, init=start, optimizer="adam",
                                        num_steps=adam_steps, step_size=0.05),
    }
    rows = {}
    for label, fit in methods.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pg.ConvergenceWarning)
            result, seconds = timed(fit, repeats)
        rows[label] = (result.n_iter, seconds, pg.log_joint(result.params, X, prior),
                       result.converged, result.params)
    best = max(row[2] for row in rows.values())
    em_time, em_params = rows["MAP-EM"][1], rows["MAP-EM"][4]
    print(f"\n{name}  (n={X.shape[0]}, d={X.shape[1]}, K={k}; median of {repeats})")
    print(f"{'method':10s} {'iterations':>10s} {'seconds':>10s} {'ratio':>7s} "
          f"{'log joint':>18s} {'gap to best':>12s} converged  optimum")
    for label, (iterations, seconds, value, converged, params) in rows.items():
        print(f"{label:10s} {iterations:10d} {seconds:10.4f} {seconds / em_time:7.1f} "
              f"{value:18.9f} {best - value:12.2e} {converged!s:9s}  "
              f"{'as MAP-EM' if same_optimum(params, em_params) else 'ANOTHER'}")


def same_optimum(params, reference, rtol=1e-4):
    """Whether two solutions agree up to a relabelling."""
    aligned = pg.permute(params, pg.align_labels(params, reference))
    return all(np.allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
               for a, b in zip(aligned, reference, strict=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small data set")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--adam-steps", type=int, default=4000)
    args = parser.parse_args()
    for name, X, k in problems(args.quick):
        run(name, X, k, args.repeats, args.adam_steps)


if __name__ == "__main__":
    main()
