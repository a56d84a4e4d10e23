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


def measure(base: RunConfig, data: DeviceData, n: int, steps: int, warmup: int, *,
            sequential: bool = True) -> tuple[float, float | None]:
    """(batched, sequential) images/s of ``n`` runs of ``base`` (seeds 100.., m = 10^r, CE_ε+MAE
    unless ``base`` says otherwise) over ``steps`` steps after ``warmup``; sequential is None
    when not asked for."""
    device = data.train_x.device
    batch = base.batch_size
    cfgs = [dataclasses.replace(base, seed=100 + r, params=(("m", 10.0 ** r),)).resolved() for r in range(n)]
    loaders = [DeviceLoader(data.train_x, batch_size=batch, mean=data.mean, std=data.std, augment=c.augment,
                            seed=c.seed, channels_last=c.channels_last, drop_last=True) for c in cfgs]
    iters = [iter(ld) for ld in loaders]

    def next_batches():
        out = []
        for r, it in enumerate(iters):
            b = next(it, None)
            if b is None:
                iters[r] = iter(loaders[r])
                b = next(iters[r])
            out.append(b)
        return out

    learner = build_batched_learner(cfgs, data.num_classes, device)

    def batched():
        bs = next_batches()
        batched_step(learner, [b[0] for b in bs], [data.train_noisy[b[1]] for b in bs])

    singles = [build_learner(c, data.num_classes, device) for c in cfgs] if sequential else []

    def one_by_one():
        for r, b in enumerate(next_batches()):
            train_step(singles[r], cfgs[r], b[0], data.train_noisy[b[1]])

    out = []
    for fn in (batched, one_by_one) if sequential else (batched,):
        for _ in range(warmup):
            fn()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        _sync(device)
        out.append(n * batch * steps / (time.perf_counter() - t0))
    return out[0], (out[1] if sequential else None)


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
    data = DeviceData.from_noisy(load_noisy("synthetic", "symmetric:0.4", seed=0, train_per_class=100), device)
    for model in args.models.split(","):
        base = RunConfig(dataset="synthetic", model=model, noise="symmetric:0.4", method="ce_eps+mae",
                         batch_size=args.batch, train_per_class=100, epochs=1)
        for n in (int(v) for v in args.runs.split(",")):
            b, s = zip(*(measure(base, data, n, args.steps, args.warmup) for _ in range(args.repeats)))
            b, s = statistics.median(b), statistics.median(s)
            rows.append({"model": model, "runs": n, "batched_images_per_s": b, "sequential_images_per_s": s,
                         "ratio": b / s})
            print(f"| {model} | {n} | {b:,.0f} | {s:,.0f} | {b / s:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": provenance(device), "steps": args.steps, "batch": args.batch, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
