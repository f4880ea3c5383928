"""Restarts: one batched computation against sequential fits and scikit-learn's n_init.

Old Faithful (n = 272, d = 2), K = 3, full covariances, n_init = 32, float64, one
process. Three ways to run 32 restarts:

- ``fit_em(X, 3, n_init=32, seed=0)``: one batched computation (the EM loop ``vmap``-ed
  over the starting points, :mod:`ppl_gmm.restarts`), with the default schedule (on a
  CPU, 4 lanes fed from a queue) and in lockstep (``restart_batch_size=32``, one lane per
  restart, the accelerator default);
- 32 sequential ``fit_em(X, 3, seed=s)`` calls, s = 0..31 (the same initialiser);
- ``sklearn.mixture.GaussianMixture(n_init=32)``.

"One single fit" is the median time of the 32 sequential calls. Two regimes:

- ``converge``: every run stops at its own convergence (ppl_gmm tol = 1e-8 relative;
  scikit-learn's tol is an absolute change of the mean log-likelihood per row, set to
  1e-8 |log L| / n, the same change). The batch costs as many iterations as its
  slowest restart.
- ``fixed``: every restart runs exactly ITER iterations (tol = 0 and max_iter = ITER
  in all three), so the ratios are per-iteration costs.

Both use reg_covar = 1e-6 (scikit-learn's default) and k-means++ seeding. Times are
medians of `--repeats` runs after one warm-up (ppl_gmm compiled). The floor is the
flops of the E-step and M-step (about n K (4 d^2 + 6 d + 10) per restart-iteration)
times the restarts' total iterations, divided by the float64 matrix-product rate
measured here.

    python benchmarks/bench_restarts.py              # both regimes
    python benchmarks/bench_restarts.py --repeats 3  # quicker
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

K = 3
REG = 1e-6


def matmul_rate(size: int = 1024, repeats: int = 5) -> float:
    """float64 flop/s of a square matrix product through JAX."""
    a = jax.random.normal(jax.random.key(0), (size, size), dtype=jnp.float64)
    product = jax.jit(lambda x: x @ x)
    product(a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2.0 * size**3 / float(np.median(times))


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(X, n_init: int, repeats: int, tol: float, max_iter: int, label: str, rate: float):
    n, d = X.shape
    options = {"covariance_type": "full", "reg_covar": REG, "tol": tol, "max_iter": max_iter}

    def batch():
        return pg.fit_em(X, K, n_init=n_init, seed=0, **options)

    def lockstep():
        return pg.fit_em(X, K, n_init=n_init, seed=0, restart_batch_size=n_init, **options)

    def sequential():
        return [pg.fit_em(X, K, seed=s, **options) for s in range(n_init)]

    reference = pg.fit_em(X, K, seed=0, **options)
    sk_tol = tol * abs(reference.log_likelihood) / n

    def sklearn(restarts):
        return GaussianMixture(K, covariance_type="full", n_init=restarts, tol=sk_tol,
                               max_iter=max_iter, reg_covar=REG, init_params="k-means++",
                               random_state=0).fit(X)

    start = time.perf_counter()
    result = batch()  # compiles the batched program
    first_call = time.perf_counter() - start
    fits = sequential()
    sklearn(n_init)
    lockstep()

    t_batch = median_time(batch, repeats)
    t_lockstep = median_time(lockstep, repeats)
    singles = []
    for s in range(n_init):
        start = time.perf_counter()
        pg.fit_em(X, K, seed=s, **options)
        singles.append(time.perf_counter() - start)
    t_sequential = median_time(sequential, max(1, repeats // 2))
    t_single = float(np.median(singles))
    t_sklearn = median_time(lambda: sklearn(n_init), repeats)
    t_sklearn_single = median_time(lambda: sklearn(1), repeats)

    table = result.restarts
    iterations = table.n_iter
    flops = n * K * (4 * d * d + 6 * d + 10)
    floor_batch = flops * iterations.sum() / rate  # the arithmetic every restart needs
    print(f"\n== {label}: faithful n={n}, d={d}, K={K} full, n_init={n_init}, "
          f"tol={tol:g}, max_iter={max_iter}, reg_covar={REG:g}")
    print(f"batch iterations: max {iterations.max()}, median {int(np.median(iterations))}, "
          f"sum {iterations.sum()}; single fits: median "
          f"{int(np.median([f.n_iter for f in fits]))}")
    print(f"best objective: batch {result.objective:.6f}, best of sequential "
          f"{max(f.objective for f in fits):.6f}")
    rows = [
        ("one single fit_em (median of 32 calls)", t_single),
        (f"fit_em(n_init={n_init}), default schedule", t_batch),
        (f"fit_em(n_init={n_init}), lockstep", t_lockstep),
        (f"{n_init} sequential fit_em calls", t_sequential),
        ("sklearn GaussianMixture(n_init=1)", t_sklearn_single),
        (f"sklearn GaussianMixture(n_init={n_init})", t_sklearn),
    ]
    for name, seconds in rows:
        print(f"  {name:<42} {seconds * 1e3:10.2f} ms")
    print(f"  {'batch, first call (includes compiling)':<42} {first_call * 1e3:10.2f} ms")
    print(f"  {'floor of the batch (flops / matmul rate)':<42} {floor_batch * 1e3:10.4f} ms")
    print(f"ratios: batch / single fit = {t_batch / t_single:.2f} (target < 4), lockstep / "
          f"single fit = {t_lockstep / t_single:.2f}; "
          f"sequential / batch = {t_sequential / t_batch:.2f}; "
          f"sklearn(n_init=32) / batch = {t_sklearn / t_batch:.2f}")
    per_iteration = t_lockstep / iterations.max()
    single_per_iteration = t_single / np.median([f.n_iter for f in fits])
    print(f"per lockstep iteration ({n_init} restarts) {per_iteration * 1e6:.1f} us; "
          f"per single-fit iteration (incl. its fixed costs) {single_per_iteration * 1e6:.1f} us")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-init", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=100,
                        help="iterations per restart in the fixed regime")
    parser.add_argument("--regime", choices=("both", "converge", "fixed"), default="both")
    args = parser.parse_args(argv)
    X = pg.datasets.load_faithful()
    rate = matmul_rate()
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}; float64 matmul rate "
          f"{rate / 1e9:.1f} GFlop/s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pg.ConvergenceWarning)
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        if args.regime in ("both", "converge"):
            run(X, args.n_init, args.repeats, 1e-8, 1000, "converge", rate)
        if args.regime in ("both", "fixed"):
            run(X, args.n_init, args.repeats, 0.0, args.iterations, "fixed", rate)


if __name__ == "__main__":
    main()
