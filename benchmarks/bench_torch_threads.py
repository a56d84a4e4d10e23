"""check_loss of repo-style modules (logits in, the batch mean out) on one torch intra-op thread
(:data:`theory.checks.TORCH_THREADS`, what check_loss uses) against torch's default thread count, side
by side in one process, and whether the two reports are the same field for field (the seconds dropped).

    python benchmarks/bench_torch_threads.py [--losses ngce,gce,nce+rce] [-K 3] [--threads N]

The checks evaluate a loss on many small tensors (thousands of rows × K); a thread pool's fork and
join per operation then costs more than the work it splits.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

import theory.checks
from theory import losses
from theory.checks import check_loss


def repo_style(name: str) -> torch.nn.Module:
    class RepoStyle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.criterion = losses.get(name).torch(reduction="mean", validate=False)
            del self.criterion.reduction  # no reduction option: made per-example by vmap

        def forward(self, pred, labels):
            return self.criterion.loss.torch_value(pred, labels).mean()

    return RepoStyle()


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def timed(name: str, K: int, threads: int) -> tuple[float, dict]:
    theory.checks.TORCH_THREADS = threads
    start = time.perf_counter()
    report = check_loss(repo_style(name), input="logits", num_classes=K, name=name)
    return time.perf_counter() - start, _without_seconds(report.to_dict())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--losses", default="ngce,gce,nce+rce")
    parser.add_argument("-K", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="the baseline's intra-op threads (default: torch's own, %(default)s here)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"torch {torch.__version__}; K = {args.K}")
    print(f"{'loss':12s} {'1 thread':>9s} {f'{args.threads} threads':>10s} {'ratio':>6s}  same report")
    for name in args.losses.split(","):
        one, report_one = timed(name, args.K, 1)
        many, report_many = timed(name, args.K, args.threads)
        print(f"{name:12s} {one:8.1f}s {many:9.1f}s {many / one:5.1f}×  {report_one == report_many}")


if __name__ == "__main__":
    main()
