"""The project's GPU protocol: what one GPU does for this package, in ≤ 5 minutes, in one JSON.

    python benchmarks/gpu_protocol.py --data-npz ../shared/data/cifar10/cifar10_jpeg.npz --out DIR
    python benchmarks/gpu_protocol.py --data-npz PATH --out DIR --quick     # the CPU scale (< 2 min)

Steps, each timed, each skipped (with the reason recorded) when the budget left cannot hold it:

1. data: CIFAR-10 in the python layout from the shared JPEG copy (``cifar10_from_npz.py``, found
   next to the npz or in ``../shared/tools``); on the CPU scale 50 training images per class.
2. single run, images/s: the reference-style baseline (per-image transforms in a ``DataLoader``
   with workers, fp32; torchvision's own transforms on PIL images when torchvision is installed)
   against ours (the on-device loader) in fp32, and on a GPU in bf16 + channels-last, with fused
   SGD in place of foreach, and with ``torch.compile`` (its compile time reported apart).
3. batched, images/s: N runs as one grouped network (:mod:`empirical.batched`) for N = 1, 4, 16,
   64 (CPU: 1, 2, 4), and N single runs one after another at N = 16 (CPU: 4); on a GPU each
   batch's peak memory per run (what ``empirical.sweep.RUN_MEMORY_GB`` estimates) and, time
   allowing, the batch of 16 (CPU: 2) compiled (its warm-up, compilation included, apart).
4. predictions: the 120-epoch CNN-8 run from the best single throughput, and the Figure-1 grid
   (72 runs) from the best batched throughput; ResNet-34's images/s on random data shaped like
   CIFAR-100 and its predicted 200-epoch time.
5. with the time left, a batch of the Figure-1 grid (CIFAR-10 symmetric 0.8, CE_ε+MAE at several
   m, one seed each) trained together to the end of the protocol, with its accuracies; when the
   full protocol cannot fit, as many epochs as fit (a shortened cosine schedule, labelled so).

Writes ``DIR/gpu_protocol.json`` and prints a table. The scale, device and every number's origin
are in the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

from empirical.batched import train_batched
from empirical.config import RunConfig
from empirical.data import load_noisy
from empirical.run import provenance
from empirical.sweep import MAX_BATCH_RUNS
from empirical.train import DeviceData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batched import measure as measure_batched  # noqa: E402
from bench_train import baseline_pipeline, bench_baseline, bench_ours  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURE1_M = (0.0, 1e1, 1e2, 1e3, 1e4, 1e5)


@dataclasses.dataclass(frozen=True)
class Scale:
    """Sizes of one protocol: the GPU's, or the CPU's scaled-down one."""

    name: str
    train_per_class: int | None
    model: str
    steps: int
    warmup: int
    runs: tuple[int, ...]
    sequential_at: int
    compile_at: int  # the batch also measured compiled, given compile_needs_s left
    compile_needs_s: float
    figure1_m: tuple[float, ...]
    epochs: int
    budget_s: float
    workers: int


GPU = Scale("gpu", None, "cnn8", 100, 10, (1, 4, 16, 64), 16, 16, 150.0, FIGURE1_M, 120, 280.0, 8)
CPU = Scale("cpu (scaled down)", 50, "tiny", 8, 2, (1, 2, 4), 4, 2, 60.0, (0.0, 1e2, 1e4), 2, 100.0, 2)


class Budget:
    def __init__(self, seconds: float):
        self.start, self.seconds = time.perf_counter(), seconds

    @property
    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)


def _failure(err: BaseException) -> dict:
    """A step or row that raised, recorded as such (its message and the end of its traceback),
    so that the steps after it still run: a GPU's minutes are too few to lose to one failure."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # an out-of-memory row leaves the next one its memory
    return {"error": f"{type(err).__name__}: {err}"[:500], "traceback": traceback.format_exc(limit=6)[-3000:]}


def _converter(npz: Path) -> Path:
    for candidate in (npz.parent / "cifar10_from_npz.py", ROOT.parent / "shared" / "tools" / "cifar10_from_npz.py"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"cifar10_from_npz.py is neither next to {npz} nor in ../shared/tools")


def prepare_data(npz: Path, out: Path, scale: Scale) -> tuple[Path, float]:
    """The python layout under ``out/data`` (written once), and the seconds it took."""
    root = out / "data"
    t = time.perf_counter()
    if not (root / "cifar-10-batches-py" / "test_batch").is_file():
        args = [sys.executable, str(_converter(npz)), str(root), "--npz", str(npz)]
        if scale.train_per_class:
            args += ["--train-per-class", str(scale.train_per_class)]
        subprocess.run(args, check=True, capture_output=True)
    return root, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-npz", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--quick", action="store_true", help="the CPU scale, whatever the device")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budget-s", type=float, help="default: 280 on a GPU, 100 on the CPU scale")
    args = parser.parse_args(argv)
    if not args.data_npz.is_file():
        print(f"--data-npz: no file at {args.data_npz}", file=sys.stderr)
        return 2
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    scale = CPU if args.quick or device.type != "cuda" else GPU
    budget = Budget(args.budget_s or scale.budget_s)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"scale": dataclasses.asdict(scale), "device": provenance(device), "steps": {}}

    def record(name: str, **values):
        report["steps"][name] = {**values, "budget_left_s": round(budget.left, 1)}
        (args.out / "gpu_protocol.json").write_text(json.dumps(report, indent=1, default=str))

    root, seconds = prepare_data(args.data_npz, args.out, scale)
    record("data", seconds=seconds, folder=str(root))
    base = RunConfig(dataset="cifar10", noise="symmetric:0.8", method="ce_eps+mae", model=scale.model,
                     train_per_class=scale.train_per_class, epochs=scale.epochs, params=(("m", 1e3),)).resolved()
    raw = load_noisy("cifar10", base.noise_spec, seed=base.seed, data_dir=str(root), download_missing=False,
                     train_per_class=scale.train_per_class)
    data = DeviceData.from_noisy(raw, device)

    # 2. single run
    single = []
    fast = dataclasses.replace(base, precision="bf16", channels_last=True) if device.type == "cuda" else base
    try:
        ips = bench_baseline(base, raw, device, scale.steps, scale.warmup, scale.workers)
        single.append({"variant": f"reference-style baseline (per-image DataLoader, {scale.workers} workers, fp32)",
                       "pipeline": baseline_pipeline(), "images_per_s": ips})
    except Exception as err:  # noqa: BLE001 - a baseline that cannot run is recorded, not fatal
        single.append({"variant": "reference-style baseline", **_failure(err)})
    variants = [("ours fp32", base, False)]
    if device.type == "cuda":
        variants += [("ours bf16 + channels-last", fast, False),
                     ("ours bf16 + channels-last + fused SGD", fast, True),
                     ("ours bf16 + channels-last + compile", dataclasses.replace(fast, compile=True), False)]
    for name, cfg, fused in variants:
        if budget.left < 30:
            single.append({"variant": name, "skipped": f"{budget.left:.0f} s left"})
            continue
        t = time.perf_counter()
        try:
            ips = bench_ours(cfg, data, device, scale.steps, scale.warmup + (30 if cfg.compile else 0), fused=fused)
        except Exception as err:  # noqa: BLE001 - recorded; the other variants still run
            single.append({"variant": name, **_failure(err)})
            continue
        single.append({"variant": name, "images_per_s": ips, "seconds_with_warmup_and_compile": time.perf_counter() - t})
    base_ips = single[0].get("images_per_s")
    for row in single:
        if base_ips and "images_per_s" in row:
            row["ratio_vs_baseline"] = row["images_per_s"] / base_ips
    record("single_run", rows=single)
    best_single = max((r["images_per_s"] for r in single if "images_per_s" in r and "baseline" not in r["variant"]),
                      default=None)

    # 3. batched (eager, and one N also compiled when time allows: compiling fuses the runs'
    # losses, N sets of element-wise kernels, into a few)
    batched = []
    best_cfg = fast
    steps = max(4, scale.steps // 4)
    for n, compiled in [(n, False) for n in scale.runs] + [(scale.compile_at, True)]:
        if budget.left < (scale.compile_needs_s if compiled else 25):
            batched.append({"runs": n, "compile": compiled, "skipped": f"{budget.left:.0f} s left"})
            continue
        cfg = dataclasses.replace(best_cfg, compile=True) if compiled else best_cfg
        try:
            seen = measure_batched(cfg, data, n, steps, scale.warmup + (5 if compiled else 0),
                                   sequential=n == scale.sequential_at and not compiled)
        except Exception as err:  # noqa: BLE001 - recorded (out of memory at N = 64, say); the rest still runs
            batched.append({"runs": n, "compile": compiled, **_failure(err)})
            continue
        row = {"runs": n, "compile": compiled, "batched_images_per_s": seen.batched_images_per_s,
               "warmup_s": seen.warmup_s}
        if seen.peak_memory_gb is not None:
            row.update(peak_memory_gb=seen.peak_memory_gb, memory_gb_per_run=seen.peak_memory_gb / n)
        if seen.sequential_images_per_s is not None:
            row.update(sequential_images_per_s=seen.sequential_images_per_s,
                       batched_over_sequential=seen.batched_images_per_s / seen.sequential_images_per_s)
        batched.append(row)
        print(f"batched N={n}{' compiled' if compiled else ''}: {seen.batched_images_per_s:,.0f} images/s"
              + (f", {row['batched_over_sequential']:.2f}× sequential" if "batched_over_sequential" in row else "")
              + (f", {seen.peak_memory_gb:.2f} GB peak" if seen.peak_memory_gb is not None else ""), flush=True)
    eager_at = {r["runs"]: r for r in batched if not r["compile"] and "batched_images_per_s" in r}
    for row in batched:
        if row["compile"] and "batched_images_per_s" in row and row["runs"] in eager_at:
            row["compiled_over_eager"] = row["batched_images_per_s"] / eager_at[row["runs"]]["batched_images_per_s"]
    record("batched", rows=batched)

    # 4. predictions
    measured = [r for r in batched if not r["compile"] and "batched_images_per_s" in r]

    def batch_throughput(at_most: int) -> float | None:
        """The best measured eager images/s of a batch of at most ``at_most`` runs."""
        return max((r["batched_images_per_s"] for r in measured if r["runs"] <= at_most), default=None)

    grid_ips = batch_throughput(MAX_BATCH_RUNS)
    epochs_full = 120
    prediction = {
        "single_120_epochs_s": None if not best_single else epochs_full * 50000 / best_single,
        "figure1_grid_72_runs_s": None if not grid_ips else 72 * epochs_full * 50000 / grid_ips,
        "from": f"the best measured throughputs of {scale.model} (the grid: batches of at most {MAX_BATCH_RUNS} "
                "runs, as sweep forms them by default); 50,000 training images per epoch (the full CIFAR-10), "
                "120 epochs",
    }
    record("predictions", **prediction)

    # 4b. CIFAR-100 with ResNet-34: images/s on random data shaped like CIFAR-100 (its protocol:
    # batch 128, rotation), and the predicted 200-epoch time
    if budget.left < 40:
        record("cifar100_resnet34", skipped=f"{budget.left:.0f} s left")
    else:
        try:
            record("cifar100_resnet34", **_resnet34(device, scale))
        except Exception as err:  # noqa: BLE001 - recorded; the Figure-1 batch still runs
            record("cifar100_resnet34", **_failure(err))

    # 5. a batch of the Figure-1 grid, with the time left
    cfgs = [dataclasses.replace(best_cfg, params=(("alpha", 0.01), ("beta", 5.0), ("m", m))) for m in scale.figure1_m]
    try:
        record("figure1_batch", **_figure1_batch(cfgs, root, device, scale, budget, batch_throughput(len(cfgs)),
                                                 loaded={(base.noise, base.seed): data}))
    except Exception as err:  # noqa: BLE001 - recorded, and the table still printed
        record("figure1_batch", **_failure(err))
    _print(report)
    failed = [name for name, step in report["steps"].items()
              if "error" in step or any("error" in row for row in step.get("rows", []))]
    if failed:
        print(f"failed (recorded in the JSON, the other steps ran): {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _resnet34(device: torch.device, scale: Scale) -> dict:
    c100 = RunConfig(dataset="cifar100", noise="clean", method="ce").resolved()
    if device.type == "cuda":
        c100 = dataclasses.replace(c100, precision="bf16", channels_last=True)
    n_random = 50000 if scale is GPU else 256
    g = torch.Generator().manual_seed(0)
    shaped = DeviceData(torch.randint(0, 256, (n_random, 3, 32, 32), generator=g, dtype=torch.uint8).to(device),
                        *(torch.randint(0, 100, (n_random,), generator=g).to(device) for _ in range(2)),
                        torch.randint(0, 256, (256, 3, 32, 32), generator=g, dtype=torch.uint8).to(device),
                        torch.randint(0, 100, (256,), generator=g).to(device), 100, (0.5,) * 3, (0.25,) * 3)
    steps = max(3, scale.steps // 4)
    ips = bench_ours(c100, shaped, device, steps, max(1, scale.warmup // 2))
    print(f"CIFAR-100 ResNet-34: {ips:,.0f} images/s → 200 epochs in {200 * 50000 / ips:,.0f} s", flush=True)
    return {"images_per_s": ips, "predicted_200_epochs_s": 200 * 50000 / ips, "steps": steps,
            "data": "random uint8 images shaped like CIFAR-100 (50,000 × 3 × 32 × 32, 100 classes)",
            "config": {"precision": c100.precision, "channels_last": c100.channels_last, "batch": c100.batch_size}}


def _figure1_batch(cfgs: list[RunConfig], root: Path, device: torch.device, scale: Scale, budget: Budget,
                   ips: float | None, loaded: dict) -> dict:
    """``cfgs`` trained together for as many epochs of their protocol as the budget holds (all
    of them when it can), timed from ``ips``, the images/s of the largest measured batch no
    larger than this one: batches speed up with N, so the estimate errs long, and the step ends
    before the protocol's time limit does. ``loaded``: data already on the device, by (noise, seed)."""
    for c in cfgs:  # the runs share their labels when they share noise and seed: one copy
        key = (c.noise, c.seed)
        if key not in loaded:
            loaded[key] = DeviceData.from_noisy(load_noisy("cifar10", c.noise_spec, seed=c.seed, data_dir=str(root),
                                                           download_missing=False,
                                                           train_per_class=c.train_per_class), device)
    datas = [loaded[(c.noise, c.seed)] for c in cfgs]
    per_epoch = len(cfgs) * int(datas[0].train_x.shape[0]) / ips if ips else math.inf
    epochs = min(scale.epochs, int(max(0.0, budget.left - 20) // (per_epoch * 1.3)))  # test passes, warm-up: 30 %
    if epochs < 1:
        return {"skipped": f"one epoch of {len(cfgs)} runs needs ≈ {per_epoch:.0f} s, {budget.left:.0f} s left"}
    cfgs = [dataclasses.replace(c, epochs=epochs) for c in cfgs]
    t = time.perf_counter()
    results = train_batched(cfgs, datas)
    return {"epochs": epochs, "full_protocol": epochs == scale.epochs, "seconds": time.perf_counter() - t,
            "protocol": ("the full protocol" if epochs == scale.epochs else
                         f"shortened: {epochs} of {scale.epochs} epochs, cosine over {epochs}"),
            "runs": [{"m": dict(c.params)["m"], "status": r.status, "test_acc_last": r.last_test_acc,
                      "test_acc": [h["test_acc"] for h in r.history]} for c, r in zip(cfgs, results)]}


def _print(report: dict) -> None:
    s = report["steps"]
    print(f"\n{report['device']['device_name']} ({report['scale']['name']}), torch {report['device']['torch']}")
    print("| single run | images/s | × baseline |\n|---|---|---|")
    for r in s["single_run"]["rows"]:
        ips = f"{r['images_per_s']:,.0f}" if "images_per_s" in r else r.get("skipped") or r.get("error")
        print(f"| {r['variant']} | {ips} | {r.get('ratio_vs_baseline', float('nan')):.2f} |")
    print("| batched runs | images/s | × sequential | × eager | GB per run (peak) | warm-up s |")
    print("|---|---|---|---|---|---|")
    for r in s["batched"]["rows"]:
        ips = f"{r['batched_images_per_s']:,.0f}" if "batched_images_per_s" in r else r.get("skipped") or r["error"]
        cell = lambda key, fmt: format(r[key], fmt) if key in r else "–"  # noqa: E731
        print(f"| {r['runs']}{' compiled' if r['compile'] else ''} | {ips} | {cell('batched_over_sequential', '.2f')} "
              f"| {cell('compiled_over_eager', '.2f')} | {cell('memory_gb_per_run', '.2f')} "
              f"| {cell('warmup_s', '.1f')} |")
    p = s["predictions"]
    fmt = lambda v: "–" if v is None else f"{v:,.0f} s"  # noqa: E731
    print(f"predicted: 120-epoch run {fmt(p['single_120_epochs_s'])}, Figure-1 grid (72 runs) "
          f"{fmt(p['figure1_grid_72_runs_s'])}")
    r = s["cifar100_resnet34"]
    print("CIFAR-100 ResNet-34 (random data): " + (
        f"{r['images_per_s']:,.0f} images/s, 200 epochs ≈ {r['predicted_200_epochs_s']:,.0f} s" if "images_per_s" in r
        else r.get("skipped") or f"failed: {r['error']}"))
    f = s["figure1_batch"]
    print(f"Figure-1 batch ({f['protocol']}, {f['seconds']:.0f} s): " +
          ", ".join(f"m={r['m']:g}: {100 * r['test_acc_last']:.1f} %" for r in f["runs"]) if "runs" in f
          else f"Figure-1 batch: {f.get('skipped') or 'failed: ' + f['error']}")


if __name__ == "__main__":
    sys.exit(main())
