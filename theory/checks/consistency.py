"""Top-1 and All-k consistency from the global conditional-risk minimisers (:mod:`theory.consistency`).

A failure is re-checked at its posterior q: the reported minimiser p* must have a strictly
smaller conditional risk than every rival that repairs the failure — p* rearranged into q's
order, and p* with a little mass (1e-9, 1e-6, 1e-3) moved towards the class q ranks higher at
every tied or misordered position. Library losses are re-evaluated at 50 digits.
"""

from __future__ import annotations

import numpy as np

from theory._exact import exact_conditional_risk
from theory.checks._framework import Context, conclude, register_check
from theory.checks._subject import Subject, fmt_point
from theory.consistency import TIE, Consistency, consistency
from theory.evidence import Evidence, Outcome, Witness
from theory.minimise import conditional_risk

PINNED_Q = (np.array([0.5, 0.3, 0.2]),)
STEPS = (1e-9, 1e-6, 1e-3)


def _consistency(subject: Subject, ctx: Context) -> Consistency:
    if "consistency" not in ctx.memo:
        ctx.memo["consistency"] = consistency(subject.loss, (subject.K,), ctx.pick(24, 120), ctx.rng(30),
                                              seed=ctx.budget.seed, pinned=PINNED_Q)
    return ctx.memo["consistency"]


def rivals(p: np.ndarray, q: np.ndarray) -> list[np.ndarray]:
    """Points that repair p's ordering against q: the rearrangement, and small moves of mass
    towards the higher-ranked class at every position where p does not strictly follow q."""
    order = np.argsort(-q, kind="stable")
    out = []
    rearranged = np.empty_like(p)
    rearranged[order] = -np.sort(-p)
    if not np.allclose(rearranged, p, atol=TIE):
        out.append(rearranged)
    for j in range(len(q) - 1):
        a, b = order[j], order[j + 1]
        if p[a] - p[b] > TIE:
            continue
        donor = b if p[b] > 0 else int(np.argmax(p))
        if donor == a:
            continue
        for d in STEPS:
            r = p.copy()
            take = min(d, r[donor])
            r[a] += take
            r[donor] -= take
            out.append(r)
    return out


def _risk(subject: Subject, p: np.ndarray, q: np.ndarray, exact: bool) -> float:
    if exact:
        value = float(exact_conditional_risk(subject.loss, p, q))
        if np.isfinite(value):
            return value
    if subject.input == "logits":
        return float(conditional_risk(subject.loss, np.log(np.clip(p, 1e-13, None))[None], q[None], logits=True)[0])
    return float(conditional_risk(subject.loss, p[None], q[None])[0])


def recheck_minimiser(subject: Subject, p: np.ndarray, q: np.ndarray) -> tuple[bool, str]:
    exact = subject.native and subject.input == "probs"
    try:
        base = _risk(subject, p, q, exact)
        values = [_risk(subject, r, q, exact) for r in rivals(p, q)]
        how = "50-digit" if exact else "float64"
    except (ValueError, TypeError, ZeroDivisionError):
        base = _risk(subject, p, q, False)
        values = [_risk(subject, r, q, False) for r in rivals(p, q)]
        how = "float64"
    if not values:
        return False, "no rival to compare with"
    margin = min(values) - base
    return bool(margin > 1e-12 * (1 + abs(base))), (
        f"{how}: C_q(p*) = {base:.9g} is below all {len(values)} rivals that repair the order (rearranged p*, "
        f"mass moved towards the higher-ranked class by 1e-9…1e-3), smallest margin {margin:.3g}")


def _outcome(subject: Subject, ctx: Context, k_max: int, *, name: str) -> Outcome:
    result = _consistency(subject, ctx)
    ks = [k for k in sorted(result.holds) if k <= k_max]
    failing = [k for k in ks if not result.holds[k]]
    data = {"classification": result.label, "holds": {f"top-{k}": v for k, v in result.holds.items()},
            "method": result.method, "exact": result.exact, "posteriors": result.n_posteriors,
            "witnesses": result.witnesses}
    evidence = [Evidence("search", f"{sum(result.n_posteriors.values())} posteriors with distinct entries, K={subject.K}: "
                         f"{result.label}; minimisers by {result.method}{'' if result.exact else ' (not certified)'}",
                         data)]
    if not failing:
        return conclude(evidence, None, failed="", passed=f"{name} on the sampled posteriors ({result.label})", data=data)
    k = failing[0]
    wit = result.witnesses[f"top-{k}"]
    q, p = np.asarray(wit["q"]), np.asarray(wit["p_star"])
    ok, recheck = recheck_minimiser(subject, p, q)
    w = Witness({"K": subject.K, "k": k, "q": q, "p_star": p}, f"top-{k} set of p* ≠ top-{k} set of q (or tied)",
                f"a minimiser ordered like q at position {k}", recheck, rechecked=ok)
    failed = (f"{subject.name} is not {name} for K={subject.K}: at q={fmt_point(q)} the conditional-risk minimiser is "
              f"p*={fmt_point(p, 6)}, whose top-{k} set {'is tied' if _tied(p, k) else 'differs from q’s'} "
              f"(classification over {sum(result.n_posteriors.values())} posteriors: {result.label})")
    return conclude(evidence, w, failed=failed, passed=f"{name} (the apparent failure was not confirmed)", data=data)


def _tied(p: np.ndarray, k: int) -> bool:
    s = -np.sort(-p)
    return bool(s[k - 1] - s[k] <= TIE)


@register_check(
    "check_top1_consistent", tier="property",
    statement="Top-1 consistent (classification-calibrated): for posteriors q with distinct entries, every "
              "conditional-risk minimiser p* has a strict argmax equal to argmax q, so minimising the risk "
              "recovers the Bayes classifier.",
    source="Zhang 2004; Tewari & Bartlett 2007 (classification calibration)")
def check_top1_consistent(subject: Subject, ctx: Context) -> Outcome:
    return _outcome(subject, ctx, 1, name="top-1 consistent")


@register_check(
    "check_allk_consistent", tier="property",
    statement="All-k consistent: for posteriors q with distinct entries, every conditional-risk minimiser p* has, "
              "for every k = 1..K−1, a strict top-k set equal to q's (ties across position k count as failures).",
    source="Zhu, Ying, Yang 2023 (All-k consistency); paper §5", requires=("check_top1_consistent",))
def check_allk_consistent(subject: Subject, ctx: Context) -> Outcome:
    return _outcome(subject, ctx, subject.K - 1, name="All-k consistent")
