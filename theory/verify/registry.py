"""One registry for every check: the paper's claims and the checks on a loss.

A :class:`Check` is a statement with a function ``fn(ctx) -> Outcome``. Its ``target`` says what
it is about: a statement with no subject (target "paper": the claims :mod:`proofs_check`
registers; the context has no subject) or a loss (target "loss": the checks
:mod:`theory.checks` registers; ``ctx.subject`` is the loss). Both run through the same
:mod:`theory.verify.runner` and produce the same :class:`~theory.verify.runner.Result`; the
engine knows the targets and their rules, not what any claim says or how a package runs its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from theory.verify.evidence import Verdict

if TYPE_CHECKING:  # pragma: no cover
    from theory.verify.runner import Context

__all__ = ["Check", "Method", "Origin", "Target", "Tier", "get", "ids", "register"]


class Target(str, Enum):
    PAPER = "paper"
    LOSS = "loss"


class Tier(str, Enum):
    CLAIM = "claim"  # a statement of (or derived from) the paper
    CONTRACT = "contract"  # the loss is well formed
    PROPERTY = "property"  # a robustness property of a loss
    NUMERICS = "numerics"  # the loss's torch numerics: gradients, extreme logits, low precision


class Origin(str, Enum):
    PAPER = "paper claim, reconstructed form"
    DERIVED = "derived property"
    LITERATURE = "literature"
    CONTRACT = "interface contract"


class Method(str, Enum):
    SYMBOLIC = "symbolic"
    EXACT = "exact finite problems"
    SEARCH = "numeric search"


@dataclass(frozen=True)
class Check:
    """A registered check.

    Attributes
    ----------
    id : ``"theorem_b.bound"`` for a claim, ``"check_symmetric"`` for a loss check.
    target, tier, origin : see the enums; ``reference`` cites the source in words.
    title, statement : a few words, and the precise statement with its assumptions.
    methods : how it is verified.
    fn : ``fn(ctx) -> Outcome``.
    requires : loss checks that must pass first (a hypothesis of the property).
    after : loss checks that must pass or be declared expected failures (what makes the
        computation meaningful).
    applies : ``applies(subject) -> None | reason`` (a loss check that does not apply is skipped).
    expect : for claims, the verdict the test-suite and ``python -m proofs_check`` expect.
    finding : for claims expected to be refuted, what the refutation means.
    seconds : rough cost at the default budget on 2 cores; parallel runs start the slow ones first.
    """

    id: str
    target: Target
    tier: Tier
    title: str
    statement: str
    origin: Origin
    reference: str
    methods: tuple[Method, ...]
    fn: Callable[[Context], object]
    requires: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    applies: Callable[[object], str | None] | None = None
    expect: Verdict | None = None
    finding: str = ""
    seconds: float = 1.0

    def __post_init__(self):
        for name, enum in (("target", Target), ("tier", Tier), ("origin", Origin)):
            object.__setattr__(self, name, enum(getattr(self, name)))
        object.__setattr__(self, "methods", tuple(Method(m) for m in self.methods))
        if not self.methods:
            raise ValueError(f"check {self.id}: methods must name how it is verified")
        if self.target is Target.PAPER:
            if self.tier is not Tier.CLAIM or self.expect is None:
                raise ValueError(f"claim {self.id}: a paper claim has tier 'claim' and an expected verdict")
            if (self.expect is Verdict.REFUTED) != bool(self.finding):
                raise ValueError(f"claim {self.id}: a claim expected to be refuted states its finding (and only then)")
        elif self.tier is Tier.CLAIM:
            raise ValueError(f"check {self.id}: a loss check is a contract, property or numerics check")


_CHECKS: dict[str, Check] = {}


def register(check: Check) -> Check:
    """Add a check (ids are unique; loss checks may only require checks registered before them)."""
    if check.id in _CHECKS:
        raise ValueError(f"a check with id {check.id!r} is already registered")
    unknown = [r for r in (*check.requires, *check.after) if r not in _CHECKS]
    if unknown:
        raise ValueError(f"check {check.id} requires unregistered checks {unknown}; register them first")
    _CHECKS[check.id] = check
    return check


def ids(target: Target | None = None) -> list[str]:
    """Registered ids in registration order, optionally of one target."""
    return [i for i, c in _CHECKS.items() if target is None or c.target is Target(target)]


def get(check_id: str, target: Target | None = None) -> Check:
    """The check with this id, or the unique one it is a prefix of (within ``target``)."""
    pool = {i: c for i, c in _CHECKS.items() if target is None or c.target is Target(target)}
    if check_id in pool:
        return pool[check_id]
    matches = [i for i in pool if i.startswith(check_id)]
    if len(matches) == 1:
        return pool[matches[0]]
    if matches:
        raise KeyError(f"id {check_id!r} is ambiguous: it matches {', '.join(matches)}")
    kind = "claim" if target is Target.PAPER else "check"
    raise KeyError(f"no {kind} with id {check_id!r}; known ids: {', '.join(pool)}")
