"""Noise tolerance on exact finite problems: symmetric noise, and class-conditional noise under
the classical conditions.

A loss is *noise-tolerant* (Ghosh et al. 2017) when minimising the noisy risk returns a
minimiser of the clean risk: the clean excess risk R(f*_η) − R(f*) of the noisy minimiser is 0.
Both checks compute it exactly on random finite problems (:func:`theory.excess.excess_sweep`,
global conditional-risk minimisers, x by x) and record it against Theorem B's bound
η(C₂ − C₁)/((K−1) − Kη) from the measured [C₁, C₂].

A violation is re-checked at its problem: the clean risks of both minimisers are evaluated
again (at 50 digits for library losses), and the clean minimiser must have a strictly larger
*noisy* risk than the noisy one, so minimising the noisy risk cannot return it.
"""

from __future__ import annotations

import numpy as np

from theory._exact import exact_risk
from theory.checks._framework import Context, conclude, register_check
from theory.checks._subject import Subject
from theory.evidence import Evidence, Outcome, Witness
from theory.excess import excess_sweep, sweep_problem, symmetric_noise
from theory.finite import FiniteProblem

EXCESS_RTOL = 1e-7  # excess risks below EXCESS_RTOL·(1 + loss scale) count as 0
FRACTIONS = (0.25, 0.5, 0.75)  # symmetric rates η = f·(K−1)/K
N_X = 3


def _tolerance(subject: Subject, ctx: Context) -> float:
    c1 = ctx.result("check_bounded_sum").data.get("C1", 0.0)
    return EXCESS_RTOL * (1 + abs(float(c1)) / subject.K)


def _risk(subject: Subject, prob: FiniteProblem, minimum, exact: bool):
    """R(f) of a minimiser: 50-digit (a sympy Float) when ``exact`` and finite there, else float64."""
    if exact:
        total = exact_risk(subject.loss, prob.px, prob.posterior, minimum.p)
        if total.is_finite:
            return total
    return prob.risk(subject.loss, minimum)


def recheck_excess(subject: Subject, prob: FiniteProblem, T: np.ndarray, tol: float, seed: int) -> tuple[bool, str, dict]:
    """Re-evaluate a violating problem: is the clean excess > tol, and is the clean minimiser
    strictly worse than the noisy one under the noisy distribution?"""
    noisy_prob = prob.noisy(T)
    clean = prob.minimiser(subject.loss, seed=seed)
    noisy = noisy_prob.minimiser(subject.loss, seed=seed)
    exact = subject.native and subject.input == "probs"
    try:
        excess = float(_risk(subject, prob, noisy, exact) - _risk(subject, prob, clean, exact))
        gap = float(_risk(subject, noisy_prob, clean, exact) - _risk(subject, noisy_prob, noisy, exact))
        how = "50-digit risks at the minimisers" if exact else "float64 risks at the minimisers"
    except (ValueError, TypeError, ZeroDivisionError):
        excess = prob.risk(subject.loss, noisy) - prob.risk(subject.loss, clean)
        gap = noisy_prob.risk(subject.loss, clean) - noisy_prob.risk(subject.loss, noisy)
        how = "float64 risks at the minimisers"
    cert = "exact" if (clean.exact and noisy.exact) else "not certified (multi-start search)"
    detail = {"excess": excess, "noisy_risk_gap": gap, "minimisers": cert, "clean_minimiser": clean.p,
              "noisy_minimiser": noisy.p}
    ok = excess > tol and gap > tol * 1e-3
    return ok, (f"{how}: excess {excess:.6g}, the clean minimiser's noisy risk exceeds the noisy minimiser's by "
                f"{gap:.3g} (minimisers {cert}; unique clean minimiser assumed)"), detail


def _rows_outcome(subject: Subject, ctx: Context, rows: list[dict], settings: dict, *, what: str,
                  deterministic: bool, statement_tail: str) -> Outcome:
    tol = _tolerance(subject, ctx)
    excess = np.array([r["excess"] for r in rows])
    worst = int(np.argmax(excess))
    row = rows[worst]
    bounded = [r for r in rows if "range_bound" in r]
    evidence = [Evidence("measurement", f"{len(rows)} (problem, noise) pairs, K={subject.K}, n_x={N_X}: max excess "
                         f"{excess.max():.3g} (tolerance {tol:.2g}), minimisers by {row['method']}"
                         f"{'' if row['exact'] else ' (not certified)'}", {"rows": rows})]
    if bounded:
        ratio = max(r["excess"] / r["range_bound"] if r["range_bound"] > 0 else (0.0 if r["excess"] <= tol else np.inf)
                    for r in bounded)
        evidence.append(Evidence("tightness", f"max excess / Theorem-B bound η(C₂−C₁)/((K−1)−Kη) = {ratio:.3g}",
                                 {"max_ratio": ratio}))
    if excess.max() <= tol:
        return conclude(evidence, None, failed="", passed=f"excess ≤ {tol:.2g} on all {len(rows)} {what} settings"
                        f"{statement_tail}", data={"max_excess": float(excess.max()), "tolerance": tol})
    prob = sweep_problem(subject.K, N_X, ctx.budget.seed, row["problem"], deterministic=deterministic)
    T = settings[row["noise"]]
    ok, recheck, detail = recheck_excess(subject, prob, T, tol, ctx.budget.seed)
    label = f"η = {row['noise']:.4g}" if isinstance(row["noise"], float) else f"T = {np.round(T, 3).tolist()}"
    w = Witness({"K": subject.K, "problem": row["problem"], "seed": ctx.budget.seed, "n_x": N_X, "noise": row["noise"],
                 "px": prob.px, "posterior": prob.posterior, "T": T},
                f"R(f*_noisy) − R(f*) = {row['excess']:.6g}", f"0 (within {tol:.2g})", recheck, rechecked=ok)
    bound = f"; Theorem-B bound {row['range_bound']:.3g}" if "range_bound" in row else ""
    failed = (f"{subject.name} is not noise-tolerant under {what} noise for K={subject.K}: on finite problem "
              f"{row['problem']} (theory.finite.random_problem(K={subject.K}, n_x={N_X}, seed="
              f"np.random.default_rng([{ctx.budget.seed}, {subject.K}, {row['problem']}])"
              f"{', deterministic=True' if deterministic else ''})) with {label}, the noisy-risk minimiser has clean "
              f"excess risk {row['excess']:.4g} > tolerance {tol:.2g}{bound}")
    return conclude(evidence, w, failed=failed, passed=f"excess ≤ {tol:.2g} after re-check",
                    data={"max_excess": float(excess.max()), "tolerance": tol, "witness_detail": detail})


@register_check(
    "check_noise_tolerant_symmetric", tier="property",
    statement="Noise-tolerant under symmetric noise: for η = f·(K−1)/K, f ∈ {0.25, 0.5, 0.75}, the clean excess "
              "risk R(f*_η) − R(f*) of the noisy-risk minimiser is 0 on random exact finite problems (global "
              "minimisers x by x); measured against Theorem B's bound η(C₂−C₁)/((K−1)−Kη).",
    source="Ghosh et al. 2017 (definition; symmetric ⇒ tolerant); paper Theorem B (bound)",
    after=("check_bounded_sum",))
def check_noise_tolerant_symmetric(subject: Subject, ctx: Context) -> Outcome:
    bounded = ctx.result("check_bounded_sum").data
    c1, c2 = bounded.get("C1", np.inf), bounded.get("C2", -np.inf)
    settings = dict(symmetric_noise(FRACTIONS)(subject.K))
    rows = excess_sweep(lambda m: subject.loss, Ks=(subject.K,), noise=symmetric_noise(FRACTIONS),
                        n_problems=ctx.pick(3, 12), n_x=N_X, seed=ctx.budget.seed,
                        sum_range=lambda L, K: (c1, c2))
    return _rows_outcome(subject, ctx, rows, settings, what="symmetric", deterministic=False, statement_tail="")


def dominant_transitions(K: int, n: int, rng: np.random.Generator, *, max_flip: float = 0.45) -> list[np.ndarray]:
    """``n`` random class-conditional T with T_yy > 1/2 > T_yk (diagonally dominant): row y
    flips with probability r_y ~ U(0, max_flip) to classes drawn from Dirichlet(1)."""
    out = []
    for _ in range(n):
        r = rng.uniform(0, max_flip, size=K)
        off = rng.dirichlet(np.ones(K - 1), size=K) * r[:, None]
        T = np.zeros((K, K))
        for y in range(K):
            T[y, np.arange(K) != y] = off[y]
            T[y, y] = 1 - r[y]
        out.append(T)
    return out


@register_check(
    "check_noise_tolerant_class_conditional", tier="property",
    statement="Noise-tolerant under class-conditional noise where the classical conditions hold: a symmetric loss, "
              "deterministic clean labels (R(f*) = min L) and diagonally dominant T (T_yy > T_yk): the clean "
              "excess risk of the noisy-risk minimiser is 0 on random exact finite problems.",
    source="Ghosh, Kumar, Sastry, AAAI 2017, Theorem 3", requires=("check_symmetric",))
def check_noise_tolerant_class_conditional(subject: Subject, ctx: Context) -> Outcome:
    Ts = dominant_transitions(subject.K, ctx.pick(3, 10), ctx.rng(20))
    settings = {f"T{j}": T for j, T in enumerate(Ts)}
    rows = excess_sweep(lambda m: subject.loss, Ks=(subject.K,), noise=lambda K: list(settings.items()),
                        n_problems=ctx.pick(2, 8), n_x=N_X, seed=ctx.budget.seed, deterministic=True)
    return _rows_outcome(subject, ctx, rows, settings, what="class-conditional", deterministic=True,
                         statement_tail=" (diagonally dominant T, deterministic labels)")
