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
