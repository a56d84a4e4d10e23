"""benchmarks/gpu_protocol.py at the CPU scale: every step runs, and the JSON holds what the GPU
protocol reports (the same code path a GPU machine runs, scaled down)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10_jpeg.npz"


@pytest.mark.slow
def test_the_cpu_scale_protocol_measures_every_step(tmp_path):
    if not NPZ.is_file():
        pytest.skip(f"the shared CIFAR-10 copy is not at {NPZ} (see ../shared/data/README.md)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import gpu_protocol
    finally:
        sys.path.pop(0)
    assert gpu_protocol.main(["--data-npz", str(NPZ), "--out", str(tmp_path), "--quick", "--device", "cpu"]) == 0
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
