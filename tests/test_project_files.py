"""The files that say what the package is — LICENSE, CITATION.cff, CHANGELOG.md — agree with its
metadata (pyproject.toml) and with each other, so that a release cannot leave one behind."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

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
