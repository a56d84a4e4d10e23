"""The check registry, the report types and the runner behind :func:`theory.checks.check_loss`.

A check is a small function ``check(subject, ctx) -> Outcome`` registered with its statement,
source, tier and requirements. Two tiers:

``contract``  the loss is well formed (one value per example, finite on the simplex, depends on
              the label, reads its input as declared). Every property check requires all of them.
``property``  a robustness property from the literature (symmetric, bounded sum, noise
              tolerance, consistency, what ε-softmax does), as a three-valued verdict.

A check whose requirement failed is *skipped* with that reason (it is neither passed nor
hidden); a requirement the user declared as an expected failure counts as met. A refuted
property is a failure unless the user declared it expected, with a reason; then it shows as an
expected failure. Results are dataclasses first: tests and tools read their fields.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from theory._validation import describe
from theory.checks._subject import LossEvaluationError, Subject
from theory.evidence import Budget, Evidence, Outcome, Verdict, Witness, decide, jsonable, summarise

__all__ = ["CheckResult", "CheckSpec", "Context", "LossCheckError", "LossCheckWarning", "LossReport", "Status",
           "check_names", "conclude", "evaluation_failure", "register_check", "spec_of"]

TIERS = ("contract", "property")


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    XFAIL = "expected failure"
    XPASS = "unexpected pass"
    SKIPPED = "skipped"


class LossCheckError(AssertionError):
    """Raised by ``on_fail="raise"`` and by the pytest helper for a failed check."""


class LossCheckWarning(UserWarning):
    """Emitted by ``on_fail="warn"`` for every failed check."""


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its name, what it verifies, where the property comes from and what
    it needs. ``applies(subject)`` returns None or the reason the check does not apply."""

    name: str
    tier: str
    statement: str
    source: str
    run: Callable[[Subject, Context], Outcome]
    requires: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    applies: Callable[[Subject], str | None] | None = None


_CHECKS: dict[str, CheckSpec] = {}


def register_check(name: str, *, tier: str, statement: str, source: str, requires: tuple[str, ...] = (),
                   after: tuple[str, ...] = (), applies: Callable[[Subject], str | None] | None = None):
    """Register ``fn(subject, ctx) -> Outcome`` as check ``name`` (checks run in registration order).

    ``requires``: checks that must pass (a hypothesis of the property: symmetric for the
    class-conditional theorem). ``after``: checks that must pass *or* be declared expected
    failures (what makes the computation meaningful: a finite loss, a bounded sum). Property
    checks come after every contract check.
    """
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, got {tier!r}")
    unknown = [r for r in (*requires, *after) if r not in _CHECKS]
    if unknown:
        raise ValueError(f"check {name} requires unregistered checks {unknown}; register them first")

    def decorate(fn: Callable[[Subject, Context], Outcome]) -> Callable[[Subject, Context], Outcome]:
        if name in _CHECKS:
            raise ValueError(f"a check named {name!r} is already registered")
        _CHECKS[name] = CheckSpec(name, tier, statement, source, fn, tuple(requires), tuple(after), applies)
        return fn

    return decorate


def check_names() -> list[str]:
    """Every registered check, in the order they run."""
    return list(_CHECKS)


def spec_of(name: str) -> CheckSpec:
    try:
        return _CHECKS[name]
    except KeyError:
        raise ValueError(f"no check named {name!r}; known checks: {', '.join(_CHECKS)}") from None


@dataclass(frozen=True)
class CheckResult:
    """One check of one loss. ``verdict`` is None only for skipped checks; ``message`` is what a
    person reads (for failures: the object, property, input, observed vs expected, tolerance);
    ``reproduce`` re-runs exactly this check."""

    check: str
    loss: str
    tier: str
    statement: str
    source: str
    status: Status
    verdict: Verdict | None
    message: str
    evidence: tuple[Evidence, ...] = ()
    witness: Witness | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    reproduce: str = ""
    reason: str = ""
    blocked_by: str = ""
    seconds: float = 0.0

    def __post_init__(self):
        refuted = self.verdict is Verdict.REFUTED
        if self.status in (Status.FAILED, Status.XFAIL) and not (refuted and self.witness and self.witness.rechecked):
            raise ValueError(f"{self.check}: a failure needs a refuted verdict with a re-checked witness")
        if self.status in (Status.PASSED, Status.XPASS) and self.verdict not in (Verdict.PROVED, Verdict.NOT_REFUTED):
            raise ValueError(f"{self.check}: a pass needs a proved or not-refuted verdict, got {self.verdict}")
        if self.verdict is Verdict.PROVED and not any(e.kind == "certificate" for e in self.evidence):
            raise ValueError(f"{self.check}: 'proved' needs a certificate among its evidence")
        if self.status is Status.SKIPPED and (self.verdict is not None or not self.reason):
            raise ValueError(f"{self.check}: a skipped check has no verdict and says why it was skipped")
        if self.status in (Status.XFAIL, Status.XPASS) and not self.reason:
            raise ValueError(f"{self.check}: an expected failure carries the user's reason")

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    @property
    def evidence_summary(self) -> str:
        return self.reason if self.status is Status.SKIPPED else summarise(self.evidence, self.witness)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["evidence_summary"] = self.evidence_summary
        return jsonable(out)


@dataclass(frozen=True)
class LossReport:
    """Every check of one loss. ``passed`` is False when any check failed unexpectedly."""

    loss: str
    num_classes: int
    input: str
    backend: str
    budget: str
    seed: int
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is Status.FAILED]

    def __getitem__(self, check: str) -> CheckResult:
        for r in self.results:
            if r.check == check:
                return r
        raise KeyError(f"no result for {check!r} in this report; it has {[r.check for r in self.results]}")

    def by_status(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {s.value: [] for s in Status}
        for r in self.results:
            out[r.status.value].append(r.check)
        return out

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"loss": self.loss, "num_classes": self.num_classes, "input": self.input,
                         "backend": self.backend, "budget": self.budget, "seed": self.seed, "passed": self.passed,
                         "results": [r.to_dict() for r in self.results]})

    def __str__(self) -> str:
        head = (f"check_loss: {self.loss} (K={self.num_classes}, input={self.input}, backend {self.backend}), "
                f"budget {self.budget}, seed {self.seed}")
        w = max(len(r.check) for r in self.results) if self.results else 10
        lines = [head, f"{'check':<{w}}  {'status':<16}  {'verdict':<21}  {'time':>6}  evidence"]
        for r in self.results:
            verdict = r.verdict.value if r.verdict is not None else "—"
            text = r.evidence_summary if r.status is not Status.XFAIL else f"{r.reason} — {r.evidence_summary}"
            lines.append(f"{r.check:<{w}}  {r.status.value:<16}  {verdict:<21}  {r.seconds:5.2f}s  {_clip(text, 150)}")
        counts = {k: len(v) for k, v in self.by_status().items() if v}
        lines.append("summary: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        for r in self.failures:
            lines += ["", f"FAILED {r.check}: {r.message}", f"  reproduce: {r.reproduce}"]
        return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class Context:
    """The state shared by the checks of one loss: budget, seed, declared expected failures and
    the results computed so far (each check runs at most once; requirements are computed first)."""

    def __init__(self, subject: Subject, *, budget: Budget, expected: Mapping[str, str],
                 reproduce: Callable[[str], str]):
        self.subject = subject
        self.budget = budget
        self.expected = dict(expected)
        self._reproduce = reproduce
        self._results: dict[str, CheckResult] = {}
        self.memo: dict[str, Any] = {}  # intermediate results shared by checks (e.g. a symbolic sum)

    def rng(self, salt: int) -> np.random.Generator:
        return self.budget.rng(salt)

    def pick(self, default: Any, thorough: Any) -> Any:
        return self.budget.pick(default, thorough)

    def result(self, name: str) -> CheckResult:
        if name not in self._results:
            self._results[name] = self._run(spec_of(name))
        return self._results[name]

    def results(self) -> list[CheckResult]:
        """The results computed so far, in check order."""
        return [self._results[n] for n in _CHECKS if n in self._results]

    def requirements(self, spec: CheckSpec) -> list[tuple[str, bool]]:
        """(check, hard) pairs: a hard requirement must pass; a soft one may be a declared failure."""
        contract = [n for n, s in _CHECKS.items() if s.tier == "contract"] if spec.tier == "property" else []
        soft = list(dict.fromkeys([*contract, *spec.after]))
        return [(n, False) for n in soft] + [(n, True) for n in spec.requires]

    def _skipped(self, spec: CheckSpec, reason: str, blocked_by: str = "") -> CheckResult:
        return CheckResult(spec.name, self.subject.name, spec.tier, spec.statement, spec.source, Status.SKIPPED,
                           None, reason, reason=reason, blocked_by=blocked_by, reproduce=self._reproduce(spec.name))

    def _run(self, spec: CheckSpec) -> CheckResult:
        reason = spec.applies(self.subject) if spec.applies is not None else None
        if reason:
            return self._skipped(spec, f"not applicable: {reason}")
        for req, hard in self.requirements(spec):
            r = self.result(req)
            if (r.status is Status.FAILED or (r.status is Status.SKIPPED and r.blocked_by)
                    or (hard and r.status is Status.XFAIL)):
                why = r.message if r.status is Status.FAILED else r.reason
                return self._skipped(spec, f"needs {req}, which {r.status.value}: {_clip(why, 200)}", blocked_by=req)
        start = time.perf_counter()
        try:
            outcome = spec.run(self.subject, self)
        except LossEvaluationError as err:
            outcome = evaluation_failure(self.subject, err, spec.name)
        seconds = time.perf_counter() - start
        if not isinstance(outcome, Outcome):  # pragma: no cover - a programming error in a check
            raise TypeError(f"check {spec.name} returned {describe(outcome)}, expected an Outcome")
        refuted = outcome.verdict is Verdict.REFUTED
        expected = self.expected.get(spec.name)
        if expected is not None:
            status = Status.XFAIL if refuted else Status.XPASS
        else:
            status = Status.FAILED if refuted else Status.PASSED
        reproduce = self._reproduce(spec.name)
        return CheckResult(spec.name, self.subject.name, spec.tier, spec.statement, spec.source, status,
                           outcome.verdict, outcome.note, tuple(outcome.evidence), outcome.witness,
                           dict(outcome.data), reproduce, reason=expected or "", seconds=seconds)


def evaluation_failure(subject: Subject, err: LossEvaluationError, check: str) -> Outcome:
    """The loss raised or misbehaved inside a check: a refutation whose witness is the input.

    The witness is re-checked by evaluating the loss there again; an error that does not recur
    still refutes (the user's code did raise), and the witness says the loss is not deterministic.
    """
    again = ""
    for x, y in ([(np.atleast_2d(err.x), np.array([err.y]))] if err.x is not None else []) + \
            ([err.batch] if err.batch is not None else []):
        try:
            subject.values(x, y)
        except LossEvaluationError as second:
            again = second.cause or str(second)
            break
    what = "logits" if subject.input == "logits" else "p"
    recheck = (f"evaluated again: {again}" if again else
               "evaluated again without error: the loss is not deterministic at this input")
    witness = Witness({what: err.x, "y": err.y}, err.cause or str(err), "one finite value per example", recheck,
                      rechecked=True)
    return Outcome(Verdict.REFUTED, (Evidence("search", f"the loss failed while {check} evaluated it"),), witness,
                   {"error": str(err)}, note=str(err))


def conclude(evidence: list[Evidence], witness: Witness | None, *, failed: str, passed: str,
             data: Mapping[str, Any] | None = None) -> Outcome:
    """:func:`theory.evidence.decide` with the message that matches the verdict: ``failed`` when
    the witness was confirmed, otherwise ``passed`` (plus a word on an unconfirmed violation)."""
    outcome = decide(evidence, witness, data=data)
    if outcome.verdict is Verdict.REFUTED:
        note = failed
    elif witness is not None:
        note = f"{passed} (a float-level violation was not confirmed by the re-check: {witness.observed})"
    else:
        note = passed
    return Outcome(outcome.verdict, outcome.evidence, outcome.witness, outcome.data, note)
