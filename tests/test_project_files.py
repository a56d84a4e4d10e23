"""The files that say what the package is — LICENSE, CITATION.cff, CHANGELOG.md — agree with its
metadata (pyproject.toml) and with each other, so that a release cannot leave one behind; and what
every command line shares (--version, plain --help, progress only on a terminal)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import theory

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _cff_value(key: str) -> str:
    """A top-level scalar of CITATION.cff (key: value at the start of a line)."""
    match = re.search(rf"^{key}:\s*(.+)$", (ROOT / "CITATION.cff").read_text(), re.MULTILINE)
    assert match, f"CITATION.cff has no top-level {key!r}"
    return match.group(1).strip().strip('"')


def test_the_license_file_is_the_license_the_metadata_declares():
    declared = _project()["license"]["text"]
    assert (ROOT / "LICENSE").read_text().splitlines()[0] == f"{declared} License"
    assert _cff_value("license") == declared


def test_the_citation_and_the_changelog_name_the_packages_version():
    version = _project()["version"]
    assert theory.__version__ == version
    assert _cff_value("version") == version
    assert re.search(rf"^## {re.escape(version)}\b", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)


def test_the_citation_cites_the_paper_it_verifies():
    cff = (ROOT / "CITATION.cff").read_text()
    assert _cff_value("cff-version") == "1.2.0"
    assert "ε-Softmax: Approximating One-Hot Vectors for Mitigating Label Noise" in cff
    assert "arXiv:2508.02387" in cff and "NeurIPS 2024" in cff


# ----------------------------------------------------------------------------------------------
# What every command line shares: --version, --help in plain text, progress only on a terminal

COMMANDS = ["proofs_check", "theory", "theory.checks", "figures", "empirical"]


def _run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_prints_its_version_and_plain_help(module):
    from theory import __version__

    done = _run_module(module, "--version")
    assert done.returncode == 0 and done.stdout.split() == [*f"python -m {module}".split(), "(eps-softmax-verify)",
                                                            __version__]
    helped = _run_module(module, "--help")
    assert helped.returncode == 0 and "usage: python -m " + module in helped.stdout
    assert not re.search(r"``|:[a-z]+:`", helped.stdout), helped.stdout  # no Sphinx markup


def test_plain_turns_sphinx_roles_into_words():
    from theory.cli import plain

    assert plain("``a b``: :func:`theory.checks.check_loss`, :class:`~theory.verify.Report`, :data:`x <y.z>`") == \
        "a b: theory.checks.check_loss, Report, x"


def test_progress_draws_on_a_terminal_and_stays_silent_elsewhere(capsys):
    from theory.cli import Progress

    quiet = Progress()  # pytest's captured stderr is not a terminal
    quiet("step", 1, 3)
    quiet.close()
    assert capsys.readouterr().err == ""
    shown = Progress(enabled=True)
    for done in range(4):
        shown("check_loss: check_symmetric", done, 3)
    shown.close()
    err = capsys.readouterr().err
    assert "check_loss: check_symmetric" in err and "3/3" in err


# ----------------------------------------------------------------------------------------------
# torch: the extra pins this sandbox's CPU build for CI; a newer torch a user has is kept


def _requirements() -> dict[str, list[str]]:
    """{"core" or an extra's name: its requirement strings} from pyproject.toml."""
    project = _project()
    return {"core": project["dependencies"], **project["optional-dependencies"]}


def test_only_the_torch_extra_names_torch_so_installing_without_it_keeps_a_users_torch():
    """pip changes an installed torch only for a requirement that names it: with the core and the
    other extras free of torch, ``pip install -e '.[dev]'`` (the README's line for a newer torch)
    leaves it as it is, while CI's ``.[torch,dev]`` keeps the extra's range."""
    from theory.xp import TORCH_MIN

    naming = {group for group, reqs in _requirements().items()
              if any(re.match(r"torch\b", r.strip(), re.IGNORECASE) for r in reqs)}
    assert naming == {"torch"}
    (req,) = _requirements()["torch"]
    lower = re.search(r">=\s*([\d.]+)", req)
    assert lower and tuple(int(x) for x in lower.group(1).split(".")) == TORCH_MIN, req
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e \".[dev]\"" in readme  # the line the README gives a user with a newer torch


@pytest.mark.parametrize("version, usable", [("2.13.0+cpu", True), ("2.2.0", True), ("2.15.0", True),
                                             ("2.14.0+cu126", True), ("3.0.0a0", True), ("2.1.2", False),
                                             ("1.13.1+cu117", False), ("nightly", False)])
def test_torch_is_refused_only_below_the_minimum_never_above(version, usable):
    from theory.xp import TORCH_MIN, torch_version_problem

    problem = torch_version_problem(version)
    assert (problem is None) == usable, problem
    if problem is not None:
        assert version in problem and ".".join(map(str, TORCH_MIN)) in problem.replace(">= ", "")


def test_a_torch_older_than_the_minimum_is_a_clear_import_error(monkeypatch):
    torch = pytest.importorskip("torch")
    from theory.xp import require_torch

    monkeypatch.setattr(torch, "__version__", "2.1.0")
    with pytest.raises(ImportError, match=r"needs torch >= 2\.2, found 2\.1\.0"):
        require_torch()
    monkeypatch.setattr(torch, "__version__", "2.99.0")
    assert require_torch() is torch
