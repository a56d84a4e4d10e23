"""Claim 1: ε-softmax properties P1–P4 (PAPER.md §2).

Symbolic for symbolic p and symbolic m ≥ 0 at K = 2..6 and every argmax position t (through
the implementation's own sympy path); numeric search at K = 10 and 100 (and 1000 when
thorough) against the float implementation, with any violation re-checked exactly.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from proofs_check.claims._common import (
    SYMBOLIC_K,
    M,
    eps_exprs,
    exact_recheck,
    numeric_search,
    simplex_symbols,
)
from proofs_check.claims._registry import claim
from theory import eps_softmax, losses, one_hot_error
from theory.softmax import PAPER_CLAMP
from theory.verify import Certifier, Evidence, Kind, Origin, Proof, Recheck, Verdict, Witness, decide
from theory.verify.exact import exact_loss_vector
from theory.verify.runner import Context

TOL = 1e-12
SYMBOLIC = "K = 2..6, every argmax position t, symbolic p and m ≥ 0"


def _every_k(name: str, text: str) -> Evidence:
    """The step from K ≤ 6 to every K: an argument, stated, not mechanised."""
    cert = Certifier("the K = 2..6 certificate's computations hold coordinate by coordinate", scope="every K")
    cert.argue(name, text)
    return cert.evidence(f"every K: {text}")


@cache
def simplex_proof() -> Proof:
    """Σ_k p_ε(k) = 1 and p_ε ≥ 0 for K = 2..6 (the certificate other claims cite)."""
    cert = Certifier("p_k > 0 with Σ_k p_k = 1 (coordinate `free` eliminated), m ≥ 0, t = argmax p", scope=SYMBOLIC)
    for K in SYMBOLIC_K:
        for t in range(K):
            _, point = simplex_symbols(K, free=t)
            pe = eps_exprs(point, t)
            cert.zero(f"K={K}, t={t}: Σ_k p_ε(k) = 1", sum(pe) - 1)
            for k, v in enumerate(pe):
                if k != t:
                    cert.nonneg(f"K={K}, t={t}: p_ε({k}) >= 0", v)
            # p_ε(t) = (1 − Σ_{j≠t} p_j + m)/(1+m) ≥ 0 because Σ_{j≠t} p_j ≤ 1: eliminate another coordinate
            _, other = simplex_symbols(K, free=(t + 1) % K)
            cert.nonneg(f"K={K}, t={t}: p_ε(t) >= 0", eps_exprs(other, t)[t])
    return cert.proof()


@claim("eps_softmax.simplex", "ε-softmax stays on the simplex",
       "For every p on the simplex and m ≥ 0, p_ε = (p + m e_t)/(1+m) with t = argmax p has non-negative "
       "coordinates summing to 1.", origin=Origin.DERIVED, methods=("symbolic", "numeric search"),
       expect=Verdict.NOT_REFUTED)
def check_simplex(ctx: Context):
    def score(P, m):
        pe = eps_softmax(P, m)
        return np.maximum(np.abs(pe.sum(-1) - 1), np.maximum(-pe.min(-1), 0)) / TOL

    ev, (K, m, res) = numeric_search(ctx.budget, "eps_softmax.simplex", score, "|Σ p_ε − 1| and negativity",
                                     tolerance=TOL)
    return decide([simplex_proof().evidence("Σ_k p_ε(k) = 1 and p_ε ≥ 0 for symbolic p, m, every t, K = 2..6"),
                   _every_k("linearity", "Σ_k p_ε(k) = (Σ_k p_k + m)/(1+m) = 1 for any K, and each coordinate is a "
                            "sum of non-negative terms over 1+m > 0"), ev],
                  exact_recheck(res, m, lambda pe, t: abs(sum(pe) - 1) == 0 and min(pe) >= 0, "Σ p_ε = 1, p_ε ≥ 0"))


@cache
def order_proof() -> Proof:
    cert = Certifier("p_k > 0, m ≥ 0, t = argmax p; i, j ≠ t", scope=SYMBOLIC)
    for K in SYMBOLIC_K:
        for t in range(K):
            p = list(sp.symbols(f"p_0:{K}", positive=True))
            pe = eps_exprs(p, t)
            for k in range(K):
                target = (p[k] + M) / (1 + M) if k == t else p[k] / (1 + M)
                cert.equal(f"K={K}, t={t}: p_ε({k}) formula", pe[k], target)
            if K >= 3:
                i, j = [k for k in range(K) if k != t][:2]
                cert.equal(f"K={K}, t={t}: p_ε({i}) − p_ε({j}) = (p_{i} − p_{j})/(1+m)", pe[i] - pe[j],
                           (p[i] - p[j]) / (1 + M))
            k = (t + 1) % K
            cert.equal(f"K={K}, t={t}: p_ε(t) − p_ε({k}) = (p_t − p_{k} + m)/(1+m)", pe[t] - pe[k],
                       (p[t] - p[k] + M) / (1 + M))
    return cert.proof()


@claim("eps_softmax.order", "P1: order, argmax, top-k preserved",
       "p_ε(k) = p_k/(1+m) for k ≠ t and p_ε(t) = (p_t+m)/(1+m); the ranking of classes (ties by lower index), "
       "the argmax and every top-k set of p_ε equal those of p.", origin=Origin.DERIVED,
       methods=("symbolic", "numeric search"), expect=Verdict.NOT_REFUTED)
def check_order(ctx: Context):
    def score(P, m):
        pe = eps_softmax(P, m)
        same_order = np.all(np.argsort(-P, axis=-1, kind="stable") == np.argsort(-pe, axis=-1, kind="stable"), axis=-1)
        same_argmax = np.argmax(P, -1) == np.argmax(pe, -1)
        return np.where(same_order & same_argmax, 0.0, 2.0)

    ev, (K, m, res) = numeric_search(ctx.budget, "eps_softmax.order", score, "argsort/argmax changes", tolerance=TOL)

    def holds(pe, t):
        order = sorted(range(len(pe)), key=lambda i: (-pe[i], i))
        point = res.witness
        return order == list(np.argsort(-point, kind="stable")) and t == int(np.argmax(point))

    return decide([order_proof().evidence("p_ε(k) = p_k/(1+m) (k ≠ t), (p_t+m)/(1+m); order, argmax and every "
                             "top-k set preserved"),
                   _every_k("every K", "the coordinate formulas hold for each coordinate whatever K; non-top "
                            "differences are scaled by 1/(1+m) > 0 and the top gains m/(1+m) ≥ 0, so the stable "
                            "descending order (ties by lower index, the argmax convention) and every top-k set agree"),
                   ev],
                  exact_recheck(res, m, holds, "same stable order"))


@cache
def one_hot_proof() -> Proof:
    """The one-hot error identities and bound for K = 2..6 (cited by Lemma A and the limit claim)."""
    cert = Certifier("p_k > 0, Σ p = 1, m ≥ 0, t = argmax p, so p_t = 1/K + s with s ≥ 0", scope=SYMBOLIC)
    s = sp.Symbol("s", nonnegative=True)
    for K in SYMBOLIC_K:
        for t in range(K):
            p, point = simplex_symbols(K, free=t)
            pe = eps_exprs(point, t)
            linf = (1 - point[t]) / (1 + M)
            cert.equal(f"K={K}, t={t}: 1 − p_ε(t) = (1 − p_t)/(1+m)", 1 - pe[t], linf)
            for k in range(K):
                if k != t:
                    cert.nonneg(f"K={K}, t={t}: |p_ε({k}) − 0| <= 1 − p_ε(t)", (1 - pe[t]) - pe[k])
            cert.equal(f"K={K}, t={t}: ‖p_ε − e_t‖₁ = 2(1 − p_t)/(1+m)",
                       (1 - pe[t]) + sum(pe[k] for k in range(K) if k != t), 2 * linf)
        bound = sp.Rational(K - 1, K) / (1 + M)
        cert.nonneg(f"K={K}: (K−1)/(K(1+m)) − (1 − p_t)/(1+m) >= 0 at p_t = 1/K + s",
                    bound - (1 - (sp.Rational(1, K) + s)) / (1 + M))
    pt = sp.Symbol("p_t", positive=True)
    err = (1 - pt) / (1 + M)
    cert.nonneg("decreasing in m: −∂/∂m (1 − p_t)/(1+m) >= 0 (1 − p_t = u ≥ 0)",
                (-sp.diff(err, M)).subs(pt, 1 - sp.Symbol("u", nonnegative=True)))
    cert.zero("→ 0 as m → ∞", sp.limit(err, M, sp.oo))
    return cert.proof()


@claim("eps_softmax.one_hot_error", "P2: one-hot error",
       "‖p_ε − e_t‖_∞ = (1 − p_t)/(1+m) and ‖p_ε − e_t‖₁ = 2(1 − p_t)/(1+m) ≤ 2(K−1)/(K(1+m)); the error "
       "decreases in m and tends to 0.", origin=Origin.DERIVED, methods=("symbolic", "numeric search"),
       expect=Verdict.NOT_REFUTED)
def check_one_hot(ctx: Context):
    def score(P, m):
        K = P.shape[-1]
        pt = P.max(-1)
        e1 = np.abs(one_hot_error(P, m, norm="l1") - 2 * (1 - pt) / (1 + m))
        einf = np.abs(one_hot_error(P, m, norm="linf") - (1 - pt) / (1 + m))
        over = np.maximum(one_hot_error(P, m, norm="l1") - 2 * (K - 1) / (K * (1 + m)), 0)
        return np.maximum.reduce([e1, einf, over]) / TOL

    ev, (K, m, res) = numeric_search(ctx.budget, "eps_softmax.one_hot_error", score,
                                     "one-hot error identities and bound", tolerance=TOL)
    K_demo = 10
    tight = one_hot_error(np.full((1, K_demo), 1 / K_demo), 10.0)[0] / (2 * (K_demo - 1) / (K_demo * 11))
    tightness = Evidence(Kind.TIGHTNESS, f"the bound is attained at the centre p = 1/K (ratio {tight:.12g} at K=10, "
                         "m=10)", data={"ratio_at_centre": float(tight)})

    def holds(pe, t):
        return sp.simplify(sum(abs(v - (1 if k == t else 0)) for k, v in enumerate(pe)) - 2 * (1 - pe[t])) == 0

    return decide([one_hot_proof().evidence("‖p_ε − e_t‖_∞ = (1−p_t)/(1+m), ‖·‖₁ = twice that, ≤ "
                             "2(K−1)/(K(1+m)), decreasing in m, → 0"),
                   _every_k("every K", "the identities hold coordinate by coordinate for any K, and p_t ≥ 1/K"),
                   tightness, ev], exact_recheck(res, m, holds, "the one-hot error identities"))


@cache
def ranges_proof() -> Proof:
    cert = Certifier("p_k > 0, Σ p = 1, m ≥ 0, t = argmax p so p_t = 1/K + s, s ≥ 0", scope=SYMBOLIC)
    s = sp.Symbol("s", nonnegative=True)
    for K in SYMBOLIC_K:
        t = 0
        for k in range(1, K):
            _, point = simplex_symbols(K, free=k)  # p_k = 1 − Σ others ≤ 1
            pe = eps_exprs(point, t)
            cert.nonneg(f"K={K}: 1/(1+m) − p_ε({k}) >= 0", 1 / (1 + M) - pe[k])
        pe_t = (sp.Rational(1, K) + s + M) / (1 + M)
        cert.nonneg(f"K={K}: p_ε(t) − (1/K + m)/(1+m) >= 0 at p_t = 1/K + s",
                    pe_t - (sp.Rational(1, K) + M) / (1 + M))
        cert.nonneg(f"K={K}: 1 − p_ε(t) >= 0", 1 - eps_exprs(simplex_symbols(K, free=0)[1], 0)[0])
    return cert.proof()


@claim("eps_softmax.ranges", "P3: coordinate ranges",
       "Non-argmax coordinates of p_ε lie in [0, 1/(1+m)]; coordinate t lies in [(1/K + m)/(1+m), 1].",
       origin=Origin.DERIVED, methods=("symbolic", "numeric search"), expect=Verdict.NOT_REFUTED)
def check_ranges(ctx: Context):
    def score(P, m):
        K = P.shape[-1]
        pe = eps_softmax(P, m)
        t = np.argmax(P, -1)
        top = np.take_along_axis(pe, t[:, None], -1)[:, 0]
        others = np.where(np.eye(K, dtype=bool)[t], -np.inf, pe).max(-1)
        return np.maximum.reduce([others - 1 / (1 + m), (1 / K + m) / (1 + m) - top, top - 1, -pe.min(-1)]) / TOL

    ev, (K, m, res) = numeric_search(ctx.budget, "eps_softmax.ranges", score, "range violations", tolerance=TOL)

    def holds(pe, t):
        K = len(pe)
        mm = sp.Rational(repr(float(m)))
        return all(v <= 1 / (1 + mm) for k, v in enumerate(pe) if k != t) and (sp.Rational(1, K) + mm) / (1 + mm) <= pe[t] <= 1

    return decide([ranges_proof().evidence("non-argmax coordinates in [0, 1/(1+m)], the argmax in [(1/K+m)/(1+m), 1]"),
                   _every_k("every K and t", "each bound is a statement about one coordinate, for any K; p_t ≥ 1/K "
                            "because the largest of K numbers summing to 1 is at least their mean; by symmetry of the "
                            "construction t = 0 covers every t"), ev],
                  exact_recheck(res, m, holds, "the coordinate ranges"))


@cache
def clamp_proof() -> Proof:
    """CE_ε(p, y ≠ t) = −log c with zero derivative below the threshold (K = 2..6, m ∈ {0, 10, 1e5})."""
    c_ = sp.Rational(1, 10**8)
    cert = Certifier("y ≠ t, p_y = (1+m)·c·r with 0 < r < 1 (r = 1/(1+s), s > 0), c = 1e-8",
                     scope="K = 2..6, m ∈ {0, 10, 1e5}, symbolic p")
    s_ = sp.Symbol("s", positive=True)
    for K in SYMBOLIC_K:
        for m in (0, 10, 10**5):
            L = losses.get("ce_eps", m=float(m), clamp=PAPER_CLAMP)
            p = list(sp.symbols(f"p_0:{K}", positive=True))
            vals = L.sympy(K, t=0, symbols=p)
            y = K - 1
            below = vals[y].subs(p[y], (1 + m) * c_ / (1 + s_))
            cert.equal(f"K={K}, m={m}: CE_ε(p, y≠t) = −log c below p_y < (1+m)c", below, -sp.log(c_))
            cert.zero(f"K={K}, m={m}: ∂CE_ε/∂p_y = 0 there", sp.diff(below, s_))
    return cert.proof()


@claim("eps_softmax.clamp", "P4: the clamp threshold",
       "With the clamp c = 1e-8, for y ≠ t, CE_ε(p, y) = −log max(p_ε(y), c) equals −log c with zero gradient "
       "once p_y < (1+m)c; hence CE_ε ∈ [0, −log c].", origin=Origin.DERIVED, methods=("symbolic", "numeric search"),
       expect=Verdict.NOT_REFUTED)
def check_clamp(ctx: Context):
    c = PAPER_CLAMP
    budget = ctx.budget

    def score(P, m):
        L = losses.get("ce_eps", m=m, clamp=c)
        K = P.shape[-1]
        vals = np.stack([L(P, np.full(len(P), k)) for k in range(K)], -1)
        t = np.argmax(P, -1)
        clamped = (P < (1 + m) * c) & ~np.eye(K, dtype=bool)[t]
        off = np.abs(np.where(clamped, vals + np.log(c), 0)).max(-1)
        out = np.maximum(vals.max(-1) + np.log(c), -vals.min(-1))
        return np.maximum(off, np.maximum(out, 0)) / TOL

    ev, (K, m, res) = numeric_search(budget, "eps_softmax.clamp", score,
                                     "CE_ε outside [0, −log c] or not −log c below the threshold", tolerance=TOL)
    # threshold is sharp: just above (1+m)c the loss is below −log c
    m_demo = 10.0
    P = np.array([[1 - 2 * (1 + m_demo) * c, 2 * (1 + m_demo) * c, 0.0]])
    above = losses.get("ce_eps", m=m_demo, clamp=c)(P, np.array([1]))[0]
    sharp = Evidence(Kind.TIGHTNESS, f"sharp: at p_y = 2(1+m)c the value is {above:.6f} < −log c = {-np.log(c):.6f}",
                     data={"value_above": float(above), "minus_log_c": float(-np.log(c))})
    witness = None
    if res.witness is not None:
        L = losses.get("ce_eps", m=m, clamp=c)
        vec = exact_loss_vector(L, res.witness)
        ok = all(0 <= v <= -sp.log(sp.Rational(1, 10**8)) for v in vec)
        witness = Witness({"p": res.witness, "m": m}, f"float score {res.score:.3g}", "CE_ε ∈ [0, −log c]",
                          f"50-digit evaluation: {'holds' if ok else 'violated'}",
                          Recheck.DISMISSED if ok else Recheck.CONFIRMED)
    return decide([clamp_proof().evidence("for y ≠ t, CE_ε = −log c with zero derivative once p_y < (1+m)c"),
                   _every_k("every K and m", "the computation is the same for every K and every m ≥ 0 (the value "
                            "depends on p_y and the argmax only); max(p_ε(y), c) ∈ [c, 1] so −log max(p_ε(y), c) ∈ "
                            "[0, −log c]"), sharp, ev], witness)


