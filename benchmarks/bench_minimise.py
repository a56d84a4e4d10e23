"""Benchmark: conditional-risk minimisers per loss, method and K, against the multi-start search.

For 20 random posteriors per K, each loss's default method (the one ``python -m theory`` and the
finite problems use) is timed and compared with the multi-start search run side by side in the
same process: the time ratio, and the largest amount by which the search beat the default method
(negative: the default method found lower values everywhere).

    python benchmarks/bench_minimise.py [--K 3,10] [--n 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from theory import losses
from theory.minimise import minimise_conditional_risk

CASES = (("ce_eps", {"m": 1e2}), ("ce_eps+mae", {}), ("fl_eps+mae", {}), ("gce", {}), ("nce", {}),
         ("nce+mae", {}), ("nce+rce", {}), ("nce+aul", {}), ("ce+mae", {}), ("sce", {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--K", default="3,10")
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    print(f"{'K':>3} {'loss':12s} {'method':32s} {'exact':>5s} {'time s':>7s} {'search s':>8s} "
          f"{'search - method':>15s}")
    for K in map(int, args.K.split(",")):
        q = np.random.default_rng(K).dirichlet(np.ones(K), size=args.n)
        for name, params in CASES:
            L = losses.get(name, **params)
            t0 = time.perf_counter()
            res = minimise_conditional_risk(L, q)
            t1 = time.perf_counter()
            ref = minimise_conditional_risk(L, q, method="multistart")
            t2 = time.perf_counter()
            print(f"{K:3d} {name:12s} {res.method:32s} {str(res.exact):>5s} {t1 - t0:7.2f} {t2 - t1:8.2f} "
                  f"{np.min(ref.value - res.value):15.1e}")


if __name__ == "__main__":
    main()
