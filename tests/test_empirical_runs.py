"""empirical.config, run, sweep, table and the CLI: result files, resumable sweeps, tables."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from empirical import sweep as S  # noqa: E402
from empirical.cli import main  # noqa: E402
from empirical.config import RunConfig  # noqa: E402
from empirical.run import Environment, load_results, read_result, result_path, run_one  # noqa: E402
from empirical.table import Cell, accuracy_table  # noqa: E402

TINY = dict(model="tiny", epochs=1, train_per_class=20, batch_size=64)
ENV = Environment(device="cpu")


def _tiny_grid():
    return [dataclasses.replace(c, **TINY) for c in S.grid("smoke").build()]


# ----------------------------------------------------------------------------------------------
# Config


@pytest.mark.parametrize("kwargs, match", [
    (dict(dataset="mnist"), "dataset must be one of"),
    (dict(precision="fp16"), "precision must be one of"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(epochs=0), "epochs must be a finite integer > 0, got 0"),
    (dict(epochs=2.5), "epochs must be a finite integer > 0, got 2.5"),
    (dict(lr=-0.1), "lr must be a finite number > 0, got -0.1"),
    (dict(lr=float("nan")), "lr must be a finite number > 0, got nan"),
    (dict(lr=float("inf")), "lr must be a finite number > 0, got inf"),
    (dict(weight_decay=float("nan")), "weight_decay must be a finite number >= 0, got nan"),
    (dict(weight_decay=-1e-4), "weight_decay must be a finite number >= 0, got -0.0001"),
    (dict(momentum=1.0), "momentum must be a finite number >= 0 and < 1, got 1.0"),
    (dict(method="gce", params={"q": -1.0}), r"loss 'gce' parameter 'q' must be a finite real number in \(0, 1\], got -1.0"),
    (dict(noise="symmetric:2"), r"rate must be a number in \[0, 1\)"),
    (dict(model="vgg"), "model must be one of"),
])
def test_bad_configs_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunConfig(**kwargs)


def test_a_setting_the_paper_does_not_define_needs_explicit_hyperparameters():
    with pytest.raises(ValueError, match=r"defines no hyper-parameters.*--param m=1e3"):
        RunConfig(dataset="cifar10", method="ce_eps").resolved()
    cfg = RunConfig(dataset="cifar10", method="ce_eps", params={"m": 10.0}).resolved()
    assert dict(cfg.params)["m"] == 10.0


def test_config_round_trips_and_run_id_tracks_every_field():
    cfg = RunConfig(dataset="cifar10", noise="asymmetric:0.4:reference", method="gce", seed=7).resolved()
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    ids = {cfg.run_id, dataclasses.replace(cfg, lr=0.02).run_id, dataclasses.replace(cfg, seed=8).run_id,
           dataclasses.replace(cfg, params=(("q", 0.5),)).run_id, dataclasses.replace(cfg, precision="bf16").run_id}
    assert len(ids) == 5
    with pytest.raises(ValueError, match="unknown RunConfig fields"):
        RunConfig.from_dict({**cfg.to_dict(), "colour": "red"})


# ----------------------------------------------------------------------------------------------
# Result files


def test_run_writes_a_complete_result_file_and_does_not_retrain(tmp_path):
    cfg = RunConfig(noise="symmetric:0.4", method="ce_eps+mae", **TINY)
    record = run_one(cfg, tmp_path, ENV)
    path = result_path(tmp_path, cfg)
    on_disk = json.loads(path.read_text())
    assert on_disk["id"] == record.id == path.stem
    assert on_disk["config"] == cfg.resolved().to_dict()
    assert on_disk["seeds"]["label_noise"] == cfg.seed
    assert on_disk["data"]["actual_noise_rate"] == pytest.approx(0.4)
    assert on_disk["provenance"]["torch"] == torch.__version__ and "git_commit" in on_disk["provenance"]
    assert len(on_disk["history"]) == 1 and on_disk["risk"]["bound"]["eta"] == 0.4
    assert not list((tmp_path / ".checkpoints").iterdir())  # removed once the result is written
    mtime = path.stat().st_mtime_ns
    again = run_one(cfg, tmp_path, ENV)
    assert again == record and path.stat().st_mtime_ns == mtime  # read back, typed, equal
    assert again.to_dict() == json.loads(path.read_text())  # the typed record is the file, field for field


def test_incomplete_or_foreign_files_are_not_results(tmp_path):
    (tmp_path / "half.json").write_text('{"schema": 1, "status": "fini')
    (tmp_path / "other.json").write_text(json.dumps({"schema": 99, "status": "finished"}))
    assert read_result(tmp_path / "half.json") is None and read_result(tmp_path / "other.json") is None
    assert load_results(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="python -m empirical"):
        load_results(tmp_path / "missing")


# ----------------------------------------------------------------------------------------------
# Sweeps


@pytest.mark.slow
def test_sweep_skips_finished_runs_and_redoes_lost_ones(tmp_path):
    configs = _tiny_grid()
    lines = S.run_sweep(configs, tmp_path, env=ENV, log=lambda s: None)
    assert len(lines) == len(configs) == len(load_results(tmp_path))
    assert S.pending(configs, tmp_path) == []
    # a kill mid-write leaves at worst a temporary file; a lost or truncated result is redone
    victim = result_path(tmp_path, configs[2])
    victim.write_text(victim.read_text()[:100])
    (tmp_path / "x.json.tmp").write_text("{")
    assert S.pending(configs, tmp_path) == [configs[2].resolved()]
    assert len(S.run_sweep(configs, tmp_path, env=ENV, log=lambda s: None)) == 1
    assert S.pending(configs, tmp_path) == []


@pytest.mark.slow
def test_sweep_with_two_local_workers(tmp_path):
    configs = _tiny_grid()[:2]
    S.run_sweep(configs, tmp_path, env=ENV, jobs=2, log=lambda s: None)
    assert {r.id for r in load_results(tmp_path)} == {c.run_id for c in configs}


def test_slurm_executor_through_submitit_debug_cluster(tmp_path):
    pytest.importorskip("submitit")
    configs = _tiny_grid()[:1]
    S.run_sweep(configs, tmp_path, env=ENV, executor="slurm", slurm={"cluster": "debug"}, log=lambda s: None)
    assert [r.id for r in load_results(tmp_path)] == [configs[0].run_id]


def test_named_grids_resolve_and_follow_the_paper():
    paper = S.grid("paper-cifar10").configs()
    assert len(paper) == 15 * 9 * 3
    assert {c.seed for c in paper} == {123, 124, 125} and {c.model for c in paper} == {"cnn8"}
    figure1 = S.grid("figure1").configs()
    assert {dict(c.params)["m"] for c in figure1} == set(S.M_VALUES)
    assert len(S.grid("m-ablation-cifar100").configs()) == 4 * len(S.M_VALUES) * 3
    with pytest.raises(ValueError, match="unknown grid"):
        S.grid("nope")
    with pytest.raises(ValueError, match="executor must be"):
        S.run_sweep(_tiny_grid()[:1], "/nonexistent-not-used", executor="ray", log=lambda s: None)


# ----------------------------------------------------------------------------------------------
# Tables


def _result(run_id, noise, seed, acc, m=None, method="ce_eps+mae"):
    """A typed result with only what the tables read (no training)."""
    from empirical.records import Final, RunResult

    params = {"alpha": 0.01} if m is None else {"alpha": 0.01, "m": m}
    cfg = RunConfig(dataset="cifar10", noise=noise, method=method, params=params, seed=seed)
    return RunResult(id=run_id, status="finished", stop_reason=None, config=cfg, seeds={}, data={"num_classes": 10},
                     model={}, provenance={}, timings={}, final=Final(acc, acc + 0.01, None, 1), history=(), risk=None)


def test_accuracy_table_means_stds_and_counts():
    runs = [_result(f"r{i}", "symmetric:0.8", 123 + i, a) for i, a in enumerate([0.5, 0.6, 0.7])]
    runs.append(_result("c", "clean", 123, 0.9))
    table = accuracy_table(runs)
    cell = table.cells[("cifar10 ce_eps+mae", "symmetric:0.8")]["test_acc_last"]
    assert cell.n == 3 and cell.mean == pytest.approx(0.6) and cell.std == pytest.approx(0.1)
    assert table.columns == ["clean", "symmetric:0.8"]
    assert np.isnan(Cell((0.4,)).std) and Cell((0.4,)).format(100) == "40.00 ± – (n=1)"  # never "± 0.00"
    assert Cell((0.4,)).to_dict()["std"] is None
    assert table.spread_caption("test_acc_last").startswith("mean ± sample std")
    assert accuracy_table(runs[3:]).spread_caption("test_acc_last") == "one seed per cell (n = 1: no std)"


def test_a_run_that_diverged_before_any_evaluation_is_not_averaged_in():
    runs = [_result("a", "symmetric:0.8", 123, 0.5), _result("b", "symmetric:0.8", 124, 0.7)]
    runs.append(_result("c", "symmetric:0.8", 125, float("nan")))
    cell = accuracy_table(runs).cells[("cifar10 ce_eps+mae", "symmetric:0.8")]["test_acc_last"]
    assert cell.n == 2 and cell.mean == pytest.approx(0.6)


def test_a_varying_hyperparameter_gets_its_own_rows():
    runs = [_result(f"m{m}", "clean", 123, 0.5, m=m) for m in (1.0, 100.0)]
    table = accuracy_table(runs)
    assert table.rows == ["cifar10 ce_eps+mae m=1", "cifar10 ce_eps+mae m=100"]


# ----------------------------------------------------------------------------------------------
# Command line


def test_cli_run_table_and_errors(tmp_path, capsys):
    out = tmp_path / "res"
    args = ["run", "--dataset", "synthetic", "--method", "ce_eps+mae", "--noise", "symmetric:0.4", "--seeds", "1,2",
            "--model", "tiny", "--epochs", "1", "--train-per-class", "20", "--device", "cpu", "--out", str(out),
            "--param", "m=100"]
    assert main(args) == 0
    results = load_results(out)
    assert sorted(r.config.seed for r in results) == [1, 2]
    assert all(dict(r.config.params)["m"] == 100.0 for r in results)
    assert main(["table", str(out), "--risk", "--json", str(tmp_path / "t.json")]) == 0
    written = json.loads((tmp_path / "t.json").read_text())
    cell = written["accuracy"]["cells"][0]
    assert cell["test_acc_last"]["n"] == 2
    assert np.isclose(cell["test_acc_last"]["mean"], np.mean([r.final.test_acc_last for r in results]))
    capsys.readouterr()
    assert main(["run", "--noise", "symmetric:1.5", "--out", str(out)]) == 2
    assert "rate must be a number" in capsys.readouterr().err
    assert main(["table", str(tmp_path / "nothing")]) == 2
    with pytest.raises(SystemExit):
        main(["run", "--seeds", "a,b"])


def test_a_failing_run_is_reported_and_the_sweep_goes_on(tmp_path, monkeypatch):
    good, bad = _tiny_grid()[:2]
    real = S.run_one

    def run_one(cfg, out, env):
        if cfg.run_id == bad.run_id:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(cfg, out, env)

    monkeypatch.setattr(S, "run_one", run_one)
    lines = S.run_sweep([bad, good], tmp_path / "out", env=ENV, log=lambda s: None)
    assert [S.FAILED in line for line in lines] == [True, False]
    assert "RuntimeError: CUDA error" in lines[0]
    assert S.pending([bad, good], tmp_path / "out") == [bad.resolved()]


def test_a_sweep_without_its_data_fails_once_up_front(tmp_path, capsys):
    runs = [RunConfig(dataset="cifar10", method=m, **TINY) for m in ("ce", "gce", "sce")]
    with pytest.raises(ValueError, match="cifar10 needs a data directory .*3 pending run"):
        S.run_sweep(runs, tmp_path / "out", env=Environment(device="cpu"), log=lambda s: None)
    env = Environment(device="cpu", data_dir=str(tmp_path / "nodata"), download=False)
    with pytest.raises(FileNotFoundError, match="cifar10 is not in .*nodata and downloads are off"):
        S.run_sweep(runs, tmp_path / "out", env=env, log=lambda s: None)
    assert main(["sweep", "--grid", "sym08-cifar10", "--out", str(tmp_path / "out"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("needs a data directory") == 1 and "Traceback" not in err
    assert not list((tmp_path / "out").glob("*.json"))




# ----------------------------------------------------------------------------------------------
# Batched sweeps


def test_batches_group_only_runs_that_can_train_together():
    a = [RunConfig(method="ce_eps+mae", params=(("m", m),), seed=s, **TINY).resolved() for m in (1.0, 10.0) for s in (1, 2)]
    b = [dataclasses.replace(a[0], lr=0.5), dataclasses.replace(a[1], model="small")]
    groups = S.batches([a[0], b[0], *a[1:], b[1]], 3)
    assert [len(g) for g in groups] == [3, 1, 1, 1]
    assert groups == [a[:3], [a[3]], [b[0]], [b[1]]]  # a group's batches together, groups by first member
    assert S.default_batch_runs(a, ENV) == 1  # a CPU: batching does not pay there


@pytest.mark.slow
def test_a_batched_sweep_writes_each_runs_result_as_the_single_sweep_would(tmp_path):
    cfgs = [RunConfig(noise="symmetric:0.4", method="ce_eps+mae", params=(("m", m),), seed=s, **{**TINY, "epochs": 2})
            for m, s in ((10.0, 1), (1e4, 2), (1e2, 3))]
    lines = S.run_sweep(cfgs, tmp_path / "b", env=ENV, batch_runs=3, log=lambda s: None)
    assert len(lines) == 3 and all(": finished," in line and "batch of 3" in line for line in lines)
    S.run_sweep(cfgs, tmp_path / "s", env=ENV, batch_runs=1, log=lambda s: None)
    for cfg in cfgs:
        together, alone = read_result(result_path(tmp_path / "b", cfg)), read_result(result_path(tmp_path / "s", cfg))
        assert together.provenance["batch"]["runs"] == 3 and "batch" not in alone.provenance
        assert together.config == alone.config and len(together.history) == 2
        assert together.history[-1].train_loss == pytest.approx(alone.history[-1].train_loss, rel=1e-3)
        assert abs(together.final.test_acc_last - alone.final.test_acc_last) <= 0.02
        assert together.risk.test.clean_risk == pytest.approx(alone.risk.test.clean_risk, rel=1e-3)
    assert S.run_sweep(cfgs, tmp_path / "b", env=ENV, batch_runs=3, log=lambda s: None) == []  # nothing left
    with pytest.raises(ValueError, match="batch_runs must be a positive integer, got 0"):
        S.run_sweep([dataclasses.replace(cfgs[0], seed=9)], tmp_path / "b", env=ENV, batch_runs=0)
