"""What wrapping the loss with ε-softmax does: the band of Σ_k L_ε(p, k) and the excess risk as m grows.

L_ε(p, y) = L(max(p_ε, c), y) with p_ε = (p + m·e_t)/(1 + m), t = argmax p, and the paper's clamp
c = 1e-8 (:func:`theory.losses.with_eps_softmax`; a plain callable is wrapped the same way).
Lemma A bounds the band width by 2λ(K−1)/(K(1+m)) for a λ-Lipschitz pointwise ℓ; for CE the
clamp makes it O(1/m) once m ≥ 1/(2c) − 1. The check measures the width W(m) on a grid of m and
asks that (1 + m)·W(m) stop growing between the two largest m (W = O(1/m)), allowing for float
rounding, which grows like (1 + m)·ε_machine. The excess risk under symmetric noise is measured
for a few m against Theorem B's bound from the measured band.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from theory.checks._framework import Context, loss_check, scope
from theory.checks._subject import Subject
from theory.excess import SumRange, excess_sweep, symmetric_noise
from theory.formatting import vector
from theory.losses import Input, with_eps_softmax
from theory.softmax import PAPER_CLAMP
from theory.verify import Evidence, Kind, Outcome, Recheck, Size, Witness, decide
from theory.verify.search import search

CLAMP = PAPER_CLAMP  # the clamp a user's loss is wrapped with, as the paper's losses are
M_GRID = (0.0, 1e2, 1e4, 1e8, 1e10)
M_GRID_THOROUGH = (0.0, 1.0, 1e2, 1e4, 1e6, 1e8, 1e10, 1e12)
EXCESS_M = (0.0, 1e8)  # below and in the all-clamped regime m ≥ 1/(2c) − 1 (a measurement, not the verdict)
EXCESS_M_THOROUGH = (0.0, 1e4, 1e8, 1e10)
#: the m grid of the band, the m of the excess measurement
BAND_M = Size(M_GRID, M_GRID_THOROUGH)
EXCESS_MS = Size(EXCESS_M, EXCESS_M_THOROUGH)
#: the band's search at each m: sampled points and polished ones; the excess measurement's problems
BAND_POINTS, BAND_POLISH = Size(300, 3000), Size(1, 3)
EXCESS_PROBLEMS = Size(2, 6)
ROUNDING = 64 * np.finfo(np.float64).eps  # per unit of K·max|Σ|


def _probs_only(subject: Subject) -> str | None:
    return None if subject.input is Input.PROBS else "ε-softmax wraps losses of probabilities; this one is declared on logits"


def band(wrapped: Subject, ctx: Context, m: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(min, max) of Σ_k L_ε(p, k) over the simplex by search, and where each was seen."""
    n, polish = ctx.size(BAND_POINTS), ctx.size(BAND_POLISH)

    def sums(Q):
        return np.nan_to_num(wrapped.sums(Q), nan=-np.inf)

    hi = search(sums, wrapped.K, rng=ctx.rng("check_eps_softmax", "max", wrapped.K, m), n=n, n_polish=polish,
                hypothesis_examples=0)
    lo = search(lambda Q: -np.nan_to_num(wrapped.sums(Q), nan=np.inf), wrapped.K,
                rng=ctx.rng("check_eps_softmax", "min", wrapped.K, m), n=n, n_polish=polish, hypothesis_examples=0)
    return -lo.score, hi.score, lo.point, hi.point


@loss_check(
    "check_eps_softmax", tier="property", methods=("numeric search", "exact finite problems"),
    statement="Wrapped with ε-softmax (clamp c = 1e-8), the band width W(m) of Σ_k L_ε(p, k) decays like O(1/m): "
              "(1 + m)·W(m) does not grow between the two largest m of the grid (up to float rounding); the excess "
              "risk under symmetric noise is measured against Theorem B's bound from the band.",
    reference="paper: ε-softmax, Lemma A and Theorem B", applies=_probs_only)
def check_eps_softmax(ctx: Context) -> Outcome:
    subject: Subject = ctx.subject
    ms = ctx.size(BAND_M)
    rows = []
    for m in ms:
        wrapped = replace(subject, loss=with_eps_softmax(subject.loss, m, clamp=CLAMP))
        lo, hi, at_lo, at_hi = band(wrapped, ctx, m)  # the last m's `wrapped` re-checks a failure
        rows.append({"m": m, "C1": lo, "C2": hi, "width": hi - lo, "scaled_width": (1 + m) * (hi - lo),
                     "at_min": at_lo, "at_max": at_hi})
    prev, last = rows[-2], rows[-1]
    rounding = ROUNDING * subject.K * (1 + max(abs(last["C1"]), abs(last["C2"])))
    allowed = 2 * prev["scaled_width"] + (1 + last["m"]) * rounding
    covers = scope(ctx, f"band of Σ_k L_ε for m ∈ {{{', '.join(f'{m:.0e}' for m in ms)}}}, clamp {CLAMP:g}")
    measured = Evidence(Kind.MEASUREMENT, "band width W(m) of Σ_k L_ε: " +
                        ", ".join(f"m={r['m']:.0e}: {r['width']:.3g}" for r in rows), covers=covers,
                        data={"rows": rows, "clamp": CLAMP})
    excess = _excess(subject, ctx, {r["m"]: (r["C1"], r["C2"]) for r in rows})
    evidence = [measured, *excess]
    data = {"rows": rows, "excess_rows": excess[0].data["rows"] if excess else []}
    passed = (f"W(m)·(1+m) = {last['scaled_width']:.3g} at m={last['m']:.0e} (≤ {allowed:.3g}): the band closes "
              f"at rate O(1/m); W = {last['width']:.3g}")
    if last["scaled_width"] <= allowed:
        return decide(evidence, data=data, note=passed)
    pts = np.stack([last["at_min"], last["at_max"]])
    again = wrapped.sums(pts)
    confirmed = (1 + last["m"]) * float(again[1] - again[0]) > allowed
    w = Witness({"m": last["m"], "p_min": pts[0], "p_max": pts[1]},
                f"(1+m)·W = {last['scaled_width']:.4g} at m={last['m']:.0e} vs {prev['scaled_width']:.4g} at "
                f"m={prev['m']:.0e}", f"≤ {allowed:.4g} (O(1/m) decay)",
                f"Σ_k L_ε evaluated again at both points: width {float(again[1] - again[0]):.4g}",
                Recheck.CONFIRMED if confirmed else Recheck.DISMISSED)
    failed = (f"ε-softmax does not close the band of {subject.name} at rate O(1/m) for K={subject.K}: Σ_k L_ε(p, k) "
              f"spans {last['width']:.4g} at m={last['m']:.0e} (from p={vector(pts[0])} to p={vector(pts[1])}), "
              f"so (1+m)·W grew from {prev['scaled_width']:.4g} at m={prev['m']:.0e} to {last['scaled_width']:.4g} "
              f"(allowed {allowed:.3g}); Theorem B's bound for L_ε then does not vanish like 1/m")
    return decide(evidence, w, data=data, note=failed if confirmed else passed, witness_covers=covers)


def _excess(subject: Subject, ctx: Context, bands: dict[float, tuple[float, float]]) -> list[Evidence]:
    ms = [m for m in ctx.size(EXCESS_MS) if m in bands]

    def ranges(L, K, uniform):
        c1, c2 = bands[L.params["m"]]
        return SumRange(K, c1, c2, False, False, -np.inf, np.inf, "searched band of Σ_k L_ε")

    rows = excess_sweep(lambda m: with_eps_softmax(subject.loss, m, clamp=CLAMP), Ks=(subject.K,), ms=ms,
                        noise=symmetric_noise((0.5,)), n_problems=ctx.size(EXCESS_PROBLEMS), n_x=2,
                        seed=ctx.budget.reported_seed("check_eps_softmax", "excess", subject.K), ranges=ranges)
    by_m = {m: max(r.excess for r in rows if r.m == m) for m in ms}
    zo = {m: max(r.zero_one_excess for r in rows if r.m == m) for m in ms}
    bound = {m: max(r.range_bound for r in rows if r.m == m) for m in ms}
    return [Evidence(Kind.MEASUREMENT, "max excess risk of L_ε under symmetric noise η = (K−1)/(2K): " +
                     ", ".join(f"m={m:.0e}: {by_m[m]:.3g} (0-1 {zo[m]:.3g}; bound {bound[m]:.3g})" for m in ms),
                     covers=scope(ctx, f"excess of L_ε at m ∈ {{{', '.join(f'{m:.0e}' for m in ms)}}}"),
                     data={"rows": [r.to_dict() for r in rows]})]
