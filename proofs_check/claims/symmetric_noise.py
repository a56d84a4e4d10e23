"""Claims 7 and 8: the symmetric-noise risk identity and Theorem B on exact finite problems."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from proofs_check._core import Budget, Claim, Evidence, Source, Witness
from proofs_check.claims._common import quantiles
from proofs_check.claims._registry import register
from proofs_check.claims.bounded_sum import band, lipschitz
from theory import losses
from theory._exact import Certifier, exact_risk
from theory.evidence import decide
from theory.excess import excess_sweep, sum_range, sweep_problem, symmetric_noise
from theory.finite import random_problem
from theory.losses import Loss, with_eps_softmax
from theory.minimise import minimise_conditional_risk
from theory.noise import symmetric

ETA = sp.Symbol("eta", nonnegative=True)


# ----------------------------------------------------------------------------------------------
# Claim 7: R^η(f) = (1 − ηK/(K−1)) R(f) + (η/(K−1)) E_x Σ_k L(f(x), k)


def _check_identity(budget: Budget):
    cert = Certifier("one x (the identity is linear in P(x)); q_y = P(y|x) with Σ q = 1; L_k = L(f(x), k) arbitrary "
                     "reals (a generic loss table); symmetric T_yy = 1 − η, T_yk = η/(K−1)")
    for K in range(2, 7):
        q = list(sp.symbols(f"q_0:{K}", nonnegative=True))
        q[-1] = 1 - sum(q[:-1])
        Lk = sp.symbols(f"L_0:{K}", real=True)
        T = sp.Matrix(K, K, lambda i, j: 1 - ETA if i == j else ETA / (K - 1))
        noisy = [sum(q[y] * T[y, k] for y in range(K)) for k in range(K)]
        lhs = sum(noisy[k] * Lk[k] for k in range(K))
        rhs = (1 - ETA * K / (K - 1)) * sum(q[k] * Lk[k] for k in range(K)) + ETA / (K - 1) * sum(Lk)
        cert.equal(f"K={K}: R^η = (1 − ηK/(K−1)) R + η/(K−1) Σ_k L_k", lhs, rhs)
    cert.fact("every K", "Σ_y q_y T_yk = (1 − η) q_k + η(1 − q_k)/(K−1) = (1 − ηK/(K−1)) q_k + η/(K−1)")

    # the library's own finite problems and noise matrices obey it
    rng = budget.rng(700)
    worst = 0.0
    for K in budget.pick((2, 3, 10), (2, 3, 5, 10, 50)):
        for name in ("ce", "gce", "nce+rce", "ce_eps+mae"):
            L = losses.get(name)
            for _ in range(budget.pick(3, 20)):
                prob = random_problem(K, 4, seed=rng)
                f = rng.dirichlet(np.ones(K), size=prob.n_x)
                eta = float(rng.uniform(0, 0.99))
                lhs = prob.noisy(symmetric(K, eta)).risk(L, f)
                sums = sum(L(f, np.full(prob.n_x, k)) for k in range(K))
                rhs = (1 - eta * K / (K - 1)) * prob.risk(L, f) + eta / (K - 1) * float(prob.px @ sums)
                worst = max(worst, abs(lhs - rhs) / (1e-12 * (1 + abs(lhs))))
    ev = Evidence("search", f"FiniteProblem.noisy(noise.symmetric(K, η)).risk against the identity: worst "
                  f"error/tolerance {worst:.2g} (relative tolerance 1e-12)", {"worst": worst})
    # the other convention (new label uniform over all K classes) is the same identity at rate η(K−1)/K
    conv = symmetric(5, 0.4, include_true=True) - symmetric(5, 0.4 * 4 / 5)
    conv_ev = Evidence("measurement", f"include_true=True at rate η equals the identity's convention at η(K−1)/K "
                       f"(max |ΔT| = {np.abs(conv).max():.1e})", {"max_abs_difference": float(np.abs(conv).max())})
    if worst > 1:
        raise AssertionError(f"risk identity violated by the library's finite problems: {worst:.3g}× tolerance")
    return decide([cert.evidence("the symmetric-noise risk identity for a generic loss table, K = 2..6"), ev, conv_ev])


# ----------------------------------------------------------------------------------------------
# Claim 8: Theorem B


def _certificate() -> Certifier:
    K = sp.Symbol("K", integer=True, positive=True)
    eta = sp.Symbol("eta", positive=True)
    cert = Certifier("η < (K−1)/K so a = 1 − ηK/(K−1) > 0; f*_η minimises R^η, f* minimises R; C₁ ≤ Σ_k L ≤ C₂")
    a = 1 - eta * K / (K - 1)
    b = eta / (K - 1)
    cert.equal("b/a = η/((K−1) − Kη)", b / a, eta / ((K - 1) - K * eta))
    cert.fact("minimality", "a R(f*_η) + b S(f*_η) = R^η(f*_η) ≤ R^η(f*) = a R(f*) + b S(f*) (claim "
              "symmetric_noise.risk_identity), so R(f*_η) − R(f*) ≤ (b/a)(S(f*) − S(f*_η)) ≤ (b/a)(C₂ − C₁)")
    return cert


def _tolerance(row: dict) -> float:
    """Float slack of an excess computed from risks of size ~C₂ (double rounding)."""
    return 1e-10 * (1 + abs(row["C2"]))


def recheck_row(make_loss: Callable[[float], Loss], row: dict, T: np.ndarray, bound: float, *, n_x: int = 3,
                deterministic: bool = False) -> Witness:
    """Recompute one sweep row's excess in 50-digit arithmetic from its minimisers; compare with ``bound``."""
    K, m, i, seed = row["K"], row["m"], row["problem"], row["seed"]
    prob = sweep_problem(K, n_x, seed, i, deterministic=deterministic)
    L = make_loss(m)
    clean = minimise_conditional_risk(L, prob.posterior, seed=seed)
    noisy = minimise_conditional_risk(L, prob.noisy(T).posterior, seed=seed)
    inputs = {"loss": L.name, "K": K, "m": m, "noise": row["noise"], "problem": i, "seed": seed}
    if not (clean.exact and noisy.exact) or "boundary" in clean.method:
        return Witness(inputs, f"excess {row['excess']:.6g}", f"≤ {bound:.6g}",
                       "not re-checkable: minimiser not exact at a point", rechecked=False)
    excess = exact_risk(L, prob.px, prob.posterior, noisy.p) - exact_risk(L, prob.px, prob.posterior, clean.p)
    bad = bool(excess > sp.Rational(repr(float(bound))) + sp.Rational(repr(_tolerance(row))))
    return Witness(inputs, f"excess {float(excess):.9g}", f"≤ {bound:.9g}",
                   "50-digit risks at the exact minimisers", rechecked=bad)


def _theorem_b(budget: Budget, families: dict[str, Callable[[float], Loss]], *, Ks, ms, extra_bound=None,
               n_problems=3, claim_id: str) -> tuple[list[dict], list[Evidence], Witness | None]:
    rows: list[dict] = []
    makers = {}
    for fam, make in families.items():
        def measured(L, K):
            c1, c2, _ = sum_range(L, K, rng=budget.rng(800 + K), n=budget.pick(100, 1000), n_polish=0)
            return c1, c2

        new = excess_sweep(make, Ks=Ks, ms=ms, noise=symmetric_noise(), n_problems=n_problems, seed=budget.seed,
                           sum_range=measured)
        for r in new:
            r["family"] = fam
            if extra_bound is not None:
                r.update(extra_bound(fam, r))
        makers[fam] = make
        rows += new
        budget.tick(claim_id, len(makers), len(families))
    bound_keys = [k for k in rows[0] if k.endswith("_bound")]
    witness = None
    for key in bound_keys:
        bad = [r for r in rows if r["excess"] > r[key] + _tolerance(r)]
        if bad and witness is None:
            worst = max(bad, key=lambda r: r["excess"] - r[key])
            w = recheck_row(makers[worst["family"]], worst, symmetric(worst["K"], worst["noise"]), worst[key])
            witness = w if w.rechecked else None
            if not w.rechecked:
                rows_note = f"{len(bad)} float-level violations of {key} not confirmed at 50 digits"
                rows[0].setdefault("notes", []).append(rows_note)
    negative = [r for r in rows if r["excess"] < -_tolerance(r)]
    ev = []
    for key in bound_keys:
        ratios = [r["excess"] / r[key] for r in rows if r[key] > _tolerance(r)]
        q = quantiles(ratios)
        ev.append(Evidence("tightness", f"excess / {key}: median {q.get('median', float('nan')):.3g}, max "
                           f"{q.get('max', float('nan')):.3g} over {q['n']} rows", {"ratio": q}))
    ev.append(Evidence("measurement", f"{len(rows)} exact excess risks (K ∈ {tuple(Ks)}, m ∈ {tuple(ms)}, η at 1/4, 1/2, "
                       f"3/4 of (K−1)/K); {len(negative)} negative beyond float tolerance", {"rows": rows}))
    return rows, ev, witness


def _m_dependence(rows: list[dict]) -> dict:
    """Per family: max excess per m and max (1+m)·excess (bounded ⇔ O(1/(1+m)) on the grid)."""
    out = {}
    for fam in sorted({r["family"] for r in rows}):
        sub = [r for r in rows if r["family"] == fam]
        ms = sorted({r["m"] for r in sub})
        peak = [max(r["excess"] for r in sub if r["m"] == m) for m in ms]
        scaled = [(1 + m) * e for m, e in zip(ms, peak)]
        out[fam] = {"m": ms, "max_excess": peak, "max_scaled_by_1_plus_m": scaled,
                    "monotone_nonincreasing": bool(all(b <= a + 1e-9 for a, b in zip(peak, peak[1:])))}
    return out


def _check_bound(budget: Budget):
    families = {name: (lambda m, name=name: losses.get(name)) for name in ("mae", "rce", "gce", "ael", "agce", "nce+mae")}
    # SCE is left out: its minimiser is multi-start (not certified), and this sweep carries a proof
    Ks = budget.pick((2, 3, 5, 10), (2, 3, 4, 5, 6, 8, 10))
    rows, ev, witness = _theorem_b(budget, families, Ks=Ks, ms=(0.0,), n_problems=budget.pick(3, 12),
                                   claim_id="theorem_b.bound")
    mae = [r["excess"] for r in rows if r["family"] == "mae"]
    ev.append(Evidence("measurement", f"MAE (exactly symmetric, C₂ = C₁): max excess {max(mae):.2g}", {}))
    return decide([_certificate().evidence("Theorem B from the risk identity and minimality"), *ev], witness,
                  data={"rows": rows})


def _lipschitz_families(budget: Budget) -> dict[str, Callable[[float], Loss]]:
    square = losses.pointwise("square", lambda xp, u: (1 - u) ** 2, curvature="convex")
    base = {"mae_eps": losses.get("mae"), "square_eps": square, "ael_eps": losses.get("ael"),
            "gce_eps": losses.get("gce")}
    if budget.thorough:
        base["aul_eps"] = losses.get("aul")
    return {name: (lambda m, inner=inner: with_eps_softmax(inner, m, clamp=0.0)) for name, inner in base.items()}


_LAMBDA_OF = {"mae_eps": "mae", "square_eps": "square", "ael_eps": "ael", "gce_eps": "gce", "aul_eps": "aul"}


def _lipschitz_bound(fam: str, row: dict) -> dict:
    K, m, eta = row["K"], row["m"], row["noise"]
    lam = lipschitz(_LAMBDA_OF[fam])
    return {"lipschitz_bound": 4 * lam * eta * (K - 1) / (K * (1 + m) * ((K - 1) - K * eta))}


def _check_lipschitz(budget: Budget):
    fams = _lipschitz_families(budget)
    ms = budget.pick((0.0, 10.0, 1e3, 1e6), (0.0, 1.0, 10.0, 1e2, 1e3, 1e4, 1e6, 1e8))
    rows, ev, witness = _theorem_b(budget, fams, Ks=budget.pick((2, 3, 5), (2, 3, 5, 10)), ms=ms,
                                   extra_bound=_lipschitz_bound, claim_id="theorem_b.lipschitz_eps")
    # K = 10 on a small problem set (region enumeration costs ~K² patterns per posterior)
    more, ev10, w10 = _theorem_b(budget, {"square_eps": fams["square_eps"]}, Ks=(10,), ms=(10.0, 1e6),
                                 extra_bound=_lipschitz_bound, n_problems=1, claim_id="theorem_b.lipschitz_eps")
    rows += more
    dep = _m_dependence(rows)
    cert = _certificate()
    cert.fact("Lemma A", "C₂ − C₁ ≤ 2δ = 4λ(K−1)/(K(1+m)) (claim lemma_a.bounded_sum), hence the stated bound")
    ev.append(Evidence("measurement", "m-dependence: max over problems of (1+m)·excess stays ≤ "
                       "4λη(K−1)/(K((K−1)−Kη)) (the O(1/(1+m)) rate)", dep))
    return decide([cert.evidence("Theorem B with Lemma A's δ"), *ev, *ev10[:1]], witness or w10,
                  data={"rows": rows, "m_dependence": dep})


def _ce_band_bound(fam: str, row: dict) -> dict:
    K, m, eta = row["K"], row["m"], row["noise"]
    alpha = {"ce_eps": 1.0, "ce_eps+mae(α=1, β=1)": 1.0, "ce_eps+mae(α=0.01, β=5)": 0.01}[fam]
    lo, hi = band(K, m, 1e-8)
    return {"band_bound": alpha * eta * (hi - lo) / ((K - 1) - K * eta)}


def _check_ce_eps(budget: Budget):
    fams = {
        "ce_eps": lambda m: losses.get("ce_eps", m=m),
        "ce_eps+mae(α=1, β=1)": lambda m: losses.get("ce_eps+mae", alpha=1.0, beta=1.0, m=m),
        "ce_eps+mae(α=0.01, β=5)": lambda m: losses.get("ce_eps+mae", alpha=0.01, beta=5.0, m=m),
    }
    ms = budget.pick((0.0, 10.0, 1e2, 1e4, 1e6, 1e8, 1e10), tuple(10.0 ** np.arange(0, 13)))
    rows, ev, witness = _theorem_b(budget, fams, Ks=budget.pick((2, 3), (2, 3, 5)), ms=ms,
                                   extra_bound=_ce_band_bound, n_problems=budget.pick(4, 12),
                                   claim_id="theorem_b.ce_eps")
    dep = _m_dependence(rows)
    cert = _certificate()
    cert.fact("CE_ε band", "C₂ − C₁ ≤ α·(upper − lower) of the CE_ε band (claim lemma_a.ce_eps_band; MAE on the plain "
              "softmax is exactly symmetric and adds nothing); the band width tends to 0 as m → ∞ because every "
              "non-top term is clamped once m ≥ 1/(2c) − 1")
    non_monotone = [f for f, d in dep.items() if not d["monotone_nonincreasing"]]
    ev.append(Evidence("measurement", "m-dependence: the measured excess is " +
                       (f"NOT monotone in m for {', '.join(non_monotone)}" if non_monotone else "monotone in m") +
                       "; it stays of order one until m ≈ 1/(2c) = 5e7 and vanishes beyond, so it is not O(1/(1+m)) "
                       "below that", dep))
    return decide([cert.evidence("Theorem B with the CE_ε band"), *ev], witness, data={"rows": rows, "m_dependence": dep},
                  note="CE is not Lipschitz on [0, 1]; the clamp c makes the band close, but only for m beyond ~1/(2c)")


def _check_unbounded(budget: Budget):
    fams = {"ce_eps (no clamp)": lambda m: losses.get("ce_eps", m=m, clamp=0.0)}
    ms = budget.pick((0.0, 10.0, 1e3, 1e6, 1e10), tuple(10.0 ** np.arange(0, 13)))
    rows = []
    for fam, make in fams.items():
        for r in excess_sweep(make, Ks=budget.pick((2, 3), (2, 3, 5)), ms=ms, n_problems=budget.pick(4, 12),
                              seed=budget.seed):
            r["family"] = fam
            rows.append(r)
    plain = excess_sweep(lambda m: losses.get("ce"), Ks=(2, 3, 5), ms=(0.0,), n_problems=4, seed=budget.seed)
    dep = _m_dependence(rows)
    d = dep["ce_eps (no clamp)"]
    floor = d["max_excess"][-1]
    ev = [Evidence("measurement", f"CE_ε without the clamp: max excess {d['max_excess'][0]:.3g} at m = 0 and "
                   f"{floor:.3g} at m = {d['m'][-1]:g}: it does not vanish as m grows (Σ_k CE_ε is unbounded, so "
                   "Theorem B gives no bound)", dep),
          Evidence("measurement", f"CE: excess {min(r['excess'] for r in plain):.3g}…{max(r['excess'] for r in plain):.3g} "
                   "(> 0 on every problem: not noise-tolerant)", {"rows": plain})]
    return decide(ev, data={"rows": rows, "ce_rows": plain, "m_dependence": dep},
                  note="the ε-construction needs a bounded ℓ: with ℓ = −log unclamped the non-top terms "
                       "log(1+m) − log p_k keep CE's dependence on the non-top probabilities for every m")


register(Claim(
    "symmetric_noise.risk_identity", "Symmetric-noise risk identity",
    "For any loss and predictor, under symmetric noise T_yy = 1−η, T_yk = η/(K−1): R^η(f) = (1 − ηK/(K−1)) R(f) + "
    "(η/(K−1)) E_x Σ_k L(f(x), k).",
    Source.PAPER, ("symbolic", "exact finite problems"), _check_identity))
register(Claim(
    "theorem_b.bound", "Theorem B: bounded sum ⇒ bounded excess",
    "If C₁ ≤ Σ_k L(p, k) ≤ C₂ and η < (K−1)/K then R(f*_η) − R(f*) ≤ η(C₂ − C₁)/((K−1) − Kη); checked with the "
    "measured [C₁, C₂] of MAE, RCE, GCE, AEL, AGCE and NCE+MAE on random finite problems, K = 2..10.",
    Source.PAPER, ("symbolic", "exact finite problems"), _check_bound))
register(Claim(
    "theorem_b.lipschitz_eps", "Theorem B for ε-losses with Lipschitz ℓ: O(1/(1+m))",
    "For L = ℓ(p_ε(y)) with ℓ λ-Lipschitz: R(f*_η) − R(f*) ≤ 4λη(K−1)/(K(1+m)((K−1) − Kη)); checked for "
    "MAE, (1−u)², AEL and GCE wrapped with ε-softmax, m from 0 to 1e6, K = 2..10.",
    Source.PAPER, ("symbolic", "exact finite problems"), _check_lipschitz))
register(Claim(
    "theorem_b.ce_eps", "Theorem B for CE_ε and CE_ε+MAE (clamp c)",
    "For CE_ε and CE_ε+MAE with the clamp c = 1e-8, the excess risk under symmetric noise is at most "
    "αη·(CE_ε band width)/((K−1) − Kη), which tends to 0 as m → ∞; measured excess against m from 0 to 1e10.",
    Source.PAPER, ("symbolic", "exact finite problems"), _check_ce_eps))
register(Claim(
    "theorem_b.unbounded", "Without a bounded sum the excess does not vanish",
    "CE and CE_ε without its clamp have unbounded Σ_k L, so Theorem B gives no bound; their measured excess risk "
    "under symmetric noise is positive and, for CE_ε, does not tend to 0 as m → ∞.",
    Source.DERIVED, ("exact finite problems",), _check_unbounded))
