"""Contract checks: the loss is well formed. Every property check requires all of them.

Points are probed from simplest to most complex (the centre, the vertices, faces with exact
zeros, then the interior), so the first offending input reported is the simplest one seen.
"""

from __future__ import annotations

import numpy as np

from theory._counterexamples import simplex_sample
from theory.checks._framework import Context, register_check
from theory.checks._subject import LossEvaluationError, Subject, fmt_point
from theory.evidence import Evidence, Outcome, Verdict, Witness

RTOL = 1e-9  # per-example agreement and shift invariance, relative
NEG_ATOL = 1e-12  # a value below −NEG_ATOL is negative


def _refuted(evidence: list[Evidence], witness: Witness, note: str, data: dict | None = None) -> Outcome:
    return Outcome(Verdict.REFUTED, tuple(evidence), witness, data or {}, note)


def _passed(evidence: list[Evidence], note: str, data: dict | None = None) -> Outcome:
    return Outcome(Verdict.NOT_REFUTED, tuple(evidence), None, data or {}, note)


def probe_inputs(subject: Subject, rng: np.random.Generator, n: int) -> np.ndarray:
    """Inputs covering the domain: simplex points for losses of probabilities; for logit losses,
    zero logits, ±50 one-hot logits, log of simplex points and random logits of scale 1 to 100."""
    K = subject.K
    P = simplex_sample(rng, K, n)
    if subject.input == "probs":
        return P
    eye = np.eye(K)
    scales = rng.choice([1.0, 10.0, 100.0], size=(n // 4, 1))
    return np.vstack([np.zeros((1, K)), 50 * eye, -50 * eye, subject.inputs_of(P[: n // 2]),
                      rng.standard_normal((n // 4, K)) * scales])


@register_check(
    "check_output", tier="contract",
    statement="loss(x, y) returns one real value per example: shape (n,) for n examples, the same value for an "
              "example alone as in a batch (no reduction or normalisation over the batch), and the same value "
              "when called twice.",
    source="interface contract of theory.checks")
def check_output(subject: Subject, ctx: Context) -> Outcome:
    if subject.probe_error is not None:
        raise subject.probe_error
    rng = ctx.rng(1)
    X = probe_inputs(subject, rng, 64)[-16:]  # interior points (logits: random) for the batch
    y = np.arange(len(X)) % subject.K
    batch = subject.values(X, y)
    alone = np.array([subject.values(X[i:i + 1], y[i:i + 1])[0] for i in range(len(X))])
    reverse = subject.values(X[::-1], y[::-1])[::-1]
    again = subject.values(X, y)
    what = "logits" if subject.input == "logits" else "p"
    for other, how in ((alone, "alone"), (reverse, "in the batch reversed"), (again, "when called again")):
        bad = ~np.isclose(batch, other, rtol=RTOL, atol=1e-12, equal_nan=True)
        if bad.any():
            i = int(np.argmax(bad))
            # re-check: evaluate the batch and the comparison again (a non-deterministic loss is
            # confirmed by having disagreed with itself once)
            redo = {"alone": lambda: subject.values(X[i:i + 1], y[i:i + 1])[0],
                    "in the batch reversed": lambda: subject.values(X[::-1], y[::-1])[::-1][i],
                    "when called again": lambda: other[i]}[how]()
            confirmed = how == "when called again" or not np.isclose(subject.values(X, y)[i], redo, rtol=RTOL,
                                                                     atol=1e-12, equal_nan=True)
            w = Witness({what: X[i], "y": int(y[i]), "batch_size": len(X)},
                        f"L = {batch[i]:.12g} in the batch but {other[i]:.12g} {how}",
                        f"the same value (rtol {RTOL:g})", "evaluated again in float64", rechecked=bool(confirmed))
            note = (f"{subject.name} is not a per-example loss: at {what}={fmt_point(X[i])}, y={int(y[i])} it gives "
                    f"{batch[i]:.6g} in a batch of {len(X)} but {other[i]:.6g} {how} (rtol {RTOL:g}); return one "
                    "value per example, without reducing or normalising over the batch")
            return _refuted([Evidence("search", f"{len(X)} examples compared {how}")], w, note)
    ev = Evidence("search", f"{len(X)} examples: shape ({len(X)},), each example alone, the batch reversed and a "
                  f"second call agree (rtol {RTOL:g}); {subject.backend_note or subject.backend}")
    return _passed([ev], f"one value per example ({subject.backend_note or subject.backend})")


@register_check(
    "check_finite", tier="contract",
    statement="L(x, y) is defined, finite and >= 0 at every probed input and label: the vertices, faces (exact "
              "zeros) and interior of the simplex (for logit losses: zero, ±50 one-hot and random logits). +inf "
              "is allowed only where the label's probability is exactly 0 (an unclamped log).",
    source="interface contract of theory.checks", after=("check_output",))
def check_finite(subject: Subject, ctx: Context) -> Outcome:
    X = probe_inputs(subject, ctx.rng(2), ctx.pick(200, 2000))
    K = subject.K
    V = subject.matrix(X)  # (n, K)
    P = X if subject.input == "probs" else None
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
    what = "logits" if subject.input == "logits" else "p"
    ev = Evidence("search", f"{len(X)} inputs × {K} labels: " +
                  (", ".join(f"{n} {k}" for k, n in counts.items()) if counts else "all finite (or +inf at p_y = 0) and ≥ 0"),
                  {"inputs": len(X), "counts": counts})
    if not bad.any():
        return _passed([ev], f"finite and ≥ 0 at {len(X)} inputs × {K} labels (vertices, faces, interior)")
    i, k = map(int, np.argwhere(bad)[0])
    kind = next(name for name, m in kinds.items() if m[i, k])
    alone = subject.values(X[i:i + 1], np.array([k]))[0]
    confirmed = bool(np.isnan(alone) or np.isneginf(alone) or alone < -NEG_ATOL or
                     (np.isposinf(alone) and not inf_ok[i, k]))
    w = Witness({what: X[i], "y": k}, f"L = {float(V[i, k])!r} ({kind})", "a finite value ≥ 0",
                f"evaluated alone in float64: {float(alone)!r}", rechecked=confirmed)
    note = (f"{subject.name} is not finite and non-negative on the simplex: L({what}, y) = {float(V[i, k])!r} at "
            f"{what}={fmt_point(X[i])}, y={k} ({kind}); expected a finite value ≥ 0 (+inf only where p_y = 0); "
            f"{int(bad.sum())} of {V.size} evaluations bad: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return _refuted([ev], w, note, {"counts": counts})


@register_check(
    "check_label_dependence", tier="contract",
    statement="L(p, ·) depends on the label: at some probed p, L(p, k) differs across k by more than 1e-12 "
              "(relative).",
    source="interface contract of theory.checks", after=("check_finite",))
def check_label_dependence(subject: Subject, ctx: Context) -> Outcome:
    P = simplex_sample(ctx.rng(3), subject.K, ctx.pick(64, 512))
    M = subject.loss_matrix(P)
    finite = np.all(np.isfinite(M), axis=1)
    spread = np.where(finite, M.max(1) - M.min(1), np.where(np.any(np.isnan(M), axis=1), 0.0, np.inf))
    scale = 1e-12 * (1 + np.abs(np.where(np.isfinite(M), M, 0)).max(1))
    if (spread > scale).any():
        i = int(np.argmax(spread / scale))
        return _passed([Evidence("search", f"largest spread over labels {spread[i]:.3g} at p={fmt_point(P[i])} "
                                 f"({len(P)} points)")], "depends on the label")
    check_at = np.vstack([np.full((1, subject.K), 1 / subject.K), np.eye(subject.K)])
    again = np.array([[subject.at(check_at[j:j + 1], np.array([k]))[0] for k in range(subject.K)]
                      for j in range(len(check_at))])
    confirmed = bool(np.all(np.nanmax(again, 1) - np.nanmin(again, 1) <= 1e-12 * (1 + np.nanmax(np.abs(again)))))
    w = Witness({"points": len(P), "e.g. p": P[0]}, f"L(p, k) is the same for every k at all {len(P)} points",
                "L(p, ·) to depend on the label somewhere",
                "evaluated alone at the centre and every vertex for every label: identical", rechecked=confirmed)
    note = (f"{subject.name} ignores the label: at all {len(P)} probed points (centre, vertices, faces, interior) "
            f"L(p, k) is the same for every k (spread ≤ 1e-12 relative), e.g. L(p, ·) = {M[0, 0]:.6g} at "
            f"p={fmt_point(P[0])}; a loss must use y")
    return _refuted([Evidence("search", f"{len(P)} points × {subject.K} labels")], w, note)


def _probs_only(subject: Subject) -> str | None:
    return None if subject.input == "probs" else "the loss is declared on logits"


SHIFTS = (0.5, 3.0, -0.05)


@register_check(
    "check_input_convention", tier="contract",
    statement="A loss declared on probabilities reads its input as probabilities: it is not invariant under "
              "adding one constant c to every entry. Shift invariance L(p + c·1, y) = L(p, y) is the signature "
              "of a softmax inside the loss, i.e. a logit loss given probabilities (a double softmax).",
    source="interface contract of theory.checks", after=("check_finite",), applies=_probs_only)
def check_input_convention(subject: Subject, ctx: Context) -> Outcome:
    rng = ctx.rng(4)
    P = rng.dirichlet(np.ones(subject.K), size=32)
    y = rng.integers(0, subject.K, size=len(P))
    base = subject.values(P, y)
    changes = []
    for c in SHIFTS:
        try:
            shifted = subject.values(P + c, y)
        except LossEvaluationError:  # a loss of probabilities may refuse other inputs: not invariant
            return _passed([Evidence("search", f"the loss rejects p + {c:g}·1 (not shift-invariant)")],
                           "not shift-invariant (rejects shifted inputs)")
        with np.errstate(invalid="ignore"):
            d = np.abs(shifted - base) / (1 + np.abs(base))
        changes.append(np.where(np.isnan(d), np.inf, d))
    change = np.min(np.max(changes, axis=0))  # the least-changed point over all shifts
    if np.max(changes) > RTOL:
        return _passed([Evidence("search", f"largest relative change under a common shift: {np.max(changes):.3g} "
                                 f"(shifts {SHIFTS}, {len(P)} points)")], "not shift-invariant")
    i = 0
    c = SHIFTS[0]
    a = subject.values(P[i:i + 1], y[i:i + 1])[0]
    b = subject.values(P[i:i + 1] + c, y[i:i + 1])[0]
    confirmed = bool(abs(a - b) <= RTOL * (1 + abs(a)))
    w = Witness({"p": P[i], "y": int(y[i]), "c": c}, f"L(p, y) = {a:.12g} and L(p + c·1, y) = {b:.12g}",
                "a loss of probabilities to change when its input leaves the simplex",
                "evaluated alone at p and p + c·1 in float64", rechecked=confirmed)
    note = (f"{subject.name} looks like a loss of logits: L(p + c·1, y) = L(p, y) (relative change ≤ {change:.1g}, "
            f"tolerance {RTOL:g}) for c ∈ {SHIFTS} at all {len(P)} probe points, e.g. {a:.6g} at p={fmt_point(P[0])}, "
            f"y={int(y[0])}. That is the signature of a softmax inside the loss: given probabilities, it applies a "
            "second softmax. If it expects logits, pass input='logits'")
    return _refuted([Evidence("search", f"{len(P)} points, shifts {SHIFTS}")], w, note)
