"""Helpers shared by the claim modules: symbols, exact ε-softmax, numeric searches with their
scope, ratio summaries."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from theory import eps_softmax
from theory.formatting import number
from theory.verify import Budget, Evidence, Kind, Recheck, Size, Witness
from theory.verify.exact import exact_point
from theory.verify.search import SearchResult, search

SYMBOLIC_K = (2, 3, 4, 5, 6)
NUMERIC_K = (10, 100)
NUMERIC_K_THOROUGH = (10, 100, 1000)
#: numeric_search: its K, and per (K, m) its sampled points and hypothesis examples
SEARCH_KS = Size(NUMERIC_K, NUMERIC_K_THOROUGH)
SEARCH_POINTS, SEARCH_EXAMPLES = Size(400, 4000), Size(100, 500)
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


def quantiles(x) -> dict[str, float]:
    """Distribution summary of a ratio (measured / bound)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0}
    q = np.quantile(x, [0.0, 0.5, 0.9, 1.0])
    return {"n": int(x.size), "min": float(q[0]), "median": float(q[1]), "p90": float(q[2]), "max": float(q[3])}


def sci(x: float) -> str:
    """A power of ten as the claims write it: 1e-6, 1e-12 (not Python's 1e-06)."""
    return f"{x:g}".replace("e-0", "e-").replace("e+0", "e+")


def m_text(ms: Sequence[float]) -> str:
    """"m = 0" for one value, "m ∈ 32 values from 0 to 1e10" for a grid."""
    ms = [number(v) for v in sorted(ms)]
    return f"m = {ms[0]}" if len(ms) == 1 else f"m ∈ {len(ms)} values from {ms[0]} to {ms[-1]}"


def k_text(Ks: Sequence[int]) -> str:
    Ks = list(Ks)
    if len(Ks) > 2 and Ks == list(range(Ks[0], Ks[-1] + 1)):
        return f"K = {Ks[0]}..{Ks[-1]}"
    return "K ∈ {" + ", ".join(map(str, Ks)) + "}"


def numeric_search(budget: Budget, claim: str, score_of: Callable[[np.ndarray, float], np.ndarray], what: str, *,
                   tolerance: float, ms: Sequence[float] = M_GRID) -> tuple[Evidence, tuple[int, float, SearchResult]]:
    """Search every (K, m) of the budget for score > 1; evidence covering those K and m, and the
    worst (K, m, result)."""
    Ks = budget.size(SEARCH_KS)
    n = budget.size(SEARCH_POINTS)
    worst = None
    for K in Ks:
        for m in ms:
            res = search(lambda P, m=m: score_of(P, m), K, rng=budget.rng(claim, "search", K, m), n=n, n_polish=0,
                         hypothesis_examples=budget.size(SEARCH_EXAMPLES))
            if worst is None or res.score > worst[2].score:
                worst = (K, m, res)
    K, m, res = worst
    ev = Evidence(Kind.SEARCH, f"{what}: worst error/tolerance {res.score:.2g} (K={K}, m={m:g})",
                  covers=f"{k_text(Ks)}, m ∈ {{{', '.join(f'{v:g}' for v in ms)}}}: {n} points each (numeric search)",
                  data={"Ks": list(Ks), "m": list(ms), "points_per_setting": n, "tolerance": tolerance,
                        "seed": budget.seed, **res.to_dict()})
    return ev, worst


def exact_recheck(res: SearchResult, m: float, holds: Callable[[list, int], bool], what: str) -> Witness | None:
    """Re-check a search's witness in exact rational arithmetic: confirmed when the property fails
    there, dismissed (a float artefact) when it holds."""
    if res.witness is None:
        return None
    pe, t = exact_eps(res.witness, m)
    ok = bool(holds(pe, t))
    return Witness({"p": res.witness, "m": m}, f"float score {res.score:.3g} > 1", what,
                   f"exact rational arithmetic: {'holds' if ok else 'violated'}",
                   Recheck.DISMISSED if ok else Recheck.CONFIRMED)
