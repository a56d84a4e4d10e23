"""The bad-input zoo: every command line and public entry point refuses bad input with an error
that names what it expected and the value it saw, a non-zero exit status from a command line,
and no traceback unless ``--debug``.

Each case is (entry point, arguments, the text the error must contain). The text always holds
the offending value itself, so a message that only says "invalid input" fails.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from empirical import cli as empirical_cli
from empirical.data import load_images
from empirical.safe_pickle import DataFileError, load_file, load_torch_zip
from figures.__main__ import main as figures_main
from proofs_check.__main__ import main as proofs_main
from theory.__main__ import main as theory_main
from theory.checks.__main__ import main as checks_main

A_FILE = "{file}"  # replaced by a path to an existing regular file
UNDER_A_FILE = "{file}/sub"

MAINS = {"empirical": empirical_cli.main, "theory": theory_main, "theory.checks": checks_main,
         "proofs_check": proofs_main, "figures": figures_main}

CLI_CASES = [
    # python -m empirical run (a tiny synthetic run; every case fails before any training)
    ("empirical", ["run", "--method", "bogus"], "no loss named 'bogus'"),
    ("empirical", ["run", "--param", "bogus=1"], "unknown parameter(s) ['bogus']"),
    ("empirical", ["run", "--method", "ce_eps", "--param", "m=abc"], "parameter 'm' must be a real number in [0, ∞), got str 'abc'"),
    ("empirical", ["run", "--method", "gce", "--param", "q=-1"], "parameter 'q' must be a finite real number in (0, 1], got -1.0"),
    ("empirical", ["run", "--method", "gce", "--param", "q=0"], "in (0, 1], got 0.0"),
    ("empirical", ["run", "--method", "fl", "--param", "gamma=-3"], "parameter 'gamma' must be a finite real number in [0, ∞), got -3.0"),
    ("empirical", ["run", "--method", "mae", "--param", "scale=nan"], "parameter 'scale' must be a finite real number in (0, ∞), got nan"),
    ("empirical", ["run", "--lr", "nan"], "lr must be a finite number > 0, got nan"),
    ("empirical", ["run", "--lr", "inf"], "lr must be a finite number > 0, got inf"),
    ("empirical", ["run", "--lr", "-0.1"], "lr must be a finite number > 0, got -0.1"),
    ("empirical", ["run", "--weight-decay", "nan"], "weight_decay must be a finite number >= 0, got nan"),
    ("empirical", ["run", "--epochs", "0"], "epochs must be a finite integer > 0, got 0"),
    ("empirical", ["run", "--batch-size", "-5"], "batch_size must be a finite integer > 0, got -5"),
    ("empirical", ["run", "--train-per-class", "0"], "train_per_class must be a finite integer > 0, got 0"),
    ("empirical", ["run", "--noise", "symmetric:2"], "2"),
    ("empirical", ["run", "--noise", "gaussian:0.2"], "gaussian"),
    ("empirical", ["run", "--model", "vgg"], "model must be one of"),
    ("empirical", ["run", "--device", "bogus"], "bogus"),
    ("empirical", ["run", "--out", A_FILE], "is a file"),
    ("empirical", ["run", "--out", UNDER_A_FILE], "which is a file"),
    ("empirical", ["sweep", "--grid", "smoke", "--out", A_FILE], "is a file"),
    ("empirical", ["sweep", "--grid", "bogus"], "bogus"),
    ("empirical", ["sweep", "--grid", "smoke", "--batch-runs", "0", "--out", "{folder}/r"],
     "batch_runs must be a positive integer, got 0"),
    ("empirical", ["exact", "--ns", "0"], "sample sizes must be integers >= 1, got '0'"),
    ("empirical", ["exact", "--seeds", "1,x"], "seeds must be comma-separated integers, got '1,x'"),
    ("empirical", ["exact", "--steps", "0"], "steps, batch and width must be positive integers"),
    ("empirical", ["exact", "--out", "{folder}"], "must name a file, got the folder"),
    ("empirical", ["exact", "--quick", "--device", "cuda:7"], "cuda:7"),
    ("empirical", ["table", "{missing}"], "{missing}"),
    ("empirical", ["table", "{folder}", "--json", "{file}/x.json"], "which is a file"),
    # python -m theory
    ("theory", ["-K", "1"], "K must be an integer number of classes >= 2, got 1"),
    ("theory", ["--rate", "1.5"], "rate must lie in [0, 1), got 1.5"),
    ("theory", ["--rate", "nan"], "got nan"),
    ("theory", ["--n-x", "0"], "--n-x must be a number of points >= 1, got 0"),
    ("theory", ["--seed", "-1"], "--seed must be >= 0, got -1"),
    ("theory", ["--losses", "bogus"], "no loss named 'bogus'"),
    ("theory", ["--losses", "ldr_kl"], "ldr_kl takes logits"),
    ("theory", ["--losses", ","], "--losses names no loss, got ','"),
    ("theory", ["--losses", "gce", "--json", "{folder}"], "must name a file, got the folder"),
    ("theory", ["--losses", "gce", "--json", "{file}/x.json"], "which is a file"),
    # python -m theory.checks
    ("theory.checks", ["gce", "--param", "q=abc"], "parameter 'q' must be a real number in (0, 1], got str 'abc'"),
    ("theory.checks", ["gce", "--param", "q=-1"], "got -1"),
    ("theory.checks", ["bogus_loss"], "bogus_loss"),
    ("theory.checks", ["mae", "-K", "1"], "1"),
    ("theory.checks", ["mae", "--json", "{file}/x.json"], "which is a file"),
    ("theory.checks", ["mae", "--check", "check_bogus"], "check_bogus"),
    # python -m proofs_check
    ("proofs_check", ["--claim", "bogus.claim"], "bogus.claim"),
    ("proofs_check", ["--claim", "eps_softmax.simplex", "--json", "{file}/x.json"], "which is a file"),
    ("proofs_check", ["--jobs", "0"], "jobs=0"),
    # python -m figures
    ("figures", ["accuracy_table", "--results", "{missing}"], "--results must be an existing folder, got '{missing}' (nothing there)"),
    ("figures", ["accuracy_table", "--results", A_FILE], "(a file there)"),
    ("figures", ["accuracy_table", "--jobs", "-1"], "--jobs must be >= 1, got -1"),
    ("figures", ["accuracy_table", "--out", A_FILE], "--out must be a folder"),
    ("figures", ["bogus_figure"], "bogus_figure"),
    ("figures", ["one_hot_error", "--out", "{file}/under"], "--out must be a folder (made when missing), but"),
    # a results folder that yields nothing usable: one line naming it and why (these exited 0)
    ("empirical", ["table", "{folder}"], "{folder} holds no result files (*.json)"),
    ("empirical", ["table", "{damaged}"], "{damaged} holds no usable run result: 3 JSON file(s), 1 not JSON, 1 of another schema, 1 not a run result"),
    ("figures", ["--results-only", "--results", "{damaged}", "--out", "{folder}/figs"], "--results {damaged}: no figure could use it"),
    # a user's module that fails at import: one line naming the argument (was a traceback)
    ("theory.checks", ["{folder}/raises_at_import.py:loss", "-K", "3"], "importing {folder}/raises_at_import.py (from '{folder}/raises_at_import.py:loss') raised RuntimeError: boom"),
    ("theory.checks", ["no_such_module_here:loss", "-K", "3"], "no module named 'no_such_module_here'"),
]


def _fill(text: str, paths: dict[str, Path]) -> str:
    return text.format(**{k: str(v) for k, v in paths.items()})


@pytest.fixture
def paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # results/ and outputs/ of a case land here
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not a folder\n")
    damaged = tmp_path / "damaged"  # every file invalid: not JSON, another schema, not a result
    damaged.mkdir()
    (damaged / "a.json").write_text("{not json")
    (damaged / "b.json").write_text('{"schema": 99, "status": "finished"}')
    (damaged / "c.json").write_text("[1, 2]")
    (tmp_path / "raises_at_import.py").write_text("raise RuntimeError('boom')\n")
    return {"file": a_file, "folder": tmp_path, "missing": tmp_path / "no_such_folder", "damaged": damaged}


@pytest.mark.parametrize("command, argv, expected", CLI_CASES, ids=[f"{c} {' '.join(a)}" for c, a, _ in CLI_CASES])
def test_a_command_line_refuses_bad_input_in_one_line_naming_the_value(command, argv, expected, paths, capsys):
    argv = [_fill(a, paths) for a in argv]
    try:
        status = MAINS[command](argv)
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2, f"exit status {status}; stderr: {err}"
    assert _fill(expected, paths) in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="K must be an integer number of classes >= 2, got 1"):
        theory_main(["-K", "1", "--debug"])
    with pytest.raises(KeyError, match="no loss named 'bogus'"):
        empirical_cli.main(["run", "--method", "bogus", "--debug"])


def test_nothing_is_written_by_a_refused_command(paths):
    before = sorted(p.name for p in paths["folder"].iterdir())
    for command, argv, _ in CLI_CASES:
        try:
            MAINS[command]([_fill(a, paths) for a in argv])
        except SystemExit:
            pass
    assert sorted(p.name for p in paths["folder"].iterdir()) == before


# ----------------------------------------------------------------------------------------------
# Corrupt data files: each refused with the file (and key) named, never coerced


def _batch(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in np.arange(n) % 10], b"batch_label": b"x"}


def _nested_list_bomb(depth=3, width=40):
    """A few hundred bytes of pickle whose np.asarray is width**depth elements (the real bomb
    used width 1000: 7.45 GiB from 255 bytes)."""
    inner = [1] * width
    for _ in range(depth - 1):
        inner = [inner] * width
    return inner


BATCH_CORRUPTIONS = {
    # name: (change to the first training batch, text of the error)
    "float images in [0, 1]": (lambda b: {**b, b"data": b[b"data"] / 255.0}, "dtype float64 with values in [0, 1]"),
    "int64 pixels up to 999": (lambda b: {**b, b"data": b[b"data"].astype(np.int64) * 4}, "with values in [0, 1020]"),
    "NaN pixels": (lambda b: {**b, b"data": np.full((20, 3072), np.nan)}, "must hold uint8 pixels in [0, 255], got dtype float64"),
    "wrong image shape": (lambda b: {**b, b"data": b[b"data"][:, :100]}, "must be an (N, 3072) array of uint8 pixels, got array of shape (20, 100) and dtype uint8"),
    "images as a nested list": (lambda b: {**b, b"data": _nested_list_bomb()}, "must be an (N, 3072) array of uint8 pixels, got list of 40 items [[[...], [...]"),
    "float labels": (lambda b: {**b, b"labels": [v + 0.7 for v in b[b"labels"]]}, "must hold integer class labels, got float 0.7"),
    "labels out of range": (lambda b: {**b, b"labels": [10] * 20}, "labels must lie in [0, 9], got 10"),
    "labels beyond 64 bits": (lambda b: {**b, b"labels": [2**70] * 20}, "got an integer beyond 64 bits"),
    "too few labels": (lambda b: {**b, b"labels": b[b"labels"][:5]}, "must hold 20 labels (one per image), got 5"),
    "labels as a nested list": (lambda b: {**b, b"labels": _nested_list_bomb()}, "must hold integer class labels, got list"),
    "no labels key": (lambda b: {b"data": b[b"data"]}, "is not a CIFAR python batch"),
    "not a dict": (lambda b: [1, 2, 3], "is not a CIFAR python batch"),
}


def _cifar10(root, first_batch):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        batch = first_batch if i == 0 else _batch(seed=i)
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder / "data_batch_1"


@pytest.mark.parametrize("corruption", sorted(BATCH_CORRUPTIONS))
def test_a_corrupt_cifar_batch_is_refused_naming_the_file_and_key(corruption, tmp_path):
    change, text = BATCH_CORRUPTIONS[corruption]
    path = _cifar10(tmp_path, change(_batch()))
    with pytest.raises(DataFileError) as info:
        load_images("cifar10", tmp_path, download_missing=False)
    assert str(path) in str(info.value) and text in str(info.value)


@pytest.mark.parametrize("damage, text", [
    (lambda raw: raw[: len(raw) // 2], "is not a readable pickle"),
    (lambda raw: b"", "is empty"),
    (lambda raw: b"\x80\x02}q\x00X\x01\x00", "is not a readable pickle"),
    (lambda raw: pickle.dumps(_Exploit(), protocol=2), "refusing to load global"),
])
def test_a_truncated_empty_or_malicious_batch_file_names_the_file(damage, text, tmp_path):
    path = _cifar10(tmp_path, _batch())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataFileError) as info:
        load_images("cifar10", tmp_path, download_missing=False)
    assert str(info.value).startswith(str(path)) and text in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_the_command_line_names_the_corrupt_file_once_with_status_2(tmp_path, capsys):
    path = _cifar10(tmp_path, {**_batch(), b"data": _batch()[b"data"] / 255.0})
    status = empirical_cli.main(["run", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--no-download",
                                 "--method", "ce", "--epochs", "1", "--out", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert status == 2 and str(path) in err and "Traceback" not in err and err.count(str(path)) == 1


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _human_file(path, payload):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("CIFAR-10_human/data.pkl", pickle.dumps(payload, protocol=2))
        z.writestr("CIFAR-10_human/version", "3\n")


@pytest.mark.parametrize("payload, text", [
    ({"clean_label": _nested_list_bomb(), "aggre_label": [0]}, "key 'clean_label', must hold integer class labels, got list"),
    ({"clean_label": np.zeros(100, dtype=np.int64), "aggre_label": np.full(100, 0.5)},
     "key 'aggre_label', must be a 1-D array of integer class labels, got array of shape"),
    ({"clean_label": np.zeros(100, dtype=np.int64), "aggre_label": np.full(100, 11)}, "labels must lie in [0, 9], got 11"),
    ({"clean_label": np.zeros(100, dtype=np.int64), "aggre_label": np.zeros(7, dtype=np.int64)}, "must hold 100 labels"),
    ({"wrong": 1}, "must hold a dict with 'clean_label' and 'aggre_label'"),
])
def test_a_corrupt_cifar_n_label_file_is_refused_naming_it(payload, text, tmp_path, monkeypatch):
    path = tmp_path / "CIFAR-10_human.pt"
    _human_file(path, payload)
    from empirical import data as D

    with pytest.raises((DataFileError, ValueError)) as info:
        D._human_labels("cifar10", "aggre", tmp_path, np.zeros(100, dtype=np.int64))
    assert str(path) in str(info.value) and text in str(info.value)


def test_a_value_read_from_a_file_is_described_without_being_expanded():
    from theory.validation import describe

    class Counted:
        calls = 0

        def __repr__(self):
            Counted.calls += 1
            return "c"

    text = describe([Counted()] * 10**6)
    assert Counted.calls <= 6 and text.startswith("list of 1000000 items [c, c") and len(text) < 100
    bomb = _nested_list_bomb(depth=3, width=1000)  # 10⁹ elements behind one list
    assert describe({"labels": bomb}).startswith("dict of 1 item {'labels': [[...], [...]")


def test_a_label_file_that_inflates_past_its_bound_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "CIFAR-10_human.pt"
    _human_file(path, {"clean_label": np.zeros(200_000, dtype=np.int64)})  # 1.6 MB inflated, a few kB on disk
    with pytest.raises(DataFileError, match=r"inflates to 2 MiB, over the 0 MiB a label file may have"):
        load_torch_zip(path, max_bytes=100_000)
    assert load_torch_zip(path)["clean_label"].shape == (200_000,)  # within the real bound: read


def test_a_data_file_over_its_size_bound_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(pickle.dumps(np.zeros(10_000), protocol=2))
    with pytest.raises(DataFileError, match=f"{path} is 0 MiB, over the 0 MiB a data file may have"):
        load_file(path, max_bytes=1000)


def test_a_truncated_instance_label_file_names_the_file(tmp_path):
    from empirical import data as D

    path = tmp_path / "cifar10_dependent_0.2.json"
    path.write_text("[1, 2, 3")
    with pytest.raises(DataFileError, match=f"{path} is not valid JSON"):
        D._instance_labels("cifar10", 0.2, tmp_path)
    path.write_text("[1, 2.5]")
    with pytest.raises(DataFileError, match="must hold integer class labels, got float 2.5"):
        D._instance_labels("cifar10", 0.2, tmp_path)


# ----------------------------------------------------------------------------------------------
# Result files: validated before they are trusted; a copy is not a second seed

TINY = dict(model="tiny", epochs=1, train_per_class=20, batch_size=64)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A folder with one real finished result of a tiny synthetic run."""
    from empirical.config import RunConfig
    from empirical.run import Environment, result_path, run_one

    out = tmp_path_factory.mktemp("results")
    cfg = RunConfig(noise="symmetric:0.4", method="ce", **TINY)
    run_one(cfg, out, Environment(device="cpu"))
    return out, result_path(out, cfg)


def _copy_folder(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.glob("*.json"):
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


RESULT_DAMAGE = {
    # name: (new content from the original dict, the problem the message names)
    "only schema and status": (lambda r: {"schema": 1, "status": "finished"}, "'id' must be a str"),
    "no config": (lambda r: {k: v for k, v in r.items() if k != "config"}, "'config' must be a dict"),
    "accuracy out of range": (lambda r: {**r, "final": {**r["final"], "test_acc_last": 7.5}},
                              "final.test_acc_last must be a number in [0, 1], got 7.5"),
    "edited config": (lambda r: {**r, "config": {**r["config"], "lr": 0.5}}, "(an edited file?)"),
    "config with an unknown field": (lambda r: {**r, "config": {**r["config"], "colour": 1}}, "unknown RunConfig fields"),
    "history entry with text": (lambda r: {**r, "history": [{**r["history"][0], "test_acc": "high"}]},
                                "history[0].test_acc must be a number, got 'high'"),
    "risk with a text range": (lambda r: {**r, "risk": {**r["risk"], "c1": "low"}},
                               "risk.c1 must be a number, got 'low'"),
}


@pytest.mark.parametrize("damage", sorted(RESULT_DAMAGE))
def test_a_result_file_that_is_not_one_is_skipped_by_readers_naming_it(damage, finished, tmp_path, capsys):
    from empirical.run import InvalidResult, load_results, read_result

    folder = _copy_folder(finished[0], tmp_path / "res")
    path = folder / finished[1].name
    change, problem = RESULT_DAMAGE[damage]
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    with pytest.raises(InvalidResult) as info:
        read_result(path)
    assert str(path) in str(info.value) and problem in str(info.value)
    with pytest.warns(UserWarning, match="skipped: .*" + path.name.replace("+", r"\+")):
        assert load_results(folder) == []
    with pytest.warns(UserWarning):  # the table and the figures read it the same way, and find nothing usable
        assert empirical_cli.main(["table", str(folder)]) == 2
        assert figures_main(["accuracy_table", "--results", str(folder), "--out", str(tmp_path / "fig")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(str(folder) in line and "1 invalid" in line for line in err), err


def test_a_copied_result_is_not_a_second_seed(finished, tmp_path):
    from empirical.run import load_results
    from empirical.table import accuracy_table

    folder = _copy_folder(finished[0], tmp_path / "res")
    (folder / "copy.json").write_bytes(finished[1].read_bytes())
    with pytest.warns(UserWarning, match=r"copy.json.*is named 'copy.json' but holds run"):
        results = load_results(folder)
    cells = accuracy_table(results).cells
    assert [c["test_acc_last"].n for c in cells.values()] == [1]


def test_an_invalid_result_is_set_aside_and_the_run_trained_again(finished, tmp_path):
    from empirical.config import RunConfig
    from empirical.run import Environment, read_result, run_one

    folder = _copy_folder(finished[0], tmp_path / "res")
    path = folder / finished[1].name
    bad = {"schema": 1, "status": "finished", "id": path.stem}
    path.write_text(json.dumps(bad))
    with pytest.warns(UserWarning, match="moved it to .*invalid-"):
        record = run_one(RunConfig(noise="symmetric:0.4", method="ce", **TINY), folder, Environment(device="cpu"))
    assert read_result(path) == record  # trained again and valid
    kept = list(folder.glob(f"{path.name}.invalid-*"))
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == bad  # nothing lost


# ----------------------------------------------------------------------------------------------
# Refusals and warnings of the sweep and the run


def test_a_slurm_sweep_without_slurm_is_refused_saying_how_to_run_locally(tmp_path, monkeypatch, capsys):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    status = empirical_cli.main(["sweep", "--grid", "smoke", "--executor", "slurm", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and "sbatch is not on PATH" in err and "--executor local" in err and "8 pending runs" in err
    assert not list((tmp_path / "o").glob("*.json"))


def test_a_symmetric_rate_at_or_above_k_minus_1_over_k_is_warned_and_recorded(tmp_path):
    from empirical.config import RunConfig
    from empirical.run import Environment, noise_warnings, run_one

    assert noise_warnings("symmetric", 0.89, 10) == [] and noise_warnings("asymmetric", 0.95, 10) == []
    assert noise_warnings("symmetric", 0.9, 10) and noise_warnings("symmetric", 0.5, 2)
    with pytest.warns(UserWarning, match=r"symmetric noise rate 0.95 >= \(K-1\)/K = 0.9 for K = 10"):
        record = run_one(RunConfig(noise="symmetric:0.95", method="ce", **TINY), tmp_path, Environment(device="cpu"))
    assert list(record.warnings) == noise_warnings("symmetric", 0.95, 10)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_results_follow_the_umask(umask, mode, tmp_path):
    from theory.verify import write_json

    old = os.umask(umask)
    try:
        path = write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_write_that_fails_keeps_the_old_file_and_leaves_nothing(tmp_path):
    """The one atomic writer: a reader sees the old file or the new one; a failed write removes its
    temporary, and what a killed writer leaves is found by name."""
    from theory.verify.io import temporaries, write_atomic, write_text

    path = write_text(tmp_path / "report.md", "old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, half_then_fail)
    assert path.read_text() == "old" and temporaries(path) == []
    (tmp_path / ".report.md.abc123.tmp").write_text("left by a killed writer")
    (tmp_path / ".other.md.abc123.tmp").write_text("another file's")
    assert [p.name for p in temporaries(path)] == [".report.md.abc123.tmp"]


def test_every_file_the_package_writes_goes_through_the_one_atomic_writer():
    """Only theory.verify.io makes temporary files to rename into place (there were three writers,
    each with its own temporary names); other renames in the package move what exists (a lock
    taken over, a data folder extracted, an invalid file set aside)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    makers = {str(p.relative_to(root)) for pkg in ("theory", "proofs_check", "empirical", "figures")
              for p in (root / pkg).rglob("*.py")
              if re.search(r"mkstemp\(|NamedTemporaryFile\(|\.tmp\b", p.read_text(encoding="utf-8"))}
    assert makers == {"theory/verify/io.py"}, makers


# ----------------------------------------------------------------------------------------------
# Public Python entry points


def _api_cases():
    from empirical.config import RunConfig
    from empirical.data import NoiseSpec
    from theory import eps_softmax, excess, finite, linear, losses, noise, one_hot_error, streams
    from theory.checks import check_loss
    from theory.minimise import minimise_conditional_risk

    p = np.array([[0.5, 0.3, 0.2]])
    return [
        (lambda: finite.random_problem(K=3, n_x=0, seed=0), ValueError, "n_x must be a positive integer, got 0"),
        (lambda: finite.random_problem(K=3, n_x=2, seed=-1), ValueError, "seed must be a non-negative integer or a numpy Generator (0 is valid), got int -1"),
        (lambda: finite.random_problem(K=2.5, n_x=2, seed=0), ValueError, "got 2.5"),
        (lambda: noise.symmetric(1, 0.2), ValueError, "got 1"),
        (lambda: noise.symmetric(3, float("nan")), ValueError, "got nan"),
        (lambda: noise.pairs(3, 0.2, [(0, 5)]), ValueError, "pair (0, 5)"),
        (lambda: noise.sample(np.array([0, 1, 2]), 2 * noise.symmetric(3, 0.2), seed=0), ValueError, "summing to 2"),
        (lambda: one_hot_error(p, 1.0, norm="l3"), ValueError, "got 'l3'"),
        (lambda: one_hot_error(p, -1.0), ValueError, "got -1.0"),
        (lambda: eps_softmax(p, 1.0, t=3), ValueError, "got 3"),
        (lambda: check_loss("mae", num_classes=1), ValueError, "got 1"),
        (lambda: check_loss("mae", num_classes=3, checks=["nope"]), ValueError, "'nope'"),
        (lambda: losses.get("ce")(p, np.array([3])), ValueError, "got 3"),
        (lambda: losses.get("ce")(p, np.array([0.5])), TypeError, "dtype float64"),
        (lambda: losses.get("ce").from_logits(np.array([[np.nan, 0.0]]), np.array([0])), ValueError, "finite"),
        (lambda: losses.get("gce", q=2.0), ValueError, "in (0, 1], got 2.0"),
        (lambda: losses.get("ce_eps", m=float("inf")), ValueError, "got inf"),
        (lambda: losses.with_eps_softmax(losses.get("ce"), 1.0, clamp=2.0), ValueError, "got 2.0"),
        (lambda: NoiseSpec.parse("symmetric:1.5"), ValueError, "1.5"),
        (lambda: NoiseSpec.parse("instance:0.3"), ValueError, "0.3"),
        (lambda: RunConfig(momentum=-0.5), ValueError, "got -0.5"),
        (lambda: RunConfig(method="sce", params={"alpha": -1.0}), ValueError, "parameter 'alpha' must be a finite real number in [0, ∞), got -1.0"),
        # a negative seed is named as the seed (it used to get numpy's "expected non-negative integer")
        (lambda: noise.sample(np.array([0, 1, 2]), noise.symmetric(3, 0.2), seed=-1), ValueError, "seed must be a non-negative integer or a numpy Generator (0 is valid), got int -1"),
        (lambda: linear.linear_problem(3, 4, 2, -1), ValueError, "seed must be a non-negative integer (0 is valid), got int -1"),
        (lambda: excess.sweep_problem(3, 3, -1, 0), ValueError, "seed must be a non-negative integer (0 is valid), got int -1"),
        (lambda: minimise_conditional_risk(losses.get("mae"), p, seed=-2), ValueError, "seed must be a non-negative integer (0 is valid), got int -2"),
        (lambda: streams.stream(-1, "a"), ValueError, "seed must be a non-negative integer (0 is valid), got int -1"),
        # an empty mapping or list where one entry is needed is named (it used to get max()'s or numpy's message)
        (lambda: noise.flip_pairs(np.array([0, 1]), [], 0.2, seed=0), ValueError, "mapping must hold at least one (source, target) class pair, got none"),
        (lambda: noise.pairs(3, 0.2, {}), ValueError, "mapping must hold at least one (source, target) class pair, got none"),
        (lambda: noise.pairs(3, 0.2, [(0.5, 1)]), TypeError, "mapping's pairs must hold integer class indices, got (0.5, 1)"),
        (lambda: excess.excess_sweep(lambda m: losses.get("mae"), Ks=(3,), noise=lambda K: [], seed=0), ValueError, "noise(K) gave no noise setting for K = 3"),
        (lambda: excess.excess_sweep(lambda m: losses.get("mae"), Ks=(), seed=0), ValueError, "needs at least one K and one m, got Ks=[]"),
    ]


@pytest.mark.parametrize("index", range(32))
def test_a_public_entry_point_refuses_bad_input_naming_the_value(index):
    call, error, text = _api_cases()[index]
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)


def test_the_api_case_list_is_complete():
    assert len(_api_cases()) == 32
