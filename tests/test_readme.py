"""The README's examples for checking a loss run as written: the Python blocks are executed from
the README's own text, the shell line through the command's entry point. (Every other block of the
README is not yet run by a test; see the issue tracker.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from theory.checks.__main__ import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```(python|bash)\n(.*?)```", README, re.S)


def _block(containing: str) -> str:
    (code,) = [code for _, code in BLOCKS if containing in code]
    return code


def _command(starting: str) -> list[str]:
    """The README's shell command that starts with ``starting``, continuation lines joined, comment dropped."""
    for _, code in BLOCKS:
        joined = code.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.startswith(starting):
                return shlex.split(line, comments=True)
    raise AssertionError(f"no README command starts with {starting!r}")


def test_the_parametrize_example_declares_exactly_the_failures_of_its_loss(capsys):
    ns: dict = {}
    exec(_block("def my_loss"), ns)  # "Checking your own loss", as written: K = 10, the whole report
    report = ns["report"]
    exec(_block("parametrize_with_checks([my_loss]"), ns)
    (mark,) = ns["test_my_loss"].pytestmark
    declared = set(mark.args[1][0].values[1].args[0].expected)  # the context the README's decorator built
    assert {r.check for r in report.failures} == declared, report.summary
    for param in mark.args[1]:  # each generated test passes, xfails or skips: none fails
        loss, check = param.values
        try:
            check(loss)
        except (pytest.xfail.Exception, pytest.skip.Exception):
            pass


def test_the_expect_fail_example_exits_0():
    argv = _command("python -m theory.checks gce")
    assert argv[:3] == ["python", "-m", "theory.checks"]
    assert main(argv[3:]) == 0
