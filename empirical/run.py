"""One run end to end: load data, add noise, train, measure risk, write one result file.

A result file ``<out>/<run_id>.json`` holds the resolved config, the seeds, the package version,
the git commit, the device, timings, per-epoch curves, last and best test accuracy, and the risk
measurements of :mod:`empirical.risk`; readers get it as a typed :class:`~empirical.records.RunResult`
(validated, schema-versioned). It is written atomically (a temporary file, then a rename), so a
reader never sees half a file and a sweep killed at any moment keeps every finished run. An
unfinished run keeps its checkpoint in ``<out>/.checkpoints/`` and resumes from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import torch

from empirical._claims import RunClaimed, claim
from empirical.config import RunConfig
from empirical.data import load_noisy
from empirical.models import count_parameters
from empirical.records import RUN_SCHEMA, Epoch, Final, InvalidResult, RunResult
from empirical.risk import measure
from empirical.train import DeviceData, predict, set_aside, train
from theory.verify import write_json
from theory.verify.io import temporaries

__all__ = ["SCHEMA", "Environment", "InvalidResult", "NoUsableResults", "ResultsScan", "RunClaimed", "checkpoint_path",
           "load_results", "noise_warnings", "provenance", "read_result", "result_path", "run_batch", "run_one",
           "PassedOver", "Unusable", "scan_results", "usable_results", "validate_result"]

SCHEMA = RUN_SCHEMA  # the result file's version (empirical.records)
_FINAL_STATUSES = ("finished", "diverged")
#: the training seconds a throughput is divided by are at least this (a resumed run may have trained for none)
_MIN_SECONDS = 1e-9


@dataclass(frozen=True)
class Environment:
    """Where data live and what runs the job; not part of a run's identity.

    data_dir : CIFAR folder (standard python layout); downloaded there when missing and
        ``download`` is true. label_dir : folder with CIFAR-N / instance-dependent label files
        (defaults to ``data_dir``). device : "auto" (CUDA when available), "cpu", "cuda", "cuda:1"...
    """

    data_dir: str | None = None
    label_dir: str | None = None
    device: str = "auto"
    download: bool = True
    progress: bool = False
    checkpoint_every_s: float = 60.0

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N (a torch device), "
                             f"got {self.device!r}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {self.device!r} requested but torch sees no CUDA device "
                               f"(torch {torch.__version__}); use --device cpu")
        return device


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(device: torch.device) -> dict[str, Any]:
    """Package version, git commit, torch/python versions, host and device name."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("eps-softmax-verify")
    except PackageNotFoundError:
        package = None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {"package_version": package, "git_commit": _git_commit(), "torch": torch.__version__,
            "python": platform.python_version(), "host": socket.gethostname(), "device": str(device),
            "device_name": name, "cpu_threads": torch.get_num_threads(), "pid": os.getpid(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}


def noise_warnings(kind: str, rate: float, num_classes: int) -> list[str]:
    """What a reader of the run must know about its noise setting: a symmetric rate at or above
    (K−1)/K, where the noisy label no longer carries the clean class (it is uniform at
    (K−1)/K and leans away from it beyond) and Theorem B's bound does not apply."""
    limit = (num_classes - 1) / num_classes
    if kind == "symmetric" and rate >= limit:
        return [f"symmetric noise rate {rate:g} >= (K-1)/K = {limit:.4g} for K = {num_classes}: the noisy label "
                "no longer carries the clean class, and Theorem B's bound does not apply (it needs a rate below "
                "(K-1)/K)"]
    return []


def result_path(out: str | os.PathLike, cfg: RunConfig) -> Path:
    return Path(out) / f"{cfg.run_id}.json"


def validate_result(data: Any, path: str | os.PathLike) -> RunResult:
    """``data``, read from ``path``, as a typed :class:`~empirical.records.RunResult` when it is
    one (see :meth:`RunResult.from_dict`); :class:`InvalidResult` otherwise."""
    return RunResult.from_dict(data, path)


def read_result(path: str | os.PathLike) -> RunResult | None:
    """The result at ``path``: None when there is none (no file, a partial or foreign file, a
    run not finished), the validated result when it claims to be finished and is, and
    :class:`InvalidResult` when it claims to be finished and is not."""
    result, why = _classify(Path(path))
    if why is not None and why.why is Unusable.INVALID:
        raise InvalidResult(why.detail)
    return result


class Unusable(str, Enum):
    """Why a ``*.json`` of a results folder is not a usable run result."""

    UNREADABLE = "unreadable"
    NOT_JSON = "not JSON"
    NOT_A_RESULT = "not a run result"
    OTHER_SCHEMA = "of another schema"
    UNFINISHED = "a run not finished"
    INVALID = "invalid"


@dataclass(frozen=True)
class PassedOver:
    """A file of a results folder that is not a usable run result: its name, why, and the detail."""

    name: str
    why: Unusable
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.why.value} ({self.detail})"


def _classify(path: Path) -> tuple[RunResult | None, PassedOver | None]:
    """(the result, None) for a finished run's valid result file, else (None, why it is not one)."""
    def passed(why: Unusable, detail: str) -> tuple[None, PassedOver]:
        return None, PassedOver(path.name, why, detail)

    try:
        data = json.loads(path.read_text())
    except OSError as err:
        return passed(Unusable.UNREADABLE, str(err.strerror or err))
    except ValueError as err:
        return passed(Unusable.NOT_JSON, str(err))
    if not isinstance(data, dict):
        return passed(Unusable.NOT_A_RESULT, f"a JSON {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        if "schema" not in data:
            return passed(Unusable.NOT_A_RESULT, "no schema field")
        return passed(Unusable.OTHER_SCHEMA, f"schema {data['schema']!r}; this version reads {SCHEMA}")
    if data.get("status") not in _FINAL_STATUSES:
        return passed(Unusable.UNFINISHED, f"status {data.get('status')!r}")
    try:
        return validate_result(data, path), None
    except InvalidResult as err:
        return passed(Unusable.INVALID, str(err))


class NoUsableResults(ValueError):
    """A results folder from which nothing usable can be read; the message names it and says why."""


@dataclass(frozen=True)
class ResultsScan:
    """What a results folder holds: its valid finished results and every other ``*.json`` with why not."""

    folder: Path
    results: tuple[RunResult, ...]
    passed_over: tuple[PassedOver, ...]

    def why_unusable(self) -> str:
        """One line: why nothing here is usable (an empty string when something is)."""
        if self.results:
            return ""
        if not self.passed_over:
            return f"{self.folder} holds no result files (*.json)"
        kinds = Counter(p.why for p in self.passed_over)
        return (f"{self.folder} holds no usable run result: {len(self.passed_over)} JSON file(s), "
                + ", ".join(f"{n} {why.value}" for why, n in kinds.items()) + f" (first: {self.passed_over[0]})")


def scan_results(folder: str | os.PathLike) -> ResultsScan:
    """Every ``*.json`` of ``folder`` (not recursive): the valid finished results, sorted by file name,
    and why each other file is not one. A folder that is missing or a file raises FileNotFoundError
    naming the commands that produce one."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"results folder {folder} {what}; produce it with "
                                f"python -m empirical run ... --out {folder} or python -m empirical sweep --out {folder}")
    found, passed_over = [], []
    for p in sorted(folder.glob("*.json")):
        record, why = _classify(p)
        if record is not None:
            found.append(record)
        else:
            passed_over.append(why)
    return ResultsScan(folder, tuple(found), tuple(passed_over))


def load_results(folder: str | os.PathLike) -> list[RunResult]:
    """Every valid finished result in ``folder`` (not recursive), sorted by file name. A file that
    claims to be one and is not is skipped, with a warning naming it."""
    return list(_scanned(folder).results)


def _scanned(folder: str | os.PathLike) -> ResultsScan:
    scan = scan_results(folder)
    for p in scan.passed_over:
        if p.why is Unusable.INVALID:
            warnings.warn(f"skipped: {p.detail}", stacklevel=3)
    return scan


def usable_results(folder: str | os.PathLike) -> list[RunResult]:
    """:func:`load_results`, or :class:`NoUsableResults` saying why when it finds nothing."""
    scan = _scanned(folder)
    if not scan.results:
        raise NoUsableResults(scan.why_unusable())
    return list(scan.results)


def run_one(cfg: RunConfig, out: str | os.PathLike | None = None, env: Environment = Environment()) -> RunResult:
    """Train ``cfg`` and return its :class:`~empirical.records.RunResult`; with ``out``, write
    ``<out>/<run_id>.json``.

    An existing complete result for the same config is returned as is (nothing is retrained).
    """
    cfg = cfg.resolved()
    env.torch_device()  # a bad device fails before anything is claimed or written
    if out is None:
        return _train_and_record(cfg, None, env)
    path = result_path(out, cfg)
    with contextlib.ExitStack() as held:
        done = _take(cfg, path, held)
        return done if done is not None else _train_and_record(cfg, path, env)


def _take(cfg: RunConfig, path: Path, held: contextlib.ExitStack) -> RunResult | None:
    """The run's finished result when it has one; otherwise the run is claimed into ``held``
    (:class:`RunClaimed` when another live process trains it), a killed writer's temporaries are
    cleared, and None says: train it."""
    if (done := _finished(path, cfg)) is not None:
        return done
    claimed = held.enter_context(claim(path.parent, cfg.run_id))
    if claimed.took_over:
        warnings.warn(f"{cfg.run_id}: {claimed.took_over}", stacklevel=3)
    if (done := _finished(path, cfg)) is not None:  # finished by the previous claimant
        return done
    _remove_temporaries(path, cfg)
    return None


def checkpoint_path(path: Path, cfg: RunConfig) -> Path:
    """Where the run whose result goes to ``path`` keeps its checkpoint."""
    return path.parent / ".checkpoints" / f"{cfg.run_id}.pt"


def _finished(path: Path, cfg: RunConfig) -> RunResult | None:
    """The valid result at ``path`` (its leftover checkpoint removed), else None; an invalid
    one is set aside."""
    try:
        done = read_result(path)
    except InvalidResult as err:
        set_aside(path, "invalid", str(err), "training the run again")
        return None
    if done is not None:
        with contextlib.suppress(FileNotFoundError):  # a kill between the result and the cleanup
            checkpoint_path(path, cfg).unlink()
    return done


def _remove_temporaries(path: Path, cfg: RunConfig) -> None:
    """The run's temporary files left by a killed writer (the caller holds the run's claim, so
    no live process writes them)."""
    for stale in [*temporaries(checkpoint_path(path, cfg)), *temporaries(path)]:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


@dataclass
class _Loaded:
    """A run's data, loaded and on the device, with what the record needs about the loading."""

    cfg: RunConfig
    data: Any  # empirical.data.NoisyData
    on_device: DeviceData
    notes: list[str]
    started: datetime
    t0: float
    t_data: float


def _load(cfg: RunConfig, env: Environment, device: torch.device) -> _Loaded:
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    spec = cfg.noise_spec
    data = load_noisy(cfg.dataset, spec, seed=cfg.seed, data_dir=env.data_dir, label_dir=env.label_dir,
                      download_missing=env.download, train_per_class=cfg.train_per_class)
    notes = noise_warnings(spec.kind, spec.rate, data.num_classes)
    for note in notes:
        warnings.warn(f"{cfg.run_id}: {note}", stacklevel=3)
    on_device = DeviceData.from_noisy(data, device)
    return _Loaded(cfg, data, on_device, notes, started, t0, time.perf_counter() - t0)


def _train_and_record(cfg: RunConfig, path: Path | None, env: Environment) -> RunResult:
    device = env.torch_device()
    loaded = _load(cfg, env, device)
    checkpoint = None
    if path is not None:
        checkpoint = checkpoint_path(path, cfg)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    result = train(cfg, loaded.on_device, progress=env.progress, checkpoint=checkpoint,
                   checkpoint_every_s=env.checkpoint_every_s)
    return _record(loaded, result, path, device)


def _record(loaded: _Loaded, result, path: Path | None, device: torch.device, batch: dict | None = None) -> RunResult:
    """Measure a trained run's risk, write its result file (with ``path``) and return it typed;
    its checkpoint goes once the result is written. ``batch``: how it was trained with others."""
    cfg, data, on_device, spec = loaded.cfg, loaded.data, loaded.on_device, loaded.cfg.noise_spec
    t1 = time.perf_counter()
    risk = None
    if result.status == "finished":
        model = result.model
        kw = dict(precision=cfg.precision, channels_last=cfg.channels_last)
        train_logits = predict(model, on_device.train_x, data.images.mean, data.images.std, **kw)
        test_logits = predict(model, on_device.test_x, data.images.mean, data.images.std, **kw)
        risk = measure(cfg.build_loss(), train_logits, test_logits, train_clean=on_device.train_clean,
                       train_noisy=on_device.train_noisy, test_y=on_device.test_y,
                       noise_kind=spec.kind, noise_rate=spec.rate)
    t_risk = time.perf_counter() - t1
    best, best_epoch = result.best
    n_train = int(on_device.train_x.shape[0])
    epochs_run = len(result.history) - result.resumed_from_epoch
    typed = RunResult(
        id=cfg.run_id,
        status=result.status,
        stop_reason=result.stop_reason,
        config=cfg,
        seeds={"model_init": cfg.seed, "batches_and_augmentation": cfg.seed, "label_noise": data.noise_seed},
        data={"dataset": cfg.dataset, "n_train": n_train, "n_test": int(on_device.test_x.shape[0]),
              "num_classes": data.num_classes, "noise": str(spec), "actual_noise_rate": data.actual_rate},
        model={"name": cfg.model, "parameters": count_parameters(result.model)},
        provenance={**provenance(device), "started": loaded.started.isoformat(timespec="seconds"),
                    **({"batch": batch} if batch else {})},
        timings={"data_s": loaded.t_data, "train_s": result.train_seconds, "risk_s": t_risk,
                 "total_s": time.perf_counter() - loaded.t0, "resumed_from_epoch": result.resumed_from_epoch,
                 "train_images_per_s": n_train * epochs_run / max(
                     sum(r["train_seconds"] for r in result.history[result.resumed_from_epoch:]), _MIN_SECONDS)},
        final=Final(test_acc_last=result.last_test_acc, test_acc_best=best, best_epoch=best_epoch,
                    epochs_run=len(result.history)),
        history=tuple(Epoch(**row) for row in result.history),
        risk=risk,
        warnings=tuple(loaded.notes),
    )
    if path is not None:
        write_json(path, typed.to_dict())
        checkpoint = checkpoint_path(path, cfg)
        if checkpoint.exists():
            checkpoint.unlink()
    return typed


def run_batch(cfgs: list[RunConfig], out: str | os.PathLike, env: Environment = Environment()
              ) -> list[tuple[RunResult | None, str]]:
    """Train compatible runs together (:mod:`empirical.batched`) into ``out``: per run, its
    result and how it got it ("trained", "finished before", "claimed by another process: …").

    Each run is claimed, resumed and recorded as :func:`run_one` does it: a finished result is
    returned as is, a run another live process holds is left to it, a run with a checkpoint
    continues from it — together with the runs whose checkpoints stand at the same epoch (each
    run's checkpoint has the single-run format) — and each run writes its own result file. The
    runs share one copy of the images on the device.
    """
    from collections import defaultdict

    from empirical.batched import train_batched
    from empirical.train import _load_checkpoint

    cfgs = [c.resolved() for c in cfgs]
    device = env.torch_device()
    outcome: dict[str, tuple[RunResult | None, str]] = {}
    with contextlib.ExitStack() as stack:
        mine = []
        for cfg in cfgs:
            try:
                done = _take(cfg, result_path(out, cfg), stack)
            except RunClaimed as err:
                outcome[cfg.run_id] = (None, f"claimed by another process ({err})")
                continue
            if done is not None:
                outcome[cfg.run_id] = (done, "finished before")
            else:
                mine.append(cfg)
        loaded, images = {}, {}
        for cfg in mine:
            one = _load(cfg, env, device)
            key = (cfg.dataset, cfg.train_per_class)
            if key in images:  # the same images for every run of a dataset: one copy on the device
                one.on_device.train_x, one.on_device.test_x = images[key]
            else:
                images[key] = (one.on_device.train_x, one.on_device.test_x)
            loaded[cfg.run_id] = one
        by_epoch: dict[int, list[tuple[RunConfig, dict | None]]] = defaultdict(list)
        for cfg in mine:
            checkpoint = checkpoint_path(result_path(out, cfg), cfg)
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            state = _load_checkpoint(checkpoint, cfg, device) if checkpoint.exists() else None
            by_epoch[0 if state is None else len(state["history"])].append((cfg, state))
        for epoch, members in sorted(by_epoch.items()):
            group_cfgs = [c for c, _ in members]
            checkpoints = [checkpoint_path(result_path(out, c), c) for c in group_cfgs]
            datas = [loaded[c.run_id].on_device for c in group_cfgs]
            if len(group_cfgs) == 1:
                results = [train(group_cfgs[0], datas[0], checkpoint=checkpoints[0],
                                 checkpoint_every_s=env.checkpoint_every_s)]
            else:
                results = train_batched(group_cfgs, datas, states=[s for _, s in members] if epoch else None,
                                        checkpoints=checkpoints, checkpoint_every_s=env.checkpoint_every_s)
            batch = {"runs": len(group_cfgs), "ids": [c.run_id for c in group_cfgs]} if len(group_cfgs) > 1 else None
            for cfg, res in zip(group_cfgs, results):
                outcome[cfg.run_id] = (_record(loaded[cfg.run_id], res, result_path(out, cfg), device, batch),
                                       "trained" + (f" in a batch of {len(group_cfgs)}" if batch else ""))
    return [outcome[c.run_id] for c in cfgs]
