"""Σ_k L(p, k): bounded (Theorem B's hypothesis) and constant (symmetric, Ghosh et al. 2017).

For library losses the sum is also taken symbolically through the loss's own sympy path at
K = num_classes (with p_{K−1} = 1 − Σ others); when it reduces to a constant, both checks are
proved with that certificate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from theory._counterexamples import search, simplex_sample
from theory._exact import Certifier, _simplify, exact_loss_vector
from theory.checks._framework import Context, conclude, register_check
from theory.checks._subject import Subject, fmt_point
from theory.evidence import Evidence, Outcome, Verdict, Witness, decide
from theory.minimise import minimise_conditional_risk

SYMMETRIC_RTOL = 1e-4  # spread of Σ_k L allowed, relative to 1 + |Σ|: clamps (RCE, MAE_ε) stay far below
SYMBOLIC_MAX_K = 10


def symbolic_sum(subject: Subject, ctx: Context) -> dict[str, Any]:
    """Σ_k L(p, k) through the sympy path of a library loss, reduced by cancel/expand (cached).

    Returns {"constant": sympy number or None, "evidence": Evidence or None, "why": text}.
    """
    memo = ctx.memo.setdefault("symbolic_sum", {})
    if memo:
        return memo
    K = subject.K
    memo.update(constant=None, evidence=None)
    if not subject.native or subject.input != "probs" or K > SYMBOLIC_MAX_K:
        memo["why"] = ("a plain callable has no symbolic path" if not subject.native else
                       f"K = {K} > {SYMBOLIC_MAX_K}" if K > SYMBOLIC_MAX_K else "a logit loss")
        return memo
    p = sp.symbols(f"p_0:{K}", positive=True)
    point = list(p[:-1]) + [1 - sum(p[:-1])]
    try:
        values = subject.loss.sympy(K, symbols=point)
    except (ValueError, NotImplementedError, TypeError) as err:  # argmax-dependent losses need a region
        memo["why"] = f"no region-free symbolic form ({str(err).splitlines()[0]})"
        return memo
    total = sum(values)
    reduced = _simplify(total, hard=False)
    if reduced.free_symbols:
        memo["why"] = "the symbolic sum did not reduce to a constant"
        return memo
    cert = Certifier(f"p on the simplex Δ_{K - 1}: p_k > 0, p_{K - 1} = 1 − Σ_(k<{K - 1}) p_k; the loss's own "
                     "sympy path")
    cert.zero(f"Σ_k L(p, k) − ({sp.sstr(reduced)}) = 0", total - reduced)
    memo.update(constant=reduced, evidence=cert.evidence(f"Σ_k L(p, k) = {sp.sstr(reduced)} identically (K={K})"),
                why="")
    return memo


def _exact_sum(subject: Subject, p: np.ndarray) -> float:
    try:
        return float(sum(exact_loss_vector(subject.loss, p)))
    except (ValueError, TypeError, ZeroDivisionError):
        return float("nan")


def _sample(subject: Subject, ctx: Context, salt: int) -> tuple[np.ndarray, np.ndarray]:
    P = simplex_sample(ctx.rng(salt), subject.K, ctx.pick(400, 4000))
    return P, subject.sums(P)


@register_check(
    "check_bounded_sum", tier="property",
    statement="Σ_k L(p, k) is bounded on the simplex: C₁ ≤ Σ_k L(p, k) ≤ C₂ < ∞ (the hypothesis of Theorem B). "
              "C₁ = K·min_p Σ_k L(p, k)/K by the conditional-risk minimiser at the uniform posterior, C₂ by search "
              "(a lower estimate of the supremum); fails with a point where the sum is +∞.",
    source="paper: Theorem B's hypothesis (bounded sum); Ghosh et al. 2017 for C₁ = C₂")
def check_bounded_sum(subject: Subject, ctx: Context) -> Outcome:
    P, S = _sample(subject, ctx, 10)
    defined = ~np.isnan(S)
    if np.isposinf(S).any():
        i = int(np.argmax(np.isposinf(S)))
        again = float(subject.sums(P[i:i + 1])[0])
        w = Witness({"p": P[i]}, f"Σ_k L(p, k) = {float(S[i])!r}", "a finite sum",
                    f"evaluated alone in float64: {again!r}", rechecked=bool(np.isposinf(again)))
        note = (f"{subject.name} has an unbounded sum for K={subject.K}: Σ_k L(p, k) = +inf at p={fmt_point(P[i])} "
                f"(expected ≤ C₂ < ∞; {int(np.isposinf(S).sum())} of {len(P)} probed points give +inf). Theorem B's "
                "bound needs a bounded sum; a clamp (as in CE_ε) or ε-softmax makes it finite")
        return Outcome(Verdict.REFUTED, (Evidence("search", f"{len(P)} points"),), w, {"C2": float("inf")}, note)
    res = search(lambda Q: np.nan_to_num(subject.sums(Q), nan=-np.inf), subject.K, rng=ctx.rng(11),
                 n=ctx.pick(200, 2000), n_polish=ctx.pick(1, 3), hypothesis_examples=0)
    low = minimise_conditional_risk(subject.loss, np.full(subject.K, 1.0 / subject.K), seed=ctx.budget.seed)
    c1 = min(float(subject.K * low.value), float(np.min(S[defined]))) if defined.any() else float(subject.K * low.value)
    c2 = max(float(res.score), float(np.max(S[defined]))) if defined.any() else float(res.score)
    data = {"C1": c1, "C2": c2, "C1_method": low.method, "C1_exact": bool(low.exact),
            "C2_method": "search (a lower estimate of the supremum)", "undefined_points": int((~defined).sum())}
    evidence = [Evidence("measurement", f"Σ_k L ∈ [{c1:.6g}, {c2:.6g}]: C₁ by {low.method}"
                         f"{'' if low.exact else ' (not certified)'}, C₂ by search over {res.n_evaluated} points", data)]
    sym = symbolic_sum(subject, ctx)
    if sym["evidence"] is not None:
        evidence.insert(0, sym["evidence"])
    outcome = decide(evidence, data=data)
    note = (f"Σ_k L(p, k) = {sp.sstr(sym['constant'])} (proved)" if outcome.verdict is Verdict.PROVED else
            f"Σ_k L(p, k) ∈ [{c1:.6g}, {c2:.6g}] (C₂ searched)")
    return Outcome(outcome.verdict, outcome.evidence, None, data, note)


@register_check(
    "check_symmetric", tier="property",
    statement=f"L is symmetric: Σ_k L(p, k) is the same constant C at every p of the simplex, up to a spread of "
              f"{SYMMETRIC_RTOL:g}·(1 + |C|) (room for clamps such as RCE's); a violation is shrunk to a minimal "
              "point by hypothesis.",
    source="Ghosh, Kumar, Sastry, AAAI 2017 (symmetric losses are noise-tolerant)", after=("check_bounded_sum",))
def check_symmetric(subject: Subject, ctx: Context) -> Outcome:
    sym = symbolic_sum(subject, ctx)
    if sym["evidence"] is not None and sym["evidence"].kind == "certificate":
        return Outcome(Verdict.PROVED, (sym["evidence"],), None, {"C": float(sym["constant"])},
                       f"Σ_k L(p, k) = {sp.sstr(sym['constant'])} identically")
    K = subject.K
    centre = np.full((1, K), 1.0 / K)
    c = float(subject.sums(centre)[0])
    tol = SYMMETRIC_RTOL * (1 + abs(c))

    def score(Q):
        return np.nan_to_num(np.abs(subject.sums(Q) - c) / tol, nan=-np.inf)

    res = search(score, K, rng=ctx.rng(12), n=ctx.pick(400, 4000), n_polish=ctx.pick(0, 4),
                 hypothesis_examples=ctx.pick(60, 300), tolerance=0.0)
    searched = Evidence("search", f"max |Σ_k L(p, k) − Σ_k L(centre, k)| / tolerance = {res.score:.3g} over "
                        f"{res.n_evaluated} points (tolerance {tol:.3g})", res.to_dict())
    if res.score <= 1:
        why = sym.get("why")
        return Outcome(Verdict.NOT_REFUTED, (searched,), None, {"C": c, "worst_ratio": res.score},
                       f"Σ_k L(p, k) = {c:.6g} within {tol:.2g} at every probed point"
                       + (f" (not certified: {why})" if why else ""))
    p = res.witness if res.witness is not None else res.point
    s_p = float(subject.sums(p[None])[0])
    exact = [_exact_sum(subject, q) for q in (p, centre[0])] if subject.native and subject.input == "probs" else []
    if exact and all(np.isfinite(exact)):
        recheck, confirmed = "50-digit evaluation at the exact rational points", abs(exact[0] - exact[1]) > tol
    else:  # a plain callable, or an infinite / undefined value where sympy has no float (log 0 = zoo)
        recheck, confirmed = "evaluated alone in float64", abs(s_p - c) > tol
    w = Witness({"p": p, "K": K}, f"Σ_k L(p, k) = {s_p:.6g} at p but {c:.6g} at the centre",
                f"the same sum within {tol:.3g}", recheck, rechecked=bool(confirmed))
    note = (f"{subject.name} is not symmetric for K={K}: Σ_k L(p, k) = {s_p:.6g} at p={fmt_point(p)} but {c:.6g} at "
            f"p={fmt_point(centre[0])} (spread {abs(s_p - c):.3g} > tolerance {tol:.3g})")
    return conclude([searched], w, failed=note, passed=f"Σ_k L(p, k) = {c:.6g} within {tol:.2g}",
                    data={"C_centre": c, "witness_sum": s_p})
