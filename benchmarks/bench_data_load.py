"""What validating the data files costs: CIFAR-10's six python batches read with the checks of
:func:`empirical.data.load_images` (dtype, shape, range and label set per file and key) against
the same files read the way the loader did before it validated them (the arrays cast as found), in
the same process, alternating, medians of ``--repeats``.

    python benchmarks/bench_data_load.py [--data-dir DIR] [--repeats 7]

``DIR`` holds ``cifar-10-batches-py/``; without it the standard layout is written to a temporary
folder from ``../shared/data/cifar10/cifar10_jpeg.npz`` with ``../shared/tools/cifar10_from_npz.py``
(needs Pillow). Target (issue 15): the validated load within 2 % of the unvalidated one.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from empirical import data as D
from empirical.safe_pickle import load_file

ROOT = Path(__file__).resolve().parents[1]


def _read_batches_unvalidated(folder: Path, files: tuple[str, ...], label_key: bytes, num_classes: int):
    """``empirical.data._read_batches`` before validation: every array cast to the expected dtype
    as found (the baseline; never use it)."""
    xs, ys = [], []
    for name in files:
        batch = load_file(folder / name, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def unvalidated(root: Path):
    """load_images with the unvalidated batch reader swapped in: the same work but the checks."""
    validated_reader = D._read_batches
    D._read_batches = _read_batches_unvalidated
    try:
        return D.load_images("cifar10", root, download_missing=False)
    finally:
        D._read_batches = validated_reader


def _layout(data_dir: str | None, scratch: Path) -> Path:
    if data_dir:
        return Path(data_dir)
    npz = ROOT.parent / "shared" / "data" / "cifar10" / "cifar10_jpeg.npz"
    tool = ROOT.parent / "shared" / "tools" / "cifar10_from_npz.py"
    if not npz.exists() or not tool.exists():
        sys.exit(f"no --data-dir and no {npz}: nothing to measure")
    subprocess.run([sys.executable, str(tool), str(scratch)], check=True, capture_output=True)
    return scratch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        root = _layout(args.data_dir, Path(scratch))
        baseline = unvalidated(root)  # also warms the page cache; both must read the same arrays
        data = D.load_images("cifar10", root, download_missing=False)
        assert np.array_equal(data.train_x, baseline.train_x) and np.array_equal(data.train_y, baseline.train_y)
        times: dict[str, list[float]] = {"unvalidated": [], "validated": []}
        for _ in range(args.repeats):
            for name, load in (("unvalidated", lambda: unvalidated(root)),
                               ("validated", lambda: D.load_images("cifar10", root, download_missing=False))):
                t = time.perf_counter()
                load()
                times[name].append(time.perf_counter() - t)
    base, checked = statistics.median(times["unvalidated"]), statistics.median(times["validated"])
    print(f"# CIFAR-10 load (60,000 images, 6 batch files), {args.repeats} alternating repeats; "
          f"{platform.machine()}, python {platform.python_version()}")
    print("| load | median s | min s |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.3f} | {min(ts):.3f} |")
    print(f"validated / unvalidated: {checked / base:.3f} (target ≤ 1.02)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
