"""``python -m empirical {run, sweep, exact, table}``; see ``--help`` of each."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from theory.cli import Progress, add_common_flags, add_version_flag, check_output_file, check_output_folder, guarded

__all__ = ["main"]


def _integers(text: str, what: str, minimum: int) -> list[int]:
    """Comma-separated integers, each at least ``minimum``; an argparse error naming ``what``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values or any(v < minimum for v in values):
        kind = "non-negative integers" if minimum == 0 else f"integers >= {minimum}"
        raise argparse.ArgumentTypeError(f"{what} must be {kind}, got {text!r}")
    return values


def _seeds(text: str) -> list[int]:
    return _integers(text, "seeds", 0)


def _sizes(text: str) -> list[int]:
    return _integers(text, "sample sizes", 1)


def _param(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--param takes NAME=VALUE (e.g. m=1e3), got {text!r}")
    try:
        return key.strip(), float(value)
    except ValueError:
        return key.strip(), value


def _environment_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and device (not part of a run's identity)")
    g.add_argument("--data-dir", help="CIFAR folder (standard python layout); downloaded there when missing")
    g.add_argument("--label-dir", help="folder with CIFAR-N / instance-dependent label files (default: --data-dir)")
    g.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    g.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--out", default="results", help="results folder (one JSON per run; default: results)")


def _override_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("protocol overrides (default: the dataset's protocol, PAPER.md §6)")
    g.add_argument("--model", help="cnn8, resnet34, small or tiny")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--train-per-class", type=int, help="train on the first N images of each class")
    g.add_argument("--precision", choices=("fp32", "bf16"))
    g.add_argument("--channels-last", action="store_true", default=None)
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the network")


def _overrides(args) -> dict:
    names = ("model", "epochs", "batch_size", "lr", "weight_decay", "train_per_class", "precision",
             "channels_last", "compile")
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def _env(args):
    from empirical.run import Environment

    return Environment(data_dir=args.data_dir, label_dir=args.label_dir, device=args.device,
                       download=not args.no_download, progress=not args.no_progress and sys.stderr.isatty())


def _print_tables(results: list, risk: bool) -> None:
    from empirical.table import accuracy_table, risk_table

    if not results:
        print("no complete results")
        return
    table = accuracy_table(results)
    print(f"\nLast-epoch clean test accuracy (%), {table.spread_caption('test_acc_last')}:\n")
    print(table.markdown("test_acc_last", scale=100))
    if risk:
        table = risk_table(results)
        for metric, what in (("clean_risk", "clean training risk"), ("noisy_risk", "noisy training risk"),
                             ("c1", "observed C₁ = min Σ_k L"), ("c2", "observed C₂ = max Σ_k L"),
                             ("excess_test", "measured excess clean test risk vs the clean-label twin"),
                             ("bound", "Theorem B's bound beside it: η(C₂ − C₁)/((K−1) − Kη) with [C₁, C₂] "
                                       "the "
                                       "observed range of Σ_k L over the noisy run and its twin (the figure's bound; "
                                       "the theorem speaks of risk minimisers, not trained networks)")):
            if any(metric in cell for cell in table.cells.values()):
                print(f"\n{what}:\n")
                print(table.markdown(metric, digits=4))


def _cmd_run(args) -> int:
    from empirical.config import RunConfig
    from empirical.run import run_one

    check_output_folder(args.out)
    base = RunConfig(dataset=args.dataset, noise=args.noise, method=args.method,
                     params=tuple(sorted(dict(args.param).items())), **_overrides(args))
    env = _env(args)
    results = []
    for seed in args.seeds:
        cfg = dataclasses.replace(base, seed=seed).resolved()
        record = run_one(cfg, args.out, env)
        f = record.final
        print(f"{record.id}: {record.status}{' (' + record.stop_reason + ')' if record.stop_reason else ''}; "
              f"test acc last {100 * f.test_acc_last:.2f} %, best {100 * f.test_acc_best:.2f} % "
              f"(epoch {f.best_epoch}); {record.timings['train_s']:.1f} s training on "
              f"{record.provenance['device_name']}")
        results.append(record)
    _print_tables(results, risk=True)
    print(f"\nresults: {Path(args.out).resolve()}")
    return 0 if all(r.status == "finished" for r in results) else 1


def _cmd_sweep(args) -> int:
    from empirical.run import load_results
    from empirical.sweep import FAILED, GRIDS, grid, run_sweep

    if args.list:
        for name, g in GRIDS.items():
            print(f"{name:22s} {len(g.build()):4d} runs  {g.description}")
        return 0
    if not args.grid:
        print("sweep needs --grid NAME (see --list)", file=sys.stderr)
        return 2
    check_output_folder(args.out)
    configs = grid(args.grid).configs(**_overrides(args))
    slurm = {k: v for k, v in (("slurm_partition", args.partition), ("timeout_min", args.timeout_min),
                               ("gpus_per_node", args.gpus_per_node), ("cluster", args.cluster)) if v is not None}
    lines = run_sweep(configs, args.out, env=_env(args), executor=args.executor, jobs=args.jobs, slurm=slurm,
                      wait=not args.no_wait, batch_runs=args.batch_runs)
    ids = {c.run_id for c in configs}
    _print_tables([r for r in load_results(args.out) if r.id in ids], risk=False)
    print(f"\nresults: {Path(args.out).resolve()}")
    failed = [line for line in lines if FAILED in line]
    if failed:
        print(f"{len(failed)} runs failed (run the sweep again to retry them):", *failed, sep="\n  ", file=sys.stderr)
    return 1 if failed else 0


def _cmd_table(args) -> int:
    from empirical.run import usable_results
    from empirical.table import accuracy_table, risk_table
    from theory.verify import write_json

    if args.json:
        check_output_file(args.json)
    results = usable_results(args.folder)  # nothing usable: one line naming the folder and why, exit 2
    _print_tables(results, risk=args.risk)
    if args.json:
        write_json(args.json, {"accuracy": accuracy_table(results).to_dict(), "risk": risk_table(results).to_dict()})
        print(f"\nwrote {args.json}")
    return 0


def _cmd_exact(args) -> int:
    import dataclasses as dc

    from empirical.exact import default_grid, quick_grid, run_grid
    from empirical.table import Cell
    from theory.verify import write_json

    check_output_file(args.out)
    grid = quick_grid() if args.quick else default_grid()
    changes = {k: v for k, v in (("seeds", tuple(args.seeds) if args.seeds else None), ("steps", args.steps),
                                 ("ns", tuple(args.ns) if args.ns else None)) if v is not None}
    grid = dc.replace(grid, **changes)
    bar = Progress()
    try:
        result = run_grid(grid, device=args.device, progress=print, steps=bar)
    finally:
        bar.close()
    write_json(args.out, result.to_dict())
    n_max = max(grid.ns)
    print(f"\nexcess at n = {n_max:,} against the clean-label twin (mean ± std over {len(grid.seeds)} seeds); "
          "population: the risk minimisers within the model's class; bound: Theorem B\n")
    print("| model | loss | L excess | population | bound | 0-1 excess | population 0-1 |")
    print("|---|---|---|---|---|---|---|")
    for model in grid.models:
        for setting in grid.settings:
            sel = [p for p in result.points if p.model == model and p.label == setting.label and p.n_train == n_max]
            ex, zo = Cell(tuple(p.excess for p in sel)), Cell(tuple(p.zero_one_excess for p in sel))
            bound = "–" if sel[0].bound is None else f"{sel[0].bound:.4g}"
            print(f"| {model} | {setting.label} | {ex.format(digits=4)} | {sel[0].population_excess:.4g} | {bound} | "
                  f"{zo.format(digits=3)} | {sel[0].population_zero_one_excess:.3g} |")
    t = result.timings
    print(f"\n{t['runs']} runs trained in {t['train_s']:.1f} s, measured in {t['measure_s']:.1f} s on {t['device']}; "
          f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (the README's examples are parsed with it in the tests)."""
    parser = argparse.ArgumentParser(prog="python -m empirical", description=(
        "Train on CIFAR under label noise with the paper's protocol and measure risk against the bounds."))
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train one setting for one or more seeds",
                         description="Train one setting; every seed writes <out>/<run id>.json.")
    run.add_argument("--dataset", default="synthetic", choices=("cifar10", "cifar100", "synthetic"),
                     help="default: synthetic (generated, no files needed; seconds on a CPU)")
    run.add_argument("--noise", default="clean",
                     help="clean, symmetric:RATE, asymmetric:RATE[:reference], instance:RATE or human:NAME")
    run.add_argument("--method", default="ce", help="a registered loss (theory.losses.names()), e.g. ce_eps+mae")
    run.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                     help="loss hyper-parameter overriding the paper's default (repeatable)")
    run.add_argument("--seeds", type=_seeds, default=[123], help="comma-separated, default 123")
    _override_args(run)
    _environment_args(run)
    add_common_flags(run)
    run.set_defaults(func=_cmd_run)

    sweep = sub.add_parser("sweep", help="run a named grid (skips finished runs; resumable)")
    sweep.add_argument("--grid", help="a named grid (see --list)")
    sweep.add_argument("--list", action="store_true", help="list the named grids")
    sweep.add_argument("--executor", default="local", choices=("local", "slurm"))
    sweep.add_argument("--jobs", type=int, default=1, help="local: runs at once on this machine")
    sweep.add_argument("--batch-runs", type=int, default=None,
                       help="at most N compatible runs trained together as one network (default: by device and "
                            "memory; 1 on a CPU, where it does not pay)")
    sweep.add_argument("--partition", help="slurm partition")
    sweep.add_argument("--timeout-min", type=int, help="slurm time limit per run")
    sweep.add_argument("--gpus-per-node", type=int, help="slurm GPUs per run")
    sweep.add_argument("--cluster", help="submitit cluster (slurm, local, debug); default: auto-detect")
    sweep.add_argument("--no-wait", action="store_true", help="slurm: submit and return")
    _override_args(sweep)
    _environment_args(sweep)
    add_common_flags(sweep)
    sweep.set_defaults(func=_cmd_sweep)

    exact = sub.add_parser("exact", help="train linear models and MLPs on a finite X, every risk exact",
                           description="Train a linear model and an MLP under every loss of the grid on n noisy "
                           "samples of a distribution over a finite X, each against its clean-label twin, and "
                           "measure every risk exactly (empirical.exact); about 45 s on 2 CPU cores.")
    exact.add_argument("--out", default="results/exact.json", help="JSON file to write (default: results/exact.json)")
    exact.add_argument("--quick", action="store_true", help="the small test grid (seconds)")
    exact.add_argument("--seeds", type=_seeds, help="comma-separated seeds (default 0,1,2)")
    exact.add_argument("--ns", type=_sizes, help="comma-separated sample sizes (default 30,100,300,1000,3000)")
    exact.add_argument("--steps", type=int, help="SGD steps per run (default 2000)")
    exact.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    add_common_flags(exact)
    exact.set_defaults(func=_cmd_exact)

    table = sub.add_parser("table", help="mean ± std per method × noise setting from a results folder")
    table.add_argument("folder")
    table.add_argument("--risk", action="store_true", help="also the risk-vs-bound tables")
    table.add_argument("--json", help="write both tables as JSON to this path")
    add_common_flags(table)
    table.set_defaults(func=_cmd_table)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guarded(f"python -m empirical {args.command}", lambda: args.func(args), debug=args.debug)
