"""The catalogue: every registered loss × every check of :func:`theory.checks.check_loss`, at K = 3
and 10, each verdict with its scope and evidence, beside the property the loss's literature states.

``python -m theory.checks --catalogue [--out DIR]`` writes ``catalogue.md`` and ``catalogue.json``
(the main job ``python -m figures`` builds it too, with a figure). Each (loss, K) is cached in
``DIR/.cache`` under a key made of the loss's definition (its registry entry: formula, source,
defaults, and the source code of every function it is built from), K, the budget, the seed and
the code of the ``theory`` package (every ``.py`` file's content): a change to one loss recomputes
that loss, a change to the engine recomputes everything, nothing stale is ever read.

Where the literature states a property (:data:`STATED`) and our verdict differs, the row carries a
note saying why (:data:`EXPLAINED`): a difference of notion or scope (the literature's
"noise-tolerant" is a statement about the risk minimiser over all functions under its own
assumptions; ours says which K, class and problems) or a finding. A disagreement without a note is
listed as *unexplained*, and the test-suite fails on one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import theory
from theory import losses
from theory.verify.io import jsonable, write_json, write_text
from theory.verify.parallel import in_processes
from theory.verify.registry import Tier

__all__ = ["DECLARED", "EXPLAINED", "FINDINGS", "STATED", "Catalogue", "Cell", "Row", "Stated", "build", "cache_key",
           "findings", "write"]

KS = (3, 10)
#: 2: every cell carries its check's typed data (what the catalogue's findings are made from)
SCHEMA = 2


@dataclass(frozen=True)
class Stated:
    """A property the literature states of a loss: the check that tests it, whether it holds, and where."""

    check: str
    holds: bool
    source: str


def _s(check: str, holds: bool, source: str) -> Stated:
    return Stated(check, holds, source)


GHOSH = "Ghosh, Kumar, Sastry, AAAI 2017 (Theorem 1: symmetric ⇒ tolerant to symmetric noise)"
APL = "Ma et al., ICML 2020 (Lemma 1: normalised losses are symmetric; Theorem: tolerant)"
ZHOU = "Zhou et al., ICCV 2021 (asymmetric losses: tolerant to clean-label-dominant noise, Theorem 2)"
ANL = "Ye et al., NeurIPS 2023 (NNLFs are normalised, hence symmetric and tolerant)"
ZHU = "Zhu, Ying, Yang, ICML 2023 (CE is All-k consistent; a symmetric top-1 consistent loss is not)"
PAPER_B = "Wang et al., NeurIPS 2024, Theorem B (symmetric noise: excess ≤ η(C₂−C₁)/((K−1)−Kη) for a bounded Σ_k L)"

#: the properties the literature states, per loss (the check that tests each)
STATED: dict[str, tuple[Stated, ...]] = {
    "ce": (_s("check_bounded_sum", False, GHOSH), _s("check_noise_tolerant_symmetric", False, GHOSH),
           _s("check_noise_tolerant_within_bound", False, PAPER_B + ": CE's sum is unbounded"),
           _s("check_allk_consistent", True, ZHU)),
    "mae": (_s("check_symmetric", True, GHOSH), _s("check_noise_tolerant_symmetric", True, GHOSH),
            _s("check_noise_tolerant_within_bound", True, PAPER_B + ": C₁ = C₂ gives the bound 0"),
            _s("check_allk_consistent", False, ZHU)),
    "mse": (_s("check_symmetric", False, GHOSH), _s("check_bounded_sum", True, GHOSH)),
    "gce": (_s("check_bounded_sum", True, "Zhang & Sabuncu, NeurIPS 2018 (Lemma 1: bounded)"),
            _s("check_symmetric", False, "Zhang & Sabuncu, NeurIPS 2018")),
    "rce": (_s("check_symmetric", True, "Wang et al., ICCV 2019 (RCE is symmetric, with A = −log 1e-4)"),),
    "nce": (_s("check_symmetric", True, APL), _s("check_noise_tolerant_symmetric", True, APL)),
    "nfl": (_s("check_symmetric", True, APL),),
    "ngce": (_s("check_symmetric", True, APL),),
    "nce+rce": (_s("check_noise_tolerant_symmetric", True, APL + ", APL Theorem 3"),),
    "nce+mae": (_s("check_noise_tolerant_symmetric", True, APL + ", APL Theorem 3"),),
    "agce": (_s("check_noise_tolerant_symmetric", True, ZHOU),),
    "aul": (_s("check_noise_tolerant_symmetric", True, ZHOU),),
    "ael": (_s("check_noise_tolerant_symmetric", True, ZHOU),),
    "nnce": (_s("check_symmetric", True, ANL),),
    "nnfl": (_s("check_symmetric", True, ANL),),
    "anl_ce": (_s("check_noise_tolerant_symmetric", True, ANL + " (Theorem: ANL is tolerant)"),),
    "zero_one": (_s("check_symmetric", True, GHOSH), _s("check_noise_tolerant_symmetric", True, GHOSH)),
    "js": (_s("check_bounded_sum", True, "Englesson & Azizpour, NeurIPS 2021 (JS is bounded; Proposition 2)"),),
    "taylor_ce": (_s("check_bounded_sum", True, "Feng et al., IJCAI 2020 (Taylor CE is bounded for finite t)"),),
    "phuber_ce": (_s("check_bounded_sum", True, "Menon et al., ICLR 2020 (the partially Huberised loss is bounded "
                                               "below 1/τ)"),),
    "brier": (_s("check_bounded_sum", True, GHOSH + " (MSE/Brier is bounded)"),),
    "label_smoothing": (_s("check_bounded_sum", False, "Lukasik et al., ICML 2020 (LS keeps CE's log)"),),
    "cs_hinge": (_s("check_bounded_sum", False, GHOSH + " (the hinge loss is unbounded)"),),
    "ce_eps+mae": (_s("check_noise_tolerant_within_bound", True, PAPER_B + " (ε-softmax: an excess-risk bound "
                                                                           "O(1/(1+m)), not an excess of 0)"),),
}

#: contract failures declared so that the property checks still run, with the reason (the loss is
#: what it is by design; the checks report the declared failure as "expected failure"). Only for
#: losses bounded below: NLS and CORES tend to −∞ as a probability goes to 0 (they reward −log p_k),
#: so no risk minimiser exists and their property checks rightly stay skipped behind check_finite.
DECLARED: dict[str, dict[str, str]] = {
    "zero_one": {"check_input_convention": "the 0-1 loss reads only the argmax, which adding a constant to every "
                                           "entry keeps: shift invariance is its nature, not a double softmax"},
    "confidence_penalty": {"check_finite": "the entropy bonus −β·H(p) ≥ −β·log K makes it negative near a vertex, by "
                                           "design (bounded below)"},
    "ldr_kl": {"check_finite": "λ·log of a mean of exponentials is negative where the label's score leads (bounded "
                               "below by −λ·log K)"},
}

_AUL_AEL = ("a difference of setting: Zhou et al.'s tolerance theorem takes the clean label as a function of x "
            "(P(y | x) one-hot); there the noisy minimiser is the clean vertex e_y at η = 0.25, 0.5, 0.6 for K = 3 "
            "and 10 (KKT, certified; tests/test_catalogue.py), so nothing contradicts it. Our check draws posteriors "
            "with mass on several classes, where the minimiser is interior and moves with the noise: the L-excess is "
            "positive (re-checked at 50 digits) while the 0-1 excess is 0")
#: why our verdict differs from the literature's, per (loss, check): a difference of notion or a finding
EXPLAINED: dict[tuple[str, str], str] = {
    ("aul", "check_noise_tolerant_symmetric"): _AUL_AEL,
    ("ael", "check_noise_tolerant_symmetric"): _AUL_AEL,
}


@dataclass(frozen=True)
class Cell:
    """One check on one loss at one K: status, verdict with its scope, evidence, and the literature's word."""

    check: str
    status: str
    verdict: str
    evidence: str
    stated: bool | None = None
    stated_source: str = ""
    agrees: bool | None = None
    note: str = ""
    #: the check's data (JSON types): the numbers its verdict rests on, read by :data:`FINDINGS`
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def holds(self) -> bool | None:
        """True (passed / unexpected pass), False (failed / expected failure), None (anything else)."""
        return {"passed": True, "unexpected pass": True, "failed": False, "expected failure": False}.get(self.status)


@dataclass(frozen=True)
class Row:
    """One loss at one K."""

    loss: str
    group: str
    K: int
    formula: str
    source: str
    header: str
    seconds: float
    cells: tuple[Cell, ...]
    cached: bool = False

    def cell(self, check: str) -> Cell:
        return next(c for c in self.cells if c.check == check)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"loss": self.loss, "group": self.group, "K": self.K, "formula": self.formula,
                         "source": self.source, "header": self.header, "seconds": self.seconds,
                         "cells": [c.__dict__ for c in self.cells]})

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, cached: bool = False) -> Row:
        return cls(d["loss"], d["group"], int(d["K"]), d["formula"], d["source"], d["header"], float(d["seconds"]),
                   tuple(Cell(**c) for c in d["cells"]), cached)


@dataclass(frozen=True)
class Catalogue:
    rows: tuple[Row, ...]
    budget: str = "default"
    seed: int = 0
    checks: tuple[str, ...] = field(default=())

    @property
    def disagreements(self) -> list[tuple[Row, Cell]]:
        return [(r, c) for r in self.rows for c in r.cells if c.agrees is False]

    @property
    def unexplained(self) -> list[tuple[Row, Cell]]:
        return [(r, c) for r, c in self.disagreements if not c.note]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"schema": SCHEMA, "version": theory.__version__, "budget": self.budget, "seed": self.seed,
                         "checks": list(self.checks), "rows": [r.to_dict() for r in self.rows],
                         "disagreements": len(self.disagreements), "unexplained": len(self.unexplained)})


# ----------------------------------------------------------------------------------------------
# Cache keys


def _package_digest() -> str:
    """The code that decides a verdict: every ``.py`` file of ``theory`` but this one (whose statements of
    the literature and explanations are applied to cached verdicts when a catalogue is built)."""
    root = Path(theory.__file__).resolve().parent
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _definition(name: str) -> str:
    """The loss's definition as text: its registry entry and the source of every function it is built from."""
    spec = losses.spec(name)
    parts = [spec.name, spec.formula, spec.source, spec.conventions, repr(sorted(spec.defaults.items())), spec.group,
             repr(sorted(DECLARED.get(name, {}).items()))]
    for sub in losses.get(name).walk():
        fn = getattr(sub, "fn", None)
        if fn is not None:
            try:
                parts.append(inspect.getsource(fn))
            except (OSError, TypeError):
                parts.append(repr(fn))
        parts.append(f"{type(sub).__name__}:{sub.name}:{sorted(sub.params.items())!r}")
    return "\n".join(parts)


def cache_key(name: str, K: int, budget: str, seed: int, package: str | None = None) -> str:
    payload = json.dumps([SCHEMA, theory.__version__, package or _package_digest(), _definition(name), K, budget, seed])
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


# ----------------------------------------------------------------------------------------------
# Building


def _annotated(row: Row) -> Row:
    """The row with the literature's statements and our explanations set beside its verdicts (applied
    when a catalogue is built, so that editing them never invalidates a cached verdict)."""
    stated = {s.check: s for s in STATED.get(row.loss, ())}
    cells = []
    for c in row.cells:
        s = stated.get(c.check)
        if s is None:
            cells.append(replace(c, stated=None, stated_source="", agrees=None, note=""))
            continue
        agrees = None if c.holds is None else c.holds == s.holds
        cells.append(replace(c, stated=s.holds, stated_source=s.source, agrees=agrees,
                             note=EXPLAINED.get((row.loss, c.check), "")))
    return replace(row, cells=tuple(cells))


def _run_one(name: str, K: int, budget: str, seed: int) -> dict[str, Any]:
    import time

    from theory.checks import check_loss

    spec = losses.spec(name)
    start = time.perf_counter()
    report = check_loss(name, num_classes=K, budget=budget, seed=seed, expected_failures=DECLARED.get(name))
    cells = tuple(Cell(r.check, r.status.value, r.verdict_text, r.evidence_summary if r.outcome else r.reason,
                       data=jsonable(r.data) if r.outcome else {})
                  for r in report.results)
    return Row(name, spec.group, K, spec.formula, spec.source, report.header, time.perf_counter() - start,
               cells).to_dict()


def _longest_first(todo: list[tuple[str, int, Path | None]]) -> list[tuple[str, int, Path | None]]:
    """The (loss, K, cache path) to compute, longest expected first, so that no worker is left with a
    long one while the others idle: larger K first, then by the time the entry this build replaces
    took (:func:`_previous_seconds`). The order of computing only; rows are reported in the caller's order."""
    return sorted(todo, key=lambda item: (-item[1], -_previous_seconds(item[2])))


def _previous_seconds(path: Path | None) -> float:
    """The time the last build of the same (loss, K) took, read from its cache entry under another key
    (the entry this build replaces); 0 when there is none. Only an order hint: never a verdict."""
    if path is None:
        return 0.0
    name_k = path.name.rsplit("-", 1)[0]
    for old in path.parent.glob(f"{name_k}-*.json"):
        try:
            return float(json.loads(old.read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0.0


def build(names: Iterable[str] | None = None, *, Ks: Sequence[int] = KS, budget: str = "default", seed: int = 0,
          cache: str | os.PathLike | None = None, jobs: int = 1, progress=None) -> Catalogue:
    """Check every loss in ``names`` (default: every registered loss of the paper and the literature)
    at each K, reading and writing the cache folder ``cache`` when given; ``jobs`` processes."""
    names = list(names) if names is not None else losses.names("paper") + losses.names("literature")
    for n in names:
        losses.spec(n)  # KeyError naming the registered losses
    package = _package_digest()
    cache_dir = Path(cache) if cache is not None else None
    rows: dict[tuple[str, int], Row] = {}
    todo = []
    for name in names:
        for K in Ks:
            path = cache_dir / f"{name}-K{K}-{cache_key(name, K, budget, seed, package)}.json" if cache_dir else None
            if path is not None and path.is_file():
                try:
                    rows[(name, K)] = Row.from_dict(json.loads(path.read_text()), cached=True)
                    continue
                except (ValueError, KeyError, TypeError):
                    pass  # an unreadable cache entry is recomputed
            todo.append((name, K, path))
    todo = _longest_first(todo)
    done = 0

    def keep(name, K, path, d):
        nonlocal done
        rows[(name, K)] = Row.from_dict(d)
        if path is not None:
            for stale in path.parent.glob(f"{name}-K{K}-*.json"):
                stale.unlink(missing_ok=True)
            write_json(path, d)
        done += 1
        if progress is not None:
            progress(f"{name} K={K}", done, len(todo))

    for i, d in in_processes(_run_one, [(n, K, budget, seed) for n, K, _ in todo], jobs=jobs):
        keep(*todo[i], d)
    ordered = tuple(_annotated(rows[(n, K)]) for n in names for K in Ks)
    checks = tuple(dict.fromkeys(c.check for r in ordered for c in r.cells))
    return Catalogue(ordered, budget, seed, checks)


# ----------------------------------------------------------------------------------------------
# Writing

_MARK = {"passed": "✓", "unexpected pass": "✓!", "failed": "✗", "expected failure": "✗", "inconclusive": "?",
         "skipped": "–", "error": "E"}


def markdown(cat: Catalogue) -> str:
    short = [c.removeprefix("check_") for c in cat.checks]
    lines = ["# Catalogue of losses × checks", "",
             f"Every registered loss of the paper and of the literature, checked by `theory.checks.check_loss` at "
             f"K = {', '.join(str(k) for k in sorted({r.K for r in cat.rows}))} (budget {cat.budget}, seed {cat.seed}). "
             "✓ passed, ✗ failed (refuted, with a re-checked witness), ? inconclusive, – skipped (a requirement "
             "failed or the check does not apply), E error. **Bold** marks a cell where the literature states the "
             "property; ≠ where our verdict differs from it (explained below). A verdict covers exactly its scope: "
             "the K, the domain and the finite problems named in the JSON.", "",
             "| loss | group | K | " + " | ".join(short) + " |", "|---|---|---|" + "---|" * len(short)]
    for r in cat.rows:
        cells = []
        by = {c.check: c for c in r.cells}
        for check in cat.checks:
            c = by.get(check)
            if c is None:
                cells.append("")
                continue
            mark = _MARK.get(c.status, c.status)
            if c.stated is not None:
                mark = f"**{mark}**" + (" ≠" if c.agrees is False else "")
            cells.append(mark)
        lines.append(f"| [{r.loss}](catalogue_evidence.md#{_anchor(r)}) | {r.group} | {r.K} | " + " | ".join(cells) + " |")
    lines += ["", "## Where our verdict differs from the literature", ""]
    if not cat.disagreements:
        lines.append("None.")
    for r, c in cat.disagreements:
        lines.append(f"- **{r.loss}**, `{c.check}`, K = {r.K}: the literature states it "
                     f"{'holds' if c.stated else 'does not hold'} ({c.stated_source}); ours: {c.status}, {c.verdict}. "
                     + (c.note if c.note else "**Unexplained.**") + f" Evidence: {c.evidence}")
    lines += ["", "## Losses", ""]
    seen = set()
    for r in cat.rows:
        if r.loss in seen:
            continue
        seen.add(r.loss)
        lines.append(f"- **{r.loss}** ({r.group}): {r.formula}. Source: {r.source}.")
    return "\n".join(lines) + "\n"


def _anchor(row: Row) -> str:
    """The heading id GitHub-style renderers give ``## <loss> at K = <K>``."""
    text = f"{row.loss} at K = {row.K}".lower()
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" if ch == " " else "" for ch in text)


def evidence_markdown(cat: Catalogue) -> str:
    """Every cell's verdict, scope and evidence, one section per (loss, K): what the table links to."""
    lines = ["# Catalogue evidence", "", "Every check of every loss at every K: status, verdict with its scope, and "
             "the evidence (witness with its re-check, or the search that found none). The table is in "
             "[catalogue.md](catalogue.md); the same in JSON in catalogue.json.", ""]
    for r in cat.rows:
        lines += [f"## {r.loss} at K = {r.K}", "", f"{r.formula}. Source: {r.source}. {r.header.splitlines()[0]}", ""]
        for c in r.cells:
            said = (f" — the literature: {'holds' if c.stated else 'does not hold'} ({c.stated_source})"
                    + (f"; we differ: {c.note or 'unexplained'}" if c.agrees is False else "")) if c.stated is not None \
                else ""
            lines.append(f"- `{c.check}`: **{c.status}**, {c.verdict}. {c.evidence}{said}")
        lines.append("")
    return "\n".join(lines)


def write(cat: Catalogue, out: str | os.PathLike) -> tuple[Path, Path]:
    """catalogue.md (the table, linking each row to its evidence in catalogue_evidence.md) and catalogue.json."""
    out = Path(out)
    write_text(out / "catalogue_evidence.md", evidence_markdown(cat))
    return write_text(out / "catalogue.md", markdown(cat)), write_json(out / "catalogue.json", cat.to_dict())


# ----------------------------------------------------------------------------------------------
# Findings: the sentences the README publishes about the catalogue, made from its cells
# (:mod:`theory.findings`; ``python -m theory.checks --catalogue --findings README.md`` rewrites them)

def _tier(tier: Tier) -> tuple[str, ...]:
    """The checks of one tier, in the order they run (from the checks' registry)."""
    from theory.checks import describe_checks

    return tuple(c["name"] for c in describe_checks() if c["tier"] == tier.value)


def _ks(Ks: Iterable[int]) -> str:
    return "K = " + ", ".join(str(K) for K in sorted(Ks))


def _grouped(by_loss: dict[str, Any]) -> list[tuple[list[str], Any]]:
    """Losses with the same detail, together, in the order first seen: [(losses, detail), ...]."""
    groups: dict[Any, list[str]] = {}
    for loss, detail in by_loss.items():
        groups.setdefault(detail, []).append(loss)
    return [(names, detail) for detail, names in groups.items()]


def _numerics(cat: Catalogue) -> str:
    """Per numerics check: the losses it fails for, at which K and in which precisions, grouped;
    the number it passes for; the losses it does not reach."""
    lines = []
    for check in _tier(Tier.NUMERICS):
        failing: dict[str, tuple[frozenset[int], tuple[str, ...]]] = {}
        passed, skipped = set(), set()
        for r in cat.rows:
            cell = next((c for c in r.cells if c.check == check), None)
            if cell is None:
                continue
            if cell.holds is False:
                Ks, precisions = failing.get(r.loss, (frozenset(), ()))
                where = cell.data.get("failing") or {}
                named = tuple(p for p in cell.data.get("precisions", list(where)) if p in where)
                failing[r.loss] = (Ks | {r.K}, tuple(dict.fromkeys(precisions + named)))
            elif cell.holds is True:
                passed.add(r.loss)
            elif cell.status == "skipped":
                skipped.add(r.loss)
        passed -= set(failing)
        unreached = skipped - passed - set(failing)
        parts = []
        for names, (Ks, precisions) in _grouped(failing):
            parts.append(f"{', '.join(names)} ({_ks(Ks)}" + (f"; in {', '.join(precisions)}" if precisions else "") + ")")
        text = f"- `{check}` fails for " + ("; ".join(parts) if parts else "no loss")
        text += f"; passes for the other {len(passed)}" if parts else f"; passes for {len(passed)}"
        if unreached:
            text += f"; does not reach {', '.join(sorted(unreached))} (a requirement failed)"
        lines.append(text)
    return "\n".join(lines)


def _contracts(cat: Catalogue) -> str:
    """Which losses fail a contract check undeclared, and what that leaves of their checks: a loss not
    finite on the simplex's faces only is checked on the open simplex; one not finite (or negative)
    inside it has its property and numerics checks skipped. Then the failures declared by design."""
    faces: set[str] = set()
    inside: dict[str, set[str]] = {}
    other: dict[str, tuple[str, ...]] = {}
    declared: dict[str, tuple[str, ...]] = {}
    skipped: dict[str, int] = {}
    contracts = _tier(Tier.CONTRACT)
    for r in cat.rows:
        for c in r.cells:
            if c.check not in contracts:
                continue
            if c.status == "expected failure":
                declared[r.loss] = tuple(dict.fromkeys((*declared.get(r.loss, ()), c.check)))
            elif c.status == "failed" and c.check == "check_finite" and c.data.get("faces_only"):
                faces.add(r.loss)
            elif c.status == "failed" and c.check == "check_finite":
                inside.setdefault(r.loss, set()).update(c.data.get("counts", {}))
            elif c.status == "failed":
                other[r.loss] = tuple(dict.fromkeys((*other.get(r.loss, ()), c.check)))
        if r.loss in inside or r.loss in other:
            skipped[r.loss] = skipped.get(r.loss, 0) + sum(c.status == "skipped" for c in r.cells)
    parts = []
    if faces:
        parts.append(f"{', '.join(sorted(faces))} fail `check_finite` on the simplex's faces only, so their "
                     "property checks run on the open simplex")
    for names, kinds in _grouped({n: tuple(sorted(k)) for n, k in sorted(inside.items())}):
        parts.append(f"{', '.join(names)} fail it inside the simplex too ({', '.join(kinds)} values), so "
                     f"{sum(skipped[n] for n in names)} of their property and numerics cells are skipped")
    for names, checks in _grouped(other):
        parts.append(f"{', '.join(names)} fail {', '.join(f'`{c}`' for c in checks)} "
                     f"({sum(skipped[n] for n in names)} cells skipped)")
    if declared:
        parts.append("declared by design, so their checks run: "
                     + "; ".join(f"{', '.join(names)} ({', '.join(f'`{c}`' for c in checks)})"
                                 for names, checks in _grouped(declared)))
    text = "; ".join(parts) if parts else "every loss meets every contract"
    return f"Contract checks over {len({r.loss for r in cat.rows})} losses at {_ks({r.K for r in cat.rows})}: {text}"


def _disagreements(cat: Catalogue) -> str:
    """Every cell where our verdict differs from the literature's statement, with the numbers behind it,
    and how many stated cells agree."""
    stated = [(r, c) for r in cat.rows for c in r.cells if c.stated is not None]
    decided = [(r, c) for r, c in stated if c.agrees is not None]
    groups: dict[tuple[str, str, str], dict[str, list[Row]]] = {}
    for r, c in cat.disagreements:
        groups.setdefault((c.check, c.status, c.stated_source), {}).setdefault(r.loss, []).append(r)
    parts = []
    for (check, status, source), by_loss in groups.items():
        rows = [r for rs in by_loss.values() for r in rs]
        cells = [r.cell(check) for r in rows]
        numbers = ""
        if all("max_excess" in c.data for c in cells):
            zero_one = max(c.data.get("max_zero_one_excess", 0.0) for c in cells)
            numbers = (f", L-excess up to {max(c.data['max_excess'] for c in cells):.3g} with 0-1 excess "
                       + ("0" if zero_one == 0 else f"up to {zero_one:.3g}"))
        parts.append(f"{' and '.join(by_loss)}, `{check}` at {_ks({r.K for r in rows})}: the literature states it "
                     f"holds ({source}); ours: {status}{numbers}"
                     + ("" if all(c.note for c in cells) else " (unexplained)"))
    head = (f"Of {len(stated)} cells where the literature states a property, {len(decided)} are decided and "
            f"{len(decided) - len(cat.disagreements)} of those agree")
    return head + (": " + "; ".join(parts) if parts else ": none disagrees")


def _paper_loss(cat: Catalogue, name: str = "ce_eps+mae") -> str:
    """The paper's loss in the two notions of noise tolerance, per K, with the numbers of each."""
    parts = []
    for r in (r for r in cat.rows if r.loss == name):
        within, exact = r.cell("check_noise_tolerant_within_bound"), r.cell("check_noise_tolerant_symmetric")
        w = within.data.get("worst", {})
        text = f"at K = {r.K}: within the bound {within.status}"
        if "max_excess" in within.data and w:
            text += (f" (max excess {within.data['max_excess']:.3g}; worst ratio to the bound {within.data['max_ratio']:.3g}, "
                     f"excess {w['excess']:.3g} against {w['bound']:.3g} at η = {w['eta']:.3g})")
        text += f", exactly {exact.status}"
        if "max_excess" in exact.data:
            text += f" (0-1 excess {exact.data.get('max_zero_one_excess', 0.0):.3g})"
        parts.append(text)
    return f"{name} at its defaults, symmetric noise over tabular predictors: " + "; ".join(parts)


#: finding id → the text made from a built catalogue (the README's marked blocks of the catalogue)
FINDINGS: dict[str, Callable[[Catalogue], str]] = {
    "catalogue.disagreements": _disagreements,
    "catalogue.paper_loss": _paper_loss,
    "catalogue.contracts": _contracts,
    "catalogue.numerics": _numerics,
}


def findings(cat: Catalogue, ids: Iterable[str] | None = None) -> dict[str, str]:
    """{finding id: its text} for ``ids`` (default: every catalogue finding) from ``cat``."""
    return {i: FINDINGS[i](cat) for i in (FINDINGS if ids is None else ids)}
