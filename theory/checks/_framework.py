"""Registering loss checks in the engine, and what they share: scopes and the domain.

A loss check is a :class:`theory.verify.Check` with target "loss": ``fn(ctx)`` reads the loss
from ``ctx.subject`` (a :class:`~theory.checks._subject.Subject`) and returns an
:class:`~theory.verify.Outcome`. Three tiers: *contract* checks (the loss is well formed; every
other check comes after all of them), *property* checks (robustness properties) and *numerics*
checks (the torch computation: gradients, extreme logits, low precision).

The domain: a loss that is finite on the open simplex but infinite on some face where p_y > 0
(it takes log p_k of every class, say) fails ``check_finite``; the property checks then still run,
on the open simplex (every coordinate ≥ :data:`OPEN_FLOOR`), and every verdict says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory.checks._subject import Subject
from theory.consistency import ConsistencyRow
from theory.excess import ExcessRow, SumRange
from theory.losses import Input, LossEvaluationError
from theory.verify import (
    Check,
    Evidence,
    Kind,
    Method,
    Origin,
    Outcome,
    Recheck,
    Target,
    Tier,
    Witness,
    decide,
)
from theory.verify.runner import Context

__all__ = ["OPEN_FLOOR", "Context", "LossMemo", "SymbolicSum", "SymmetricSweep", "domain", "evaluation_failure", "floor", "loss_check", "scope"]

OPEN_FLOOR = 1e-9  # smallest coordinate on the open simplex


@dataclass(frozen=True)
class SymbolicSum:
    """Σ_k L(p, k) through a library loss's sympy path: the constant it reduces to and its
    certificate, or None for both and why not."""

    constant: Any = None
    evidence: Evidence | None = None
    why: str = ""


@dataclass
class LossMemo:
    """What the checks on one loss share, computed once per :func:`theory.checks.check_loss` run."""

    domain: str = "closed simplex"  # "open simplex" once check_finite excludes the faces
    symbolic_sum: SymbolicSum | None = None  # check_bounded_sum and check_symmetric
    range: SumRange | None = None  # the range of Σ_k L (check_bounded_sum), for the noise checks' Theorem-B bound
    consistency: ConsistencyRow | None = None  # the classification the three consistency checks read
    symmetric_noise: SymmetricSweep | None = None  # the exact sweep both symmetric-noise notions read


@dataclass(frozen=True)
class SymmetricSweep:
    """The exact symmetric-noise sweep of one loss (:func:`theory.checks.noise.symmetric_sweep`): its
    rows and the part of the statement they cover."""

    rows: tuple[ExcessRow, ...]
    covers: str


def loss_check(name: str, *, tier: str, statement: str, reference: str, methods: tuple[str, ...],
               origin: Origin = Origin.LITERATURE, requires: tuple[str, ...] = (), after: tuple[str, ...] = (),
               applies: Callable[[Subject], str | None] | None = None) -> Callable[[Callable[[Context], Outcome]], Check]:
    """Declare ``fn(ctx) -> Outcome`` as the loss check ``name``: the decorated name becomes the
    :class:`~theory.verify.Check` (target "loss"); :data:`theory.checks.CHECKS` lists every check in
    the order they run and registers them.

    ``requires``: checks that must pass (a hypothesis of the property). ``after``: checks that must
    pass *or* be declared expected failures (what makes the computation meaningful). A
    :class:`~theory.losses.LossEvaluationError` raised by the loss inside the check becomes a
    refutation whose witness is the input (:func:`evaluation_failure`).
    """

    def decorate(fn: Callable[[Context], Outcome]) -> Check:
        def guarded(ctx: Context) -> Outcome:
            try:
                return fn(ctx)
            except LossEvaluationError as err:
                return evaluation_failure(ctx, err, name)

        return Check(name, Target.LOSS, Tier(tier), name.removeprefix("check_").replace("_", " "), statement,
                     origin if tier == "property" else Origin.CONTRACT, reference, tuple(Method(m) for m in methods),
                     guarded, tuple(requires), tuple(after), applies)

    return decorate


def evaluation_failure(ctx: Context, err: LossEvaluationError, check: str) -> Outcome:
    """The loss raised, hung or misbehaved inside a check: a refutation whose witness is the input.

    The witness is re-checked by evaluating the loss there again (a call that timed out is not
    repeated: it would cost another time limit). An error that does not recur still refutes (the
    user's code did fail), and the re-check says the loss is not deterministic.
    """
    s: Subject = ctx.subject
    again = ""
    if err.timed_out:
        again = "not repeated (a second call would wait as long)"
    else:
        trials = ([(np.atleast_2d(err.x), np.array([err.y]))] if err.x is not None else []) + \
                 ([err.batch] if err.batch is not None else [])
        for x, y in trials:
            try:
                s.values(x, y)
            except LossEvaluationError as second:
                again = f"evaluated again: {second.cause or second}"
                break
    recheck = again or "evaluated again without error: the loss is not deterministic at this input"
    what = s.input.symbol
    witness = Witness({what: err.x, "y": err.y}, err.cause or str(err), "one finite value per example", recheck,
                      Recheck.CONFIRMED)
    evidence = Evidence(Kind.SEARCH, f"the loss failed while {check} evaluated it", covers=scope(ctx, "evaluation"))
    return decide([evidence], witness, data={"error": str(err)}, failure=str(err), witness_covers=scope(ctx))


def domain(ctx: Context) -> str:
    """"closed simplex" or "open simplex" (set by check_finite when faces are excluded)."""
    return ctx.memo.domain


def floor(ctx: Context) -> float:
    """The smallest coordinate the property checks sample (0 on the closed simplex)."""
    return OPEN_FLOOR if domain(ctx) == "open simplex" else 0.0


def scope(ctx: Context, what: str = "") -> str:
    """"K = 10, closed simplex" (+ ``what``): the part of a property a piece of evidence covers."""
    s: Subject = ctx.subject
    where = "logits" if s.input is Input.LOGITS else domain(ctx)
    return f"K = {s.K}, {where}" + (f": {what}" if what else "")
