"""Local search over the simplex, used where no exact method applies (not certified).

Descent with a geometric line search along pairwise mass transfers and gradient arcs, from
vertices, face centroids of top-j sets of q, q itself, tempered q and random Dirichlet points.
Pairwise moves keep tie groups tied (ε-losses have minimisers on ties between top classes); the
projected- and exponentiated-gradient arcs move every coordinate at once, so an interior
minimiser at large K is reached in tens of steps rather than one pair of coordinates per step
(K = 100: 110 → 14 steps). ``face`` restricts the search to the face {p_k = 0 for k in face}: no
start and no move puts mass there.
"""

from __future__ import annotations

import numpy as np

from theory.losses import Loss
from theory.minimise._risk import conditional_risk
from theory.tolerances import LBFGS_FTOL, LBFGS_GTOL, SAME_VALUE_REL, START_LOG_FLOOR

#: beyond this many classes the search starts from the vertices of q's WIDE largest classes and
#: the face centroids of its top-j sets for j on a geometric ladder (not all K of each), and its
#: coarse moves go to the WIDE vertices of smallest slope (not all K): O(K²) work per row and step
#: instead of O(K⁴)
WIDE = 12
#: the amounts of mass moved along a direction, as fractions of what the direction allows
LADDER = 2.0 ** -np.arange(40)
#: at most about this many (point, class) entries are built per descent step (≈ 64 MB of
#: float64): the active rows are stepped in chunks, so memory stays flat in K and in the rows
STEP_ENTRIES = 2**23
#: the descent stops when no candidate improves a row by more than this (relative)
DESCENT_RTOL = 1e-12
#: the forward-difference step towards a vertex: this share of the coordinate, within [_STEP_MIN, _STEP_MAX]
#: (a fixed 1e-7 misjudges a coordinate of 1e-8 under a log barrier)
_STEP_SHARE, _STEP_MIN, _STEP_MAX = 1e-3, 1e-11, 1e-7
#: the logit search stops once no start improved by more than this (relative) over _STALL_EVERY
#: iterations: a tenth of what the callers resolve (SAME_VALUE_REL)
_STALL_REL, _STALL_EVERY = SAME_VALUE_REL / 10, 20


def _face_sizes(K: int) -> list[int]:
    if K <= WIDE:
        return list(range(1, K + 1))
    ladder = {j for j in range(1, 5)} | {int(round(2 ** (e / 2))) for e in range(4, 2 * int(np.log2(K)) + 2)}
    return sorted(j for j in ladder | {K} if j <= K)


def starts(q: np.ndarray, rng: np.random.Generator, n_random: int) -> np.ndarray:
    """Starting points per row of q: (n, S, K) — vertices, face centroids of q's top-j sets,
    tempered q and random points (see :data:`WIDE` for large K)."""
    n, K = q.shape
    order = np.argsort(-q, axis=1)
    rows = np.arange(n)[:, None]
    eye = np.eye(K)
    out = [np.broadcast_to(eye, (n, K, K)) if K <= WIDE else eye[order[:, :WIDE]]]
    sizes = _face_sizes(K)
    faces = np.zeros((n, len(sizes), K))
    for i, j in enumerate(sizes):
        faces[rows, i, order[:, :j]] = 1.0 / j
    out.append(faces)
    tempered = [q]
    for power in (0.5, 2.0, 4.0):
        t = q ** power
        tempered.append(t / t.sum(1, keepdims=True))
    out.append(np.stack(tempered, axis=1))
    if n_random:
        out.append(rng.dirichlet(np.ones(K), size=(n, n_random)))
    return np.concatenate(out, axis=1)


def project_simplex(V: np.ndarray) -> np.ndarray:
    """Euclidean projection of every row of V (..., K) onto the probability simplex; entries of
    −∞ project to 0 (Held, Wolfe, Crowder 1974: the threshold θ with Σ max(v − θ, 0) = 1)."""
    K = V.shape[-1]
    u = -np.sort(-V, axis=-1)
    with np.errstate(invalid="ignore"):
        css = np.cumsum(np.where(np.isfinite(u), u, 0.0), axis=-1) - 1.0
        ok = np.isfinite(u) & (u - css / np.arange(1, K + 1) > 0)
    rho = K - 1 - np.argmax(ok[..., ::-1], axis=-1)  # the last index where the condition holds
    theta = np.take_along_axis(css, rho[..., None], axis=-1) / (rho[..., None] + 1)
    return np.maximum(V - theta, 0.0)


def _gradient_arcs(P: np.ndarray, g: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Points of two gradient arcs (B, 2S, K) for the step sizes s = scales / spread(g), where g
    holds the slopes towards the vertices (∂_j C − p·∇C: the gradient up to a constant, which
    both arcs ignore): the projected-gradient arc proj(p − s·g), which can give mass to a zero
    coordinate, and the exponentiated-gradient arc p·exp(−s·g)/Z, which moves every coordinate
    in proportion to its size (a coordinate of 1e-8 under a log barrier). Coordinates whose slope
    is not finite (held faces, a loss infinite there) keep no mass."""
    finite = np.isfinite(g)
    lo = np.where(finite, g, np.inf).min(1, keepdims=True)
    hi = np.where(finite, g, -np.inf).max(1, keepdims=True)
    spread = np.where(np.isfinite(hi - lo) & (hi > lo), hi - lo, 1.0)
    rel = np.where(finite, g - np.where(np.isfinite(lo), lo, 0.0), np.inf) / spread  # in [0, 1], inf where not finite
    step = scales[None, :, None]
    with np.errstate(invalid="ignore", over="ignore"):
        projected = project_simplex(np.where(finite[:, None, :], P[:, None, :] - step * rel[:, None, :], -np.inf))
        weights = P[:, None, :] * np.exp(-step * rel[:, None, :])
        total = weights.sum(-1, keepdims=True)
        exponentiated = weights / np.where(total > 0, total, 1.0)
    arcs = np.concatenate([projected, exponentiated], axis=1)
    none = ~finite.any(1)
    arcs[none] = P[none][:, None, :]  # nothing to follow: the point itself
    return arcs


def _candidates(P: np.ndarray, g: np.ndarray, eye: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Points reached by moving mass along five kinds of direction, each with a geometric
    ladder of amounts, and two joins of the tie group (B, C, K):

    1. pairwise: from the support coordinate with the largest slope to the vertex with the
       smallest;
    2. into the tie group: from that coordinate to the coordinates tied at the maximum (split
       equally, so ties are kept: ε-losses have minimisers on ties between top classes);
    3. out of the tie group: from the whole group (equally) to the best vertex outside it;
    4. pairwise moves from the first coordinate to every vertex (beyond :data:`WIDE` classes,
       to the WIDE vertices of smallest slope);
    5. the projected- and exponentiated-gradient arcs (:func:`_gradient_arcs`), every other
       step of the ladder.
    """
    B, K = P.shape
    rows = np.arange(B)
    group = P >= P.max(1, keepdims=True) * (1 - 64 * np.finfo(float).eps)  # ties kept a few ulps apart
    slope = np.where(np.isfinite(g), g, np.inf)
    # the support coordinate whose growth helps least gives mass; the best other vertex takes it
    away = np.argmax(np.where(P > 0, np.where(np.isfinite(g), g, -np.inf), -np.inf), axis=1)
    to_slope = slope.copy()
    to_slope[rows, away] = np.inf
    to = np.argmin(to_slope, axis=1)
    out_slope = np.where(group, np.inf, slope)
    to_out = np.argmin(out_slope, axis=1)
    feeder_slope = np.where(group | (P <= 0), -np.inf, np.where(np.isfinite(g), g, -np.inf))
    feeder = np.argmax(feeder_slope, axis=1)  # a support coordinate outside the tie group
    has_feeder = (~group & (P > 0)).any(1, keepdims=True)

    group_dist = group / group.sum(1, keepdims=True)
    into_src = np.where(has_feeder, eye[feeder], group_dist)
    out_dist = np.where(np.isfinite(out_slope[rows, to_out])[:, None], eye[to_out], group_dist)

    sources = (eye[away], into_src, group_dist)
    targets = (eye[to], group_dist, out_dist)
    cands = []
    for src, dst in zip(sources, targets):
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(src > 0, P / np.where(src > 0, src, 1.0), np.inf).min(1)
        amount = np.where(np.isfinite(room), room, 0.0)[:, None] * steps[None, :]
        cands.append(P[:, None, :] + amount[..., None] * (dst - src)[:, None, :])
    # 4. coarse moves from the same coordinate to every vertex: slopes mislead on plateaus (the
    #    clamp of ε-losses), where only a finite step shows the descent.
    coarse = steps[::3]
    amount = P[rows, away][:, None] * coarse[None, :]
    targets = (np.broadcast_to(np.arange(K), (B, K)) if K <= WIDE
               else np.argsort(np.where(np.isfinite(slope), slope, np.inf), axis=1, kind="stable")[:, :WIDE])
    for k in targets.T:
        cands.append(P[:, None, :] + amount[..., None] * (eye[k] - eye[away])[:, None, :])
    cands.append(_gradient_arcs(P, g, steps[::2]))
    # 6. joins: the largest coordinate outside the tie group, and the one of smallest slope, are
    #    levelled with the group (their mass and the group's spread equally). Argmax losses jump
    #    where a class overtakes the top, so no small step reaches a larger tie group; the top
    #    stays the argmax (tied classes of lower index a few ulps below it, as ties are kept
    #    everywhere in this package: the first index wins a tie).
    level = np.where(group, P, 0.0).sum(1)
    top = np.argmax(P, axis=1)
    below = np.arange(K)[None, :] < top[:, None]
    for k in (np.argmax(np.where(group, -np.inf, P), axis=1), to_out):
        joined = group | eye[k].astype(bool)
        mass = level + np.where(group[rows, k], 0.0, P[rows, k])
        share = mass / joined.sum(1)
        point = np.where(joined, np.where(below, share[:, None] * (1 - 8 * np.finfo(float).eps), share[:, None]), P)
        point[rows, top] += mass - np.where(joined, point, 0.0).sum(1)
        cands.append(point[:, None, :])
    return np.clip(np.concatenate(cands, axis=1), 0.0, None)


def search(loss: Loss, q: np.ndarray, *, seed: int = 0, n_random: int = 8, iterations: int = 400,
           face: np.ndarray | None = None, extra: np.ndarray | None = None):
    """Best point found per row of q (n, K) from the standard starts (plus ``extra`` (n, E, K)),
    restricted to the face ``face`` (n, K) bool (coordinates held at 0) when given.

    Returns (p (n, K), value (n,), starts_at_best (n,), number_of_starts).
    """
    n, K = q.shape
    P = starts(q, np.random.default_rng(seed), n_random)
    if extra is not None:
        P = np.concatenate([P, extra], axis=1)
    if face is not None:
        P = np.where(face[:, None, :], 0.0, P)
        total = P.sum(-1, keepdims=True)
        uniform = np.where(face, 0.0, 1.0)[:, None, :]
        P = np.where(total > 0, P / np.where(total > 0, total, 1.0), uniform / uniform.sum(-1, keepdims=True))
    S = P.shape[1]
    Q = np.broadcast_to(q[:, None, :], P.shape).reshape(-1, K)
    F = None if face is None else np.broadcast_to(face[:, None, :], P.shape).reshape(-1, K)
    P = P.reshape(-1, K).copy()
    f = conditional_risk(loss, P, Q)
    descend(loss, P, Q, f, iterations=iterations, face=F)
    f = f.reshape(n, S)
    P = P.reshape(n, S, K)
    best = np.argmin(f, axis=1)
    value = f[np.arange(n), best]
    agree = (f <= value[:, None] + SAME_VALUE_REL * np.maximum(1.0, np.abs(value[:, None]))).sum(1)
    return P[np.arange(n), best], value, agree, S


def descend(loss: Loss, P: np.ndarray, Q: np.ndarray, f: np.ndarray, *, iterations: int = 400,
            face: np.ndarray | None = None, rtol: float = DESCENT_RTOL) -> None:
    """Descent in place on the rows of P (values f) until no candidate improves a row by more than
    ``rtol`` (relative), or for ``iterations`` steps."""
    K = P.shape[1]
    eye = np.eye(K)
    steps = LADDER
    active = np.ones(len(P), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        _descend(loss, P, Q, f, active, face, iterations, eye, steps, rtol, K)


def _descend(loss, P, Q, f, active, face, iterations, eye, steps, rtol, K) -> None:
    for _ in range(iterations):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        for part in np.array_split(idx, -(-idx.size * (K + _n_candidates(K)) * K // STEP_ENTRIES)):
            _step(loss, P, Q, f, active, face, part, eye, steps, rtol, K)


def _n_candidates(K: int) -> int:
    """Candidates per row and step (:func:`_candidates`): three pairwise ladders, the coarse moves
    to min(K, WIDE) vertices and the two gradient arcs."""
    n = len(LADDER)
    return 3 * n + min(K, WIDE) * len(LADDER[::3]) + 2 * len(LADDER[::2]) + 2


def _step(loss, P, Q, f, active, face, idx, eye, steps, rtol, K) -> None:
    """One descent step of the rows ``idx``: the best candidate replaces a row that it improves
    by more than ``rtol`` (relative); a row without one is done."""
    Pa, Qa, fa = P[idx], Q[idx][:, None, :], f[idx]
    # directional slopes towards each vertex, by forward differences of a step small against the
    # coordinate (a fixed 1e-7 misjudges a coordinate of 1e-8 under a log barrier)
    h = np.clip(_STEP_SHARE * Pa, _STEP_MIN, _STEP_MAX)
    moved = Pa[:, None, :] + h[..., None] * (eye[None] - Pa[:, None, :])
    g = (conditional_risk(loss, moved, Qa) - fa[:, None]) / h
    g = np.where(np.isfinite(g), g, np.inf)
    if face is not None:
        g = np.where(face[idx], np.inf, g)
    cand = _candidates(Pa, g, eye, steps)
    fc = conditional_risk(loss, cand, Qa)
    if face is not None:
        fc = np.where((cand * face[idx][:, None, :]).sum(-1) > 0, np.inf, fc)
    best = np.argmin(fc, axis=1)
    rows = np.arange(len(idx))
    fb = fc[rows, best]
    improve = fb < fa - rtol * np.maximum(1.0, np.abs(fa))
    P[idx[improve]] = cand[rows[improve], best[improve]]
    f[idx[improve]] = fb[improve]
    active[idx[~improve]] = False


def logit_search(loss: Loss, q: np.ndarray, *, seed: int, box: float = 30.0, n_random: int = 4,
                 maxiter: int = 1000, step: float = 1e-6):
    """Multi-start L-BFGS-B over logits in the box [−box, box]^K; returns (logits (n, K), values
    (n,), starts per row).

    Starts per posterior: 0, log q, 5·e_{argmax q} and ``n_random`` normal points (scale 2). All
    starts of all posteriors descend together: one L-BFGS-B run on their sum (the problems are
    independent, so the sum's minimiser is theirs), with gradients by central differences of step
    ``step`` evaluated in 2K vectorised calls. Each start keeps the best point any evaluation
    visited (the sum decreasing does not make every term decrease), and each posterior the best of
    its starts. The run stops after ``maxiter`` iterations, or once no start improved by more than
    _STALL_REL (1e-10, relative) in _STALL_EVERY (20) iterations. Not certified.
    """
    from scipy.optimize import minimize

    n, K = q.shape
    rng = np.random.default_rng(seed)
    S = np.empty((n, 3 + n_random, K))
    for i in range(n):
        S[i, 0] = 0.0
        S[i, 1] = np.log(np.maximum(q[i], START_LOG_FLOOR))
        S[i, 2] = 5.0 * (np.arange(K) == np.argmax(q[i]))
        S[i, 3:] = rng.normal(scale=2.0, size=(n_random, K))
    np.clip(S, -box, box, out=S)
    s = S.shape[1]
    Q = np.repeat(q, s, axis=0)
    Q2 = np.tile(Q, (2 * K, 1))
    shifts = step * np.eye(K)[:, None, :]
    best_z = S.reshape(-1, K).copy()
    best_f = np.full(len(best_z), np.inf)

    def value_and_gradient(x):
        Z = x.reshape(-1, K)
        f = conditional_risk(loss, Z, Q, logits=True)
        keep = f < best_f
        best_f[keep], best_z[keep] = f[keep], Z[keep]
        F = conditional_risk(loss, np.concatenate([Z[None] + shifts, Z[None] - shifts]).reshape(-1, K), Q2,
                             logits=True).reshape(2, K, -1)
        g = (F[0] - F[1]).T / (2 * step)
        finite = np.isfinite(f)
        return float(np.sum(np.where(finite, f, 0.0))), np.where(np.isfinite(g) & finite[:, None], g, 0.0).ravel()

    # the joint run's own stopping rules speak of the sum; stop once no start has improved by more
    # than 1e-10 (relative; a tenth of what the callers resolve) over the last `every` iterations
    every, seen, calls = _STALL_EVERY, best_f.copy(), [0]

    def stalled(_):
        calls[0] += 1
        if calls[0] % every:
            return
        with np.errstate(invalid="ignore"):
            gain = np.where(np.isfinite(seen), seen - best_f, np.inf)
        if np.all(gain <= _STALL_REL * (1 + np.abs(best_f))):
            raise StopIteration
        seen[:] = best_f

    minimize(value_and_gradient, S.ravel(), jac=True, method="L-BFGS-B", bounds=[(-box, box)] * S.size,
             callback=stalled, options={"ftol": LBFGS_FTOL, "gtol": LBFGS_GTOL, "maxiter": maxiter, "maxcor": 20})
    F = best_f.reshape(n, s)
    b = np.argmin(F, axis=1)
    return best_z.reshape(n, s, K)[np.arange(n), b], F[np.arange(n), b], s
