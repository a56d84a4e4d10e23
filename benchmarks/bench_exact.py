"""What batching buys the finite-X trainer: the runs of a grid trained together (one set of stacked
parameters, :func:`empirical.exact.run_grid`) against the same runs trained one setting at a
time (a grid per loss, n, seed and model: the noisy run and its clean twin), in the same process,
alternating, medians of ``--repeats``. Also checks that both end
at the same logits (a run does not depend on its batch).

    python benchmarks/bench_exact.py [--steps 300] [--repeats 3]

The grid: CE, MAE, CE_ε+MAE at m = 1e3 and 1e5, linear and MLP, n ∈ {100, 1000}, two seeds, η = 0.4
and the clean twins: 64 runs. Only the training is timed (population minimisers and measurement
are the same work either way).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time

import numpy as np
import torch

from empirical import exact as E


def grid(steps: int) -> E.Grid:
    eps_mae = (("alpha", 0.01), ("beta", 5.0))
    settings = (E.LossSetting("ce"), E.LossSetting("mae"), E.LossSetting("ce_eps+mae", 1e3, eps_mae),
                E.LossSetting("ce_eps+mae", 1e5, eps_mae))
    return E.Grid(settings=settings, ns=(100, 1000), seeds=(0, 1), steps=steps)


def train_only(g: E.Grid) -> tuple[float, dict]:
    """Seconds spent in the trainer for grid ``g``, and the logits per run (population skipped)."""
    spent = {"s": 0.0}
    real = E._train

    def timed(*args, **kwargs):
        t = time.perf_counter()
        out = real(*args, **kwargs)
        spent["s"] += time.perf_counter() - t
        return out

    E._train, saved = timed, E._population
    E._population = lambda *a, **k: {"linear": (0.0, 0.0), "mlp": (0.0, 0.0)}
    try:
        result = E.run_grid(g)
    finally:
        E._train, E._population = real, saved
    return spent["s"], {(r.model, r.setting, r.eta, r.n, r.seed): np.asarray(r.logits) for r in result.runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    g = grid(args.steps)
    singles = [dataclasses.replace(g, settings=(s,), ns=(n,), seeds=(seed,), models=(model,))
               for s in g.settings for n in g.ns for seed in g.seeds for model in g.models]
    batched_t, one_by_one_t = [], []
    for _ in range(args.repeats):
        t, together = train_only(g)
        batched_t.append(t)
        t, alone = 0.0, {}
        for single in singles:
            dt, logits = train_only(single)
            t += dt
            alone.update(logits)
        one_by_one_t.append(t)
    worst = max(float(np.abs(together[k] - alone[k]).max()) for k in alone)
    runs = len(together)
    b, s = statistics.median(batched_t), statistics.median(one_by_one_t)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{runs} runs × {args.steps} steps: batched {b:.2f} s, a run and its twin at a time {s:.2f} s (medians of {args.repeats}); "
          f"speed-up {s / b:.1f}×; largest logit difference between the two {worst:.1e}")


if __name__ == "__main__":
    main()
