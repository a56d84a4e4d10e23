"""Running the paper's claims (optionally in worker processes) and rendering the report."""

from __future__ import annotations

from collections.abc import Callable

from proofs_check.statements import PREAMBLE
from theory.verify import Result, Status
from theory.verify.parallel import default_jobs
from theory.verify.report import render as _render
from theory.verify.report import render_markdown as _render_markdown

__all__ = ["as_expected", "default_jobs", "render", "render_markdown", "run_all"]


def run_all(ids: list[str], *, budget: str = "default", seed: int = 0, jobs: int = 1,
            on_done: Callable[[Result, int, int], None] | None = None, progress: bool = True) -> list[Result]:
    """Run the claims ``ids`` (registry order is kept); ``jobs`` > 1 uses processes."""
    from proofs_check.claims import run_claims

    return run_claims(ids, budget=budget, seed=seed, jobs=jobs, on_done=on_done, progress=progress)


def render(results: list[Result]) -> str:
    """The claims report: the table, then findings, inconclusive results and errors."""
    return _render(results, header="The paper's claims (proofs_check)")


def render_markdown(results: list[Result]) -> str:
    """The claims report as Markdown: every statement, verdict and piece of evidence in full."""
    return _render_markdown(results, title="The paper's claims (proofs_check)", preamble=PREAMBLE)


def as_expected(results: list[Result]) -> bool:
    """Every claim ran and reached exactly the verdict its registry entry expects."""
    from proofs_check import claims

    return all(r.status is not Status.ERROR and r.verdict is claims.get(r.check).expect for r in results)
