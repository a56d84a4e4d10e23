"""The paper's claims as checks of the one engine (:mod:`theory.verify.registry`, target "paper"),
and how proofs_check runs them: in a context with no subject, whose reproduce lines are
``proofs_check``'s own, one claim at a time or many in worker processes.

A claim is declared with :func:`claim` where it is proved; :mod:`proofs_check.claims` lists every
claim in one place, in the paper's order, and registers that list.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from theory.verify import Budget, Check, Method, Origin, Result, Target, Tier, Verdict, registry, run_check
from theory.verify.parallel import in_processes
from theory.verify.runner import Context, Reproduce

__all__ = ["Claim", "all_claims", "claim", "get", "ids", "paper_context", "register", "run_claims"]


@dataclass(frozen=True)
class Claim(Check):
    """A claim of the paper: a check with target "paper" that runs on its own (:meth:`run`)."""

    def run(self, budget: Budget | str = "default", *, seed: int = 0) -> Result:
        """Run this claim in a fresh context (:func:`paper_context`) and return its Result."""
        return run_check(self, paper_context(budget, seed=seed))


#: every claim's default reference: the paper, with its statements as this package writes them (the claims
#: report states each one it refers to: proofs_check.statements)
PAPER = "Wang et al., ε-Softmax, NeurIPS 2024 (statements as reconstructed here: see the report's preamble)"


def claim(id: str, title: str, statement: str, *, origin: Origin, methods: tuple[str, ...], expect: Verdict,
          finding: str = "", reference: str = PAPER, seconds: float = 1.0):
    """Declare ``fn(ctx) -> Outcome`` as the paper claim ``id`` (the decorated name becomes the
    :class:`Claim`; :mod:`proofs_check.claims` registers it). ``expect`` is the verdict the test-suite
    and ``python -m proofs_check`` expect (a claim expected to be refuted states its ``finding``);
    ``seconds`` its rough cost at the default budget, for scheduling."""

    def decorate(fn: Callable[[Context], object]) -> Claim:
        return Claim(id, Target.PAPER, Tier.CLAIM, title, statement, origin, reference,
                     tuple(Method(m) for m in methods), fn, expect=expect, finding=finding, seconds=seconds)

    return decorate


def register(claims: Iterable[Claim]) -> None:
    """Register ``claims`` in the engine, in the order given (the report's order)."""
    for c in claims:
        if not isinstance(c, Claim):
            raise TypeError(f"expected a Claim (a function decorated with @claim), got {type(c).__name__}")
        registry.register(c)


def get(claim_id: str) -> Claim:
    """The claim with this id, or its unique prefix match (``"theorem_b"`` fails if ambiguous)."""
    return registry.get(claim_id, Target.PAPER)


def ids() -> list[str]:
    return registry.ids(Target.PAPER)


def all_claims() -> list[Claim]:
    return [get(i) for i in ids()]


# ----------------------------------------------------------------------------------------------
# Running claims


def paper_context(budget: Budget | str = "default", *, seed: int = 0) -> Context:
    """A context for the claims: no subject, the budget (a name and ``seed``, or a
    :class:`~theory.verify.Budget`), and reproduce lines that re-run one claim as printed."""
    if isinstance(budget, str):
        budget = Budget(budget, seed)

    def reproduce(check: Check) -> Reproduce:
        thorough = " --thorough" if budget.thorough else ""
        return Reproduce(
            python=(f"from proofs_check import claims; claims.get({check.id!r}).run({budget.name!r}, "
                    f"seed={budget.seed})"),
            shell=f"python -m proofs_check --claim {check.id} --seed {budget.seed}{thorough}")

    return Context(None, budget=budget, reproduce=reproduce, subject_name="paper")


def _run_claim(claim_id: str, budget_name: str, seed: int, progress: bool) -> Result:
    """One claim in a fresh context (in a worker process too: importing the package registers the claims)."""
    import proofs_check.claims  # noqa: F401

    budget = Budget(budget_name, seed, progress=_progress_line if progress else None)
    return run_check(get(claim_id), paper_context(budget))


def _progress_line(claim_id: str, done: int, total: int) -> None:
    print(f"  … {claim_id}: {done}/{total}", file=sys.stderr, flush=True)


def run_claims(selected: list[str], *, budget: str = "default", seed: int = 0, jobs: int = 1,
               on_done: Callable[[Result, int, int], None] | None = None, progress: bool = True) -> list[Result]:
    """Run the claims ``selected`` (ids) and return their results in that order; ``jobs`` > 1 runs
    them in worker processes, the longest first. ``on_done(result, done, total)`` is called as each
    finishes; ``progress`` prints the claims' own step counters to stderr."""
    Budget(budget, seed)  # validate before any process starts
    order = sorted(selected, key=lambda i: -get(i).seconds) if jobs > 1 else list(selected)
    results: dict[str, Result] = {}
    calls = [(i, budget, seed, progress) for i in order]
    for _, r in in_processes(_run_claim, calls, jobs=jobs, in_order=False):
        results[r.check] = r
        if on_done:
            on_done(r, len(results), len(selected))
    return [results[i] for i in selected]
