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
from bench_train import _sync  # a sibling script: benchmarks/ is on the path when run or imported

from empirical.batched import batched_step, build_batched_learner
from empirical.config import RunConfig
from empirical.data import load_noisy
from empirical.loader import DeviceLoader, RunsLoader
from empirical.run import provenance
from empirical.train import DeviceData, build_learner, train_step


@dataclasses.dataclass(frozen=True)
class Throughput:
    """What :func:`measure` saw: images/s of the batch and (when asked for) of the same runs one
    after another; on a GPU the batch's peak memory (everything allocated while it trained,
    the images included) and how long its warm-up steps took (compilation, when configured)."""

    runs: int
    batched_images_per_s: float
    sequential_images_per_s: float | None = None
    peak_memory_gb: float | None = None
    warmup_s: float | None = None


def measure(base: RunConfig, data: DeviceData, n: int, steps: int, warmup: int, *,
            sequential: bool = True) -> Throughput:
    """Images/s of ``n`` runs of ``base`` (seeds 100.., m = 10^r, CE_ε+MAE unless ``base`` says
    otherwise) over ``steps`` steps after ``warmup``, trained as one batch and, when
    ``sequential``, one after another."""
    device = data.train_x.device
    batch = base.batch_size
    cfgs = [dataclasses.replace(base, seed=100 + r, params=(("m", 10.0 ** r),)).resolved() for r in range(n)]

    def loader(cfg):
        return DeviceLoader(data.train_x, batch_size=batch, mean=data.mean, std=data.std, augment=cfg.augment,
                            seed=cfg.seed, channels_last=cfg.channels_last, drop_last=True)

    def endless(batches):
        while True:
            yield from batches

    def timed(step) -> tuple[float, float]:
        t0 = time.perf_counter()
        for _ in range(warmup):
            step()
        _sync(device)
        t1 = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        return n * batch * steps / (time.perf_counter() - t1), t1 - t0

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    together = endless(RunsLoader([loader(c) for c in cfgs]))
    labels = data.train_noisy[:, None].expand(-1, n)  # (images, N): the runs share one noisy label set here
    learner = build_batched_learner(cfgs, data.num_classes, device)

    def batched():
        x, idx = next(together)
        batched_step(learner, x, labels.gather(0, idx))

    ips, warmup_s = timed(batched)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    if not sequential:
        return Throughput(n, ips, None, peak, warmup_s)
    alone = [endless(loader(c)) for c in cfgs]
    singles = [build_learner(c, data.num_classes, device) for c in cfgs]

    def one_by_one():
        for r, single in enumerate(singles):
            x, idx = next(alone[r])
            train_step(single, cfgs[r], x, data.train_noisy[idx])

    return Throughput(n, ips, timed(one_by_one)[0], peak, warmup_s)


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
            seen = [measure(base, data, n, args.steps, args.warmup) for _ in range(args.repeats)]
            b = statistics.median(t.batched_images_per_s for t in seen)
            s = statistics.median(t.sequential_images_per_s for t in seen)
            rows.append({"model": model, "runs": n, "batched_images_per_s": b, "sequential_images_per_s": s,
                         "ratio": b / s})
            print(f"| {model} | {n} | {b:,.0f} | {s:,.0f} | {b / s:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": provenance(device), "steps": args.steps, "batch": args.batch, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
