"""Numerics checks: the torch computation a training run executes, in the precisions it runs in.

What most often breaks a noisy-label training run is not a robustness property but the loss's
torch numerics: a gradient that disagrees with the formula, NaN or inf at extreme logits (a
``log`` of a probability that underflowed), a clamp constant that rounds to 0 in half precision,
values that drift from float64 in bfloat16. Three checks, run on the loss as training calls it
(logits in, per-example values out, autograd through the loss; a loss of probabilities gets
``softmax(z)``; a user's ``nn.Module`` a copy cast to the logits' dtype):

``check_gradients``
    float64 autograd gradients w.r.t. the logits equal central finite differences of the
    values, at random, large (|z| up to 1e4), near-tied and one-hot-like logits. A library loss's
    stop-gradients sg(·) are held at the point in the differences (its formula says they carry
    no gradient); a user's ``detach`` is not known to be intended, so it shows as a difference.
``check_extreme_logits``
    values and gradients finite at extreme logits (±s·e_k for s up to 1e4, random logits of
    scale 1e3, ties at 1e4), where probabilities underflow to 0, in float64, float32, bfloat16 and
    float16, each as a plain cast of the logits and (half precisions) under CPU autocast with
    logits in that dtype, as a network's output under autocast is.
``check_low_precision``
    float32, bfloat16 and float16 values within :data:`TOLERANCE` of float64 at ordinary logits
    (scale 1 to 10, one-hot-like 20·e_k); the float64 reference is computed at the rounded
    logits, so what is measured is the loss's own arithmetic, not the rounding of its input.

Each verdict has one part per precision, so "refuted for K = 10, float16" says which precision
failed; the witness is the input (logits, label, precision), re-checked by evaluating that input
alone again (and, for gradients, by differences at two smaller steps and one-sided ones, so that
a kink the autograd gradient takes one side of is dismissed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.checks._framework import Context, loss_check, scope
from theory.checks._subject import Subject
from theory.formatting import vector
from theory.losses import Pred
from theory.tolerances import TINY
from theory.verify import Evidence, Kind, Outcome, Recheck, Size, Witness, decide
from theory.xp import NUMPY

__all__ = ["FD_ATOL", "FD_RTOL", "PRECISIONS", "TOLERANCE", "Precision"]


@dataclass(frozen=True)
class Precision:
    """A dtype the loss runs in, as a plain cast of the logits or under CPU autocast."""

    dtype: str
    autocast: bool = False

    def __str__(self) -> str:
        return self.dtype + (" under autocast" if self.autocast else "")

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


PRECISIONS = (Precision("float64"), Precision("float32"), Precision("bfloat16"), Precision("bfloat16", True),
              Precision("float16"), Precision("float16", True))
#: check_low_precision: |v − v₆₄| ≤ TOLERANCE[dtype] · max(|v₆₄|, median |v₆₄|) (a few units of each dtype's rounding)
TOLERANCE = {"float32": 1e-4, "bfloat16": 6e-2, "float16": 1e-2}
#: check_gradients: ‖g − g_fd‖∞ ≤ FD_RTOL·‖g_fd‖∞ + FD_ATOL·(1 + |L|)
FD_RTOL, FD_ATOL = 1e-4, 1e-6
FD_STEP = 1e-6  # relative central-difference step: h_j = FD_STEP·max(1, |z_j|)
MAX_LABELS = 8  # labels per point for K above it (every label below)
#: a low-precision value's error is relative to max(|v₆₄|, median |v₆₄|, _SCALE_FLOOR)
_SCALE_FLOOR = 1e-12
#: logit vectors per scale in the low-precision check, points per regime in the gradient check
PRECISION_POINTS, GRADIENT_POINTS = Size(24, 96), Size(8, 32)


def _torch_only(subject: Subject) -> str | None:
    return subject.torch_unavailable


def _labels(K: int, rng: np.random.Generator) -> np.ndarray:
    if K <= MAX_LABELS:
        return np.arange(K)
    return np.unique(np.concatenate([[0, 1, K - 1], rng.choice(K, MAX_LABELS - 3, replace=False)]))


def _grid(Z: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every point with every label, point-major."""
    return np.repeat(Z, len(labels), axis=0), np.tile(labels, len(Z))


def _values_and_grads(subject: Subject, Z: np.ndarray, y: np.ndarray, prec: Precision):
    """(values, gradients) as float64 numpy, computed in ``prec`` with autograd."""
    import torch

    z = torch.from_numpy(Z).to(prec.torch_dtype()).requires_grad_(True)
    labels = torch.from_numpy(y.astype(np.int64))
    v = subject.torch_values(z, labels, autocast=prec.torch_dtype() if prec.autocast else None)
    if not torch.is_tensor(v) or v.shape != (len(Z),):
        raise TypeError(f"expected one value per example, got {getattr(v, 'shape', type(v).__name__)}")
    grad = torch.autograd.grad(v.sum(), z, allow_unused=True)[0] if v.requires_grad else None
    g = np.zeros_like(Z) if grad is None else grad.detach().double().numpy()
    return v.detach().double().numpy(), g


# ----------------------------------------------------------------------------------------------
# check_extreme_logits


def extreme_logits(K: int, rng: np.random.Generator) -> np.ndarray:
    """±s·e_0 for s = 30, 100, 1e3, 1e4; a tie at 1e4 and at 0; a near tie at 1e4; random of scale 1e3."""
    e = np.eye(K)[0]
    rows = [s * e for s in (30.0, 100.0, 1e3, 1e4)] + [-s * e for s in (30.0, 100.0, 1e3, 1e4)]
    near = np.zeros(K)
    near[:2] = (1e4, 1e4 - 1.0)
    rows += [np.full(K, 1e4), np.zeros(K), near]
    rows += list(np.clip(rng.standard_normal((4, K)) * 1e3, -1e4, 1e4))
    return np.array(rows)


@loss_check(
    "check_extreme_logits", tier="numerics", methods=("numeric search",), applies=_torch_only,
    statement="The loss and its gradient w.r.t. the logits are finite (no NaN or ±inf) at extreme logits, where "
              "probabilities underflow to 0: ±s·e_k for s = 30, 100, 1e3, 1e4, ties at 0 and at 1e4, a near tie at 1e4 "
              "and random logits of scale 1e3, with every label (K ≤ 8; else 8 of them), in float64, float32, bfloat16 "
              "and float16, each a plain cast of the logits and (half precisions) under CPU autocast.",
    reference="numerics of training (mixed precision: Micikevicius et al., ICLR 2018); theory.checks")
def check_extreme_logits(ctx: Context) -> Outcome:
    s: Subject = ctx.subject
    rng = ctx.rng("check_extreme_logits", s.K)
    Z, y = _grid(extreme_logits(s.K, rng), _labels(s.K, rng))
    evidence, failing, witness = [], {}, None
    for prec in PRECISIONS:
        v, g = _values_and_grads(s, Z, y, prec)
        bad = ~np.isfinite(v) | ~np.all(np.isfinite(g), axis=1)
        covers = scope(ctx, f"{prec}: {len(Z)} extreme logit vectors × labels")
        evidence.append(Evidence(Kind.SEARCH, f"{prec}: {int(bad.sum())} of {len(Z)} non-finite" if bad.any() else
                                 f"{prec}: all {len(Z)} values and gradients finite", covers=covers))
        if not bad.any():
            continue
        i = int(np.argmax(bad))
        failing[str(prec)] = int(bad.sum())
        if witness is None:
            v1, g1 = _values_and_grads(s, Z[i:i + 1], y[i:i + 1], prec)
            again = not (np.isfinite(v1[0]) and np.all(np.isfinite(g1)))
            witness = (prec, i, Witness(
                {"logits": Z[i], "y": int(y[i]), "precision": str(prec)},
                f"L = {v[i]!r}, gradient {'finite' if np.all(np.isfinite(g[i])) else 'with ' + _nonfinite(g[i])}",
                "a finite value and gradient", f"evaluated alone again in {prec}: L = {v1[0]!r}",
                Recheck.CONFIRMED if again else Recheck.DISMISSED))
    data = {"failing": failing, "points": len(Z), "precisions": [str(p) for p in PRECISIONS]}
    if witness is None:
        return decide(evidence, data=data, note=f"finite at {len(Z)} extreme logit vectors × labels in every precision")
    prec, i, w = witness
    note = (f"{s.name} is not finite at extreme logits in {', '.join(failing)}: at logits={vector(Z[i])}, y={int(y[i])} "
            f"in {prec}, {w.observed} (a log or a division of a probability that underflowed to 0, or a clamp constant "
            "below the dtype's smallest number); compute it from log_softmax, or clamp with a constant the dtype holds")
    return decide(evidence, w, data=data, failure=note, witness_covers=scope(ctx, str(prec)))


def _nonfinite(g: np.ndarray) -> str:
    kinds = [k for k, m in (("nan", np.isnan(g)), ("+inf", np.isposinf(g)), ("-inf", np.isneginf(g))) if m.any()]
    return "/".join(kinds)


# ----------------------------------------------------------------------------------------------
# check_low_precision


def ordinary_logits(K: int, rng: np.random.Generator, n: int) -> np.ndarray:
    scales = np.repeat([1.0, 3.0, 10.0], -(-n // 3))[:n, None]
    rows = rng.standard_normal((n, K)) * scales
    return np.vstack([rows, 20 * np.eye(K)[: min(K, 4)]])


@loss_check(
    "check_low_precision", tier="numerics", methods=("numeric search",), applies=_torch_only,
    statement="In float32, bfloat16 and float16 (plain casts of the logits, and the half precisions under CPU autocast) "
              "the loss's values are within a stated tolerance of float64 computed at the same (rounded) logits, at "
              "ordinary logits (Gaussian of scale 1, 3, 10 and one-hot-like 20·e_k): |v − v₆₄| ≤ τ·max(|v₆₄|, median "
              "|v₆₄|) with τ = 1e-4 (float32), 6e-2 (bfloat16), 1e-2 (float16), wherever the value is finite "
              "(a non-finite value is check_extreme_logits's).",
    reference="numerics of training (mixed precision); theory.checks")
def check_low_precision(ctx: Context) -> Outcome:
    s: Subject = ctx.subject
    rng = ctx.rng("check_low_precision", s.K)
    Z, y = _grid(ordinary_logits(s.K, rng, ctx.size(PRECISION_POINTS)), _labels(s.K, rng))
    evidence, worst, failing, witness = [], {}, {}, None
    for prec in PRECISIONS[1:]:
        rounded = _rounded(Z, prec)
        ref, _ = _values_and_grads(s, rounded, y, Precision("float64"))
        v, _ = _values_and_grads(s, rounded, y, prec)
        tau = TOLERANCE[prec.dtype]
        finite = np.isfinite(ref)
        scale = float(np.median(np.abs(ref[finite]))) if finite.any() else 1.0
        compared = finite & np.isfinite(v)  # a value that is not finite is check_extreme_logits's business
        with np.errstate(invalid="ignore"):
            ratio = np.where(compared, np.abs(v - ref) / (tau * np.maximum(np.abs(ref), max(scale, _SCALE_FLOOR))), 0.0)
        worst[str(prec)] = float(ratio.max())
        covers = scope(ctx, f"{prec}: {len(Z)} ordinary logit vectors × labels")
        skipped = int((finite & ~np.isfinite(v)).sum())
        evidence.append(Evidence(Kind.SEARCH, f"{prec}: worst |v − v₆₄| / tolerance = {ratio.max():.3g} (τ = {tau:g})"
                                 + (f"; {skipped} non-finite values left to check_extreme_logits" if skipped else ""),
                                 covers=covers))
        if ratio.max() <= 1:
            continue
        failing[str(prec)] = float(ratio.max())
        if witness is None:
            i = int(np.argmax(ratio))
            r1, _ = _values_and_grads(s, rounded[i:i + 1], y[i:i + 1], Precision("float64"))
            v1, _ = _values_and_grads(s, rounded[i:i + 1], y[i:i + 1], prec)
            again = not (abs(v1[0] - r1[0]) <= tau * max(abs(r1[0]), scale))
            witness = (prec, i, Witness(
                {"logits": rounded[i], "y": int(y[i]), "precision": str(prec)},
                f"L = {v[i]:.9g} in {prec} but {ref[i]:.9g} in float64 (off by {abs(v[i] - ref[i]):.3g})",
                f"within τ = {tau:g} of max(|v₆₄|, {scale:.3g})",
                f"evaluated alone again: {v1[0]:.9g} against {r1[0]:.9g}", Recheck.CONFIRMED if again else
                Recheck.DISMISSED))
    data = {"worst_ratio": worst, "failing": failing, "tolerance": TOLERANCE, "points": len(Z)}
    if witness is None:
        return decide(evidence, data=data, note="within tolerance of float64 in every precision")
    prec, i, w = witness
    note = (f"{s.name} drifts from float64 in {', '.join(failing)}: at logits={vector(Z[i])}, y={int(y[i])}, "
            f"{w.observed}, beyond the tolerance τ = {TOLERANCE[prec.dtype]:g} (relative to max(|v₆₄|, the loss's median))")
    return decide(evidence, w, data=data, failure=note, witness_covers=scope(ctx, str(prec)))


def _rounded(Z: np.ndarray, prec: Precision) -> np.ndarray:
    import torch

    return torch.from_numpy(Z).to(prec.torch_dtype()).double().numpy()


# ----------------------------------------------------------------------------------------------
# check_gradients


def gradient_points(K: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """Random logits (scale 1 and 10), one-hot-like 30·e_k, large ±1e4·e_0 and near ties (gaps 1e-3·scale)."""
    rows = [rng.standard_normal(K), 10 * rng.standard_normal(K)] * (n // 2)
    rows += [30 * np.eye(K)[k % K] for k in range(2)] + [1e4 * np.eye(K)[0], -1e4 * np.eye(K)[0]]
    near = rng.standard_normal(K)
    near[1] = near[0] - 1e-3
    rows += [near, 100 * near]
    return np.array(rows)


class _Recording(type(NUMPY)):
    """numpy, remembering the value of every stop-gradient sg(·) it computes (in call order)."""

    def __init__(self):
        self.seen: list[np.ndarray] = []

    def detach(self, x):
        self.seen.append(np.array(x, dtype=np.float64, copy=True))
        return x


class _Replaying(type(NUMPY)):
    """numpy, giving every stop-gradient the value it had at the base point (each base row repeated)."""

    def __init__(self, seen: list[np.ndarray], repeat: int):
        self.seen, self.repeat, self.i = seen, repeat, 0

    def detach(self, x):
        value = np.repeat(self.seen[self.i], self.repeat, axis=0)
        self.i += 1
        return value


def _perturbed(Z: np.ndarray, y: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row moved by ±h_j along each coordinate j (2K rows per row, row-major), with its labels."""
    n, K = Z.shape
    steps = np.concatenate([np.eye(K), -np.eye(K)])
    return (Z[:, None, :] + steps[None] * h[:, None, :]).reshape(n * 2 * K, K), np.repeat(y, 2 * K)


def _quotients(base: np.ndarray, moved: np.ndarray, h: np.ndarray):
    """(central, forward, backward) difference quotients from the values at the rows and at :func:`_perturbed`."""
    n, K = h.shape
    vals = np.asarray(moved, dtype=np.float64).reshape(n, 2, K)
    plus, minus = vals[:, 0], vals[:, 1]
    with np.errstate(all="ignore"):  # inf − inf where the loss is not finite: those rows are not compared
        return (plus - minus) / (2 * h), (plus - base[:, None]) / h, (base[:, None] - minus) / h


def _fd_library(loss, Z: np.ndarray, y: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Differences of a library loss at each row, its stop-gradients sg(·) held at the row."""
    rec = _Recording()
    with np.errstate(all="ignore"):
        base = np.asarray(loss.value(rec, Pred.from_logits(rec, Z), y), dtype=np.float64)
    moved, labels = _perturbed(Z, y, h)
    rep = _Replaying(rec.seen, 2 * Z.shape[1])
    with np.errstate(all="ignore"):
        vals = loss.value(rep, Pred.from_logits(rep, moved), labels)
    return _quotients(base, vals, h)


def _fd_torch(subject: Subject, Z: np.ndarray, y: np.ndarray, h: np.ndarray):
    """Differences of a torch loss's float64 values at each row."""
    import torch

    moved, labels = _perturbed(Z, y, h)
    with torch.no_grad():
        base = subject.torch_values(torch.from_numpy(Z.copy()), torch.from_numpy(y.astype(np.int64)))
        vals = subject.torch_values(torch.from_numpy(moved), torch.from_numpy(labels.astype(np.int64)))
    return _quotients(base.double().numpy(), vals.double().numpy(), h)


def _differences(subject: Subject, Z, y, h):
    if subject.native:
        return _fd_library(subject.loss, Z, y, h)
    return _fd_torch(subject, Z, y, h)


def _off(g: np.ndarray, fd: np.ndarray, v: np.ndarray) -> np.ndarray:
    """‖g − fd‖∞ / (FD_RTOL·‖fd‖∞ + FD_ATOL·(1 + |L|)) per row (> 1: disagreement)."""
    with np.errstate(invalid="ignore"):
        r = np.max(np.abs(g - fd), axis=1) / (FD_RTOL * np.max(np.abs(fd), axis=1) + FD_ATOL * (1 + np.abs(v)))
    return np.where(np.isnan(r), np.inf, r)


@loss_check(
    "check_gradients", tier="numerics", methods=("numeric search",), applies=_torch_only,
    statement="The float64 autograd gradient of the loss w.r.t. the logits equals central finite differences of its "
              "values (step 1e-6·max(1, |z_j|)): ‖g − g_fd‖∞ ≤ 1e-4·‖g_fd‖∞ + 1e-6·(1 + |L|), at random logits "
              "(scale 1 and 10), one-hot-like 30·e_k, ±1e4·e_0 and near ties; for a library loss its stop-gradients "
              "sg(·) are held at the point, as its formula states they carry no gradient.",
    reference="autograd against finite differences (torch.autograd.gradcheck's idea); theory.checks")
def check_gradients(ctx: Context) -> Outcome:
    s: Subject = ctx.subject
    rng = ctx.rng("check_gradients", s.K)
    Z, y = _grid(gradient_points(s.K, rng, ctx.size(GRADIENT_POINTS)), _labels(s.K, rng))
    v, g = _values_and_grads(s, Z, y, Precision("float64"))
    h = FD_STEP * np.maximum(1.0, np.abs(Z))
    fd, _, _ = _differences(s, Z, y, h)
    finite = np.isfinite(v) & np.all(np.isfinite(g), axis=1)
    ratio = np.where(finite, _off(g, fd, v), 0.0)
    covers = scope(ctx, f"float64, {len(Z)} logit vectors × labels")
    sg = " (stop-gradients held at the point)" if s.native else ""
    ev = Evidence(Kind.SEARCH, f"worst ‖g − g_fd‖∞ / tolerance = {ratio.max():.3g} over {len(Z)} inputs{sg}",
                  covers=covers)
    data = {"worst_ratio": float(ratio.max()), "points": len(Z), "non_finite": int((~finite).sum())}
    if ratio.max() <= 1:
        return decide([ev], data=data, note=f"autograd agrees with finite differences at {len(Z)} inputs{sg}")
    order = np.argsort(-ratio)
    for i in order[: 4]:  # the worst few candidates: a kink autograd takes one side of is dismissed
        if ratio[i] <= 1:
            break
        status, how = _recheck(s, Z[i:i + 1], y[i:i + 1], g[i:i + 1], v[i:i + 1], h[i:i + 1])
        if status is Recheck.DISMISSED:
            continue
        j = int(np.argmax(np.abs(g[i] - fd[i])))
        w = Witness({"logits": Z[i], "y": int(y[i]), "coordinate": j},
                    f"∂L/∂z_{j} = {g[i, j]:.9g} by autograd but {fd[i, j]:.9g} by differences "
                    f"(relative error {abs(g[i, j] - fd[i, j]) / max(abs(fd[i, j]), TINY):.3g})",
                    "autograd equal to the derivative of the values", how, status)
        note = (f"{s.name}'s gradient disagrees with its values: at logits={vector(Z[i])}, y={int(y[i])}, "
                f"{w.observed}, worst over {len(Z)} inputs; a hand-written backward, a detach the formula does not "
                "have, or a non-differentiable operation (a detached factor on purpose, as focal's: declare it)")
        return decide([ev], w, data=data, failure=note, witness_covers=scope(ctx, "float64"))
    return decide([ev, Evidence(Kind.SEARCH, "the candidates were kinks: autograd matches a one-sided difference at "
                                "smaller steps", covers=scope(ctx, "float64, the worst candidates"))], data=data,
                  note=f"autograd agrees with finite differences at {len(Z)} inputs{sg} (kinks dismissed)")


def _recheck(s: Subject, Z, y, g, v, h) -> tuple[Recheck, str]:
    """Differences at steps h/10 and h/100, central and one-sided: a candidate is confirmed when autograd
    matches none of them at either step and the central ones agree with each other (they converged)."""
    results = []
    for factor in (10.0, 100.0):
        c, f, b = _differences(s, Z, y, h / factor)
        results.append((c, f, b))
    # coordinate by coordinate: at a kink or an argmax switch autograd takes one side, which may be a
    # forward difference for one coordinate and a backward one for another
    diffs = np.stack([d[0] for triple in results for d in triple])  # (6, K)
    scale = FD_RTOL * np.max(np.abs(diffs), axis=1, keepdims=True) + FD_ATOL * (1 + abs(float(v[0])))
    agree = np.any(np.abs(diffs - g[0][None]) <= scale, axis=0)  # per coordinate: some difference matches autograd
    # a coordinate whose forward and backward differences disagree at both small steps is a kink: the
    # derivative does not exist there and any subgradient autograd returns (torch's amax splits ties) is right
    tol = FD_RTOL * np.max(np.abs(diffs)) + FD_ATOL * (1 + abs(float(v[0])))
    kink = np.all([np.abs(f[0] - b[0]) > tol for _, f, b in results], axis=0)
    matched = bool(np.all(agree | kink))
    (c1, _, _), (c2, _, _) = results
    converged = bool(_off(c1, c2, v)[0] <= 1)
    how = (f"differences at steps h/10 and h/100 (central, forward, backward): autograd matches one of them in "
           f"{int(agree.sum())} of {len(agree)} coordinates, {int((kink & ~agree).sum())} more are kinks (one-sided "
           f"differences disagree); the central ones {'agree' if converged else 'disagree'}")
    if matched:
        return Recheck.DISMISSED, how
    return (Recheck.CONFIRMED if converged else Recheck.UNDECIDED), how
