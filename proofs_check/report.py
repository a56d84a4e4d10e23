"""Running many claims (optionally in worker processes) and rendering the report."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from proofs_check._core import Budget, Result, Verdict
from theory.evidence import short

__all__ = ["Failure", "render", "run_all"]


@dataclass(frozen=True)
class Failure:
    """A claim whose check raised: an error in the check or the library, never a verdict."""

    id: str
    error: str
    seconds: float

    def to_dict(self) -> dict:
        return {"id": self.id, "verdict": "error", "error": self.error, "seconds": self.seconds}


def _run_one(claim_id: str, budget_name: str, seed: int, progress: bool = True) -> Result | Failure:
    from proofs_check import claims

    start = time.perf_counter()
    try:
        budget = Budget(budget_name, seed, progress=_progress_line if progress else None)
        return claims.get(claim_id).run(budget, seed=seed)
    except Exception:  # reported as an error row; the run goes on with the other claims
        return Failure(claim_id, traceback.format_exc(limit=4), time.perf_counter() - start)


def _progress_line(claim_id: str, done: int, total: int) -> None:
    print(f"  … {claim_id}: {done}/{total}", file=sys.stderr, flush=True)


def run_all(ids: list[str], *, budget: str = "default", seed: int = 0, jobs: int = 1,
            on_done: Callable[[Result | Failure, int, int], None] | None = None,
            progress: bool = True) -> list[Result | Failure]:
    """Run the claims ``ids`` (registry order is kept in the output); ``jobs`` > 1 uses processes;
    ``progress`` prints the claims' own step counters to stderr."""
    Budget(budget, seed)  # validate early
    results: dict[str, Result | Failure] = {}
    if jobs > 1 and len(ids) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_run_one, i, budget, seed, progress): i for i in ids}
            for fut in as_completed(futures):
                r = fut.result()
                results[r.id] = r
                if on_done:
                    on_done(r, len(results), len(ids))
    else:
        for i in ids:
            r = _run_one(i, budget, seed, progress)
            results[i] = r
            if on_done:
                on_done(r, len(results), len(ids))
    return [results[i] for i in ids]


def _cell(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render(results: list[Result | Failure], *, width: int = 70) -> str:
    """The report as text: a table, then findings (refuted claims with witnesses) and errors."""
    head = ["id", "statement", "source", "method", "verdict", "evidence", "time"]
    rows = []
    for r in results:
        if isinstance(r, Failure):
            rows.append([r.id, "", "", "", "ERROR", _cell(r.error.strip().splitlines()[-1], width), f"{r.seconds:.1f}s"])
            continue
        src = "paper (reconstructed)" if r.source.name == "PAPER" else "derived"
        rows.append([r.id, _cell(r.statement, 48), src, " + ".join(r.methods), r.verdict.value,
                     _cell(r.evidence_summary, width), f"{r.seconds:.1f}s"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [line(head), "-+-".join("-" * w for w in widths), *map(line, rows)]
    refuted = [r for r in results if isinstance(r, Result) and r.verdict is Verdict.REFUTED]
    if refuted:
        out += ["", "FINDINGS (refuted claims, witnesses re-checked):"]
        for r in refuted:
            w = r.witness
            out += [f"* {r.id}: {r.statement}", f"  witness: {short(w.inputs)}", f"  observed: {w.observed}; expected: "
                    f"{w.expected}", f"  re-check: {w.recheck}"]
            if r.finding:
                out.append(f"  finding: {r.finding}")
    failures = [r for r in results if isinstance(r, Failure)]
    if failures:
        out += ["", "ERRORS:"] + [f"* {f.id}:\n{f.error}" for f in failures]
    total = sum(r.seconds for r in results)
    counts = {v.value: sum(isinstance(r, Result) and r.verdict is v for r in results) for v in Verdict}
    out += ["", f"{len(results)} claims: " + ", ".join(f"{n} {k}" for k, n in counts.items()) +
            (f", {len(failures)} errors" if failures else "") + f" (claim time {total:.1f}s)"]
    return "\n".join(out)


def as_expected(results: list[Result | Failure]) -> bool:
    """Every claim ran and its verdict is one its registry entry expects."""
    from proofs_check import claims

    return all(not isinstance(r, Failure) and r.verdict in claims.get(r.id).expect for r in results)


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))
