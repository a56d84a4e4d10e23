"""Sweeps: named grids of runs, executed locally or on SLURM, resumable at any moment.

Every run writes its own result file atomically (:mod:`empirical.run`), so a sweep's state is
the folder: :func:`pending` lists the configs without a complete result, and running the same
sweep again only trains those (an interrupted run resumes from its checkpoint). Killing the
process at any point loses at most the epochs since the last checkpoint of the runs in flight.

Executors
---------
``local``  ``jobs`` worker processes on this machine sharing its GPU or CPU (each holds its own
           copy of the data on the device); ``jobs=1`` runs in this process.
``slurm``  one SLURM array task per pending run through submitit (``pip install -e '.[slurm]'``);
           ``cluster="debug"`` runs the same path in this process, for testing.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from empirical.config import RunConfig
from empirical.run import Environment, InvalidResult, RunClaimed, checkpoint_path, read_result, result_path, run_one

__all__ = ["GRIDS", "Grid", "batches", "check_inputs", "default_batch_runs", "grid", "pending", "run_sweep"]

PAPER_METHODS = ("ce", "fl", "gce", "nlnl", "sce", "nce+mae", "nce+rce", "nfl+rce", "nce+aul", "nce+agce",
                 "nce+ael", "ldr_kl", "ce+lc", "ce_eps+mae", "fl_eps+mae")
PAPER_NOISE = ("clean", "symmetric:0.2", "symmetric:0.4", "symmetric:0.6", "symmetric:0.8",
               "asymmetric:0.1", "asymmetric:0.2", "asymmetric:0.3", "asymmetric:0.4")
PAPER_SEEDS = (123, 124, 125)
M_VALUES = (0.0, 1e1, 1e2, 1e3, 1e4, 1e5)


@dataclass(frozen=True)
class Grid:
    """A named list of runs: ``configs()`` builds them (resolved, so a bad entry fails up front)."""

    name: str
    description: str
    build: Callable[[], list[RunConfig]]

    def configs(self, **overrides: Any) -> list[RunConfig]:
        """The grid's configs, with ``overrides`` (e.g. ``epochs=2``) applied to each."""
        import dataclasses

        return [dataclasses.replace(c, **overrides).resolved() for c in self.build()]


def _product(datasets: Sequence[str], noises: Sequence[str], methods: Sequence[str], seeds: Sequence[int],
             params: Sequence[dict] = ({},)) -> list[RunConfig]:
    return [RunConfig(dataset=d, noise=n, method=m, seed=s, params=tuple(sorted(p.items())))
            for d in datasets for n in noises for m in methods for p in params for s in seeds]


def _m_ablation_cifar100() -> list[RunConfig]:
    from theory.losses import paper_defaults

    runs = []
    for noise, kind, rate in (("clean", "clean", 0.0), ("symmetric:0.4", "symmetric", 0.4),
                              ("symmetric:0.8", "symmetric", 0.8), ("asymmetric:0.4", "asymmetric", 0.4)):
        base = paper_defaults("cifar100", kind, rate, "ce_eps+mae")
        runs += _product(["cifar100"], [noise], ["ce_eps+mae"], PAPER_SEEDS, [{**base, "m": m} for m in M_VALUES])
    return runs


GRIDS: dict[str, Grid] = {g.name: g for g in (
    Grid("paper-cifar10", "the main table on CIFAR-10: 15 methods × clean, symmetric 0.2–0.8, asymmetric 0.1–0.4 × 3 seeds",
         lambda: _product(["cifar10"], PAPER_NOISE, PAPER_METHODS, PAPER_SEEDS)),
    Grid("paper-cifar100", "the main table on CIFAR-100 (ResNet-34, 200 epochs)",
         lambda: _product(["cifar100"], PAPER_NOISE, PAPER_METHODS, PAPER_SEEDS)),
    Grid("instance-cifar10", "instance-dependent noise 0.2/0.4/0.6 on CIFAR-10 (needs the label files)",
         lambda: _product(["cifar10"], ["instance:0.2", "instance:0.4", "instance:0.6"],
                          ["ce", "gce", "nce+rce", "ce_eps+mae", "fl_eps+mae"], PAPER_SEEDS)),
    Grid("figure1", "Figure 1: CIFAR-10 test accuracy per epoch, CE_ε and CE_ε+MAE (α=0.01, β=5) for several m, clean and symmetric 0.8",
         lambda: _product(["cifar10"], ["clean", "symmetric:0.8"], ["ce_eps"], PAPER_SEEDS,
                          [{"m": m} for m in M_VALUES])
         + _product(["cifar10"], ["clean", "symmetric:0.8"], ["ce_eps+mae"], PAPER_SEEDS,
                    [{"alpha": 0.01, "beta": 5.0, "m": m} for m in M_VALUES])),
    Grid("m-ablation-cifar100", "CE_ε+MAE on CIFAR-100 for m ∈ {0, 10, …, 1e5} at clean, symmetric 0.4/0.8, asymmetric 0.4",
         _m_ablation_cifar100),
    Grid("sym08-cifar10", "CE and CE_ε+MAE on CIFAR-10 at symmetric 0.8 and clean (the clean twins give the measured excess risk), 3 seeds",
         lambda: _product(["cifar10"], ["clean", "symmetric:0.8"], ["ce", "ce_eps+mae"], PAPER_SEEDS)),
    Grid("smoke", "synthetic data, CE and CE_ε+MAE, clean and symmetric 0.4, 2 seeds, 3 epochs (CPU, about a minute)",
         lambda: [RunConfig(dataset="synthetic", noise=n, method=m, seed=s, epochs=3)
                  for n in ("clean", "symmetric:0.4") for m in ("ce", "ce_eps+mae") for s in (123, 124)]),
)}


def grid(name: str) -> Grid:
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; named grids: {sorted(GRIDS)}")
    return GRIDS[name]


def pending(configs: Iterable[RunConfig], out: str | os.PathLike) -> list[RunConfig]:
    """The configs without a valid finished result in ``out`` (duplicates removed, order kept);
    a finished run's leftover checkpoint (a kill between its result and the cleanup) is removed."""
    seen, todo = set(), []
    for cfg in configs:
        cfg = cfg.resolved()
        if cfg.run_id in seen:
            continue
        seen.add(cfg.run_id)
        try:
            done = read_result(result_path(out, cfg))
        except InvalidResult:  # the run sets the file aside and trains again
            done = None
        if done is None:
            todo.append(cfg)
        else:
            with contextlib.suppress(FileNotFoundError):
                checkpoint_path(result_path(out, cfg), cfg).unlink()
    return todo


FAILED = "FAILED"
CLAIMED = "skipped, claimed by another process"
DONE_ELSEWHERE = "skipped, finished by another process"


def check_inputs(configs: Sequence[RunConfig], env: Environment) -> None:
    """Fail once, up front, where every run of a dataset would fail the same way: a CIFAR run
    without a data directory, or with one that lacks the files while downloads are off."""
    from empirical.data import DataNotFoundError, available

    for dataset in sorted({c.dataset for c in configs} - {"synthetic"}):
        n = sum(c.dataset == dataset for c in configs)
        if env.data_dir is None:
            raise ValueError(f"{dataset} needs a data directory (--data-dir); {n} pending run(s) of the sweep use it")
        if not env.download and not available(dataset, env.data_dir):
            raise DataNotFoundError(f"{dataset} is not in {env.data_dir} and downloads are off (--no-download); "
                                    f"{n} pending run(s) of the sweep need it")


def _run_task(cfg_dict: dict, out: str, env: Environment) -> str:
    """Run one config; an exception becomes a ``FAILED`` line so the other runs go on."""
    cfg = RunConfig.from_dict(cfg_dict)
    try:
        record = run_one(cfg, out, env)
    except RunClaimed as err:  # another sweep trains it: not a failure, and not done twice
        return f"{cfg.run_id}: {CLAIMED} ({err})"
    except Exception as err:  # noqa: BLE001 - reported per run; the sweep continues
        return f"{cfg.run_id}: {FAILED} ({type(err).__name__}: {err})"
    if record.provenance.get("pid") != os.getpid():  # finished by another process meanwhile
        return f"{record.id}: {DONE_ELSEWHERE}"
    return _trained_line(record)


def _trained_line(record, how: str = "") -> str:
    """The sweep's line for a run it trained (``how``: e.g. "trained in a batch of 4")."""
    return f"{record.id}: {record.status}, last test acc {record.final.test_acc_last:.4f}" + (f" ({how})" if how else "")


#: estimated device memory per run at batch 128 (GB): weights, optimiser state and activations;
#: what :func:`default_batch_runs` divides the free memory by (estimates, not yet measured on a GPU)
RUN_MEMORY_GB = {"tiny": 0.1, "small": 0.4, "cnn8": 1.0, "resnet34": 4.0}
#: the most runs :func:`default_batch_runs` trains together
MAX_BATCH_RUNS = 16


def default_batch_runs(configs: Sequence[RunConfig], env: Environment) -> int:
    """How many runs to train together: 1 on a CPU (grouped convolutions measured 0.4–0.7× the
    throughput of one run after another on this project's 2-core CPU, ``benchmarks/bench_batched.py``);
    on a GPU up to :data:`MAX_BATCH_RUNS`, as many as half the free memory holds by :data:`RUN_MEMORY_GB` (estimates;
    ``benchmarks/gpu_protocol.py`` measures each batch's peak memory per run, to replace them)."""
    import torch

    device = env.torch_device()
    if device.type != "cuda" or not configs:
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    per_run = max(RUN_MEMORY_GB.get(c.model, 4.0) * c.batch_size / 128 for c in configs)
    return int(max(1, min(MAX_BATCH_RUNS, (free / 2**30 / 2) // per_run)))


def batches(configs: Sequence[RunConfig], size: int) -> list[list[RunConfig]]:
    """``configs`` in groups of at most ``size`` runs that may train together (the same network and
    protocol: :func:`empirical.batched.compatible`), in the order of their first member."""
    from empirical.batched import shared

    groups: dict[str, list[RunConfig]] = {}
    for cfg in configs:
        groups.setdefault(repr(shared(cfg)), []).append(cfg)
    return [members[i:i + size] for members in groups.values() for i in range(0, len(members), size)]


def _run_batch_task(cfg_dicts: list[dict], out: str, env: Environment) -> list[str]:
    """Run a batch of configs together (one config: :func:`_run_task`); an exception becomes a
    ``FAILED`` line for each of its runs, so the other batches go on."""
    if len(cfg_dicts) == 1:
        return [_run_task(cfg_dicts[0], out, env)]
    from empirical.run import run_batch

    cfgs = [RunConfig.from_dict(d) for d in cfg_dicts]
    try:
        outcomes = run_batch(cfgs, out, env)
    except Exception as err:  # noqa: BLE001 - reported per run; the sweep continues
        return [f"{c.run_id}: {FAILED} ({type(err).__name__}: {err})" for c in cfgs]
    lines = []
    for cfg, (record, how) in zip(cfgs, outcomes):
        if record is None:
            lines.append(f"{cfg.run_id}: {CLAIMED} ({how})")
        elif how == "finished before":
            lines.append(f"{cfg.run_id}: {DONE_ELSEWHERE}")
        else:
            lines.append(_trained_line(record, how))
    return lines


def run_sweep(configs: Sequence[RunConfig], out: str | os.PathLike, *, env: Environment | None = None,
              executor: str = "local", jobs: int = 1, slurm: dict | None = None, wait: bool = True,
              batch_runs: int | None = None, log: Callable[[str], None] = print) -> list[str]:
    """Run every pending config of ``configs`` into ``out``; returns one status line per run.

    A run that raises (missing data, a bad hyper-parameter) is reported as a ``FAILED`` line and
    the others go on; running the sweep again retries it.

    ``slurm`` holds submitit parameters for ``executor="slurm"`` (e.g. ``{"slurm_partition":
    "gpu", "timeout_min": 120, "gpus_per_node": 1, "cluster": "debug"}``); with ``wait=False``
    the SLURM jobs are submitted and the call returns (run the sweep again later: finished runs
    are skipped, so it reports what is left).

    ``batch_runs``: at most this many compatible runs train together as one network
    (:mod:`empirical.batched`; each still writes its own result and checkpoint); None chooses by
    device and memory (:func:`default_batch_runs`: 1 on a CPU).
    """
    if batch_runs is not None and (isinstance(batch_runs, bool) or not isinstance(batch_runs, int) or batch_runs < 1):
        raise ValueError(f"batch_runs must be a positive integer, got {batch_runs!r}")
    env = env if env is not None else Environment()
    out = str(out)
    Path(out).mkdir(parents=True, exist_ok=True)
    todo = pending(configs, out)
    log(f"{len(configs)} runs in the sweep, {len(configs) - len(todo)} already finished, {len(todo)} to run")
    if not todo:
        return []
    check_inputs(todo, env)
    if batch_runs is None:
        batch_runs = default_batch_runs(todo, env)
    groups = batches(todo, batch_runs)
    if batch_runs > 1:
        log(f"{len(todo)} runs in {len(groups)} batches of up to {batch_runs}")
    if executor == "slurm":
        return _run_slurm(groups, out, env, dict(slurm or {}), wait, log)
    if executor != "local":
        raise ValueError(f"executor must be 'local' or 'slurm', got {executor!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    lines = []
    if jobs == 1:
        for group in groups:
            for line in _run_batch_task([c.to_dict() for c in group], out, env):
                lines.append(line)
                log(line)
        return lines
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(_run_batch_task, [c.to_dict() for c in group], out, env) for group in groups]
        for future in cf.as_completed(futures):
            for line in future.result():
                lines.append(line)
                log(line)
    return lines


def _run_slurm(groups: list[list[RunConfig]], out: str, env: Environment, params: dict, wait: bool,
               log) -> list[str]:
    cluster = params.pop("cluster", None)
    if cluster in (None, "slurm") and shutil.which("sbatch") is None:
        # submitit would fall back to its local executor and start every run on this machine at once
        raise ValueError(f"the slurm executor needs SLURM, but sbatch is not on PATH here; run the "
                         f"{sum(len(g) for g in groups)} "
                         "pending runs on this machine with --executor local (--jobs N for N at once)")
    try:
        import submitit
    except ImportError as err:
        raise ImportError("the slurm executor needs submitit: pip install -e '.[slurm]'") from err
    executor = submitit.AutoExecutor(folder=Path(out) / ".submitit", cluster=cluster)
    defaults = {"timeout_min": 240, "slurm_array_parallelism": 64} if cluster in (None, "slurm") else {}
    executor.update_parameters(**{**defaults, **params})
    jobs = executor.map_array(_run_batch_task, [[c.to_dict() for c in g] for g in groups], [out] * len(groups),
                              [env] * len(groups))
    log(f"submitted {len(jobs)} jobs ({jobs[0].job_id.split('_')[0] if jobs else '-'}); results go to {out}")
    lines: list[str] = []
    if not wait:
        return lines
    for job in jobs:
        for line in job.result():
            lines.append(line)
            log(line)
    return lines
