"""Per-check wall time of check_loss at K = 10 (default budget) for a user callable and library losses.

    python benchmarks/bench_check_loss.py [--K 10] [--budget default|thorough]

Target (issue 5): one loss with K ≤ 10 in ≤ 20 s on the 2-core CI machine, default budget.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from theory.checks import check_loss


def user_loss(p, y):
    return (1 - p[np.arange(len(y)), y]) ** 1.5


CASES = {
    "user (1 - p_y)^1.5": (user_loss, {}),
    "mae": ("mae", {}),
    "gce": ("gce", {}),
    "ce_eps+mae": ("ce_eps+mae", {}),
    "ce": ("ce", {"check_bounded_sum": "unclamped log"}),
    "nce+rce": ("nce+rce", {"check_finite": "NCE is 0/0 on the faces"}),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--K", type=int, default=10)
    parser.add_argument("--budget", default="default")
    args = parser.parse_args()
    print(f"# check_loss, K={args.K}, budget {args.budget}; {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}")
    names = None
    rows = []
    for label, (loss, expected) in CASES.items():
        start = time.perf_counter()
        report = check_loss(loss, num_classes=args.K, budget=args.budget, expected_failures=expected)
        total = time.perf_counter() - start
        names = [r.check for r in report.results]
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


if __name__ == "__main__":
    main()
