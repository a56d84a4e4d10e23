"""Helpers shared by the claim modules: symbols, exact ε-softmax, ratio summaries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp

from theory import eps_softmax
from theory._exact import exact_point

SYMBOLIC_K = (2, 3, 4, 5, 6)
M_GRID = (0.0, 1e-3, 1.0, 10.0, 1e4, 1e8)


def simplex_symbols(K: int, free: int) -> tuple[list[sp.Symbol], list[sp.Expr]]:
    """Positive symbols p_k and the point with coordinate ``free`` replaced by 1 − Σ others."""
    p = list(sp.symbols(f"p_0:{K}", positive=True))
    point = list(p)
    point[free] = 1 - sum(v for i, v in enumerate(p) if i != free)
    return p, point


M = sp.Symbol("m", nonnegative=True)


def eps_exprs(point: Sequence[sp.Expr], t: int, m: sp.Expr = M) -> list[sp.Expr]:
    """p_ε as sympy expressions through :func:`theory.eps_softmax` (the implementation itself)."""
    return list(eps_softmax(np.array(list(point), dtype=object), m, t=t))


def exact_eps(p: np.ndarray, m: float) -> tuple[list[sp.Rational], int]:
    """p_ε at a float point read exactly (rationals) with rational m; and the exact argmax."""
    point = exact_point(p)
    t = max(range(len(point)), key=lambda i: (point[i], -i))
    return eps_exprs(point, t, sp.Rational(repr(float(m)))), t


def quantiles(x: np.ndarray) -> dict[str, float]:
    """Distribution summary of a ratio (measured / bound)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0}
    q = np.quantile(x, [0.0, 0.5, 0.9, 1.0])
    return {"n": int(x.size), "min": float(q[0]), "median": float(q[1]), "p90": float(q[2]), "max": float(q[3])}
