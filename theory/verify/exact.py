"""Exact and high-precision re-evaluation of the losses: the re-check of every witness.

:func:`exact_loss_vector` evaluates a loss through its own sympy path (the same definition the
numpy and torch paths use) at a point converted exactly to rationals, then numerically at
``digits`` significant digits. Losses without a sympy path (plain callables) raise
:class:`NotImplementedError`; callers then re-check in float64 and say so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from theory.losses import Loss

__all__ = ["DIGITS", "exact_conditional_risk", "exact_loss_vector", "exact_point", "exact_risk", "exact_risks_along",
           "rational"]

DIGITS = 50


def rational(x: float) -> sp.Rational:
    """The exact binary value of a float as a rational."""
    return sp.Rational(float(x))


def exact_point(p: Any) -> list[sp.Rational]:
    """A float point of the simplex as exact rationals summing to exactly 1.

    Each coordinate is read exactly (its binary value); the rounding residual 1 − Σ is then shared
    equally by the coordinates equal to the largest one, which moves them by a few ulps and keeps
    every tie and the first-index argmax of the float point (ε-losses change value across ties).
    """
    p = np.asarray(p, dtype=np.float64)
    exact = [sp.Rational(float(v)) for v in p]
    top = [i for i, v in enumerate(p) if v == p.max()]
    share = (1 - sum(exact)) / len(top)
    for i in top:
        exact[i] += share
    if any(v < 0 for v in exact):
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
    return _vector_at(loss, exact_point(p), digits)


def _vector_at(loss: Loss, point: list[sp.Rational], digits: int) -> list[sp.Float]:
    values = loss.sympy(len(point), t=_argmax(point), symbols=point)
    return [sp.N(v, digits) for v in values]


def _risk_at(loss: Loss, point: list[sp.Rational], q: Any, digits: int) -> sp.Float:
    qs = [sp.Rational(float(v)) for v in np.asarray(q, dtype=np.float64)]
    return sp.N(sum(qk * v for qk, v in zip(qs, _vector_at(loss, point, digits))), digits)


def exact_risks_along(loss: Loss, p: Any, q: Any, direction: Any, amounts: Any, *,
                      digits: int = DIGITS) -> list[sp.Float]:
    """C_q at the exact point of ``p`` (:func:`exact_point`) moved by each of ``amounts`` (floats,
    read exactly) along ``direction`` (a vector of small integers summing to 0), in exact rational
    arithmetic: the moved points stay exactly on the simplex, so their differences with
    ``exact_conditional_risk(loss, p, q)`` carry no rounding of the points (``digits`` significant
    digits each)."""
    base = exact_point(p)
    steps = [int(v) for v in np.asarray(direction)]
    if sum(steps) != 0 or any(v != d for v, d in zip(steps, np.asarray(direction))):
        raise ValueError(f"direction must be integers summing to 0, got {np.asarray(direction).tolist()}")
    moved = [[b + sp.Rational(float(a)) * d for b, d in zip(base, steps)] for a in np.atleast_1d(amounts)]
    if any(v < 0 for point in moved for v in point):
        raise ValueError("a move leaves the simplex")
    return [_risk_at(loss, point, q, digits) for point in moved]


def exact_conditional_risk(loss: Loss, p: Any, q: Any, *, digits: int = DIGITS) -> sp.Float:
    """Σ_k q_k L(p, k) with q read exactly, at ``digits`` significant digits."""
    return _risk_at(loss, exact_point(p), q, digits)


def exact_risk(loss: Loss, px: Any, posterior: Any, P: Any, *, digits: int = DIGITS) -> sp.Float:
    """E_x Σ_k P(k | x) L(P[x], k) of a tabular predictor ``P`` (n_x, K), with ``px`` (n_x,) and
    ``posterior`` (n_x, K) read exactly, at ``digits`` significant digits."""
    weights = [sp.Rational(float(v)) for v in np.asarray(px, dtype=np.float64)]
    return sp.N(sum(w * exact_conditional_risk(loss, P[x], posterior[x], digits=digits)
                    for x, w in enumerate(weights)), digits)
