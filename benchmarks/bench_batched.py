"""Batched against sequential training: N runs as one grouped network (:mod:`empirical.batched`)
against the same N runs stepped one after another, in the same process, alternating, medians of
``--repeats``. Throughput counts every run's images (N × batch per step).

    python benchmarks/bench_batched.py [--models tiny,small] [--runs 1,4,8] [--steps 10] [--device cpu]

Runs differ in seed and m (CE_ε+MAE), as in the paper's m sweeps; data are the synthetic images
(no files needed). Prints one row per (model, N) and writes ``--json`` when given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch

from empirical.batched import batched_step, build_batched_learner
from empirical.config import RunConfig
from empirical.data import load_noisy
from empirical.loader import DeviceLoader
from empirical.run import provenance
from empirical.train import DeviceData, build_learner, train_step


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model: str, n: int, steps: int, warmup: int, device: torch.device, batch: int) -> tuple[float, float]:
    """(batched, sequential) images/s over ``steps`` steps after ``warmup``."""
    base = RunConfig(dataset="synthetic", model=model, noise="symmetric:0.4", method="ce_eps+mae", batch_size=batch,
                     train_per_class=100, epochs=1)
    cfgs = [dataclasses.replace(base, seed=100 + r, params=(("m", 10.0 ** r),)).resolved() for r in range(n)]
    data = DeviceData.from_noisy(load_noisy("synthetic", "symmetric:0.4", seed=0, train_per_class=100), device)
    loaders = [DeviceLoader(data.train_x, batch_size=batch, mean=data.mean, std=data.std, augment=c.augment, seed=c.seed)
               for c in cfgs]
    batches = [list(ld)[: steps + warmup] for ld in loaders]  # the same batches for both sides
    ys = [[data.train_noisy[idx] for _, idx in b] for b in batches]

    learner = build_batched_learner(cfgs, data.num_classes, device)
    singles = [build_learner(c, data.num_classes, device) for c in cfgs]

    def batched(i):
        batched_step(learner, [batches[r][i][0] for r in range(n)], [ys[r][i] for r in range(n)])

    def sequential(i):
        for r in range(n):
            train_step(singles[r], cfgs[r], batches[r][i][0], ys[r][i])

    out = []
    for fn in (batched, sequential):
        for i in range(warmup):
            fn(i)
        _sync(device)
        t0 = time.perf_counter()
        for i in range(warmup, warmup + steps):
            fn(i)
        _sync(device)
        out.append(n * batch * steps / (time.perf_counter() - t0))
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny,small")
    parser.add_argument("--runs", default="1,4,8")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    print(f"{provenance(device)['device_name']}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| model | N | batched images/s | sequential images/s | batched / sequential |\n|---|---|---|---|---|")
    for model in args.models.split(","):
        for n in (int(v) for v in args.runs.split(",")):
            b, s = zip(*(measure(model, n, args.steps, args.warmup, device, args.batch) for _ in range(args.repeats)))
            b, s = statistics.median(b), statistics.median(s)
            rows.append({"model": model, "runs": n, "batched_images_per_s": b, "sequential_images_per_s": s,
                         "ratio": b / s})
            print(f"| {model} | {n} | {b:,.0f} | {s:,.0f} | {b / s:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": provenance(device), "steps": args.steps, "batch": args.batch, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
