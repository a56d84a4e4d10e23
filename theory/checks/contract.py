"""Contract checks: the loss is well formed. Every property check comes after all of them.

Points are probed from simplest to most complex (the centre, the vertices, faces with exact
zeros, then the interior), so the first offending input reported is the simplest one seen.
"""

from __future__ import annotations

import numpy as np

from theory.checks._framework import Context, loss_check, scope
from theory.checks._subject import Subject
from theory.formatting import vector
from theory.losses import Input, LossEvaluationError
from theory.tolerances import AGREE_ATOL, AGREE_RTOL
from theory.verify import Evidence, Kind, Outcome, Recheck, Size, Witness, decide
from theory.verify.search import simplex_sample

RTOL = AGREE_RTOL  # per-example agreement and shift invariance, relative
ATOL = AGREE_ATOL  # per-example agreement, absolute (for values at or near 0)
#: L(p, ·) whose spread over the labels is at most this, relative to its size, does not depend on the label
LABEL_SPREAD_REL = 1e-12
NEG_ATOL = 1e-12  # a value below −NEG_ATOL is negative
#: inputs probed for finite values, and simplex points on which the label must matter
FINITE_PROBES = Size(200, 2000)
LABEL_POINTS = Size(64, 512)


def _status(confirmed: bool) -> Recheck:
    return Recheck.CONFIRMED if confirmed else Recheck.DISMISSED


def probe_inputs(subject: Subject, rng: np.random.Generator, n: int) -> np.ndarray:
    """Inputs covering the domain: simplex points for losses of probabilities; for logit losses,
    zero logits, ±50 one-hot logits, log of simplex points and random logits of scale 1 to 100."""
    K = subject.K
    P = simplex_sample(rng, K, n)
    if subject.input is Input.PROBS:
        return P
    eye = np.eye(K)
    scales = rng.choice([1.0, 10.0, 100.0], size=(n // 4, 1))
    return np.vstack([np.zeros((1, K)), 50 * eye, -50 * eye, subject.inputs_of(P[: n // 2]),
                      rng.standard_normal((n // 4, K)) * scales])


@loss_check(
    "check_output", tier="contract", methods=("numeric search",),
    statement="loss(x, y) returns one real value per example: shape (n,) for n examples, the same value for an "
              "example alone as in a batch (no reduction or normalisation over the batch), and the same value "
              "when called twice.",
    reference="interface contract of theory.checks")
def check_output(ctx: Context) -> Outcome:
    subject: Subject = ctx.subject
    if subject.probe_error is not None:
        raise subject.probe_error
    X = probe_inputs(subject, ctx.rng("check_output", subject.K), 64)[-16:]  # interior points (logits: random)
    y = np.arange(len(X)) % subject.K
    batch = subject.values(X, y)
    alone = np.array([subject.values(X[i:i + 1], y[i:i + 1])[0] for i in range(len(X))])
    reverse = subject.values(X[::-1], y[::-1])[::-1]
    again = subject.values(X, y)
    what = subject.input.symbol
    covers = scope(ctx, f"{len(X)} examples, alone / reversed / twice")
    for other, how in ((alone, "alone"), (reverse, "in the batch reversed"), (again, "when called again")):
        bad = ~np.isclose(batch, other, rtol=RTOL, atol=ATOL, equal_nan=True)
        if bad.any():
            i = int(np.argmax(bad))
            # re-check: evaluate the batch and the comparison again (a non-deterministic loss is
            # confirmed by having disagreed with itself once)
            redo = {"alone": lambda: subject.values(X[i:i + 1], y[i:i + 1])[0],
                    "in the batch reversed": lambda: subject.values(X[::-1], y[::-1])[::-1][i],
                    "when called again": lambda: other[i]}[how]()
            confirmed = how == "when called again" or not np.isclose(subject.values(X, y)[i], redo, rtol=RTOL,
                                                                     atol=ATOL, equal_nan=True)
            w = Witness({what: X[i], "y": int(y[i]), "batch_size": len(X)},
                        f"L = {batch[i]:.12g} in the batch but {other[i]:.12g} {how}",
                        f"the same value (rtol {RTOL:g})", "evaluated again in float64", _status(confirmed))
            note = (f"{subject.name} is not a per-example loss: at {what}={vector(X[i])}, y={int(y[i])} it gives "
                    f"{batch[i]:.6g} in a batch of {len(X)} but {other[i]:.6g} {how} (rtol {RTOL:g}); return one "
                    "value per example, without reducing or normalising over the batch")
            return decide([Evidence(Kind.SEARCH, f"{len(X)} examples compared {how}", covers=covers)], w,
                          note=note, witness_covers=scope(ctx))
    backend = subject.backend_note or subject.backend
    warned = subject.warnings_seen
    extra = (f"; the loss emitted {sum(warned.values())} warning(s), e.g. {next(iter(warned))}" if warned else "")
    adaptation = subject.adaptation
    if adaptation is not None and adaptation.adapted:
        extra = f"; {adaptation.describe()}" + extra
    ev = Evidence(Kind.SEARCH, f"{len(X)} examples: shape ({len(X)},), each example alone, the batch reversed and a "
                  f"second call agree (rtol {RTOL:g}); {backend}{extra}", covers=covers, data={"warnings": warned})
    return decide([ev], data={"warnings": warned, "backend": backend, "adaptation": adaptation},
                  note=f"one value per example ({backend}){extra}")


@loss_check(
    "check_finite", tier="contract", methods=("numeric search",), after=("check_output",),
    statement="L(x, y) is defined, finite and >= 0 at every probed input and label: the vertices, faces (exact "
              "zeros) and interior of the simplex (for logit losses: zero, ±50 one-hot and random logits). +inf "
              "is allowed only where the label's probability is exactly 0 (an unclamped log). When the only "
              "failures are on faces (a coordinate exactly 0), the property checks run on the open simplex.",
    reference="interface contract of theory.checks")
def check_finite(ctx: Context) -> Outcome:
    subject: Subject = ctx.subject
    X = probe_inputs(subject, ctx.rng("check_finite", subject.K), ctx.size(FINITE_PROBES))
    K = subject.K
    V = subject.matrix(X)  # (n, K)
    P = X if subject.input is Input.PROBS else None
    inf_ok = (P == 0) if P is not None else np.zeros_like(V, dtype=bool)
    kinds = {
        "nan": np.isnan(V),
        "-inf": np.isneginf(V),
        "+inf where p_y > 0" if P is not None else "+inf": np.isposinf(V) & ~inf_ok,
        "negative": np.isfinite(V) & (V < -NEG_ATOL),
    }
    bad = np.zeros_like(V, dtype=bool)
    for mask in kinds.values():
        bad |= mask
    counts = {k: int(m.sum()) for k, m in kinds.items() if m.any()}
    what = subject.input.symbol
    covers = scope(ctx, f"{len(X)} inputs × {K} labels (vertices, faces, interior)")
    ev = Evidence(Kind.SEARCH, f"{len(X)} inputs × {K} labels: " +
                  (", ".join(f"{n} {k}" for k, n in counts.items()) if counts else "all finite (or +inf at p_y = 0) "
                   "and ≥ 0"), covers=covers, data={"inputs": len(X), "counts": counts})
    if not bad.any():
        return decide([ev], note=f"finite and ≥ 0 at {len(X)} inputs × {K} labels (vertices, faces, interior)")
    on_face = (P == 0).any(axis=1) if P is not None else np.zeros(len(X), dtype=bool)
    faces_only = bool(P is not None and not kinds["negative"].any() and on_face[bad.any(axis=1)].all())
    data = {"counts": counts, "faces_only": faces_only}
    if faces_only:
        ctx.memo.domain = "open simplex"
        data["restricts_domain"] = "open simplex"
    i, k = map(int, np.argwhere(bad)[0])
    kind = next(name for name, m in kinds.items() if m[i, k])
    alone = subject.values(X[i:i + 1], np.array([k]))[0]
    confirmed = bool(np.isnan(alone) or np.isneginf(alone) or alone < -NEG_ATOL or
                     (np.isposinf(alone) and not inf_ok[i, k]))
    w = Witness({what: X[i], "y": k}, f"L = {float(V[i, k])!r} ({kind})", "a finite value ≥ 0",
                f"evaluated alone in float64: {float(alone)!r}", _status(confirmed))
    note = (f"{subject.name} is not finite and non-negative on the simplex: L({what}, y) = {float(V[i, k])!r} at "
            f"{what}={vector(X[i])}, y={k} ({kind}); expected a finite value ≥ 0 (+inf only where p_y = 0); "
            f"{int(bad.sum())} of {V.size} evaluations bad: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if faces_only:
        note += ("; every bad value is on a face (a coordinate exactly 0), so the property checks run on the open "
                 "simplex and say so")
    return decide([ev], w, data=data, failure=note, witness_covers=scope(ctx))


@loss_check(
    "check_label_dependence", tier="contract", methods=("numeric search",), after=("check_finite",),
    statement=f"L(p, ·) depends on the label: at some probed p, L(p, k) differs across k by more than "
              f"{LABEL_SPREAD_REL:g} (relative).",
    reference="interface contract of theory.checks")
def check_label_dependence(ctx: Context) -> Outcome:
    subject: Subject = ctx.subject
    P = simplex_sample(ctx.rng("check_label_dependence", subject.K), subject.K, ctx.size(LABEL_POINTS))
    M = subject.loss_matrix(P)
    finite = np.all(np.isfinite(M), axis=1)
    with np.errstate(invalid="ignore"):
        spread = np.where(finite, M.max(1) - M.min(1), np.where(np.any(np.isnan(M), axis=1), 0.0, np.inf))
    scale = LABEL_SPREAD_REL * (1 + np.abs(np.where(np.isfinite(M), M, 0)).max(1))
    covers = scope(ctx, f"{len(P)} points × {subject.K} labels")
    if (spread > scale).any():
        i = int(np.argmax(spread / scale))
        return decide([Evidence(Kind.SEARCH, f"largest spread over labels {spread[i]:.3g} at p={vector(P[i])} "
                                f"({len(P)} points)", covers=covers)], note="depends on the label")
    check_at = np.vstack([np.full((1, subject.K), 1 / subject.K), np.eye(subject.K)])
    again = np.array([[subject.at(check_at[j:j + 1], np.array([k]))[0] for k in range(subject.K)]
                      for j in range(len(check_at))])
    confirmed = bool(np.all(np.nanmax(again, 1) - np.nanmin(again, 1) <= LABEL_SPREAD_REL * (1 + np.nanmax(np.abs(again)))))
    w = Witness({"points": len(P), "e.g. p": P[0]}, f"L(p, k) is the same for every k at all {len(P)} points",
                "L(p, ·) to depend on the label somewhere",
                "evaluated alone at the centre and every vertex for every label", _status(confirmed))
    note = (f"{subject.name} ignores the label: at all {len(P)} probed points (centre, vertices, faces, interior) "
            f"L(p, k) is the same for every k (spread ≤ {LABEL_SPREAD_REL:g} relative), e.g. L(p, ·) = {M[0, 0]:.6g} at "
            f"p={vector(P[0])}; a loss must use y")
    return decide([Evidence(Kind.SEARCH, f"{len(P)} points × {subject.K} labels", covers=covers)], w, failure=note,
                  witness_covers=scope(ctx))


def _probs_only(subject: Subject) -> str | None:
    return None if subject.input is Input.PROBS else "the loss is declared on logits"


SHIFTS = (0.5, 3.0, -0.05)


@loss_check(
    "check_input_convention", tier="contract", methods=("numeric search",), after=("check_finite",),
    applies=_probs_only,
    statement="A loss declared on probabilities reads its input as probabilities: it is not invariant under "
              "adding one constant c to every entry. Shift invariance L(p + c·1, y) = L(p, y) is the signature "
              "of a softmax inside the loss, i.e. a logit loss given probabilities (a double softmax).",
    reference="interface contract of theory.checks")
def check_input_convention(ctx: Context) -> Outcome:
    subject: Subject = ctx.subject
    rng = ctx.rng("check_input_convention", subject.K)
    P = rng.dirichlet(np.ones(subject.K), size=32)
    y = rng.integers(0, subject.K, size=len(P))
    base = subject.values(P, y)
    covers = scope(ctx, f"{len(P)} points, shifts {SHIFTS}")
    changes = []
    for c in SHIFTS:
        try:
            shifted = subject.values(P + c, y)
        except LossEvaluationError:  # a loss of probabilities may refuse other inputs: not invariant
            return decide([Evidence(Kind.SEARCH, f"the loss rejects p + {c:g}·1 (not shift-invariant)", covers=covers)],
                          note="not shift-invariant (rejects shifted inputs)")
        with np.errstate(invalid="ignore"):
            d = np.abs(shifted - base) / (1 + np.abs(base))
        changes.append(np.where(np.isnan(d), np.inf, d))
    change = np.min(np.max(changes, axis=0))  # the least-changed point over all shifts
    if np.max(changes) > RTOL:
        return decide([Evidence(Kind.SEARCH, f"largest relative change under a common shift: {np.max(changes):.3g}",
                                covers=covers)], note="not shift-invariant")
    c = SHIFTS[0]
    a = subject.values(P[:1], y[:1])[0]
    b = subject.values(P[:1] + c, y[:1])[0]
    confirmed = bool(abs(a - b) <= RTOL * (1 + abs(a)))
    w = Witness({"p": P[0], "y": int(y[0]), "c": c}, f"L(p, y) = {a:.12g} and L(p + c·1, y) = {b:.12g}",
                "a loss of probabilities to change when its input leaves the simplex",
                "evaluated alone at p and p + c·1 in float64", _status(confirmed))
    note = (f"{subject.name} looks like a loss of logits: L(p + c·1, y) = L(p, y) (relative change ≤ {change:.1g}, "
            f"tolerance {RTOL:g}) for c ∈ {SHIFTS} at all {len(P)} probe points, e.g. {a:.6g} at p={vector(P[0])}, "
            f"y={int(y[0])}. That is the signature of a softmax inside the loss: given probabilities, it applies a "
            "second softmax. If it expects logits, pass input='logits'")
    return decide([Evidence(Kind.SEARCH, f"{len(P)} points, shifts {SHIFTS}", covers=covers)], w, failure=note,
                  witness_covers=scope(ctx))
