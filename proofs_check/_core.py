"""Claims, verdicts and evidence: the data model of the registry.

A :class:`Claim` is one statement with a ``check`` function. Running it returns a
:class:`Result` whose verdict is one of three (DESIGN.md §3):

``proved``                 with a certificate (a sympy expression that simplified to exactly 0,
                           or a closed form with its assumptions);
``verified, not refuted``  the numeric search and/or exact finite problems found no
                           counterexample within the recorded budget and seed;
``refuted``                with a witness that was re-checked in exact or high-precision
                           arithmetic.

The invariants are enforced when a Result is built, so a check cannot call something proved
without a certificate, nor refuted without a re-checked witness.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np

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


class Verdict(str, Enum):
    PROVED = "proved"
    NOT_REFUTED = "verified, not refuted"
    REFUTED = "refuted"


class Source(str, Enum):
    PAPER = "paper claim, reconstructed form"
    DERIVED = "derived property"


METHODS = ("symbolic", "exact finite problems", "numeric search")


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence.

    ``kind`` is "certificate" (a symbolic proof: what simplified to 0 and under which
    assumptions), "tightness" (how close the observed values come to a bound), "search" (what
    was searched, with which budget and seed, and the worst case seen) or "measurement" (a
    measured curve or table kept in ``data``).
    """

    kind: str
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        kinds = ("certificate", "tightness", "search", "measurement")
        if self.kind not in kinds:
            raise ValueError(f"evidence kind must be one of {kinds}, got {self.kind!r}")


@dataclass(frozen=True)
class Witness:
    """A counterexample: the inputs, what was observed and what the claim expected.

    ``recheck`` says how the witness was confirmed independently of the search (exact rational
    arithmetic or an mpmath evaluation at ``digits`` significant digits) and ``rechecked`` whether
    that confirmation succeeded. Only a re-checked witness refutes a claim.
    """

    inputs: Mapping[str, Any]
    observed: str
    expected: str
    recheck: str
    rechecked: bool


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; :meth:`Claim.run` adds identity, budget and timing."""

    verdict: Verdict
    evidence: tuple[Evidence, ...] = ()
    witness: Witness | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Budget:
    """How hard numeric checks search. ``pick(default, thorough)`` selects a size by name.

    ``progress`` is called as ``progress(claim_id, done, total)`` by long sweeps.
    """

    name: str = "default"
    seed: int = 0
    progress: Callable[[str, int, int], None] | None = None

    def __post_init__(self):
        if self.name not in ("default", "thorough"):
            raise ValueError(f"budget must be 'default' or 'thorough', got {self.name!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def thorough(self) -> bool:
        return self.name == "thorough"

    def pick(self, default: Any, thorough: Any) -> Any:
        return thorough if self.thorough else default

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([int(self.seed), int(salt)])

    def tick(self, claim_id: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(claim_id, done, total)


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
        if self.witness is not None:
            return f"witness {_short(self.witness.inputs)}: {self.witness.observed} (re-checked: {self.witness.recheck})"
        order = {"certificate": 0, "tightness": 1, "search": 2, "measurement": 3}
        best = sorted(self.evidence, key=lambda e: order[e.kind])
        return "; ".join(e.summary for e in best[:2])

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["source"] = self.source.value
        out["verdict"] = self.verdict.value
        out["evidence_summary"] = self.evidence_summary
        return _jsonable(out)


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


def _short(inputs: Mapping[str, Any]) -> str:
    parts = []
    for k, v in inputs.items():
        if isinstance(v, (list, tuple, np.ndarray)):
            v = "[" + ", ".join(_fmt(x) for x in np.asarray(v, dtype=object).ravel()[:6]) + "]"
        else:
            v = _fmt(v)
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.4g}"
    return str(x)


def _jsonable(x: Any) -> Any:
    """Convert numpy, sympy, enums and infinities into plain JSON values."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, Enum):
        return x.value
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")
    if x is None or isinstance(x, str):
        return x
    return str(x)
