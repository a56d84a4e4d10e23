"""Symbolic certificates and exact / high-precision re-evaluation of the losses.

A simplification that does not return 0 proves nothing (SymPy's own gotchas page), so
:class:`Certifier` records every step with the expression that was simplified and what it
became, and says "proved" only when every step reached exactly 0 (identities) or an expression
sympy itself decides is non-negative under the stated symbol assumptions (inequalities).

:func:`exact_loss_vector` evaluates a registered loss through its sympy path (the same
definition the numpy and torch paths use) at a point converted exactly to rationals, then
numerically at ``digits`` significant digits: the re-check of every witness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from theory.evidence import Evidence
from theory.losses import Loss

__all__ = ["Certifier", "exact_point", "exact_loss_vector", "exact_conditional_risk", "exact_risk"]

DIGITS = 50


def _simplify(expr: sp.Expr, *, hard: bool = True) -> sp.Expr:
    """Cheap normal forms first; ``simplify`` (slow) only when ``hard`` and they did not reach 0."""
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


@dataclass
class Certifier:
    """Collects the steps of a symbolic proof.

    ``zero(name, expr)`` proves ``expr == 0``; ``nonneg(name, expr)`` proves ``expr >= 0``
    (sympy must decide it from the symbols' assumptions); ``fact(name, text)`` records a step
    that needs no computation (an assumption or a cited, already proved claim).
    """

    assumptions: str
    steps: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s["status"] == "ok" for s in self.steps)

    @property
    def failures(self) -> list[dict[str, str]]:
        return [s for s in self.steps if s["status"] != "ok"]

    def zero(self, name: str, expr: Any) -> bool:
        reduced = _simplify(expr)
        ok = reduced == 0
        self.steps.append({"step": name, "claim": f"{sp.sstr(expr)} = 0", "reduced_to": sp.sstr(reduced),
                           "status": "ok" if ok else "not reduced to 0"})
        return ok

    def equal(self, name: str, lhs: Any, rhs: Any) -> bool:
        return self.zero(name, sp.sympify(lhs) - sp.sympify(rhs))

    def nonneg(self, name: str, expr: Any) -> bool:
        reduced = sp.factor(sp.cancel(sp.sympify(expr)))
        ok = reduced == 0 or bool(reduced.is_nonnegative)
        self.steps.append({"step": name, "claim": f"{sp.sstr(expr)} >= 0", "reduced_to": sp.sstr(reduced),
                           "status": "ok" if ok else "sign not decided"})
        return ok

    def fact(self, name: str, text: str) -> None:
        self.steps.append({"step": name, "claim": text, "reduced_to": "", "status": "ok"})

    def evidence(self, summary: str) -> Evidence:
        """A certificate when every step succeeded; otherwise a search record listing what failed."""
        data = {"assumptions": self.assumptions, "steps": list(self.steps)}
        if self.ok:
            return Evidence("certificate", summary, data)
        bad = "; ".join(f"{s['step']}: {s['status']}" for s in self.failures[:3])
        return Evidence("search", f"symbolic proof incomplete ({bad})", data)


def exact_point(p: Any) -> list[sp.Rational]:
    """A float point of the simplex as exact rationals summing to exactly 1.

    Each coordinate is read exactly (its binary value); the largest is then replaced by one
    minus the others, which moves it by at most a few ulps.
    """
    p = np.asarray(p, dtype=np.float64)
    exact = [sp.Rational(float(v)) for v in p]
    top = int(np.argmax(p))
    exact[top] = 1 - sum(v for i, v in enumerate(exact) if i != top)
    if exact[top] < 0:
        raise ValueError(f"point {p.tolist()} is not on the simplex")
    return exact


def _argmax(values: list[sp.Rational]) -> int:
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def exact_loss_vector(loss: Loss, p: Any, *, digits: int = DIGITS) -> list[sp.Float]:
    """(L(p, k))_k evaluated from the loss's sympy path at the exact rational point, to ``digits``."""
    point = exact_point(p)
    t = _argmax(point)
    values = loss.sympy(len(point), t=t, symbols=point)
    return [sp.N(v, digits) for v in values]


def exact_conditional_risk(loss: Loss, p: Any, q: Any, *, digits: int = DIGITS) -> sp.Float:
    """Σ_k q_k L(p, k) with q read exactly, at ``digits`` significant digits."""
    vec = exact_loss_vector(loss, p, digits=digits)
    qs = [sp.Rational(float(v)) for v in np.asarray(q, dtype=np.float64)]
    return sp.N(sum(qk * v for qk, v in zip(qs, vec)), digits)


def exact_risk(loss: Loss, px: Any, posterior: Any, P: Any, *, digits: int = DIGITS) -> sp.Float:
    """E_x Σ_k P(k | x) L(P[x], k) of a tabular predictor ``P`` (n_x, K), with ``px`` (n_x,) and
    ``posterior`` (n_x, K) read exactly, at ``digits`` significant digits."""
    weights = [sp.Rational(float(v)) for v in np.asarray(px, dtype=np.float64)]
    return sp.N(sum(w * exact_conditional_risk(loss, P[x], posterior[x], digits=digits)
                    for x, w in enumerate(weights)), digits)
