"""Benchmarks for issue 3 (not timed tests): run `python benchmarks/bench_losses.py`.

1. numpy evaluation of every loss on 100,000 × 10 probabilities (no Python loop over examples).
2. torch forward+backward of CE_ε+MAE vs plain CE+MAE at batch 128, K = 10 and K = 100, measured
   side by side in one run (interleaved, median of repeats), reported as a ratio.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from theory import losses


def bench_numpy(n=100_000, K=10):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(K), size=n)
    z = np.log(p)
    y = rng.integers(0, K, n)
    print(f"numpy, {n} x {K}: seconds per full evaluation (median of 5)")
    for name in losses.names():
        L = losses.get(name)
        x = z if L.input == "logits" else p
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            L(x, y)
            times.append(time.perf_counter() - t0)
        print(f"  {name:12s} {statistics.median(times):.4f}")


def bench_torch(batch=128, repeats=300):
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"torch CPU, batch {batch}, forward+backward, median µs (interleaved, {repeats} repeats)")
    for K in (10, 100):
        z = torch.randn(batch, K, requires_grad=True)
        y = torch.randint(0, K, (batch,))
        crits = {
            "ce+mae": losses.get("ce+mae", alpha=0.01, beta=5.0).torch(validate=False),
            "ce_eps+mae": losses.get("ce_eps+mae").torch(validate=False),
        }
        times = {k: [] for k in crits}
        for _ in range(repeats):
            for k, crit in crits.items():
                t0 = time.perf_counter()
                crit(z, y).backward()
                times[k].append(time.perf_counter() - t0)
                z.grad = None
        med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
        print(f"  K={K:3d}  ce+mae {med['ce+mae']:8.1f}  ce_eps+mae {med['ce_eps+mae']:8.1f}  "
              f"ratio {med['ce_eps+mae'] / med['ce+mae']:.2f}")


if __name__ == "__main__":
    bench_numpy()
    bench_torch()
