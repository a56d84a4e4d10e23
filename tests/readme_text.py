"""The README's code, as the tests read it: its fenced blocks and its shell lines (continuations
joined, trailing comments dropped), so that every test that runs or parses an example reads the
same text the user does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS: list[tuple[str, str]] = re.findall(r"```(python|bash)\n(.*?)```", README, re.S)
#: shell lines of other programs than the package's commands (the install line's last command is the package's)
OTHER_PROGRAMS = ("pip install", "python -m pytest")


def block(containing: str) -> str:
    """The one Python or shell block whose code contains ``containing``."""
    (code,) = [code for _, code in BLOCKS if containing in code]
    return code


def shell_lines() -> list[str]:
    """Every command line of the README's shell blocks, continuation lines joined and a trailing
    ``# comment`` dropped; of the set-up line (``a && b && python -m figures``) its last command."""
    lines = []
    for lang, code in BLOCKS:
        if lang != "bash":
            continue
        for line in code.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].strip() if " # " in line else line.strip()
            if "&&" in line:
                line = line.split("&&")[-1].strip()
            if line:
                lines.append(" ".join(line.split()))
    return lines


def package_lines() -> list[str]:
    """The shell lines that run one of the package's commands (not pip, not pytest)."""
    return [line for line in shell_lines() if not line.startswith(OTHER_PROGRAMS)]


def command(starting: str) -> list[str]:
    """The README's shell command that starts with ``starting``, as argv."""
    found = [line for line in shell_lines() if line.startswith(starting)]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} README commands start with {starting!r}")
    return shlex.split(found[0])


def alternatives(line: str) -> list[str]:
    """A synopsis line ``cmd [--a 1 | --b 2] [--c]`` as the command lines it stands for: the base, and
    the base with each alternative of each bracket."""
    groups = re.findall(r"\[([^\]]*)\]", line)
    base = re.sub(r"\s*\[[^\]]*\]", "", line)
    return [base] + [f"{base} {alt.strip()}" for g in groups for alt in g.split("|")]
