"""``python -m theory.check LOSS -K 10``: run :func:`theory.checks.check_loss` from a shell.

LOSS is ``package.module:function`` (any importable callable loss(x, y)), a path
``path/to/file.py:function``, or a registered loss name (``gce``, ``ce_eps+mae``). The exit status
is 0 when no check failed unexpectedly, 1 when one did, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from theory import losses
from theory.checks import check_loss, check_names, describe_checks
from theory.evidence import Budget, write_json


def load(target: str) -> Any:
    """The loss named by ``module:attr``, ``file.py:attr`` or a registry name."""
    if ":" not in target:
        return losses.get(target)  # KeyError lists the registered names
    module_name, _, attr = target.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise FileNotFoundError(f"no file {path} (from {target!r})")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(f"{module_name} has no attribute {attr!r} (from {target!r})")
        obj = getattr(obj, part)
    return obj


def _expected(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        check, sep, reason = item.partition("=")
        if not sep or not reason.strip():
            raise ValueError(f"--expect-fail takes CHECK=REASON, got {item!r}")
        out[check.strip()] = reason.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("loss", nargs="?", help="module:function, file.py:function or a registered loss name")
    parser.add_argument("-K", "--num-classes", type=int, default=10, help="number of classes (default 10)")
    parser.add_argument("--input", choices=("probs", "logits"), default=None,
                        help="what a callable receives (default probs; library losses know their own)")
    parser.add_argument("--check", action="append", dest="checks", metavar="NAME", help="run only this check "
                        "(repeatable; its requirements run too)")
    parser.add_argument("--expect-fail", action="append", default=[], metavar="CHECK=REASON",
                        help="declare an expected failure with its reason (repeatable)")
    parser.add_argument("--thorough", action="store_true", help="the thorough budget (larger samples and grids)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("auto", "numpy", "torch"), default="auto")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON (atomically)")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for c in describe_checks():
            print(f"{c['name']:<40} {c['tier']:<9} {c['statement']}")
        return 0
    if args.loss is None:
        parser.error("a LOSS is required (module:function, file.py:function or a registered name)")
    try:
        loss = load(args.loss)
        expected = _expected(args.expect_fail)
        for name in [*(args.checks or []), *expected]:
            if name not in check_names():
                raise ValueError(f"no check named {name!r}; known: {', '.join(check_names())}")
        budget = Budget("thorough" if args.thorough else "default", args.seed,
                        progress=lambda label, done, total: print(f"  {label}: {done}/{total}", file=sys.stderr))
        report = check_loss(loss, num_classes=args.num_classes, input=args.input, budget=budget, seed=args.seed,
                            expected_failures=expected, checks=args.checks, backend=args.backend,
                            name=args.loss if ":" in args.loss else None)
    except (ImportError, AttributeError, FileNotFoundError, KeyError, TypeError, ValueError) as err:
        parser.exit(2, f"python -m theory.check: error: {err}\n")
    print(report)
    if args.json:
        print(f"report written to {write_json(args.json, report.to_dict())}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
