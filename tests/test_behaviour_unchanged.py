"""A change of structure changes no report: the claims report and the check_loss reports of
``tests/report_fingerprint.py`` equal, field for field, those of the reference commit below, at the
default budget and seed 0 (only the seconds things took may differ).

REFERENCE is the commit whose reports the restructuring of issue 27 (layers, types, one home for
constants) must keep. A change that is meant to change a report moves REFERENCE to the commit that
made it, and says why there: the history of REFERENCE below is the list of such changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "report_fingerprint.py"
#: 0c9daf11ca: issue 26 closed, issue 27 not begun.
#: bb63c59c97: the linear class's search starts no longer share the problem's random stream (a defect):
#: the linear-class claims' in-class minimisers move at float level, every verdict and status the same.
#: 6bbc9eb4c3: the second searches of the re-checks draw from keyed streams instead of seed + 1: only their
#: minimisers and the texts quoting them move (the 7th digit of an excess); every verdict and status the same.
#: 91edf71aa0: issue 28 §1: a new check (check_noise_tolerant_within_bound), a summary on every check_loss report,
#: the class-conditional check decided where it was skipped behind check_symmetric, "exactly" in the exact notion's
#: statements and messages (and the 0-1 excess in its failure); the claims report and every other verdict the same.
#: 00199755ec: issue 28 §2: the claims' default reference names the paper (not PAPER.md), findings are generated (the
#: theorem_b.ce_eps m-dependence sentence), phrases fixed ("argued: ;", "m ∈ 1 values", "k ∈ [1, 3]"),
#: theorem_b.lipschitz_eps's statement names each budget's losses, linear-class rows carry tabular_clean_error and
#: the moves claim its "tried"; every verdict and status the same, every check_loss report the same.
#: 599fd9d3e4: the noise checks' re-check searches a logit loss's minimisers again in a box 8 times wider and
#: confirms only an excess the wider box reproduces: the re-check texts name both boxes and witness_detail
#: carries them (CE+LC and the user's module here, whose excesses the wider box reproduces exactly); every
#: verdict and status the same.
REFERENCE = "599fd9d3e4"


def _git(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def _reference_tree(dest: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the reference commit cannot be read")
    if _git("rev-parse", "--verify", "--quiet", f"{REFERENCE}^{{commit}}").returncode != 0:
        pytest.skip(f"the reference commit {REFERENCE} is not in this checkout (a shallow clone or an archive)")
    archive = subprocess.run(["git", "archive", REFERENCE], cwd=ROOT, capture_output=True, check=True).stdout
    dest.mkdir()
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _fingerprint(tree: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(out)], cwd=tree, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"the reports of {tree} could not be computed:\n{done.stderr[-4000:]}"
    return json.loads(out.read_text())


def _without_timings(value, root: str):
    """The report with every ``seconds`` field dropped and the tree's own path made neutral."""
    if isinstance(value, dict):
        return {k: _without_timings(v, root) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timings(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<tree>")
    return value


def _differences(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in the reference" for k in a.keys() - b.keys()]
        out += [f"{path}.{k}: only now" for k in b.keys() - a.keys()]
        for k in sorted(a.keys() & b.keys()):
            out += _differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:300]!r} then, {str(b)[:300]!r} now"]


@pytest.mark.slow
def test_every_report_is_the_reference_commits_field_for_field(tmp_path):
    reference = _reference_tree(tmp_path / "reference")
    with ThreadPoolExecutor(2) as pool:  # the two trees in two processes at once
        then, now = pool.map(lambda args: _fingerprint(*args),
                             [(reference, tmp_path / "then.json"), (ROOT, tmp_path / "now.json")])
    then, now = _without_timings(then, str(reference)), _without_timings(now, str(ROOT))
    assert [c["check"] for c in then["claims"]] == [c["check"] for c in now["claims"]]
    assert sorted(then["losses"]) == sorted(now["losses"])
    differences = _differences(then, now)
    assert not differences, "\n".join(differences[:40])


def test_a_changed_field_is_reported_with_its_path():
    """The comparison itself can fail: one changed verdict text, one dropped field, one extra claim."""
    then = {"claims": [{"check": "a", "verdict_text": "proved", "seconds": 1.0}], "losses": {}}
    assert _differences(_without_timings(then, "/x"),
                        _without_timings({"claims": [{"check": "a", "verdict_text": "proved", "seconds": 9.0}],
                                          "losses": {}}, "/y")) == []
    changed = {"claims": [{"check": "a", "verdict_text": "refuted"}], "losses": {}}
    assert _differences(_without_timings(then, "/x"), changed) == [".claims[0].verdict_text: 'proved' then, 'refuted' now"]
    assert _differences({"a": 1, "b": 2}, {"a": 1}) == [".b: only in the reference"]
    assert _differences({"c": [1]}, {"c": [1, 2]}) != []
