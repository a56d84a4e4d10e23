"""Claim 10: consistency of every registered loss in two named notions, and the clamp's effect on
CE_ε+MAE's order (Zhu, Ying, Yang 2023).

The table is :func:`theory.consistency.classify` applied to each loss at each K: the same
function, with the same keyed random stream, that ``check_loss`` calls, so the two agree by
construction. Nothing about a loss is typed here: the claim's findings are read off the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from proofs_check.claims._common import k_text
from proofs_check.claims._registry import claim
from theory import losses
from theory.consistency import ConsistencyRow, Grade, Notion, classify
from theory.formatting import vector
from theory.minimise import minimise_conditional_risk
from theory.softmax import PAPER_CLAMP
from theory.verify import Certifier, Evidence, Kind, Origin, Recheck, Verdict, Witness, decide
from theory.verify.runner import Context

Q_PINNED = np.array([0.5, 0.3, 0.2])
TABLE_K = (3, 4)
#: the dual's multiplier search starts this far above 2β·max q, where the stationary points have a pole
_MU_INSET = 1e-9

#: the table's entries beyond every registered loss at its defaults: (name, parameters, why)
VARIANTS = (
    ("ce_eps", {"m": 10.0}, "the derived example of CE_ε's ties"),
    ("ce_eps+mae", {"alpha": 0.1, "beta": 1.0, "m": 1e4}, "the derived example of CE_ε+MAE's order"),
    ("ce_eps+mae", {"clamp": 0.0}, "without the clamp"),
    ("ce_eps+mae", {"alpha": 0.1, "beta": 1.0, "m": 1e4, "clamp": 0.0}, "without the clamp"),
    ("gce", {"clamp": 0.0}, "without the clamp"),
    ("ldr_kl", {"scores": "raw"}, "unconstrained scores, as the LDR paper"),
)


@dataclass(frozen=True)
class TableRow:
    """One loss of the table, at every K of the table."""

    loss: str
    params: dict
    why: str
    by_K: dict[int, ConsistencyRow]

    @property
    def label(self) -> str:
        params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items())
        return f"{self.loss} ({params})" if params else self.loss

    def to_dict(self) -> dict:
        return {"loss": self.loss, "params": self.params, "why": self.why, "label": self.label,
                "by_K": {K: r.to_dict() for K, r in self.by_K.items()}}


def entries() -> list[tuple[str, dict, str]]:
    return [(name, {}, "defaults") for name in losses.names("paper")] + list(VARIANTS)


def consistency_table(ctx: Context, Ks=TABLE_K) -> list[TableRow]:
    """One row per registered loss (defaults) and per variant, classified at every K in both notions."""
    rows = []
    todo = entries()
    for i, (name, params, why) in enumerate(todo):
        L = losses.get(name, **params)
        domain = _domain(name, L.params)
        rows.append(TableRow(name, params, why, {K: classify(L, K, budget=ctx.budget, domain=domain) for K in Ks}))
        ctx.tick(i + 1, len(todo))
    return rows


def _domain(name: str, params) -> str:
    if name == "ldr_kl":
        return ("logits; the loss reads normalised softplus scores f̂ = softplus(z)/mean softplus(z), as the reference"
                if params.get("scores") != "raw" else "logits; the loss reads the unconstrained scores f̂ = z")
    if name == "ce+lc":
        return "logits; the loss reads the clipped logits"
    return ""


def markdown(rows: list[TableRow]) -> str:
    Ks = sorted(next(iter(rows)).by_K) if rows else []
    head = ["loss", "parameters", *[f"K={K} strict order" for K in Ks], *[f"K={K} own prediction" for K in Ks],
            "minimiser", "witness (first confirmed failure, strict order)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        first = next(iter(r.by_K.values()))
        wit = ""
        for K, c in r.by_K.items():
            f = next((f for f in c.strict.failures if f.recheck is Recheck.CONFIRMED), None)
            if f is not None:
                wit = f"K={K}, top-{f.k} ({f.why}): q={vector(f.q, digits=6)} → p*={vector(f.p_star, digits=6)}"
                break
        params = ", ".join(f"{k}={v}" for k, v in r.params.items()) or "defaults"
        cert = "" if first.exact else " (not certified)"
        lines.append("| " + " | ".join([r.loss, params, *[c.strict.label for c in r.by_K.values()],
                                         *[c.prediction.label for c in r.by_K.values()],
                                         f"{first.method.value}{cert}", wit]) + " |")
    return "\n".join(lines)


def findings(rows: list[TableRow]) -> list[str]:
    """The claim's statement, read off the rows: one sentence per loss."""
    out = []
    for r in rows:
        parts = [f"K={K}: {c.strict.label} (strict order), {c.prediction.label} (own prediction)"
                 for K, c in r.by_K.items()]
        out.append(f"{r.label}: " + "; ".join(parts))
    return out


@claim("consistency.table", "Consistency of every registered loss, in two notions",
       "Every registered loss at its defaults, and the variants of VARIANTS (the derived examples of CE_ε and CE_ε+MAE, the clamps "
       "removed, LDR-KL's unconstrained scores), classified at K = 3 and 4 in the strict-order notion (Zhu, Ying, "
       "Yang 2023: every minimiser has q's strict top-k set; ties fail) and in the own-prediction notion (the Bayes "
       "class's argmax region is strictly best), over posteriors with near-ties and tiny entries, each failure "
       "re-checked; the findings are the rows. Literature anchors: CE is All-k, MAE top-1 only.",
       origin=Origin.DERIVED, methods=("exact finite problems", "numeric search"), expect=Verdict.NOT_REFUTED, seconds=40,
       reference="Zhu, Ying, Yang, ICML 2023 (All-k consistency); derived statements for the ε-losses")
def check_table(ctx: Context):
    rows = consistency_table(ctx)
    by = {(r.loss, tuple(sorted(r.params.items()))): r for r in rows}
    anchors = {
        "CE is All-k (strict order)": all(c.strict.grade is Grade.ALL_K for c in by[("ce", ())].by_K.values()),
        "MAE is top-1 only (strict order)": all(c.strict.grade is Grade.TOP1_ONLY
                                                for c in by[("mae", ())].by_K.values()),
    }
    failed = [k for k, v in anchors.items() if not v]
    if failed:  # the literature's results not reproduced: a bug in the engine, not a verdict
        raise AssertionError(f"known consistency results not reproduced: {failed}")
    undecided = [f"{r.label} at K={K} ({n.value}: undecided at k ∈ {{{', '.join(map(str, c.notion(n).undecided))}}})"
                 for r in rows for K, c in r.by_K.items() for n in Notion if c.notion(n).undecided]
    covers = (f"{len(rows)} losses at {k_text(TABLE_K)}, both notions, "
              f"{next(iter(rows[0].by_K.values())).n_posteriors} posteriors each (near-ties and tiny entries)")
    text = findings(rows)
    # the table is the statement: a position the re-check could not decide is one of its entries
    # ("undecided at k"), stated as such, not a verdict on the table
    ev = [Evidence(Kind.MEASUREMENT, f"{len(rows)} losses classified, every failure re-checked; anchors reproduced: "
                   f"{', '.join(anchors)}; {len(undecided)} entries undecided"
                   + (f" ({'; '.join(undecided[:3])}{' …' if len(undecided) > 3 else ''})" if undecided else ""),
                   covers=covers, data={"findings": text, "undecided": undecided})]
    note = "; ".join(text[:3]) + f"; … ({len(text)} rows; see data['findings'])"
    return decide(ev, data={"rows": rows, "markdown": markdown(rows), "findings": text}, note=note)


# ----------------------------------------------------------------------------------------------
# CE_ε+MAE with the clamp: a global certificate that the vertex is a minimiser


def _phi(alpha, beta, m, c):
    """Exact φ_top(u), φ_other(u) of CE_ε+MAE (the clamp written as Max)."""
    def top(u):
        return alpha * -sp.log(sp.Max((u + m) / (1 + m), c)) + 2 * beta * (1 - u)

    def other(u):
        return alpha * -sp.log(sp.Max(u / (1 + m), c)) + 2 * beta * (1 - u)

    return top, other


def _piece_min(f, a, b, crit) -> sp.Expr:
    """min over [a, b] of a function convex on [a, b] with stationary point ``crit`` (clipped)."""
    x = min(max(crit, a), b)
    return f(x)


def region_dual_bound(alpha, beta, m, c, q, t: int, mu) -> sp.Expr:
    """A lower bound on inf C_q over the argmax region of t (exact sympy number): the Lagrangian
    dual at multiplier μ with the order constraints p_k ≤ p_t dropped, each coordinate minimised
    over its box in closed form (the clamp splits φ_other into a linear plateau u ≤ (1+m)c and a
    convex log piece, whose stationary point αq_k/(μ − 2βq_k) is rational)."""
    K = len(q)
    top, other = _phi(alpha, beta, m, c)
    qt = q[t]
    u_top = alpha * qt / (mu - 2 * beta * qt) - m if mu > 2 * beta * qt else sp.Integer(1)
    total = qt * _piece_min(lambda u: top(u) + mu * u / qt, sp.Rational(1, K), sp.Integer(1), u_top) - mu
    knee = (1 + m) * c
    for k in range(K):
        if k == t:
            continue
        qk = q[k]
        def g(u, qk=qk):
            return (qk * other(u) + mu * u)
        plateau = min((g(sp.Integer(0)), g(knee)), key=lambda v: sp.N(v, 60))  # linear on [0, knee]
        crit = alpha * qk / (mu - 2 * beta * qk) if mu > 2 * beta * qk else sp.Rational(1, 2)
        logpiece = _piece_min(g, knee, sp.Rational(1, 2), crit)
        total += min((plateau, logpiece), key=lambda v: sp.N(v, 60))
    return total


def _best_mu(alpha, beta, m, c, q, t) -> sp.Rational:
    """A good multiplier for region t (float golden-section search on the dual; any μ is valid)."""
    def f(mu):
        return (float(sp.N(region_dual_bound(alpha, beta, m, c, q, t, sp.Rational(mu)), 30)))
    # above 2β·max q every coordinate's stationary point αq_k/(μ − 2βq_k) is positive; any μ is valid
    lo, hi = 2 * float(beta) * float(max(q)) + _MU_INSET, 2 * float(beta) * float(max(q)) + 10.0
    g = (np.sqrt(5) - 1) / 2
    a, b = lo, hi
    for _ in range(60):
        x1, x2 = b - g * (b - a), a + g * (b - a)
        if f(x1) < f(x2):
            a = x1
        else:
            b = x2
    return sp.Rational(0.5 * (a + b)).limit_denominator(10**12)


@claim("consistency.ce_eps_mae_order", "CE_ε+MAE is order-preserving at the paper's defaults",
       "CE_ε+MAE as implemented (clamp c = 1e-8) with the CIFAR-10 defaults α = 0.01, β = 5, m = 1e5 has, at "
       "q = (0.5, 0.3, 0.2), only strictly q-ordered conditional-risk minimisers (the derived stationarity argument, "
       "which assumes no clamp is active).", origin=Origin.DERIVED, methods=("symbolic", "exact finite problems"),
       expect=Verdict.REFUTED,
       finding="At the reference's CIFAR-10 defaults the clamp is active at the optimum: with the multiplier "
               "μ = αq_t/(1+m) + 2βq_t of the vertex e_t, each non-top class's stationary point αq_k/(μ − 2βq_k) lies "
               "below the threshold e·(1+m)c, where the flat clamp makes p_k = 0 optimal, so the vertex e_t, which ties "
               "every non-top class at 0, is a global minimiser (a dual lower bound per argmax region certifies it). "
               "Independently of the clamp, nearly tied top entries (q_t − q_k small against (α/2β)·q_k) make the "
               "minimiser tie class k with the top (see consistency.table).")
def check_clamp_breaks_order(ctx: Context):
    alpha, beta, m, c = sp.Rational(1, 100), sp.Integer(5), sp.Integer(10**5), sp.Rational(1, 10**8)
    q = [sp.Rational(5, 10), sp.Rational(3, 10), sp.Rational(2, 10)]
    L = losses.get("ce_eps+mae")  # α = 0.01, β = 5, m = 1e5, c = 1e-8
    assert (L.params["alpha"], L.params["beta"], L.params["m"], L.params["clamp"]) == (0.01, 5.0, 1e5, PAPER_CLAMP)
    top, other = _phi(alpha, beta, m, c)
    vertex_value = q[0] * top(sp.Integer(1)) + sum(q[k] * other(sp.Integer(0)) for k in (1, 2))
    cert = Certifier("C_q(p) = Σ_k q_k L(p, k) in the argmax region t: q_t φ_top(p_t) + Σ_{k≠t} q_k φ_other(p_k); for "
                     "any μ, inf over the region ≥ Σ_k min over the coordinate's box of [q_k φ(u) + μu] − μ (weak "
                     "duality, the order constraints dropped); exact rationals α = 1/100, β = 5, m = 10⁵, c = 10⁻⁸",
                     scope="q = (0.5, 0.3, 0.2), K = 3, α = 0.01, β = 5, m = 1e5, c = 1e-8")
    mu0 = alpha * q[0] / (1 + m) + 2 * beta * q[0]
    bounds = {}
    for t in range(3):
        mu = mu0 if t == 0 else _best_mu(alpha, beta, m, c, q, t)
        D = region_dual_bound(alpha, beta, m, c, q, t, mu)
        bounds[t] = float(sp.N(D - vertex_value, 20))
        if t == 0:
            cert.equal("region 0, μ = αq₀/(1+m) + 2βq₀: the dual bound equals C_q(e₀)", D, vertex_value)
        else:
            cert.nonneg(f"region {t}, μ = {sp.N(mu, 12)}: dual bound − C_q(e₀) ≥ 0", sp.N(D - vertex_value, 60))
    for k in (1, 2):
        ustar = alpha * q[k] / (mu0 - 2 * beta * q[k])
        cert.nonneg(f"class {k}: e·(1+m)c − αq_k/(μ − 2βq_k) ≥ 0 (the stationary point is below the clamp threshold)",
                    sp.N(sp.E * (1 + m) * c - ustar, 60))
    proof = cert.proof()
    p_free = minimise_conditional_risk(losses.get("ce_eps+mae", clamp=0.0), Q_PINNED).p
    found = minimise_conditional_risk(L, Q_PINNED)
    evidence = [proof.evidence("e₀ is a global minimiser: per-region dual lower bounds ≥ C_q(e₀), with equality in "
                               "region 0", bound_minus_vertex=bounds),
                Evidence(Kind.MEASUREMENT, f"the region-enumeration minimiser {np.round(found.p, 9).tolist()}; the "
                         f"unclamped loss's {np.round(p_free, 6).tolist()}", covers="the same q, float64",
                         cross_check=True, data={"p_star": found.p.tolist(), "p_star_without_clamp": p_free.tolist()})]
    witness = Witness({"loss": "ce_eps+mae (α=0.01, β=5, m=1e5, c=1e-8)", "q": Q_PINNED, "p_star": np.eye(3)[0]},
                      f"p* = e₀ is a global minimiser: classes 1 and 2 tied at 0 (top-2 undefined); C_q(e₀) = "
                      f"{float(sp.N(vertex_value, 15)):.12g}", "only strictly q-ordered minimisers",
                      "global certificate: a dual lower bound on every argmax region, evaluated exactly "
                      f"({'all steps computed' if proof.mechanised else 'not mechanised: ' + proof.describe()})",
                      Recheck.CONFIRMED if proof.mechanised else Recheck.UNDECIDED)
    return decide(evidence, witness, witness_covers="q = (0.5, 0.3, 0.2), K = 3, the CIFAR-10 defaults")
