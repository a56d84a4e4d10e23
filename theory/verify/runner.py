"""Running checks: the shared context, the status rules and the result record.

The status of a result follows from its verdict and what was expected of it, the same way for a
paper claim and for a check on a loss:

========================  =============================  ==============================
verdict                   nothing declared                a failure declared (a claim's
                                                          expected refutation, a user's
                                                          ``expected_failures``)
========================  =============================  ==============================
proved / not refuted      passed                          unexpected pass
refuted                   failed                          expected failure
inconclusive              inconclusive                    inconclusive
========================  =============================  ==============================

plus ``skipped`` (a requirement failed or the check does not apply; the reason is kept) and
``error`` (the check itself raised: a bug, never a verdict).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from theory.formatting import clip
from theory.verify.budget import Budget, Size
from theory.verify.evidence import Evidence, Outcome, Part, Verdict, Witness
from theory.verify.io import jsonable
from theory.verify.registry import Check, Target, Tier, get

__all__ = ["Context", "Reproduce", "Result", "Status", "run_check"]


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    XFAIL = "expected failure"
    XPASS = "unexpected pass"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True)
class Reproduce:
    """How to re-run exactly one result: a Python statement and a shell command, both runnable
    as printed (``python`` is empty when the loss cannot be imported, with ``why``)."""

    python: str
    shell: str
    why: str = ""


@dataclass(frozen=True)
class Result:
    """One check on one subject (the paper, or a loss). Tests and tools read the fields."""

    check: str
    subject: str
    target: Target
    tier: Tier
    statement: str
    origin: str
    reference: str
    methods: tuple[str, ...]
    status: Status
    outcome: Outcome | None
    reason: str = ""
    blocked_by: str = ""
    finding: str = ""
    reproduce: Reproduce | None = None
    budget: str = "default"
    seed: int = 0
    seconds: float = 0.0
    K: int | None = None

    def __post_init__(self):
        s, o = self.status, self.outcome
        if s in (Status.SKIPPED, Status.ERROR):
            if o is not None or not self.reason:
                raise ValueError(f"{self.check}: a {s.value} result has no verdict and says why")
            return
        if o is None:
            raise ValueError(f"{self.check}: a {s.value} result needs its outcome")
        allowed = {Status.PASSED: (Verdict.PROVED, Verdict.NOT_REFUTED),
                   Status.XPASS: (Verdict.PROVED, Verdict.NOT_REFUTED),
                   Status.FAILED: (Verdict.REFUTED,), Status.XFAIL: (Verdict.REFUTED,),
                   Status.INCONCLUSIVE: (Verdict.INCONCLUSIVE,)}[s]
        if o.verdict not in allowed:
            raise ValueError(f"{self.check}: status {s.value!r} cannot carry the verdict {o.verdict.value!r}")
        if s in (Status.XFAIL, Status.XPASS) and not self.reason:
            raise ValueError(f"{self.check}: a declared failure carries its reason")

    # -- convenient views of the outcome -------------------------------------------------------
    @property
    def verdict(self) -> Verdict | None:
        return None if self.outcome is None else self.outcome.verdict

    @property
    def verdict_text(self) -> str:
        return "—" if self.outcome is None else self.outcome.verdict_text

    @property
    def parts(self) -> tuple[Part, ...]:
        return () if self.outcome is None else self.outcome.parts

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        return () if self.outcome is None else self.outcome.evidence

    @property
    def witness(self) -> Witness | None:
        return None if self.outcome is None else self.outcome.witness

    @property
    def data(self) -> Mapping[str, Any]:
        return {} if self.outcome is None else self.outcome.data

    @property
    def message(self) -> str:
        return self.reason if self.outcome is None else (self.outcome.note or self.outcome.verdict_text)

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    @property
    def evidence_summary(self) -> str:
        """One line: the witness when there is one, otherwise the two strongest pieces of evidence."""
        from theory.verify.evidence import short

        if self.outcome is None:
            return self.reason
        w = self.witness
        if w is not None:
            return f"witness {short(w.inputs)}: {w.observed} (re-check {w.status.value}: {w.recheck})"
        order = {"certificate": 0, "argument": 1, "undecided": 2, "tightness": 3, "search": 4, "measurement": 5}
        return "; ".join(e.summary for e in sorted(self.evidence, key=lambda e: order[e.kind.value])[:2])

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("check", "subject", "target", "tier", "statement", "origin", "reference",
                                             "methods", "status", "reason", "blocked_by", "finding", "reproduce",
                                             "budget", "seed", "seconds", "K")}
        out.update(verdict=self.verdict, verdict_text=self.verdict_text, parts=self.parts, evidence=self.evidence,
                   witness=self.witness, data=self.data, message=self.message,
                   evidence_summary=self.evidence_summary)
        return jsonable(out)


class Context:
    """What the checks of one run share: the subject (None for a target without one, such as the
    claims of :mod:`proofs_check`) and its name in results, the budget, the
    declared expected failures, the results computed so far (each check runs at most once;
    requirements first) and a memo for intermediate results (a symbolic sum, a classification), typed
    by the target that makes the context."""

    def __init__(self, subject: Any, *, budget: Budget, expected: Mapping[str, str] | None = None,
                 reproduce: Callable[[Check], Reproduce | None] | None = None, subject_name: str,
                 K: int | None = None, memo: Any = None):
        self.subject = subject
        self.budget = budget
        self.expected = dict(expected or {})
        self._reproduce = reproduce or (lambda check: None)
        self.subject_name = subject_name
        self.K = K
        self.results: dict[str, Result] = {}
        self.memo = memo  # what the target's checks share, as the target types it (theory.checks.LossMemo)
        self.current: str = ""

    # -- what checks use -----------------------------------------------------------------------
    def rng(self, *key: Any):
        return self.budget.rng(*key)

    def size(self, size: Size) -> Any:
        return self.budget.size(size)

    def pick(self, default: Any, thorough: Any) -> Any:
        return self.budget.pick(default, thorough)

    def tick(self, done: int, total: int) -> None:
        self.budget.tick(self.current, done, total)

    def result(self, check_id: str) -> Result:
        """The result of ``check_id`` in this context (run once)."""
        if check_id not in self.results:
            self.results[check_id] = run_check(get(check_id), self)
        return self.results[check_id]

    def requirements(self, check: Check) -> list[tuple[str, bool]]:
        """(check, hard) pairs: a hard requirement must pass; a soft one may be a declared failure.
        Property checks come after every contract check of their target."""
        from theory.verify.registry import ids

        contract = ([i for i in ids(check.target) if get(i).tier is Tier.CONTRACT]
                    if check.tier in (Tier.PROPERTY, Tier.NUMERICS) else [])
        soft = list(dict.fromkeys([*contract, *check.after]))
        return [(n, False) for n in soft] + [(n, True) for n in check.requires]


def run_check(check: Check, ctx: Context) -> Result:
    """Run ``check`` in ``ctx`` (its requirements first) and return its Result."""
    common = dict(check=check.id, subject=ctx.subject_name, target=check.target, tier=check.tier,
                  statement=check.statement, origin=check.origin.value, reference=check.reference,
                  methods=tuple(m.value for m in check.methods), reproduce=ctx._reproduce(check),
                  budget=ctx.budget.name, seed=ctx.budget.seed, K=ctx.K)
    if check.applies is not None and ctx.subject is not None:
        why = check.applies(ctx.subject)
        if why:
            return Result(status=Status.SKIPPED, outcome=None, reason=f"not applicable: {why}", **common)
    for req, hard in ctx.requirements(check):
        r = ctx.result(req)
        # a soft requirement that failed only by restricting the domain (a loss finite on the open
        # simplex but not on its faces) lets the check run there; the check says which domain
        restricted = not hard and r.status is Status.FAILED and bool(r.data.get("restricts_domain"))
        blocked = ((r.status in (Status.FAILED, Status.ERROR) and not restricted)
                   or (r.status is Status.SKIPPED and r.blocked_by)
                   or (hard and r.status in (Status.XFAIL, Status.INCONCLUSIVE)))
        if blocked:
            why = r.message if r.outcome is not None else r.reason
            return Result(status=Status.SKIPPED, outcome=None, blocked_by=req,
                          reason=f"needs {req}, which {r.status.value}: {clip(why, 200)}", **common)
    previous, ctx.current = ctx.current, check.id
    start = time.perf_counter()
    try:
        outcome = check.fn(ctx)
    except Exception:  # a bug in the check or the library: an error row, never a verdict
        return Result(status=Status.ERROR, outcome=None, reason=traceback.format_exc(limit=6),
                      seconds=time.perf_counter() - start, **common)
    finally:
        ctx.current = previous
    seconds = time.perf_counter() - start
    if not isinstance(outcome, Outcome):
        return Result(status=Status.ERROR, outcome=None, seconds=seconds, **common,
                      reason=f"check {check.id} returned {type(outcome).__name__}, expected an Outcome")
    declared = ctx.expected.get(check.id) or (check.finding if check.expect is Verdict.REFUTED else "")
    if outcome.verdict is Verdict.INCONCLUSIVE:
        status = Status.INCONCLUSIVE
    elif outcome.verdict is Verdict.REFUTED:
        status = Status.XFAIL if declared else Status.FAILED
    else:
        status = Status.XPASS if declared else Status.PASSED
    return Result(status=status, outcome=outcome, reason=declared, seconds=seconds,
                  finding=check.finding if outcome.verdict is Verdict.REFUTED else "", **common)

