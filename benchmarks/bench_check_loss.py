"""Per-check wall time of check_loss (default budget) for user callables, library losses and a
logit loss, with the peak memory of the process.

    python benchmarks/bench_check_loss.py [--K 10] [--budget default|thorough] [--cases a,b,...]
    python benchmarks/bench_check_loss.py --K 100 --cases "user (1 - p_y)^1.5"

Targets (issue 14): every registered loss ≤ 10 s at K = 10, a logit loss ≤ 30 s; a pointwise loss
of probabilities at K = 100 ≤ 120 s and ≤ 2 GB peak memory, on the 2-core CI machine.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np

from theory.checks import check_loss


def user_loss(p, y):
    return (1 - p[np.arange(len(y)), y]) ** 1.5


def hinge_logits(z, y):  # multiclass hinge on logits (Crammer–Singer): unbounded along logit rays
    zy = z[np.arange(len(y)), y]
    other = np.where(np.arange(z.shape[1])[None, :] == y[:, None], -np.inf, z)
    return np.maximum(0.0, 1.0 + other.max(axis=1) - zy)


CASES = {
    "user (1 - p_y)^1.5": (user_loss, {}),
    "mae": ("mae", {}),
    "gce": ("gce", {}),
    "ce_eps+mae": ("ce_eps+mae", {}),
    "ce": ("ce", {"check_bounded_sum": "unclamped log"}),
    "nce+rce": ("nce+rce", {"check_finite": "NCE is 0/0 on the faces"}),
    "hinge (logits)": (hinge_logits, {}),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--K", type=int, default=10)
    parser.add_argument("--budget", default="default")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    args = parser.parse_args()
    cases = {k: CASES[k] for k in args.cases.split(",")} if args.cases else CASES
    print(f"# check_loss, K={args.K}, budget {args.budget}; {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}")
    names = None
    rows = []
    for label, (loss, expected) in cases.items():
        start = time.perf_counter()
        kw = {"input": "logits"} if "logits" in label else {}
        report = check_loss(loss, num_classes=args.K, budget=args.budget, expected_failures=expected, **kw)
        total = time.perf_counter() - start
        names = names if names and len(names) >= len(report.results) else [r.check for r in report.results]
        rows.append((label, total, {r.check: r for r in report.results}))
    print("| check | " + " | ".join(label for label, _, _ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for name in names:
        cells = []
        for _, _, by in rows:
            r = by.get(name)
            cells.append("—" if r is None else f"{r.seconds:.2f} s ({r.status.value})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| **total wall** | " + " | ".join(f"**{t:.1f} s**" for _, t, _ in rows) + " |")
    print(f"peak resident memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
