"""Symbolic proofs with typed steps.

A simplification that does not return 0 proves nothing (SymPy's own gotchas page), so every
*computed* step records the expression, what sympy reduced it to, and succeeds only at exactly 0
(identities) or a sign sympy itself decides from the symbols' assumptions (inequalities). A
*cited* step reuses another :class:`~theory.verify.evidence.Proof` and succeeds only when that
proof is fully mechanised. An *argued* step is prose: it is recorded, shown, and keeps the
proof from being a certificate.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from theory.verify.evidence import Evidence, Proof, Step, StepKind

__all__ = ["Certifier", "simplify_to_zero"]


def simplify_to_zero(expr: Any, *, hard: bool = True) -> sp.Expr:
    """Cheap normal forms first (cancel, expand); ``simplify`` (slow) only when ``hard`` and they
    did not reach 0. Returns what the expression reduced to."""
    expr = sp.sympify(expr)
    steps = [sp.cancel, sp.expand]
    if hard:
        steps += [sp.simplify, lambda e: sp.simplify(sp.expand_log(e, force=True))]
    for step in steps:
        try:
            expr = step(expr)
        except (TypeError, ValueError, NotImplementedError):  # pragma: no cover - sympy edge cases
            continue
        if expr == 0:
            return sp.Integer(0)
    return expr


class Certifier:
    """Collects the steps of one proof; :meth:`evidence` turns them into a certificate (fully
    mechanised) or an argument (some step argued or not reduced).

    ``scope`` says what the proof covers ("K = 2..6, every t, symbolic p and m ≥ 0").
    """

    def __init__(self, assumptions: str, scope: str):
        if not scope:
            raise ValueError("a proof must say what it covers (its scope)")
        self.assumptions = assumptions
        self.scope = scope
        self.steps: list[Step] = []

    # -- computed ------------------------------------------------------------------------------
    def zero(self, name: str, expr: Any) -> bool:
        reduced = simplify_to_zero(expr)
        ok = reduced == 0
        self.steps.append(Step(StepKind.COMPUTED, name, f"{sp.sstr(expr)} = 0",
                               f"reduced to {sp.sstr(reduced)}", ok))
        return ok

    def equal(self, name: str, lhs: Any, rhs: Any) -> bool:
        return self.zero(name, sp.sympify(lhs) - sp.sympify(rhs))

    def nonneg(self, name: str, expr: Any) -> bool:
        reduced = sp.factor(sp.cancel(sp.sympify(expr)))
        ok = reduced == 0 or bool(reduced.is_nonnegative)
        self.steps.append(Step(StepKind.COMPUTED, name, f"{sp.sstr(expr)} >= 0",
                               f"reduced to {sp.sstr(reduced)}; sign {'decided' if ok else 'not decided'}", ok))
        return ok

    # -- cited and argued ----------------------------------------------------------------------
    def cite(self, name: str, proof: Proof, source: str) -> bool:
        """Rely on ``proof`` (of the claim ``source``): ok only when that proof is mechanised."""
        ok = proof.mechanised
        self.steps.append(Step(StepKind.CITED, name, f"{source}: {proof.scope}",
                               "mechanised" if ok else f"not mechanised: {proof.describe()}", ok, cites=source))
        return ok

    def argue(self, name: str, text: str) -> None:
        """A step a reader checks (an induction over K, a monotonicity argument…): never mechanised."""
        self.steps.append(Step(StepKind.ARGUED, name, text))

    # -- result --------------------------------------------------------------------------------
    def proof(self) -> Proof:
        return Proof(self.assumptions, self.scope, tuple(self.steps))

    @property
    def ok(self) -> bool:
        return self.proof().mechanised

    def evidence(self, summary: str) -> Evidence:
        """A certificate when every step is computed or cited and ok; otherwise an argument."""
        return self.proof().evidence(summary)
