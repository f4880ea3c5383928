"""The ``ppl-gmm`` command line."""

from __future__ import annotations

import argparse
import sys


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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return demo(args.max_k, args.seed)
    return 2


if __name__ == "__main__":
    sys.exit(main())
