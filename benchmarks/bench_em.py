"""Seconds per EM iteration: ppl_gmm against scikit-learn, and against the flop floor.

Same process, same data, same initial parameters, same fixed number of iterations,
float64, full covariances. Per-iteration time is the slope between two runs with
different iteration counts, so fixed costs (validation, the initial and final E-step,
scikit-learn's set-up) cancel; ppl_gmm is compiled before timing.

The floor: the matrix products one iteration does, 4 n K (m + d) flops with
m = d (d + 1) / 2 (the E-step's log densities Z A^T + X B^T and the M-step's moments
R^T Z and R^T X, see ppl_gmm.em), divided by the float64 matrix-product rate measured
here on a square product. (Whitening every row per component, as scikit-learn does,
needs 4 n K d^2: about 1.6 times more at d = 10.)

    python benchmarks/bench_em.py            # both sizes of the issue
    python benchmarks/bench_em.py --quick    # a small size, for a smoke run
    python benchmarks/bench_em.py --ours-iterations 20 220   # on an accelerator: longer
                                             # runs, so the slope is not lost in set-up noise
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture

import ppl_gmm as pg


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """float64 flop/s of a square matrix product through JAX (the backend EM uses)."""
    a = jax.random.normal(jax.random.key(0), (size, size), dtype=jnp.float64)
    product = jax.jit(lambda x: x @ x)
    product(a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2.0 * size**3 / float(np.median(times))


def problem(n: int, d: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    labels = rng.integers(k, size=n)
    X = centres[labels] + rng.normal(size=(n, d))
    start = pg.GMMParams(
        np.full(k, 1.0 / k), X[rng.choice(n, k, replace=False)],
        np.broadcast_to(np.cov(X, rowvar=False), (k, d, d)).copy(),
    )
    return X, start


def time_ours(X, start, iterations, block_size):
    start_time = time.perf_counter()
    pg.fit_em(X, len(start.weights), init=start, max_iter=iterations, tol=0.0,
              block_size=block_size)
    return time.perf_counter() - start_time


def time_sklearn(X, start, iterations):
    model = GaussianMixture(
        len(start.weights), covariance_type="full", weights_init=start.weights,
        means_init=start.means, precisions_init=np.linalg.inv(start.covariances),
        max_iter=iterations, tol=0.0, reg_covar=0.0, init_params="random_from_data",
    )
    start_time = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - start_time


def per_iteration(timer, low, high, repeats):
    """Median over repeats of (t(high) - t(low)) / (high - low)."""
    slopes = [(timer(high) - timer(low)) / (high - low) for _ in range(repeats)]
    return float(np.median(slopes))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block-size", type=int, default=pg.fit_em.__kwdefaults__["block_size"])
    parser.add_argument("--ours-iterations", type=int, nargs=2, metavar=("LOW", "HIGH"),
                        help="ppl_gmm's two iteration counts (default 5 25, and 3 13 at 10^6)")
    args = parser.parse_args()
    sizes = [(20_000, 5, 4)] if args.quick else [(100_000, 10, 8), (1_000_000, 16, 16)]
    warnings.simplefilter("ignore", pg.ConvergenceWarning)
    warnings.simplefilter("ignore", SklearnConvergenceWarning)
    rate = matmul_rate()
    print(f"float64 matrix-product rate: {rate / 1e9:.1f} GFLOP/s "
          f"(JAX, {jax.devices()[0].platform}, {jax.local_device_count()} device(s))")
    print(f"{'n':>9} {'d':>3} {'K':>3}  {'ppl_gmm s/it':>12}  {'sklearn s/it':>12}  "
          f"{'speed-up':>8}  {'floor s/it':>10}  {'ppl/floor':>9}")
    for n, d, k in sizes:
        X, start = problem(n, d, k)
        ours_low, ours_high = args.ours_iterations or ((5, 25) if n <= 100_000 else (3, 13))
        sk_low, sk_high = (2, 6) if n <= 100_000 else (1, 3)
        for m in (ours_low, ours_high):  # compile both loop lengths' programs first
            time_ours(X, start, m, args.block_size)

        def ours_timer(m, X=X, start=start):
            return time_ours(X, start, m, args.block_size)

        def sklearn_timer(m, X=X, start=start):
            return time_sklearn(X, start, m)

        ours = per_iteration(ours_timer, ours_low, ours_high, args.repeats)
        theirs = per_iteration(sklearn_timer, sk_low, sk_high, args.repeats)
        floor = 4.0 * n * k * (d * (d + 1) / 2 + d) / rate
        print(f"{n:>9} {d:>3} {k:>3}  {ours:>12.4f}  {theirs:>12.4f}  {theirs / ours:>7.1f}x  "
              f"{floor:>10.4f}  {ours / floor:>8.1f}x", flush=True)


if __name__ == "__main__":
    main()
