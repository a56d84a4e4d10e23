"""check_loss on a repo-style mean-reduced nn.Module against the same loss given per example, side by
side in one process (issue 26's target: the module ≤ 2× the per-example form), and the numerics
checks' time per registered loss (target ≤ 5 s each).

    python benchmarks/bench_as_written.py [--K 10] [--checks check_output,...] [--numerics-only]

The module is NCE+RCE as the public code writes it (one-hot labels, a batch mean, no reduction
option), so its per-example values come one example at a time through torch.func.vmap.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
import torch.nn.functional as F

from theory import losses
from theory.checks import check_loss


class NCEandRCE(torch.nn.Module):
    def __init__(self, num_classes: int, per_example: bool = False):
        super().__init__()
        self.num_classes, self.per_example = num_classes, per_example

    def forward(self, pred, labels):
        logp = F.log_softmax(pred, dim=1)
        one_hot = F.one_hot(labels, self.num_classes).to(pred.dtype)
        nce = (-(one_hot * logp).sum(1)) / (-logp.sum(1))
        rce = -(logp.exp().clamp(min=1e-7, max=1.0) * torch.log(one_hot.clamp(min=1e-4, max=1.0))).sum(1)
        values = nce + rce
        return values if self.per_example else values.mean()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--K", type=int, default=10)
    parser.add_argument("--checks", help="comma-separated checks (default: all)")
    parser.add_argument("--numerics-only", action="store_true")
    args = parser.parse_args()
    checks = args.checks.split(",") if args.checks else None
    print(f"# K={args.K}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}, torch {torch.__version__}")
    numerics = ["check_extreme_logits", "check_low_precision", "check_gradients"]
    if not args.numerics_only:
        times = {}
        for label, module in (("per example", NCEandRCE(args.K, True)), ("batch mean", NCEandRCE(args.K))):
            start = time.perf_counter()
            report = check_loss(module, input="logits", num_classes=args.K, checks=checks)
            times[label] = time.perf_counter() - start
            print(f"{label}: {times[label]:.1f} s  ({report.header.splitlines()[-1].strip()})")
            for r in report.results:
                print(f"    {r.check:<40} {r.status.value:<14} {r.seconds:6.1f} s")
        print(f"ratio batch mean / per example: {times['batch mean'] / times['per example']:.2f}")
    print(f"| loss | numerics checks (3), K = {args.K} |")
    print("|---|---|")
    for name in losses.names():
        start = time.perf_counter()
        check_loss(name, num_classes=args.K, checks=numerics)
        print(f"| {name} | {time.perf_counter() - start:.2f} s |")


if __name__ == "__main__":
    main()
