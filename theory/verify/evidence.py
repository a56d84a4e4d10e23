"""Verdicts and the evidence they rest on; the rules that tie them together are written here once.

Four verdicts:

``proved``                 every part of the statement is covered by a certificate: a proof whose
                           every step is *computed* (sympy reduced it to exactly 0, or decided its
                           sign) or *cited* (another proof that is itself fully mechanised).
``verified, not refuted``  no counterexample: numeric search, exact finite problems or a proof
                           with *argued* (prose) steps cover the statement, with their budget.
``refuted``                a counterexample whose re-check (exact / 50-digit arithmetic, or an
                           independent second computation) *confirmed* it.
``inconclusive``           the evidence cannot decide: a violation the re-check could neither
                           confirm nor dismiss, or a test that could not have failed (vacuous).

Each verdict-bearing :class:`Evidence` says what it ``covers`` (which K, which notion, which
class of predictors). :func:`decide` derives the verdict and its :class:`Part` list from the
evidence and the witness, so the verdict text always states its scope ("proved for K = 2..6;
not refuted for K = 10, 100" is not "proved"). :class:`Outcome` checks the rules when it is
built, so no code path can produce a verdict its evidence does not support.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from theory.formatting import vector

__all__ = [
    "Evidence",
    "Kind",
    "Outcome",
    "Part",
    "Proof",
    "Recheck",
    "Step",
    "StepKind",
    "Verdict",
    "Witness",
    "decide",
    "short",
]


class Verdict(str, Enum):
    PROVED = "proved"
    NOT_REFUTED = "verified, not refuted"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


class Kind(str, Enum):
    """What a piece of evidence is, and so which verdict it supports for what it covers."""

    CERTIFICATE = "certificate"  # a fully mechanised proof: supports "proved"
    ARGUMENT = "argument"  # a proof with argued (prose) or unreduced steps: "not refuted" at most
    SEARCH = "search"  # a search that found no counterexample: "not refuted"
    MEASUREMENT = "measurement"  # measured values (exact or float) that agree with the statement: "not refuted"
    UNDECIDED = "undecided"  # a test that could not decide (vacuous, unconfirmable): "inconclusive"
    TIGHTNESS = "tightness"  # how close measured values come to a bound: supports no verdict by itself


_PART_VERDICT = {Kind.CERTIFICATE: Verdict.PROVED, Kind.ARGUMENT: Verdict.NOT_REFUTED,
                 Kind.SEARCH: Verdict.NOT_REFUTED, Kind.MEASUREMENT: Verdict.NOT_REFUTED,
                 Kind.UNDECIDED: Verdict.INCONCLUSIVE}


class StepKind(str, Enum):
    COMPUTED = "computed"  # sympy reduced an expression to 0, or decided a sign
    CITED = "cited"  # another proof, which must itself be mechanised
    ARGUED = "argued"  # prose: an argument a reader checks, not the computer


@dataclass(frozen=True)
class Step:
    """One step of a proof. ``ok``: a computed step reduced as required, a cited proof is fully
    mechanised; an argued step is never ok (it is not mechanised, whatever it says)."""

    kind: StepKind
    name: str
    claim: str
    detail: str = ""
    ok: bool = False
    cites: str = ""

    def __post_init__(self):
        object.__setattr__(self, "kind", StepKind(self.kind))
        if self.kind is StepKind.ARGUED and self.ok:
            raise ValueError(f"step {self.name!r}: an argued step is not mechanised and cannot be ok")
        if self.kind is StepKind.CITED and not self.cites:
            raise ValueError(f"step {self.name!r}: a cited step names the proof it cites")


@dataclass(frozen=True)
class Proof:
    """The steps of a proof, under ``assumptions``, for the statement restricted to ``scope``."""

    assumptions: str
    scope: str
    steps: tuple[Step, ...]

    @property
    def mechanised(self) -> bool:
        """Every step computed or cited and ok: nothing rests on prose or an unreduced expression."""
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def argued(self) -> list[Step]:
        return [s for s in self.steps if s.kind is StepKind.ARGUED]

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.kind is not StepKind.ARGUED and not s.ok]

    def counts(self) -> dict[str, int]:
        out = {k.value: 0 for k in StepKind}
        for s in self.steps:
            out[s.kind.value] += 1
        return out

    def evidence(self, summary: str, **data: Any) -> Evidence:
        """This proof as evidence for its scope: a certificate when mechanised, else an argument."""
        return Evidence(Kind.CERTIFICATE if self.mechanised else Kind.ARGUMENT, summary, covers=self.scope, proof=self,
                        data={"assumptions": self.assumptions, "steps": [s.__dict__ for s in self.steps], **data})

    def describe(self) -> str:
        """"12 computed, 1 cited" or "… ; not mechanised: 2 argued (every K), 1 not reduced"."""
        c = self.counts()
        text = ", ".join(f"{n} {k}" for k, n in c.items() if n and k != StepKind.ARGUED.value)
        gaps = []
        if self.argued:
            gaps.append(f"{len(self.argued)} argued ({'; '.join(s.name for s in self.argued[:2])}"
                        f"{', …' if len(self.argued) > 2 else ''})")
        if self.failed:
            gaps.append(f"{len(self.failed)} not reduced ({'; '.join(s.name for s in self.failed[:2])}"
                        f"{', …' if len(self.failed) > 2 else ''})")
        if not gaps:
            return text
        return (f"{text}; " if text else "") + f"not mechanised: {', '.join(gaps)}"


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence: its kind, a one-line summary, what it ``covers`` (the part of the
    statement it speaks for; empty for evidence that supports no verdict, such as tightness),
    its data, and for certificates and arguments the :class:`Proof`. A ``cross_check`` re-tests
    numerically what a proof already covers: it can refute (through a witness) but forms no part
    of the verdict's scope."""

    kind: Kind
    summary: str
    covers: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    proof: Proof | None = None
    cross_check: bool = False  # re-tests what another piece of evidence covers: no part of its own

    def __post_init__(self):
        object.__setattr__(self, "kind", Kind(self.kind))
        if self.kind is Kind.CERTIFICATE and (self.proof is None or not self.proof.mechanised):
            raise ValueError(f"a certificate needs a fully mechanised proof (computed or cited steps, all ok): "
                             f"{self.summary!r}")
        if self.kind is Kind.ARGUMENT and self.proof is None:
            raise ValueError(f"an argument carries its proof steps: {self.summary!r}")
        if self.kind is Kind.TIGHTNESS and self.covers:
            raise ValueError("tightness evidence measures a bound; it covers no part of the statement")
        if self.kind is not Kind.TIGHTNESS and not self.covers:
            raise ValueError(f"{self.kind.value} evidence must say what it covers (K, notion, domain): {self.summary!r}")


class Recheck(str, Enum):
    """The result of re-checking a witness independently of the search that found it."""

    CONFIRMED = "confirmed"  # the violation holds in the re-check: a counterexample
    DISMISSED = "dismissed"  # the re-check shows no violation: a float artefact of the search
    UNDECIDED = "undecided"  # the re-check could not decide (e.g. a minimiser it cannot certify)


@dataclass(frozen=True)
class Witness:
    """A candidate counterexample: the inputs, what was observed, what the statement expects,
    how it was re-checked and what the re-check found."""

    inputs: Mapping[str, Any]
    observed: str
    expected: str
    recheck: str
    status: Recheck

    def __post_init__(self):
        object.__setattr__(self, "status", Recheck(self.status))

    @property
    def confirmed(self) -> bool:
        return self.status is Recheck.CONFIRMED


@dataclass(frozen=True)
class Part:
    """The verdict on one part of a statement: ``scope`` (what it covers) and ``how``."""

    verdict: Verdict
    scope: str
    how: str

    @property
    def word(self) -> str:
        if self.verdict is Verdict.NOT_REFUTED and self.how.startswith("argued"):
            return "argued"
        return {Verdict.PROVED: "proved", Verdict.NOT_REFUTED: "not refuted", Verdict.REFUTED: "refuted",
                Verdict.INCONCLUSIVE: "inconclusive"}[self.verdict]


@dataclass(frozen=True)
class Outcome:
    """What a check computes: the verdict, the parts it is made of, the evidence, the witness
    (for a refutation, or an undecided candidate), measured data and a message."""

    verdict: Verdict
    parts: tuple[Part, ...]
    evidence: tuple[Evidence, ...] = ()
    witness: Witness | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self):
        object.__setattr__(self, "verdict", Verdict(self.verdict))
        v, parts = self.verdict, self.parts
        if not parts:
            raise ValueError("a verdict needs at least one part saying what it covers")
        kinds = {e.kind for e in self.evidence}
        if v is Verdict.REFUTED:
            if self.witness is None or not self.witness.confirmed:
                raise ValueError("'refuted' needs a witness whose re-check confirmed it")
        elif self.witness is not None and self.witness.confirmed:
            raise ValueError(f"a confirmed witness refutes; the verdict cannot be {v.value!r}")
        if v is Verdict.PROVED:
            if not all(p.verdict is Verdict.PROVED for p in parts) or Kind.CERTIFICATE not in kinds:
                raise ValueError("'proved' needs a certificate for every part of the statement")
        if v is Verdict.NOT_REFUTED:
            if any(p.verdict in (Verdict.REFUTED, Verdict.INCONCLUSIVE) for p in parts):
                raise ValueError("'verified, not refuted' cannot have a refuted or inconclusive part")
            if not kinds - {Kind.TIGHTNESS}:
                raise ValueError("'verified, not refuted' needs the search, measurement or argument it rests on")
        if v is Verdict.INCONCLUSIVE:
            undecided = any(p.verdict is Verdict.INCONCLUSIVE for p in parts)
            if not undecided or not self.note:
                raise ValueError("'inconclusive' needs an inconclusive part and a note saying why")

    @property
    def verdict_text(self) -> str:
        """The verdict with its scope: "proved (K = 2..6)" or "verified, not refuted: proved for
        K = 2..6; not refuted for K = 10, 100 (search); argued for every K"."""
        parts = [p for p in self.parts if p.scope]
        if self.verdict in (Verdict.REFUTED, Verdict.INCONCLUSIVE):
            parts = [p for p in parts if p.verdict is self.verdict]
        if not parts:
            return self.verdict.value
        if all(p.verdict is self.verdict and p.word == parts[0].word for p in parts):
            return f"{self.verdict.value} ({'; '.join(p.scope for p in parts)})"
        return f"{self.verdict.value}: " + "; ".join(f"{p.word} for {p.scope}" for p in parts)


def decide(evidence: Sequence[Evidence], witness: Witness | None = None, *, data: Mapping[str, Any] | None = None,
           note: str = "", failure: str = "", witness_covers: str = "") -> Outcome:
    """The verdict the evidence and the witness support (the rules of the module docstring).

    A confirmed witness refutes (its part is ``witness_covers``, default: the witness inputs); an
    undecided one makes the verdict inconclusive; a dismissed one is kept as search evidence (a
    float artefact) and does not count against the statement.

    ``note`` is the outcome's one line whatever the witness turns out to be; ``failure`` is the line
    for a confirmed witness only (what is wrong with the subject, and where). A witness the re-check
    dismissed or could not decide never leaves ``failure`` on a passed or inconclusive outcome: the
    note then says what happened to the candidate.
    """
    evidence = list(evidence)
    parts = [Part(_PART_VERDICT[e.kind], e.covers, _how(e)) for e in evidence
             if e.kind is not Kind.TIGHTNESS and not e.cross_check]
    if witness is not None and witness.confirmed and failure:
        note = failure
    if witness is not None and witness.status is Recheck.DISMISSED:
        dismissed = f"a float-level violation was dismissed by the re-check ({witness.recheck}): {witness.observed}"
        evidence.append(Evidence(Kind.SEARCH, dismissed, covers=witness_covers or "the witness",
                                 data={"inputs": dict(witness.inputs)}))
        note = note or f"no violation: {dismissed}"
        witness = None
    if witness is not None:
        scope = witness_covers or short(witness.inputs)
        if witness.confirmed:
            parts.append(Part(Verdict.REFUTED, scope, f"witness re-checked: {witness.recheck}"))
        else:
            parts.append(Part(Verdict.INCONCLUSIVE, scope, f"candidate not confirmed: {witness.recheck}"))
    verdicts = {p.verdict for p in parts}
    if Verdict.REFUTED in verdicts:
        verdict = Verdict.REFUTED
    elif Verdict.INCONCLUSIVE in verdicts:
        verdict = Verdict.INCONCLUSIVE
        if not note:
            why = [p.how for p in parts if p.verdict is Verdict.INCONCLUSIVE]
            note = "inconclusive: " + "; ".join(why)
    elif verdicts == {Verdict.PROVED}:
        verdict = Verdict.PROVED
    else:
        verdict = Verdict.NOT_REFUTED
    return Outcome(verdict, tuple(parts), tuple(evidence), witness, dict(data or {}), note)


def _how(e: Evidence) -> str:
    if e.kind is Kind.CERTIFICATE:
        return f"symbolic certificate ({e.proof.describe()})"
    if e.kind is Kind.ARGUMENT:
        return f"argued: {e.proof.describe()}"
    return f"{e.kind.value}: {e.summary}"


def short(inputs: Mapping[str, Any], *, width: int = 8) -> str:
    """``k=v, …`` for a witness's inputs; vectors longer than ``width`` end with an ellipsis and
    their length, so a cut vector is never mistaken for the whole."""
    parts = []
    for k, v in inputs.items():
        v = vector(v, digits=6, width=width) if isinstance(v, (list, tuple, np.ndarray)) else _fmt(v)
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.6g}"
    return str(x)
