"""Claims 2 and 3: the m = 0 identities and the exact symmetry of MAE on ε-softmax."""

from __future__ import annotations

import numpy as np
import sympy as sp

from proofs_check.claims._common import SYMBOLIC_K, eps_exprs, k_text, sci, simplex_symbols
from proofs_check.claims._registry import claim
from proofs_check.claims.softmax import simplex_proof
from theory import losses
from theory.losses import with_eps_softmax
from theory.softmax import PAPER_CLAMP
from theory.verify import Certifier, Evidence, Kind, Origin, Recheck, Size, Verdict, Witness, decide
from theory.verify.exact import exact_loss_vector
from theory.verify.runner import Context
from theory.verify.search import search

C = PAPER_CLAMP
C_EXACT = sp.Rational(repr(PAPER_CLAMP))  # exactly 1/10⁸, read from its decimal form
#: the float ε-loss at m = 0 and its plain counterpart must agree to this (relative): rounding only
AGREE_REL = 1e-12
#: float rounding allowed in Σ_k MAE_ε, per class: |Σ − 2(K−1)| ≤ 2(K−1)c + SUM_ROUNDING·K
SUM_ROUNDING = 1e-12
#: the 50-digit re-check of a sum judges it beyond 2(K−1)c by more than this
EXACT_SLACK = 1e-30
#: the numeric searches of both claims: K, and per (loss, K[, m]) sampled points and hypothesis examples
SEARCH_KS, SEARCH_POINTS, SEARCH_EXAMPLES = Size((3, 10, 100), (3, 10, 100, 1000)), Size(300, 3000), Size(50, 300)

# (ε-loss at m = 0, plain loss) pairs with equal parameters
PAIRS = (
    ("ce_eps", {}, "ce", {}),
    ("fl_eps", {"gamma": 0.1}, "fl", {"gamma": 0.1}),
    ("ce_eps+mae", {"alpha": 0.01, "beta": 5.0}, "ce+mae", {"alpha": 0.01, "beta": 5.0}),
    ("fl_eps+mae", {"alpha": 0.01, "beta": 5.0, "gamma": 0.1}, None, None),
)


def _plain(name, params):
    if name is None:  # FL_ε+MAE at m = 0 is α·FL + β·MAE, which has no registry entry
        return params["alpha"] * losses.get("fl", gamma=params["gamma"]) + params["beta"] * losses.get("mae")
    return losses.get(name, **params)


@claim("identities.m_zero", "m = 0 gives the plain losses",
       "At m = 0, CE_ε = CE, FL_ε = FL (same γ), CE_ε+MAE = CE+MAE and FL_ε+MAE = FL+MAE (same α, β) wherever the "
       "clamp is inactive (p_y ≥ c = 1e-8), and everywhere with clamp 0.", origin=Origin.DERIVED,
       methods=("symbolic", "numeric search"), expect=Verdict.NOT_REFUTED)
def check_m_zero(ctx: Context):
    budget = ctx.budget
    cert = Certifier("p_k > 0; m = 0; clamp c = 1e-8 with p_y = c(1 + s), s ≥ 0 (the clamp inactive), "
                     "or clamp 0", scope="K = 2..4, every t and y, symbolic p")
    s = sp.Symbol("s", nonnegative=True)
    for eps_name, eps_params, plain_name, plain_params in PAIRS:
        plain = _plain(plain_name, plain_params or eps_params)
        for clamp in (0.0, C):
            L = losses.get(eps_name, m=0.0, clamp=clamp, **eps_params)
            for K in (2, 3, 4):
                p = list(sp.symbols(f"p_0:{K}", positive=True))
                for t in range(K):
                    for y in range(K):
                        a, b = L.sympy(K, y=y, t=t, symbols=p), plain.sympy(K, y=y, symbols=p)
                        if clamp:
                            a, b = a.subs(p[y], C_EXACT * (1 + s)), b.subs(p[y], C_EXACT * (1 + s))
                        cert.equal(f"{eps_name} (m=0, clamp={clamp:g}) = {plain.name}, K={K}, t={t}, y={y}", a, b)

    rng_worst = []

    def score(P, pair):
        eps_name, eps_params, plain_name, plain_params = pair
        L = losses.get(eps_name, m=0.0, **eps_params)
        plain = _plain(plain_name, plain_params or eps_params)
        out = np.zeros(len(P))
        for y in range(P.shape[1]):
            labels = np.full(len(P), y)
            a, b = L(P, labels), plain(P, labels)
            ok = P[:, y] >= C
            with np.errstate(invalid="ignore"):  # inf − inf where p_y = 0: outside the compared set
                out = np.maximum(out, np.where(ok, np.abs(a - b) / (AGREE_REL * (1 + np.abs(b))), 0))
        return out

    Ks = budget.size(SEARCH_KS)
    for pair in PAIRS:
        for K in Ks:
            res = search(lambda P, pair=pair: score(P, pair), K, rng=budget.rng("identities.m_zero", pair[0], K),
                         n=budget.size(SEARCH_POINTS), n_polish=0, hypothesis_examples=budget.size(SEARCH_EXAMPLES))
            rng_worst.append((res.score, pair[0], K, res))
    worst = max(rng_worst, key=lambda r: r[0])
    ev = Evidence(Kind.SEARCH, f"float implementations agree where p_y ≥ c: worst relative gap {worst[0] * AGREE_REL:.2g} "
                  f"({worst[1]}, K={worst[2]})", covers=f"{k_text(Ks)}: sampled points (numeric search)",
                  data={"tolerance": f"{sci(AGREE_REL)} relative", **worst[3].to_dict()})
    every = Certifier("the per-example formulas", scope="every K")
    every.argue("every K", "at m = 0, p_ε = p and the clamp max(p_y, c) is inactive where p_y ≥ c, whatever K")
    witness = None
    if worst[0] > 1 and worst[3].witness is not None:
        witness = Witness({"loss": worst[1], "K": worst[2], "p": worst[3].witness}, f"relative gap {worst[0] * AGREE_REL:.3g}",
                          f"≤ {sci(AGREE_REL)}", "float64 evaluation again", Recheck.CONFIRMED)
    return decide([cert.evidence("ε-losses at m = 0 equal their plain counterparts (clamp inactive), "
                                 "symbolically for K = 2..4, every t and y"), every.evidence("every K"), ev], witness)


@claim("identities.mae_symmetric", "MAE on ε-softmax is exactly symmetric",
       "For every p, every m ≥ 0 and K: Σ_k 2(1 − p_ε(k)) = 2(K−1) (no clamp); with the reference clamp c the sum "
       "stays within 2(K−1)c of it.", origin=Origin.PAPER, methods=("symbolic", "numeric search"),
       expect=Verdict.NOT_REFUTED)
def check_mae_symmetric(ctx: Context):
    budget = ctx.budget
    mae = losses.get("mae")
    cert = Certifier("p_k > 0 with Σ p = 1 (p_t eliminated), m ≥ 0 symbolic, no clamp",
                     scope="K = 2..6, every t, symbolic p and m ≥ 0")
    for K in SYMBOLIC_K:
        for t in range(K):
            _, point = simplex_symbols(K, free=t)
            total = sum(mae.sympy(K, symbols=eps_exprs(point, t)))
            cert.equal(f"K={K}, t={t}: Σ_k 2(1 − p_ε(k)) = 2(K−1)", total, 2 * (K - 1))
    every = Certifier("Σ_k p_ε(k) = 1 (claim eps_softmax.simplex)", scope="every K")
    every.cite("Σ_k p_ε(k) = 1", simplex_proof(), "eps_softmax.simplex")
    every.argue("every K", "Σ_k 2(1 − p_ε(k)) = 2K − 2 Σ_k p_ε(k) = 2(K − 1) for any K")

    spread = {}
    witness = None
    for clamp in (0.0, C):
        worst = None
        for K in budget.size(SEARCH_KS):
            for m in (0.0, 1.0, 1e4, 1e8):
                L = with_eps_softmax(mae, m, clamp=clamp)
                allowed = 2 * (K - 1) * clamp  # the clamp lifts each small coordinate by at most c

                def score(P, L=L, K=K, allowed=allowed):
                    total = sum(L(P, np.full(len(P), k)) for k in range(K))
                    return np.abs(total - 2 * (K - 1)) / (allowed + SUM_ROUNDING * K)

                res = search(score, K, rng=budget.rng("identities.mae_symmetric", clamp, K, m), n=budget.size(SEARCH_POINTS),
                             n_polish=0, hypothesis_examples=budget.size(SEARCH_EXAMPLES))
                if worst is None or res.score > worst[0]:
                    worst = (res.score, K, m, res)
        spread[f"clamp={clamp:g}"] = {"worst_ratio_to_allowed": worst[0], "K": worst[1], "m": worst[2],
                                      "allowed": f"2(K−1)c + {sci(SUM_ROUNDING)}·K"}
        if worst[0] > 1 and witness is None:
            L = with_eps_softmax(mae, worst[2], clamp=clamp)
            vec = exact_loss_vector(L, worst[3].witness)
            gap = abs(sum(vec) - 2 * (worst[1] - 1))
            bad = gap > 2 * (worst[1] - 1) * clamp + EXACT_SLACK
            witness = Witness({"p": worst[3].witness, "m": worst[2], "clamp": clamp}, f"|Σ − 2(K−1)| = {float(gap):.3g}",
                              "≤ 2(K−1)c", f"50-digit evaluation: {'violated' if bad else 'holds'}",
                              Recheck.CONFIRMED if bad else Recheck.DISMISSED)
    Ks = budget.size(SEARCH_KS)
    ev = Evidence(Kind.SEARCH, f"float: |Σ − 2(K−1)| within rounding without the clamp (worst "
                  f"{spread['clamp=0']['worst_ratio_to_allowed']:.2g} of {sci(SUM_ROUNDING)}·K) and within 2(K−1)c with the reference "
                  "clamp c = 1e-8", covers=f"{k_text(Ks)}, m ∈ {{0, 1, 1e4, 1e8}}, clamp ∈ {{0, 1e-8}} (numeric search)",
                  data=spread)
    return decide([cert.evidence("Σ_k 2(1 − p_ε(k)) = 2(K−1) exactly (symbolic p and m, K = 2..6, every t)"),
                   every.evidence("every K: by Σ_k p_ε(k) = 1"), ev],
                  witness, note="with the clamp max(p_ε, c) the sum is 2(K−1) − 2Σ_k (c − p_ε(k))₊ ∈ [2(K−1)(1−c), 2(K−1)]")
