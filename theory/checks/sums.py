"""Σ_k L(p, k): bounded (Theorem B's hypothesis) and constant (symmetric, Ghosh et al. 2017).

Unboundedness is looked for where it hides: at points where a term is +inf, and along paths to
the boundary (a coordinate δ → 0 for losses of probabilities; a ray z = s·v, s → ∞, for losses
of logits), where the sum's growth per decade is measured: a bounded sum's increments decay to
0, an unbounded one's do not (a logarithmic or faster growth). A finite search alone could not
tell a huge bound from none.

For library losses the sum is also taken symbolically through the loss's own sympy path at
K = num_classes (with p_{K−1} = 1 − Σ others); when it reduces to a constant, both checks are
proved with that certificate for that K.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from theory.checks._framework import Context, SymbolicSum, floor, loss_check, scope
from theory.checks._subject import Subject
from theory.excess import sum_range
from theory.formatting import vector
from theory.losses import Input
from theory.verify import Certifier, Evidence, Kind, Outcome, Recheck, Size, Witness, decide
from theory.verify.certify import simplify_to_zero
from theory.verify.exact import exact_loss_vector
from theory.verify.search import search, simplex_sample

SYMMETRIC_RTOL = 1e-4  # spread of Σ_k L allowed, relative to 1 + |Σ|: clamps (RCE, MAE_ε) stay far below
SYMBOLIC_MAX_K = 10
DECADES = np.arange(1, 16)  # δ = 10^-1 … 10^-15 along paths to the boundary; s = 10^0 … 10^14 along logit rays
RECHECK_DECADES = np.arange(16, 22)
#: a step along a path to the boundary grows the sum when it adds more than this, relative to the sum
GROWTH_REL = 1e-9
#: the bounded-sum check: sampled points for the range's first look, then the range's search (points,
#: polished points); the symmetry check's search: points, polished points, hypothesis examples
SUM_SAMPLE = Size(400, 4000)
RANGE_POINTS, RANGE_POLISH = Size(200, 2000), Size(1, 3)
SYMMETRIC_POINTS, SYMMETRIC_POLISH, SYMMETRIC_EXAMPLES = Size(400, 4000), Size(0, 4), Size(60, 300)


def symbolic_sum(ctx: Context) -> SymbolicSum:
    """Σ_k L(p, k) through the sympy path of a library loss, reduced by cancel/expand (once per run)."""
    if ctx.memo.symbolic_sum is None:
        ctx.memo.symbolic_sum = _symbolic_sum(ctx.subject)
    return ctx.memo.symbolic_sum


def _symbolic_sum(subject: Subject) -> SymbolicSum:
    K = subject.K
    if not subject.native or subject.input is not Input.PROBS or K > SYMBOLIC_MAX_K:
        return SymbolicSum(why="a plain callable has no symbolic path" if not subject.native else
                           f"K = {K} > {SYMBOLIC_MAX_K}" if K > SYMBOLIC_MAX_K else "a logit loss")
    p = sp.symbols(f"p_0:{K}", positive=True)
    point = list(p[:-1]) + [1 - sum(p[:-1])]
    try:
        values = subject.loss.sympy(K, symbols=point)
    except (ValueError, NotImplementedError, TypeError) as err:  # argmax-dependent losses need a region
        return SymbolicSum(why=f"no region-free symbolic form ({str(err).splitlines()[0]})")
    total = sum(values)
    reduced = simplify_to_zero(total, hard=False)
    if reduced.free_symbols:
        return SymbolicSum(why="the symbolic sum did not reduce to a constant")
    cert = Certifier(f"p on the open simplex: p_k > 0, p_{K - 1} = 1 − Σ_(k<{K - 1}) p_k; the loss's own sympy path",
                     scope=f"K = {K}, every p with p_k > 0 (symbolic)")
    cert.zero(f"Σ_k L(p, k) − ({sp.sstr(reduced)}) = 0", total - reduced)
    return SymbolicSum(reduced, cert.evidence(f"Σ_k L(p, k) = {sp.sstr(reduced)} identically (K={K})"))


def _exact_sum(subject: Subject, p: np.ndarray) -> float:
    try:
        return float(sum(exact_loss_vector(subject.loss, p)))
    except (ValueError, TypeError, ZeroDivisionError, NotImplementedError):
        return float("nan")


# ----------------------------------------------------------------------------------------------
# growth along paths to the boundary


def _paths(subject: Subject, rng: np.random.Generator, scales: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Inputs (paths, scales, K) along which the sum might grow without bound, and their names."""
    K = subject.K
    names, pts = [], []
    if subject.input is Input.PROBS:
        for j in range(min(K, 4)):
            for kind in ("vertex", "face"):
                P = np.empty((len(scales), K))
                if kind == "vertex":  # towards e_j: every other coordinate δ
                    P[:] = scales[:, None]
                    P[:, j] = 1 - (K - 1) * scales
                else:  # towards the face p_j = 0, the rest uniform
                    P[:] = ((1 - scales) / (K - 1))[:, None]
                    P[:, j] = scales
                pts.append(P)
                names.append(f"towards {'the vertex e' if kind == 'vertex' else 'the face p'}_{j}"
                             f"{'' if kind == 'vertex' else ' = 0'}")
        return np.stack(pts), names
    directions = [np.eye(K)[j] * sign for j in range(min(K, 4)) for sign in (1.0, -1.0)]
    directions += list(rng.standard_normal((4, K)))
    for v in directions:
        v = v - v.mean()
        v = v / np.linalg.norm(v)
        pts.append(scales[:, None] * v[None, :])
        names.append(f"along the logit ray z = s·{vector(v, digits=3)}")
    return np.stack(pts), names


def _grows(S: np.ndarray) -> np.ndarray:
    """Per path: the sum increases over the last four decades and its increments do not decay
    (logarithmic or faster growth), rows of S ordered from the interior to the boundary."""
    d = np.diff(S, axis=-1)[..., -4:]
    with np.errstate(invalid="ignore"):
        return np.all(d > GROWTH_REL * (1 + np.abs(S[..., -5:-1])), axis=-1) & (d[..., -1] >= 0.5 * d[..., 0])


def _growth(subject: Subject, ctx: Context) -> tuple[Witness | None, Evidence]:
    rng = ctx.rng("check_bounded_sum", "paths", subject.K)
    scales = 10.0 ** (-DECADES) if subject.input is Input.PROBS else 10.0 ** (DECADES - 1)
    X, names = _paths(subject, rng, scales)
    S = np.stack([subject.input_sums(x) for x in X])
    covers = scope(ctx, f"{len(names)} paths to the boundary, {len(scales)} decades each")
    grows = _grows(np.where(np.isnan(S), -np.inf, S))
    ev = Evidence(Kind.SEARCH, f"Σ_k L along {len(names)} paths to the boundary: "
                  f"{'grows without bound along ' + str(int(grows.sum())) if grows.any() else 'no unbounded growth'}",
                  covers=covers, data={"paths": names, "scales": scales.tolist(), "sums": S.tolist()})
    if not grows.any():
        return None, ev
    i = int(np.argmax(grows))
    further = 10.0 ** (-RECHECK_DECADES) if subject.input is Input.PROBS else 10.0 ** (RECHECK_DECADES - 1)
    X2, _ = _paths(subject, ctx.rng("check_bounded_sum", "paths", subject.K), np.concatenate([scales, further]))
    S2 = subject.input_sums(X2[i])
    confirmed = bool(_grows(S2[None])[0] and S2[-1] > S[i, -1])
    var = "δ" if subject.input is Input.PROBS else "s"
    w = Witness({"path": names[i], var: np.concatenate([scales, further])[-6:], "sum": S2[-6:]},
                f"Σ_k L = {S[i, -1]:.6g} at {var} = {scales[-1]:.0e}, increasing by {S[i, -1] - S[i, -2]:.3g} per decade",
                "a sum bounded by some C₂ < ∞",
                f"evaluated {len(further)} decades further: Σ_k L = {S2[-1]:.6g} at {var} = {further[-1]:.0e}, still growing "
                "without decay" if confirmed else "the growth did not continue further out",
                Recheck.CONFIRMED if confirmed else Recheck.DISMISSED)
    return w, ev


@loss_check(
    "check_bounded_sum", tier="property", methods=("numeric search", "exact finite problems"),
    statement="Σ_k L(x, k) is bounded: C₁ ≤ Σ_k L ≤ C₂ < ∞ over the simplex (for logit losses: over every logit "
              "vector), the hypothesis of Theorem B. Fails at a point where the sum is +inf, or along a path to the "
              "boundary (δ → 0, or a logit ray s → ∞) where it grows without decay. [C₁, C₂] is reported with how "
              "each end was obtained (closed form, exact minimiser, or search).",
    reference="paper: Theorem B's hypothesis (bounded sum); Ghosh et al. 2017 for C₁ = C₂")
def check_bounded_sum(ctx: Context) -> Outcome:
    subject: Subject = ctx.subject
    K, low = subject.K, floor(ctx)
    P = simplex_sample(ctx.rng("check_bounded_sum", "sample", K), K, ctx.size(SUM_SAMPLE), floor=low)
    S = subject.sums(P)
    covers = scope(ctx, f"{len(P)} sampled points")
    if np.isposinf(S).any():
        i = int(np.argmax(np.isposinf(S)))
        again = float(subject.sums(P[i:i + 1])[0])
        w = Witness({"p": P[i]}, f"Σ_k L(p, k) = {float(S[i])!r}", "a finite sum",
                    f"evaluated alone in float64: {again!r}",
                    Recheck.CONFIRMED if np.isposinf(again) else Recheck.DISMISSED)
        note = (f"{subject.name} has an unbounded sum for K={K}: Σ_k L(p, k) = +inf at p={vector(P[i])} "
                f"(expected ≤ C₂ < ∞; {int(np.isposinf(S).sum())} of {len(P)} probed points give +inf). Theorem B's "
                "bound needs a bounded sum; a clamp (as in CE_ε) or ε-softmax makes it finite")
        return decide([Evidence(Kind.SEARCH, f"{len(P)} points", covers=covers)], w, data={"C2": float("inf")},
                      failure=note, witness_covers=scope(ctx))
    witness, growth = _growth(subject, ctx)
    if witness is not None and witness.confirmed:
        note = (f"{subject.name} has an unbounded sum for K={K}: Σ_k L grows without bound {witness.inputs['path']} "
                f"({witness.observed}); Theorem B gives no bound for it")
        return decide([growth], witness, data={"C2": float("inf")}, failure=note, witness_covers=scope(ctx))
    if subject.input is Input.LOGITS:
        X = np.vstack([subject.inputs_of(P), 10 * ctx.rng("check_bounded_sum", "logits", K).standard_normal((200, K))])
        sums = subject.input_sums(X)
        data = {"C1": float(np.nanmin(sums)), "C2": float(np.nanmax(sums)), "C1_exact": False, "C2_exact": False,
                "how": "range of the sampled logits (estimates)"}
        ev = Evidence(Kind.MEASUREMENT, f"Σ_k L ∈ [{data['C1']:.6g}, {data['C2']:.6g}] over {len(X)} logit vectors "
                      "(estimates)", covers=scope(ctx, f"{len(X)} logit vectors"), data=data)
        return decide([growth, ev], witness, data=data, note=f"Σ_k L ∈ [{data['C1']:.6g}, {data['C2']:.6g}] (estimates)",
                      witness_covers=scope(ctx))
    rng_ = sum_range(subject.loss, K, rng=ctx.rng("check_bounded_sum", "range", K), n=ctx.size(RANGE_POINTS),
                     n_polish=ctx.size(RANGE_POLISH), floor=low)
    defined = ~np.isnan(S)
    c1 = min(rng_.c1, float(np.min(S[defined]))) if defined.any() else rng_.c1
    c2 = max(rng_.c2, float(np.max(S[defined]))) if defined.any() else rng_.c2
    data = {"C1": c1, "C2": c2, "C1_exact": rng_.c1_exact and c1 == rng_.c1, "C2_exact": rng_.c2_exact and c2 == rng_.c2,
            "C1_outer": rng_.c1_outer, "C2_outer": rng_.c2_outer, "how": rng_.how,
            "undefined_points": int((~defined).sum())}
    ctx.memo.range = rng_
    evidence = [growth, Evidence(Kind.MEASUREMENT, f"Σ_k L ∈ [{c1:.6g}, {c2:.6g}]: {rng_.how}",
                                 covers=scope(ctx, "the range of Σ_k L"), data=data)]
    sym = symbolic_sum(ctx)
    if sym.evidence is not None and witness is None:
        return decide([sym.evidence], data={**data, "C": float(sym.constant)},
                      note=f"Σ_k L(p, k) = {sp.sstr(sym.constant)} (proved for K = {K})")
    return decide(evidence, witness, data=data, note=f"Σ_k L(p, k) ∈ [{c1:.6g}, {c2:.6g}]", witness_covers=scope(ctx))


@loss_check(
    "check_symmetric", tier="property", methods=("symbolic", "numeric search"), after=("check_bounded_sum",),
    statement=f"L is symmetric: Σ_k L(p, k) is the same constant C at every p of the simplex, up to a spread of "
              f"{SYMMETRIC_RTOL:g}·(1 + |C|) (room for clamps such as RCE's); a violation is shrunk to a minimal "
              "point by hypothesis.",
    reference="Ghosh, Kumar, Sastry, AAAI 2017 (symmetric losses are noise-tolerant)")
def check_symmetric(ctx: Context) -> Outcome:
    subject: Subject = ctx.subject
    sym = symbolic_sum(ctx)
    if sym.evidence is not None:
        return decide([sym.evidence], data={"C": float(sym.constant)},
                      note=f"Σ_k L(p, k) = {sp.sstr(sym.constant)} identically for K = {subject.K}")
    K, low = subject.K, floor(ctx)
    centre = np.full((1, K), 1.0 / K)
    c = float(subject.sums(centre)[0])
    tol = SYMMETRIC_RTOL * (1 + abs(c))

    def score(Q):
        return np.nan_to_num(np.abs(subject.sums(Q) - c) / tol, nan=-np.inf)

    res = search(score, K, rng=ctx.rng("check_symmetric", K), n=ctx.size(SYMMETRIC_POINTS), n_polish=ctx.size(SYMMETRIC_POLISH),
                 hypothesis_examples=ctx.size(SYMMETRIC_EXAMPLES), tolerance=0.0, floor=low)
    covers = scope(ctx, f"{res.n_evaluated} points")
    searched = Evidence(Kind.SEARCH, f"max |Σ_k L(p, k) − Σ_k L(centre, k)| / tolerance = {res.score:.3g} over "
                        f"{res.n_evaluated} points (tolerance {tol:.3g})", covers=covers, data=res.to_dict())
    if res.score <= 1:
        why = sym.why
        return decide([searched], data={"C": c, "worst_ratio": res.score},
                      note=f"Σ_k L(p, k) = {c:.6g} within {tol:.2g} at every probed point"
                      + (f" (not certified: {why})" if why else ""))
    p = res.witness if res.witness is not None else res.point
    s_p = float(subject.sums(p[None])[0])
    exact = [_exact_sum(subject, q) for q in (p, centre[0])] if subject.native and subject.input is Input.PROBS else []
    if exact and all(np.isfinite(exact)):
        recheck, confirmed = "50-digit evaluation at the exact rational points", abs(exact[0] - exact[1]) > tol
    else:  # a plain callable, or an infinite / undefined value where sympy has no float (log 0 = zoo)
        recheck, confirmed = "evaluated alone in float64", abs(s_p - c) > tol
    w = Witness({"p": p, "K": K}, f"Σ_k L(p, k) = {s_p:.6g} at p but {c:.6g} at the centre",
                f"the same sum within {tol:.3g}", recheck, Recheck.CONFIRMED if confirmed else Recheck.DISMISSED)
    note = (f"{subject.name} is not symmetric for K={K}: Σ_k L(p, k) = {s_p:.6g} at p={vector(p)} but {c:.6g} at "
            f"p={vector(centre[0])} (spread {abs(s_p - c):.3g} > tolerance {tol:.3g})"
            if confirmed else f"Σ_k L(p, k) = {c:.6g} within {tol:.2g} (a float-level spread was dismissed)")
    return decide([searched], w, data={"C_centre": c, "witness_sum": s_p}, note=note, witness_covers=scope(ctx))
