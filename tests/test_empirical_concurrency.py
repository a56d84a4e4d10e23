"""Runs are claimed: N sweeps on one folder train each run once, a killed run's claim, temporary
files and checkpoint are taken over by the next process, and its result equals the
uninterrupted run's."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

torch = pytest.importorskip("torch")

from empirical import _claims as C  # noqa: E402
from empirical.config import RunConfig  # noqa: E402
from empirical.run import Environment, load_results, result_path, run_one  # noqa: E402

TINY = dict(model="tiny", train_per_class=20, batch_size=64)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_live_claim_is_refused_naming_its_holder_and_released_on_exit(tmp_path):
    with C.claim(tmp_path, "run-a") as held:
        assert held.took_over is None
        with pytest.raises(C.RunClaimed, match=f"run run-a is being trained by process {os.getpid()} on "
                                               f"{socket.gethostname()}"):
            C.claim(tmp_path, "run-a")
        C.claim(tmp_path, "run-b").release()  # other runs are free
    assert not (tmp_path / ".locks" / "run-a.lock").exists()
    C.claim(tmp_path, "run-a").release()  # free again


@pytest.mark.parametrize("holder, age, why", [
    ({"host": socket.gethostname(), "pid": None}, 0.0, "its process .* on this host no longer exists"),
    ({"host": "another-node", "pid": 1}, C.STALE_AFTER_S + 60, "no heartbeat for"),
    (None, 60.0, "unreadable"),
    ({"host": socket.gethostname(), "pid": "not a pid"}, 60.0, "unreadable"),
])
def test_a_stale_claim_is_taken_over_saying_why(holder, age, why, tmp_path):
    locks = tmp_path / ".locks"
    locks.mkdir()
    path = locks / "run-a.lock"
    if holder is None:
        path.write_text("{trunc")
    else:
        path.write_text(json.dumps({**holder, "pid": holder["pid"] or _dead_pid(), "token": "x"}))  # a str stays
    os.utime(path, (time.time() - age, time.time() - age))
    held = C.claim(tmp_path, "run-a")
    assert held.took_over is not None and __import__("re").search(why, held.took_over)
    assert json.loads(path.read_text())["pid"] == os.getpid()
    held.release()


def test_a_claim_on_another_host_with_a_recent_heartbeat_is_respected(tmp_path):
    (tmp_path / ".locks").mkdir()
    path = tmp_path / ".locks" / "run-a.lock"
    path.write_text(json.dumps({"host": "another-node", "pid": 1, "token": "x", "since": "then"}))
    with pytest.raises(C.RunClaimed, match="process 1 on another-node"):
        C.claim(tmp_path, "run-a")


_SWEEP = [sys.executable, "-m", "empirical", "sweep", "--grid", "smoke", "--epochs", "2", "--model", "tiny",
          "--train-per-class", "20", "--device", "cpu", "--no-progress"]


@pytest.mark.slow
def test_two_sweeps_on_one_folder_train_every_run_once(tmp_path):
    out = tmp_path / "res"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([*_SWEEP, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outputs]
    # a sweep prints "<id>: finished, ..." for the runs it trained itself, and says "skipped" for
    # a run claimed, or finished, by the other one meanwhile
    trained = [line.split(":")[0] for o, _ in outputs for line in o.splitlines() if ": finished," in line]
    results = load_results(out)
    assert len(results) == 8 and sorted(trained) == sorted(r.id for r in results)  # each once
    assert {r.provenance["pid"] for r in results} <= {p.pid for p in procs}
    assert not any("FAILED" in o for o, _ in outputs)
    assert not list((out / ".locks").glob("*.lock")) and not list((out / ".checkpoints").iterdir())


_KILLABLE = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from empirical.config import RunConfig
    from empirical.run import Environment, run_one
    cfg = RunConfig(noise="symmetric:0.4", method="ce_eps+mae", epochs=40, model="tiny", train_per_class=20,
                    batch_size=64)
    run_one(cfg, sys.argv[1], Environment(device="cpu", checkpoint_every_s=0))
""")


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the killed process runs with 1 thread: its checkpoint resumes only so
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_a_killed_run_is_resumed_by_the_next_process_and_ends_as_the_uninterrupted_one(tmp_path, one_thread):
    cfg = RunConfig(noise="symmetric:0.4", method="ce_eps+mae", epochs=40, **TINY)
    out = tmp_path / "res"
    child = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(out)])
    checkpoint = out / ".checkpoints" / f"{cfg.run_id}.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a few more epochs, so the kill may land mid-write
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert checkpoint.exists() and (out / ".locks" / f"{cfg.run_id}.lock").exists()
    with pytest.warns(UserWarning, match="took over a stale claim .*no longer exists"):
        resumed = run_one(cfg, out, Environment(device="cpu"))
    assert resumed.timings["resumed_from_epoch"] > 0
    straight = run_one(cfg, tmp_path / "straight", Environment(device="cpu"))

    def strip(history):
        return [dataclasses.replace(e, train_seconds=0.0, seconds=0.0) for e in history]

    assert strip(resumed.history) == strip(straight.history)
    assert resumed.final == straight.final
    assert not checkpoint.exists() and not list(checkpoint.parent.glob("*.tmp"))
    assert result_path(out, cfg).exists() and not (out / ".locks" / f"{cfg.run_id}.lock").exists()


def test_a_finished_runs_leftover_checkpoint_is_removed_by_the_next_sweep(tmp_path):
    from empirical import sweep as S
    from empirical.run import checkpoint_path

    cfg = RunConfig(method="ce", epochs=1, **TINY)
    out = tmp_path / "res"
    run_one(cfg, out, Environment(device="cpu"))
    leftover = checkpoint_path(result_path(out, cfg), cfg)
    leftover.write_bytes(b"a checkpoint a kill left behind")
    assert S.pending([cfg], out) == [] and not leftover.exists()


_KILLABLE_BATCH = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from empirical.config import RunConfig
    from empirical.run import Environment
    from empirical.sweep import run_sweep
    cfgs = [RunConfig(noise="symmetric:0.4", method="ce_eps+mae", params=(("m", m),), seed=s, epochs=30, model="tiny",
                      train_per_class=20, batch_size=64) for m, s in ((10.0, 1), (1e4, 2))]
    run_sweep(cfgs, sys.argv[1], env=Environment(device="cpu", checkpoint_every_s=0), batch_runs=2, log=lambda s: None)
""")


@pytest.mark.slow
def test_a_killed_batch_is_resumed_run_by_run_and_ends_as_the_uninterrupted_batch(tmp_path, one_thread):
    from empirical.sweep import run_sweep

    cfgs = [RunConfig(noise="symmetric:0.4", method="ce_eps+mae", params=(("m", m),), seed=s, epochs=30, **TINY)
            for m, s in ((10.0, 1), (1e4, 2))]
    out = tmp_path / "res"
    child = subprocess.Popen([sys.executable, "-c", _KILLABLE_BATCH, str(out)])
    checkpoints = [out / ".checkpoints" / f"{c.run_id}.pt" for c in cfgs]
    deadline = time.monotonic() + 120
    while not all(c.exists() for c in checkpoints) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert all(c.exists() for c in checkpoints)
    with pytest.warns(UserWarning, match="took over a stale claim"):
        lines = run_sweep(cfgs, out, env=Environment(device="cpu"), batch_runs=2, log=lambda s: None)
    assert all(": finished," in line for line in lines), lines
    resumed = [json.loads(result_path(out, c).read_text()) for c in cfgs]
    run_sweep(cfgs, tmp_path / "straight", env=Environment(device="cpu"), batch_runs=2, log=lambda s: None)
    straight = [json.loads(result_path(tmp_path / "straight", c).read_text()) for c in cfgs]

    def strip(history):
        return [{k: v for k, v in e.items() if "seconds" not in k} for e in history]

    together = len({r["timings"]["resumed_from_epoch"] for r in resumed}) == 1
    for a, b in zip(resumed, straight):
        assert a["timings"]["resumed_from_epoch"] > 0
        if together:  # both checkpoints at one epoch: resumed as the same batch, to the bit
            assert a["provenance"]["batch"]["runs"] == 2
            assert strip(a["history"]) == strip(b["history"]) and a["final"] == b["final"]
        else:  # the kill fell between the two checkpoint writes: each resumed alone (float-level differences)
            assert a["history"][-1]["train_loss"] == pytest.approx(b["history"][-1]["train_loss"], rel=1e-3)
    assert not any(c.exists() for c in checkpoints)
