"""``python -m theory.checks LOSS -K 10``: run :func:`theory.checks.check_loss` from a shell.

LOSS is ``package.module:function`` (any importable callable loss(x, y), per example or returning
the batch mean or sum), ``package.module:Class`` (a loss class such as an ``nn.Module``, built with
``--init NAME=VALUE``), a path ``path/to/file.py:name``, or a registered loss name (``gce``,
``ce_eps+mae``; its parameters with ``--param NAME=VALUE``).

Exit status: 0 when every property checked holds or is undecided (inconclusive checks are listed,
not failed; declared expected failures do not count), 1 when a property does not hold for the loss
(a check failed unexpectedly), 2 for bad arguments or a loss that cannot be loaded or adapted, 3 when
the checker itself failed (a check raised: a bug in the check, reported as ERROR, not a verdict).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from theory import losses
from theory.checks import LossSource, check_loss, check_names, describe_checks
from theory.cli import Progress, add_common_flags, check_output_file, check_output_folder, message, plain
from theory.losses import Input
from theory.verify import Budget, Status, write_json


def load(target: str, params: dict[str, Any]) -> Any:
    """The loss named by ``module:attr``, ``file.py:attr`` or a registry name (with ``params``)."""
    if ":" not in target:
        return losses.get(target, **params)  # KeyError lists the registered names
    if params:
        raise ValueError("--param applies to registered losses; set a callable's parameters in its code (or a "
                         "class's with --init)")
    module_name, _, attr = target.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise FileNotFoundError(f"no file {path} (from {target!r})")
    try:
        if module_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ImportError(f"no module named {err.name!r} (importing {module_name}, from {target!r})") from err
    except (Exception, SystemExit) as err:  # noqa: BLE001  (the user's module ran and failed: name the argument)
        raise ImportError(f"importing {module_name} (from {target!r}) raised {type(err).__name__}: {err} "
                          "(run with --debug for the traceback)") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(f"{module_name} has no attribute {attr!r} (from {target!r})")
        obj = getattr(obj, part)
    return obj


def build(target: str, obj: Any, init: dict[str, Any]) -> Any:
    """``obj(**init)`` for a class (a loss module), ``obj`` itself for anything else (``--init`` then refused)."""
    if not isinstance(obj, type):
        if init:
            raise ValueError(f"--init builds a class, but {target} is {type(obj).__name__} {obj!r}; drop --init")
        return obj
    try:
        return obj(**init)
    except Exception as err:  # noqa: BLE001  (the user's constructor: say which arguments it was given)
        given = ", ".join(f"{k}={v!r}" for k, v in init.items()) or "no arguments"
        raise ValueError(f"{target}({given}) raised {type(err).__name__}: {err}"
                         + ("" if init else "; pass its arguments with --init NAME=VALUE")) from None


def _source(target: str, obj: Any, init_args: list[str], init: dict[str, Any], params: list[str]) -> LossSource:
    """The shell target as given, and for an importable class the Python that builds it."""
    shell = target + "".join(f" --param {p}" for p in params) + "".join(f" --init {a}" for a in init_args)
    module_name, _, attr = target.rpartition(":")
    if not isinstance(obj, type) or module_name.endswith(".py") or not module_name:
        return LossSource(shell)
    args = ", ".join(f"{k}={v!r}" for k, v in init.items())
    top = attr.split(".")[0]
    return LossSource(shell, f"from {module_name} import {top}; ", f"{attr}({args})")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{flag} takes NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (the README's examples are parsed with it in the tests)."""
    parser = argparse.ArgumentParser(prog="python -m theory.checks", description=plain(__doc__.split("\n\n")[0]),
                                     epilog=plain(__doc__.split("\n\n")[-1].strip()),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("loss", nargs="?", help="module:function, file.py:function or a registered loss name")
    parser.add_argument("-K", "--num-classes", type=int, default=10, help="number of classes (default 10)")
    parser.add_argument("--input", choices=[i.value for i in Input], default=None,
                        help="what a callable receives (default probs; library losses know their own)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of a registered loss (repeatable), e.g. --param q=0.5")
    parser.add_argument("--init", action="append", default=[], metavar="NAME=VALUE",
                        help="an argument of a loss class's constructor (repeatable), e.g. --init num_classes=10; "
                             "values are Python literals")
    parser.add_argument("--check", action="append", dest="checks", metavar="NAME", help="run only this check "
                        "(repeatable; its requirements run too)")
    parser.add_argument("--expect-fail", action="append", default=[], metavar="CHECK=REASON",
                        help="declare an expected failure with its reason (repeatable)")
    parser.add_argument("--thorough", action="store_true", help="the thorough budget (larger samples and grids)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per call of a callable (default 30)")
    parser.add_argument("--backend", choices=("auto", "numpy", "torch"), default="auto")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON (atomically)")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--catalogue", action="store_true",
                        help="check every registered loss of the paper and the literature at K = 3 and 10 and write "
                             "catalogue.md and catalogue.json to --out (cached per loss in --out/.cache)")
    parser.add_argument("--out", default="outputs/catalogue", help="the catalogue's folder (default outputs/catalogue)")
    parser.add_argument("--losses", help="with --catalogue: comma-separated registered names (default: every loss of "
                                         "the paper and the literature)")
    parser.add_argument("--jobs", type=int, default=None, help="processes for the catalogue (default: min(2, CPUs))")
    parser.add_argument("--findings", metavar="PATH", type=Path,
                        help="with --catalogue (every loss): also rewrite the catalogue's marked findings of a Markdown "
                             "file such as README.md (<!-- finding: catalogue.ID --> … <!-- /finding -->)")
    add_common_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        for c in describe_checks():
            print(f"{c['name']:<40} {c['tier']:<9} {c['statement']}")
        return 0
    if args.findings is not None and not args.catalogue:
        parser.error("--findings rewrites the catalogue's findings: it needs --catalogue")
    if args.catalogue:
        if args.loss is not None:
            parser.error("--catalogue checks every registered loss; drop the LOSS argument")
        if args.findings is not None and args.losses:
            parser.error("--findings describes the whole catalogue: drop --losses")
        return _catalogue(parser, args)
    if args.loss is None:
        parser.error("a LOSS is required (module:function, file.py:function or a registered name)")
    try:
        if args.json:
            check_output_file(args.json)
        params = {k: _value(v) for k, v in _pairs(args.param, "--param").items()}
        init = {k: _value(v) for k, v in _pairs(args.init, "--init").items()}
        found = load(args.loss, params)
        loss = build(args.loss, found, init)
        source = _source(args.loss, found, args.init, init, args.param)
        expected = _pairs(args.expect_fail, "--expect-fail")
        for name in [*(args.checks or []), *expected]:
            if name not in check_names():
                raise ValueError(f"no check named {name!r}; known: {', '.join(check_names())}")
        progress = Progress()
        budget = Budget("thorough" if args.thorough else "default", args.seed, progress=progress)
        try:
            report = check_loss(loss, num_classes=args.num_classes, input=args.input, budget=budget, seed=args.seed,
                                expected_failures=expected, checks=args.checks, backend=args.backend,
                                name=args.loss if ":" in args.loss else None, time_limit=args.time_limit,
                                source=source)
        finally:
            progress.close()
    except (ImportError, AttributeError, OSError, KeyError, TypeError, ValueError, SyntaxError) as err:
        if args.debug:
            raise
        parser.exit(2, f"python -m theory.checks: error: {message(err)}\n")
    print(report)
    if args.json:
        print(f"report written to {write_json(args.json, report.to_dict())}")
    return exit_status(report)


#: exit statuses of ``python -m theory.checks`` (the module docstring says what each means)
HOLDS, DOES_NOT_HOLD, BAD_INPUT, CHECKER_FAILED = 0, 1, 2, 3


def exit_status(report) -> int:
    """:data:`CHECKER_FAILED` when a check erred (its verdict is missing, whatever the others say),
    :data:`DOES_NOT_HOLD` when a check failed unexpectedly, :data:`HOLDS` otherwise."""
    if any(r.status is Status.ERROR for r in report.results):
        return CHECKER_FAILED
    return HOLDS if report.passed else DOES_NOT_HOLD


def _catalogue(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from theory.checks import catalogue
    from theory.findings import marked, rewrite
    from theory.verify.parallel import default_jobs

    try:
        check_output_folder(args.out)
        if args.jobs is not None and args.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
        if args.findings is not None:
            wanted = [i for i in marked(args.findings.read_text()) if i in catalogue.FINDINGS]
            if not wanted:
                raise ValueError(f"{args.findings} has no marked finding of the catalogue "
                                 f"(<!-- finding: ID --> … <!-- /finding -->; IDs: {', '.join(catalogue.FINDINGS)})")
    except (OSError, ValueError) as err:
        parser.exit(2, f"python -m theory.checks: error: {message(err)}\n")
    try:
        names = [n.strip() for n in args.losses.split(",") if n.strip()] if args.losses else None
        for n in names or []:
            losses.spec(n)
    except KeyError as err:
        parser.exit(2, f"python -m theory.checks: error: {message(err)}\n")
    progress = Progress()
    try:
        cat = catalogue.build(names, budget="thorough" if args.thorough else "default", seed=args.seed,
                              cache=Path(args.out) / ".cache", jobs=args.jobs or default_jobs(), progress=progress)
    finally:
        progress.close()
    md, js = catalogue.write(cat, args.out)
    errors = [(r.loss, r.K, c.check) for r in cat.rows for c in r.cells if c.status == "error"]
    print(f"{len(cat.rows)} (loss, K) rows, {sum(r.cached for r in cat.rows)} from the cache; "
          f"{len(cat.disagreements)} disagreement(s) with the literature, {len(cat.unexplained)} unexplained; "
          f"{len(errors)} error(s)\nwritten {md} and {js}")
    if args.findings is not None:
        changed = rewrite(args.findings, catalogue.findings(cat, wanted))
        print(f"{len(wanted)} catalogue finding(s) in {args.findings}; "
              + (f"rewritten: {', '.join(changed)}" if changed else "all as computed"))
    return 1 if errors or cat.unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
