"""benchmarks/gpu_protocol.py at the CPU scale: every step runs, and the JSON holds what the GPU
protocol reports (the same code path a GPU machine runs, scaled down)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10_jpeg.npz"


def _protocol():
    if not NPZ.is_file():
        pytest.skip(f"the shared CIFAR-10 copy is not at {NPZ} (see ../shared/data/README.md)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import gpu_protocol
    finally:
        sys.path.pop(0)
    return gpu_protocol


@pytest.mark.slow
def test_the_cpu_scale_protocol_measures_every_step(tmp_path):
    gpu_protocol = _protocol()
    # a budget no load can exhaust: every step runs to its scale's size (the budget's own logic is tested below)
    assert gpu_protocol.main(["--data-npz", str(NPZ), "--out", str(tmp_path), "--quick", "--device", "cpu",
                              "--budget-s", "900"]) == 0
    report = json.loads((tmp_path / "gpu_protocol.json").read_text())
    steps = report["steps"]
    assert report["scale"]["name"].startswith("cpu") and (tmp_path / "data" / "cifar-10-batches-py").is_dir()
    single = {r["variant"]: r for r in steps["single_run"]["rows"]}
    assert single["ours fp32"]["images_per_s"] > 0 and "ratio_vs_baseline" in single["ours fp32"]
    rows = {r["runs"]: r for r in steps["batched"]["rows"] if not r["compile"]}
    assert set(rows) == set(report["scale"]["runs"]) and all(r["warmup_s"] > 0 for r in rows.values())
    compiled = [r for r in steps["batched"]["rows"] if r["compile"]]
    assert [r["runs"] for r in compiled] == [report["scale"]["compile_at"]]
    assert compiled[0]["compiled_over_eager"] == pytest.approx(
        compiled[0]["batched_images_per_s"] / rows[report["scale"]["compile_at"]]["batched_images_per_s"])
    at = rows[report["scale"]["sequential_at"]]
    assert at["batched_over_sequential"] == pytest.approx(at["batched_images_per_s"] / at["sequential_images_per_s"])
    assert steps["predictions"]["single_120_epochs_s"] > 0
    resnet = steps["cifar100_resnet34"]
    assert resnet["images_per_s"] > 0 and resnet["predicted_200_epochs_s"] == pytest.approx(1e7 / resnet["images_per_s"])
    batch = steps["figure1_batch"]
    assert [r["m"] for r in batch["runs"]] == list(report["scale"]["figure1_m"])
    assert all(r["status"] == "finished" and len(r["test_acc"]) == batch["epochs"] and 0 <= r["test_acc_last"] <= 1
               for r in batch["runs"])


@pytest.mark.slow
def test_a_step_that_fails_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    """The protocol's bookkeeping with the measurements faked: a batch that runs out of memory,
    ResNet-34 failing and the Figure-1 batch failing are each recorded with their traceback; every
    other row is measured, the predictions come from what was measured, and the exit status is 1."""
    gpu_protocol = _protocol()
    from bench_batched import Throughput

    def bench_ours(cfg, data, device, steps, warmup, *, fused=False):
        if cfg.model == "resnet34":
            raise RuntimeError("simulated failure of ResNet-34")
        return 2000.0

    def measure(cfg, data, n, steps, warmup, *, sequential=True):
        if n == 2 and not cfg.compile:
            raise RuntimeError("CUDA out of memory (simulated)")
        return Throughput(n, 1000.0 * n, 900.0 * n if sequential else None, None, 0.5)

    def train_batched(cfgs, datas):
        raise ValueError("simulated failure of the batch")

    monkeypatch.setattr(gpu_protocol, "bench_baseline", lambda *a, **k: 500.0)
    monkeypatch.setattr(gpu_protocol, "bench_ours", bench_ours)
    monkeypatch.setattr(gpu_protocol, "measure_batched", measure)
    monkeypatch.setattr(gpu_protocol, "train_batched", train_batched)
    assert gpu_protocol.main(["--data-npz", str(NPZ), "--out", str(tmp_path), "--quick", "--device", "cpu"]) == 1
    steps = json.loads((tmp_path / "gpu_protocol.json").read_text())["steps"]
    rows = {(r["runs"], r["compile"]): r for r in steps["batched"]["rows"]}
    assert "out of memory" in rows[(2, False)]["error"] and "measure" in rows[(2, False)]["traceback"]
    assert rows[(1, False)]["batched_images_per_s"] == 1000.0 and rows[(4, False)]["batched_images_per_s"] == 4000.0
    assert rows[(2, True)]["batched_images_per_s"] == 2000.0 and "compiled_over_eager" not in rows[(2, True)]
    assert steps["single_run"]["rows"][1]["ratio_vs_baseline"] == pytest.approx(4.0)
    assert steps["predictions"]["figure1_grid_72_runs_s"] == pytest.approx(72 * 120 * 50000 / 4000.0)
    assert "ResNet-34" in steps["cifar100_resnet34"]["error"]
    assert "simulated failure of the batch" in steps["figure1_batch"]["error"]
