"""Claim 10: All-k consistency of every registered loss (Zhu, Ying, Yang 2023), with witnesses.

For q with distinct entries, L is top-k consistent when every minimiser p* of C_q has the same
top-k set as q; a minimiser with p*_(k) = p*_(k+1) (within :data:`theory.consistency.TIE`) has no well-defined top-k set
and counts as a failure. The classification below is over the sampled q (verified, not refuted
where it holds), with the global minimisers of :mod:`theory.minimise`.
"""

from __future__ import annotations

import numpy as np

from proofs_check._core import Budget, Claim, Evidence, Source, Verdict, Witness
from proofs_check.claims._registry import register
from theory import losses
from theory._exact import exact_conditional_risk
from theory.consistency import consistency, topk_ok
from theory.evidence import decide
from theory.minimise import minimise_conditional_risk

Q_PINNED = np.array([0.5, 0.3, 0.2])


def consistency_table(budget: Budget, Ks=(3, 4)) -> list[dict]:
    """One row per registered loss (defaults) and per ε variant: classification with witnesses."""
    entries = [(name, {}) for name in losses.names()]
    entries += [("ce_eps", {"m": 10.0}), ("ce_eps+mae", {"alpha": 0.1, "beta": 1.0, "m": 1e4}),
                ("ce_eps+mae", {"clamp": 0.0}), ("ce_eps+mae", {"alpha": 0.1, "beta": 1.0, "m": 1e4, "clamp": 0.0})]
    rows = []
    for i, (name, params) in enumerate(entries):
        result = consistency(losses.get(name, **params), Ks, budget.pick(12, 80), budget.rng(1000),
                             seed=budget.seed, pinned=[Q_PINNED])
        witnesses = {k: {**w, "q": np.round(w["q"], 6).tolist(), "p_star": np.round(w["p_star"], 6).tolist()}
                     for k, w in result.witnesses.items()}
        rows.append({"loss": name, "params": params, "classification": result.label, "method": result.method,
                     "exact": result.exact, "witnesses": witnesses})
        budget.tick("consistency.table", i + 1, len(entries))
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| loss | parameters | consistency | minimiser | witness q (first failing k) |", "|---|---|---|---|---|"]
    for r in rows:
        w = next(iter(r["witnesses"].items()), None)
        wt = "" if w is None else f"{w[0]}: q={w[1]['q']} → p*={w[1]['p_star']}"
        params = ", ".join(f"{k}={v:g}" for k, v in r["params"].items()) or "defaults"
        lines.append(f"| {r['loss']} | {params} | {r['classification']} | {r['method']}{'' if r['exact'] else ' (not certified)'} | {wt} |")
    return "\n".join(lines)


def _check_table(budget: Budget):
    rows = consistency_table(budget)
    by = {(r["loss"], tuple(sorted(r["params"].items()))): r for r in rows}
    pinned = {
        "CE is All-k": by[("ce", ())]["classification"] == "All-k",
        "MAE is top-1 only": by[("mae", ())]["classification"] == "top-1 only",
        "CE_ε (m = 10) is not All-k": by[("ce_eps", (("m", 10.0),))]["classification"] != "All-k",
    }
    p_ce = minimise_conditional_risk(losses.get("ce_eps", m=10.0), Q_PINNED).p
    p_mix = minimise_conditional_risk(losses.get("ce_eps+mae", alpha=0.1, beta=1.0, m=1e4), Q_PINNED).p
    pinned["CE_ε (m=10) at (0.5, 0.3, 0.2): p* ≈ (1/3, 1/3, 1/3)"] = bool(np.allclose(p_ce, 1 / 3, atol=1e-6))
    pinned["CE_ε+MAE (0.1, 1, 1e4) at (0.5, 0.3, 0.2): p* ≈ (0.892, 0.075, 0.033)"] = bool(
        np.allclose(p_mix, [0.892, 0.075, 0.033], atol=6e-4))
    failed = [k for k, v in pinned.items() if not v]
    ev = [Evidence("measurement", f"{len(rows)} losses classified on {budget.pick(12, 80)} posteriors per K ∈ (3, 4) "
                   "(All-k needs a strict, q-ordered minimiser at every k)", {"rows": rows, "markdown": markdown(rows)}),
          Evidence("search", f"pinned known results: {sum(pinned.values())}/{len(pinned)} reproduced" +
                   (f"; NOT reproduced: {failed}" if failed else ""), {"pinned": pinned, "p_ce_eps": p_ce.tolist(),
                                                                       "p_ce_eps_mae": p_mix.tolist()})]
    if failed:
        raise AssertionError(f"known consistency results not reproduced: {failed}")
    return decide(ev, data={"rows": rows, "markdown": markdown(rows)})


def _check_clamp_breaks_order(budget: Budget):
    """CE_ε+MAE at the CIFAR-10 defaults with the reference clamp: the minimiser ties non-top classes at 0."""
    L = losses.get("ce_eps+mae")  # α = 0.01, β = 5, m = 1e5, c = 1e-8
    best = minimise_conditional_risk(L, Q_PINNED)
    ok = topk_ok(best.p[None], Q_PINNED[None])[0]
    free = minimise_conditional_risk(losses.get("ce_eps+mae", clamp=0.0), Q_PINNED)  # order-preserving point
    evidence = [Evidence("measurement", f"q = (0.5, 0.3, 0.2): minimiser {best.p.round(9).tolist()} by {best.method}; "
                         f"the unclamped loss's minimiser is {free.p.round(6).tolist()}", {"p_star": best.p.tolist()})]
    witness = None
    if not ok.all():
        # re-check at 50 digits: the tied point beats the order-preserving stationary point and
        # every small move of mass from the top to a tied class
        vertex = np.eye(3)[0]
        c0 = exact_conditional_risk(L, vertex, Q_PINNED)
        rivals = [exact_conditional_risk(L, free.p, Q_PINNED)]
        for k in (1, 2):
            for d in (1e-12, 1e-9, 1e-6, 1e-3):
                rivals.append(exact_conditional_risk(L, vertex + d * (np.eye(3)[k] - vertex), Q_PINNED))
        margin = min(r - c0 for r in rivals)
        witness = Witness({"loss": "ce_eps+mae (α=0.01, β=5, m=1e5, c=1e-8)", "q": Q_PINNED, "p_star": vertex},
                          f"p* = e_0: classes 1 and 2 tied at 0 (top-2 undefined); C_q(e_0) = {float(c0):.12g}",
                          "a strictly q-ordered minimiser",
                          f"50-digit: C_q at the order-preserving stationary point and at 8 moves from e_0 all exceed "
                          f"C_q(e_0), smallest margin {float(margin):.3g}", rechecked=bool(margin > 0))
    # second mechanism, no clamp involved: for nearly tied top entries the stationary p_k exceeds p_t,
    # so the constrained minimiser ties class k with the top
    q_close = np.array([0.4915, 0.4486, 0.0599])
    close = minimise_conditional_risk(losses.get("ce_eps+mae", alpha=0.1, beta=1.0, m=1e4, clamp=0.0), q_close)
    evidence.append(Evidence("measurement", f"without the clamp, (α, β, m) = (0.1, 1, 1e4), q = {q_close.tolist()}: "
                             f"p* = {close.p.round(6).tolist()} ({close.method}): the top two tie, because the "
                             "stationary p_k = αq_k/(αq_t/(p_t+m) + 2β(q_t − q_k)) exceeds p_t when q_t − q_k is small",
                             {"q": q_close.tolist(), "p_star": close.p.tolist()}))
    return decide(evidence, witness)


register(Claim(
    "consistency.table", "All-k consistency of every registered loss",
    "Classification of every registered loss as All-k / top-k for some k / top-1 only / not top-1, with a witness "
    "q; pinned: CE All-k, MAE top-1 only, CE_ε (m = 10) not top-2 at q = (0.5, 0.3, 0.2) (p* ≈ uniform), CE_ε+MAE "
    "(α, β, m) = (0.1, 1, 1e4) All-k with p* ≈ (0.892, 0.075, 0.033).",
    Source.DERIVED, ("exact finite problems", "numeric search"), _check_table))
register(Claim(
    "consistency.ce_eps_mae_order", "CE_ε+MAE is order-preserving at the paper's defaults",
    "CE_ε+MAE as implemented (clamp c = 1e-8) with the CIFAR-10 defaults α = 0.01, β = 5, m = 1e5 has a strictly "
    "q-ordered conditional-risk minimiser (the derived stationarity argument, which assumes no clamp is active).",
    Source.DERIVED, ("exact finite problems",), _check_clamp_breaks_order,
    expect=frozenset({Verdict.REFUTED}),
    finding="At the reference's CIFAR-10 defaults the clamp is active at the optimum: the stationary non-top "
            "probabilities p_k ≈ αq_k/(2β(q_t − q_k)) give p_k/(1+m) below e·c, where the flat clamp makes p_k = 0 "
            "optimal, so non-top classes tie at 0 and CE_ε+MAE is top-1 only there. Independently of the clamp, "
            "for nearly tied top entries (q_t − q_k small against α/β) the stationary p_k exceeds p_t and the "
            "minimiser ties class k with the top. The derivation's 'increasing in q_k ⇒ order-preserving' holds "
            "only where neither constraint binds."))
