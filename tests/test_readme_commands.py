"""Every shell line of the README's package commands, run as written: each line is taken from the
README's own text and run in a fresh folder by ``python -m`` (the interpreter running these
tests), and what the README says it does is checked — its exit status and the files it says it
writes. A line is completed only where the README leaves a name to the reader, and visibly here
(:data:`COMPLETED`): ``my_pkg`` is the README's own code written to a module, ``DIR`` a folder.

The catalogue's cache is seeded from the session's whole catalogue (the same package, so the same
cache keys): the README's catalogue lines and the main job read it as a user's second run does.
A line that cannot run here says why in :data:`NOT_RUN` (GPU scale, or a budget of many minutes),
and the fast test below fails when a README line is neither run nor declared."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from readme_text import ROOT, alternatives, block, package_lines

#: lines not run, by their start, and why: what they need is a GPU or many minutes (each is parsed by
#: its command's own parser in tests/test_readme.py)
NOT_RUN = {
    "python -m proofs_check --thorough": "the thorough budget takes 745 s on 2 cores; the default budget runs here",
    "python -m empirical run --dataset cifar10": "the paper protocol: 120 epochs of the 8-layer CNN on CIFAR-10, "
                                                 "three seeds, a GPU job (the GPU protocol runs it)",
    "python -m empirical sweep --grid paper-cifar10": "the paper's CIFAR-10 grid, GPU hours (SLURM or local GPUs)",
}

#: the names the README leaves to the reader, and what this test puts there
COMPLETED = {"DIR": "outputs/chosen-losses"}


@dataclass(frozen=True)
class Line:
    """A README line to run (it starts with ``start``), the exit status the README implies, and what
    it must have written: ``check(folder, completed process)`` raises AssertionError otherwise."""

    start: str
    status: int = 0
    check: Callable[[Path, subprocess.CompletedProcess], None] | None = None


def _json(path: Path):
    assert path.is_file(), f"{path} was not written"
    return json.loads(path.read_text())


def _checks_listed(folder: Path, done: subprocess.CompletedProcess) -> None:
    from theory.checks import check_names

    assert [line.split()[0] for line in done.stdout.splitlines() if line.strip()] == check_names()


def _my_loss_report(folder: Path, done: subprocess.CompletedProcess) -> None:
    """The report of the README's loss fails exactly the checks the README's parametrize example declares."""
    import ast

    report = _json(folder / "report.json")
    failed = {r["check"] for r in report["results"] if r["status"] == "failed"}
    decorator = block("parametrize_with_checks([my_loss]")
    declared = ast.literal_eval(decorator[decorator.index("expected_failures=") + len("expected_failures="):
                                          decorator.index("})") + 1])
    assert failed == set(declared), failed


def _catalogue(folder: Path, *, losses: list[str] | None) -> None:
    from theory import losses as registry
    from theory.checks import catalogue

    data = _json(folder / "catalogue.json")
    names = losses or registry.names("paper") + registry.names("literature")
    assert [(r["loss"], r["K"]) for r in data["rows"]] == [(n, K) for n in names for K in catalogue.KS]
    assert (folder / "catalogue.md").is_file() and data["unexplained"] == 0


def _whole_catalogue(folder: Path, done: subprocess.CompletedProcess) -> None:
    _catalogue(folder / "outputs" / "catalogue", losses=None)


def _chosen_catalogue(folder: Path, done: subprocess.CompletedProcess) -> None:
    _catalogue(folder / COMPLETED["DIR"], losses=["js", "anl_ce"])


def _exact(runs: int) -> Callable[[Path, subprocess.CompletedProcess], None]:
    def check(folder: Path, done: subprocess.CompletedProcess) -> None:
        assert len(_json(folder / "results" / "exact.json")["runs"]) == runs  # the README's count

    return check


def _drawn_from_saved(folder: Path, done: subprocess.CompletedProcess) -> None:
    """The figure drew the 48 runs of --quick's exact.json, not the default grid it would train."""
    assert (folder / "outputs" / "figures" / "trained_vs_bound.png").is_file()
    assert len(_json(folder / "outputs" / "figures" / "exact_runs.json")["runs"]) == 48


def _claims(folder: Path, done: subprocess.CompletedProcess) -> None:
    report = _json(folder / "out" / "claims.json")
    assert [r["check"] for r in report["results"]] == ["theorem_b.ce_eps"]
    assert "theorem_b.ce_eps" in (folder / "out" / "claims.md").read_text()


def _synthetic_run(folder: Path, done: subprocess.CompletedProcess) -> None:
    (run,) = [_json(p) for p in (folder / "results").glob("*.json") if p.name != "exact.json"]
    assert run["status"] == "finished" and run["config"]["dataset"] == "synthetic" and len(run["history"]) == 3


def _smoke(folder: Path, done: subprocess.CompletedProcess) -> None:
    runs = [_json(p) for p in (folder / "results" / "smoke").glob("*.json")]
    assert len(runs) == 8 and all(r["status"] == "finished" and r["config"]["dataset"] == "synthetic"
                                  and len(r["history"]) == 3 for r in runs)  # "8 synthetic runs, 3 epochs"


def _results_only(folder: Path, done: subprocess.CompletedProcess) -> None:
    """The three figures from results, and no claims run."""
    out = folder / "outputs" / "figures"
    assert {"accuracy_curves.png", "risk_vs_bound.png", "accuracy_table.md"} <= {p.name for p in out.iterdir()}
    assert not (out / "claims.json").exists()


def _main_job(folder: Path, done: subprocess.CompletedProcess) -> None:
    """The claims report, every theory and bound-versus-trained figure and table, into outputs/figures/."""
    import figures
    from proofs_check import claims

    out = folder / "outputs" / "figures"
    assert [r["check"] for r in _json(out / "claims.json")["results"]] == claims.ids()  # exit 0: each as expected
    drawn = [p.stem for p in out.glob("*.png")]  # a figure's files start with its name (consistency_table.png)
    missing = [name for name, f in figures.FIGURES.items() if not f.from_results
               and not any(stem.startswith(name) for stem in drawn)]
    assert not missing, (missing, drawn)
    for table in ("claims.md", "catalogue.md", "catalogue.json", "consistency_table.md", "exact_runs.json"):
        assert (out / table).is_file(), table


def _one_figure(name: str) -> Callable[[Path, subprocess.CompletedProcess], None]:
    def check(folder: Path, done: subprocess.CompletedProcess) -> None:
        assert (folder / "outputs" / "figures" / f"{name}.png").is_file()

    return check


def _table(folder: Path, done: subprocess.CompletedProcess) -> None:
    """Exit 0 means it found usable runs (it exits 2 on none); with --json, both tables in the file."""
    if "--json" in done.args:
        assert {"accuracy", "risk"} <= set(_json(folder / "t.json"))


#: the lines run, in an order where each finds what it needs (the README's order but for that)
RUN = [
    Line("python -m theory.checks --list", check=_checks_listed),
    Line("python -m theory.checks my_pkg.my_mod:my_loss", status=1, check=_my_loss_report),
    Line("python -m theory.checks gce"),
    Line("python -m theory.checks my_pkg.losses:NCEandRCE"),  # exit 0: each property holds or is undecided
    Line("python -m theory.checks --catalogue --out outputs/catalogue", check=_whole_catalogue),
    Line("python -m theory.checks --catalogue --losses js,anl_ce", check=_chosen_catalogue),
    Line("python -m proofs_check --claim theorem_b.ce_eps", check=_claims),
    Line("python -m proofs_check"),  # exit 0: every claim's verdict is the expected one
    Line("python -m empirical exact --quick", check=_exact(48)),
    Line("python -m figures trained_vs_bound --results results", check=_drawn_from_saved),
    Line("python -m empirical exact", check=_exact(780)),
    Line("python -m empirical run --dataset synthetic --epochs 3", check=_synthetic_run),
    Line("python -m empirical sweep --list"),
    Line("python -m empirical table results/", check=_table),
    Line("python -m empirical sweep --grid smoke", check=_smoke),
    Line("python -m figures --results-only", check=_results_only),
    Line("python -m figures theorem_b", check=_one_figure("theorem_b")),
    Line("python -m figures", check=_main_job),
    Line("python -m figures --results results/", check=_main_job),
]


def _entry(line: str) -> str:
    """The RUN or NOT_RUN start that ``line`` belongs to: the longest that it starts with and that is
    followed by a space or the end (so that "python -m figures" is the bare main job only)."""
    starts = [s for s in [*(r.start for r in RUN), *NOT_RUN] if line == s or line.startswith(s + " ")]
    bare = [s for s in starts if line == s]
    if bare:
        return bare[0]
    return max(starts, key=len) if starts else ""


def test_every_readme_command_is_run_or_declared_not_run():
    lines = package_lines()
    entries = [_entry(line) for line in lines]
    assert all(entries), [line for line, e in zip(lines, entries) if not e]
    assert sorted(set(entries)) == sorted({*(r.start for r in RUN), *NOT_RUN}), "a RUN or NOT_RUN entry no README line has"


def _my_pkg(folder: Path) -> None:
    """``my_pkg``, which the README's lines name, holding the README's own code: ``my_mod.my_loss``
    (the "Checking your own loss" block, up to its report) and ``losses.NCEandRCE`` (the module block,
    up to its report)."""
    pkg = folder / "my_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, anchor in (("my_mod", "def my_loss"), ("losses", "class NCEandRCE(torch.nn.Module)")):
        code = block(anchor)
        (pkg / f"{name}.py").write_text(code[:code.index("\nreport = ")] + "\n")


def _seed_catalogue_cache(folder: Path, cache: Path) -> None:
    for target in ("outputs/catalogue/.cache", f"{COMPLETED['DIR']}/.cache", "outputs/figures/.catalogue-cache"):
        shutil.copytree(cache, folder / target)


def _argv(line: str) -> list[str]:
    argv = shlex.split(line)
    argv = [COMPLETED.get(a, a) for a in argv]
    return [sys.executable, *argv[1:]]  # "python" is the interpreter running the tests


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path, whole_catalogue, catalogue_cache):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    _my_pkg(tmp_path)
    _seed_catalogue_cache(tmp_path, catalogue_cache)
    # the package these tests import, whichever way it is installed; the folder itself comes first (python -m)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    ran = set()
    for entry in RUN:
        # each line once: the main job is both the set-up line's last command and the figures block's first
        lines = dict.fromkeys(line for line in package_lines() if _entry(line) == entry.start)
        for variant in (v for line in lines for v in alternatives(line)):
            done = subprocess.run(_argv(variant), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
            tail = (done.stdout[-1500:] + done.stderr[-1500:]).strip()
            assert done.returncode == entry.status, f"{variant}: exit {done.returncode}\n{tail}"
            if entry.check is not None:
                entry.check(tmp_path, done)
            ran.add(entry.start)
    assert ran == {r.start for r in RUN}  # every entry ran a README line
