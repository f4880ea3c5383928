"""Seconds per variational-EM iteration: fit_vb against scikit-learn's
BayesianGaussianMixture, and against fit_em's EM iteration.

Same process, same data, same start (the same initial responsibilities, given to
scikit-learn through ``_initialize(X, resp)``), same hyperparameters (scikit-learn's
defaults, given to fit_vb as a Prior), same fixed number of iterations, float64, full
covariances, stick-breaking weights. Per-iteration time is the slope between two runs
with different iteration counts, so fixed costs cancel; ppl_gmm is compiled before
timing. fit_em is timed as in bench_em.py, from the expected parameters of the same
start.

    python benchmarks/bench_vb.py            # the sizes of bench_em.py
    python benchmarks/bench_vb.py --quick    # a small size, for a smoke run
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from bench_em import per_iteration, problem, time_ours
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

import ppl_gmm as pg


def sklearn_prior(X, k):
    """scikit-learn's default hyperparameters for "full", as a ppl_gmm Prior."""
    d = X.shape[1]
    return pg.Prior(shrinkage=1.0, mean=X.mean(axis=0), dof=float(d),
                    scale=np.atleast_2d(np.cov(X.T)))


def start_responsibilities(X, start):
    """q(Z) at the start's parameters: the same start for both packages."""
    return pg.fit_em(X, len(start.weights), init=start, max_iter=0).responsibilities


def time_vb(X, resp, prior, iterations, block_size):
    start_time = time.perf_counter()
    pg.fit_vb(X, resp.shape[1], init=resp, prior=prior, max_iter=iterations, tol=0.0,
              weight_concentration=1.0 / resp.shape[1], block_size=block_size)
    return time.perf_counter() - start_time


def time_sklearn(X, resp, iterations):
    """scikit-learn's fit loop (E-step, M-step, lower bound) from ``_initialize(X, resp)``."""
    model = BayesianGaussianMixture(n_components=resp.shape[1], covariance_type="full",
                                    reg_covar=0.0, max_iter=iterations, tol=0.0)
    start_time = time.perf_counter()
    model._check_parameters(X)
    model._initialize(X, resp)
    for _ in range(iterations):
        log_prob_norm, log_resp = model._e_step(X)
        model._m_step(X, log_resp)
        model._compute_lower_bound(log_resp, log_prob_norm)
    return time.perf_counter() - start_time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block-size", type=int, default=pg.fit_em.__kwdefaults__["block_size"])
    args = parser.parse_args()
    sizes = [(20_000, 5, 4)] if args.quick else [(100_000, 10, 8), (1_000_000, 16, 16)]
    warnings.simplefilter("ignore", pg.ConvergenceWarning)
    warnings.simplefilter("ignore", SklearnConvergenceWarning)
    print(f"{'n':>9} {'d':>3} {'K':>3}  {'fit_vb s/it':>11}  {'sklearn BGM':>11}  "
          f"{'speed-up':>8}  {'fit_em s/it':>11}  {'vb/em':>5}")
    for n, d, k in sizes:
        X, start = problem(n, d, k)
        resp = start_responsibilities(X, start)
        prior = sklearn_prior(X, k)
        low, high = (5, 25) if n <= 100_000 else (3, 13)
        sk_low, sk_high = (2, 6) if n <= 100_000 else (1, 3)
        for m in (low, high):  # compile both programs' loop lengths first
            time_vb(X, resp, prior, m, args.block_size)
            time_ours(X, start, m, args.block_size)
        vb = per_iteration(lambda m, X=X, r=resp, p=prior: time_vb(X, r, p, m, args.block_size),
                           low, high, args.repeats)
        em = per_iteration(lambda m, X=X, s=start: time_ours(X, s, m, args.block_size),
                           low, high, args.repeats)
        theirs = per_iteration(lambda m, X=X, r=resp: time_sklearn(X, r, m), sk_low, sk_high,
                               args.repeats)
        print(f"{n:>9} {d:>3} {k:>3}  {vb:>11.4f}  {theirs:>11.4f}  {theirs / vb:>7.1f}x  "
              f"{em:>11.4f}  {vb / em:>5.2f}", flush=True)


if __name__ == "__main__":
    main()
