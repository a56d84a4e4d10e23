"""Claim 10: All-k consistency of every registered loss (Zhu, Ying, Yang 2023), with witnesses.

For q with distinct entries, L is top-k consistent when every minimiser p* of C_q has the same
top-k set as q; a minimiser with p*_(k) = p*_(k+1) (within ``TIE``) has no well-defined top-k set
and counts as a failure. The classification below is over the sampled q (verified, not refuted
where it holds), with the global minimisers of :mod:`theory.minimise`.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from proofs_check._core import Budget, Claim, Evidence, Source, Verdict, Witness
from proofs_check._symbolic import exact_conditional_risk
from proofs_check.claims._common import decide
from proofs_check.claims._registry import register
from theory import losses
from theory.minimise import minimise_conditional_risk

TIE = 1e-7
Q_PINNED = np.array([0.5, 0.3, 0.2])


def _posteriors(K: int, n: int, rng: np.random.Generator) -> np.ndarray:
    q = rng.dirichlet(np.ones(K), size=4 * n)
    gaps = np.diff(np.sort(q, axis=1), axis=1).min(1)
    q = q[gaps > 0.02][:n]
    return np.vstack([Q_PINNED[:K] / Q_PINNED[:K].sum(), q]) if K == 3 else q


def topk_ok(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(n, K−1) booleans: is the top-k set of p well defined (gap > TIE) and equal to q's, k = 1..K−1."""
    K = q.shape[1]
    order_q = np.argsort(-q, axis=1)
    ps = -np.sort(-p, axis=1)
    out = np.empty((len(q), K - 1), dtype=bool)
    for k in range(1, K):
        strict = ps[:, k - 1] - ps[:, k] > TIE
        top_p = np.sort(np.argsort(-p, axis=1, kind="stable")[:, :k], axis=1)
        same = np.all(top_p == np.sort(order_q[:, :k], axis=1), axis=1)
        out[:, k - 1] = strict & same
    return out


def classify(ok: np.ndarray) -> str:
    holds = ok.all(0)
    K1 = ok.shape[1]
    if holds.all():
        return "All-k"
    if not holds[0]:
        return "not even top-1"
    ks = [k + 1 for k in range(K1) if holds[k]]
    return "top-1 only" if ks == [1] else f"top-k for k ∈ {ks}"


def consistency_table(budget: Budget, Ks=(3, 4)) -> list[dict]:
    """One row per registered loss (defaults) and per ε variant: classification with witnesses."""
    entries = [(name, {}) for name in losses.names()]
    entries += [("ce_eps", {"m": 10.0}), ("ce_eps+mae", {"alpha": 0.1, "beta": 1.0, "m": 1e4}),
                ("ce_eps+mae", {"clamp": 0.0}), ("ce_eps+mae", {"alpha": 0.1, "beta": 1.0, "m": 1e4, "clamp": 0.0})]
    rows = []
    for i, (name, params) in enumerate(entries):
        L = losses.get(name, **params)
        holds, witnesses, method, exact = {}, {}, None, True
        for K in Ks:
            q = _posteriors(K, budget.pick(12, 80), budget.rng(1000 + K))
            best = minimise_conditional_risk(L, q, seed=budget.seed)
            method, exact = best.method, exact and best.exact
            ok = topk_ok(best.p, q)
            for k in range(K - 1):
                holds[k + 1] = holds.get(k + 1, True) and bool(ok[:, k].all())
                if not ok[:, k].all() and f"top-{k + 1}" not in witnesses:
                    j = int(np.argmin(ok[:, k]))
                    witnesses[f"top-{k + 1}"] = {"K": K, "q": q[j].round(6).tolist(), "p_star": best.p[j].round(6).tolist()}
        label = classify(np.array([[holds[k] for k in sorted(holds)]]))
        rows.append({"loss": name, "params": params, "classification": label, "method": method, "exact": exact,
                     "witnesses": witnesses})
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
