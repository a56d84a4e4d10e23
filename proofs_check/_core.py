"""Claims, verdicts and evidence: the data model of the registry.

A :class:`Claim` is one statement with a ``check`` function. Running it returns a
:class:`Result` whose verdict is one of three (:class:`theory.evidence.Verdict`: proved with a
certificate, verified and not refuted with the search recorded, refuted with a re-checked
witness).

The invariants are enforced when a Result is built, so a check cannot call something proved
without a certificate, nor refuted without a re-checked witness.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from theory.evidence import Budget, Evidence, Outcome, Verdict, Witness, jsonable, summarise

__all__ = [
    "Budget",
    "Claim",
    "Evidence",
    "Outcome",
    "Result",
    "Source",
    "Verdict",
    "Witness",
]


class Source(str, Enum):
    PAPER = "paper claim, reconstructed form"
    DERIVED = "derived property"


METHODS = ("symbolic", "exact finite problems", "numeric search")


@dataclass(frozen=True)
class Result:
    """A claim's verdict with its evidence. Tests assert on these fields, never on the text."""

    id: str
    statement: str
    source: Source
    methods: tuple[str, ...]
    verdict: Verdict
    evidence: tuple[Evidence, ...]
    witness: Witness | None
    data: Mapping[str, Any]
    note: str
    finding: str
    budget: str
    seed: int
    seconds: float

    def __post_init__(self):
        certs = [e for e in self.evidence if e.kind == "certificate"]
        if self.verdict is Verdict.PROVED and not certs:
            raise ValueError(f"claim {self.id}: 'proved' needs a certificate among its evidence")
        if self.verdict is Verdict.REFUTED and (self.witness is None or not self.witness.rechecked):
            raise ValueError(f"claim {self.id}: 'refuted' needs a witness that was re-checked")
        if self.verdict is Verdict.NOT_REFUTED and not self.evidence:
            raise ValueError(f"claim {self.id}: 'verified, not refuted' needs the search it rests on")

    @property
    def evidence_summary(self) -> str:
        """One line: the witness when refuted, otherwise the strongest evidence."""
        return summarise(self.evidence, self.witness)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["source"] = self.source.value
        out["verdict"] = self.verdict.value
        out["evidence_summary"] = self.evidence_summary
        return jsonable(out)


@dataclass(frozen=True)
class Claim:
    """One claim of the registry.

    Attributes
    ----------
    id : dotted identifier, e.g. ``"theorem_b.lipschitz"``.
    title : a few words for the table.
    statement : the precise statement that is checked, with its assumptions.
    source : paper claim in reconstructed form, or derived property (PAPER.md §0).
    methods : a subset of "symbolic", "exact finite problems", "numeric search".
    check : ``check(budget) -> Outcome``.
    expect : the verdicts the test-suite accepts; a claim known to be refuted lists REFUTED and
        explains why in ``finding``.
    finding : what a refutation means, reported prominently.
    """

    id: str
    title: str
    statement: str
    source: Source
    methods: tuple[str, ...]
    check: Callable[[Budget], Outcome]
    expect: frozenset[Verdict] = frozenset({Verdict.PROVED, Verdict.NOT_REFUTED})
    finding: str = ""

    def __post_init__(self):
        unknown = set(self.methods) - set(METHODS)
        if not self.methods or unknown:
            raise ValueError(f"claim {self.id}: methods must be a non-empty subset of {METHODS}, got {self.methods}")

    def run(self, budget: Budget | str = "default", *, seed: int = 0) -> Result:
        if isinstance(budget, str):
            budget = Budget(budget, seed)
        start = time.perf_counter()
        outcome = self.check(budget)
        if not isinstance(outcome, Outcome):
            raise TypeError(f"claim {self.id}: check must return an Outcome, got {type(outcome).__name__}")
        return Result(
            id=self.id, statement=self.statement, source=self.source, methods=self.methods,
            verdict=outcome.verdict, evidence=tuple(outcome.evidence), witness=outcome.witness,
            data=dict(outcome.data), note=outcome.note,
            finding=self.finding if outcome.verdict is Verdict.REFUTED else "",
            budget=budget.name, seed=budget.seed, seconds=time.perf_counter() - start,
        )


