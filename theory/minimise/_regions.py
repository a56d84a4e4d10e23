"""Region and piece enumeration for pointwise and argmax-pointwise losses.

On the region {p : argmax p = t} such a loss has conditional risk

    C_q(p) = q_t φ_top(s) + Σ_{k≠t} q_k φ_other(p_k),   s = p_t,  p_k ≤ s,  Σ_k p_k = 1,

separable in the coordinates. With φ_other non-increasing, swapping p_i and p_j between two
non-top coordinates never hurts when it gives the larger value to the larger q (exchange
argument), so a minimiser exists whose non-top coordinates are ordered like q. When φ_top and
φ_other are convex between declared break points (:class:`theory.losses.Pieces`; the clamp of an
ε-loss is one), fixing which piece each coordinate lies in leaves a convex problem, and by the
ordering only *monotone* piece assignments need enumerating: C(K−1+B, B) of them for B breaks.

Each convex sub-problem is solved exactly for the piecewise-linear interpolant φ̂ of φ on a grid
that contains every break (geometric towards 0 and towards each break): golden section on the
convex value V(s), and for each s a bisection on the multiplier μ of Σ_{k≠t} p_k = 1 − s, where
each coordinate takes the grid point at which the secant slopes of q_k φ̂ cross μ, capped at s.
The interpolation error is second order in the grid spacing; the winning point is then
re-evaluated with the loss itself and polished by the local search of :mod:`._search`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import combinations_with_replacement

import numpy as np

from theory.losses._core import Loss

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


class NotPiecewiseConvex(ValueError):
    """The loss's declared pieces are not convex (or φ_other is not non-increasing) on the grid."""


@dataclass(frozen=True)
class _Table:
    """φ on a grid ``u`` of [lo, hi] with the secant slopes ``d`` and, per piece j, the slice
    ``u[start[j]:stop[j] + 1]`` of grid points and ``d[start[j]:stop[j]]`` of its slopes."""

    u: np.ndarray
    f: np.ndarray
    d: np.ndarray
    bounds: np.ndarray  # piece boundaries: lo, breaks..., hi
    start: np.ndarray
    stop: np.ndarray

    @property
    def n_pieces(self) -> int:
        return len(self.bounds) - 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.u, self.f)

    def argmin_linear(self, r: np.ndarray, piece: np.ndarray) -> np.ndarray:
        """Per element: the point of its piece minimising φ(u) − r·u, i.e. where φ' = r.

        φ' is interpolated linearly between the secant slopes, each taken at its interval's
        midpoint (second-order accurate); below the first slope the piece's left end is optimal,
        above the last its right end.
        """
        if self.n_pieces == 1:
            xp, fp = self._inverse[0]
            return np.interp(r, xp, fp)
        out = np.empty(r.shape)
        for j, (xp, fp) in enumerate(self._inverse):
            mask = piece == j
            if mask.any():
                out[mask] = np.interp(r[mask], xp, fp)
        return out

    @cached_property
    def _inverse(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per piece, the interpolation table of φ'^{-1}: slopes (at interval midpoints) → u."""
        out = []
        for j in range(self.n_pieces):
            a, b = self.start[j], self.stop[j]
            slopes = self.d[a:b]
            mids = 0.5 * (self.u[a:b] + self.u[a + 1:b + 1])
            out.append((np.concatenate([slopes[:1], slopes, slopes[-1:]]),
                        np.concatenate([self.u[a:a + 1], mids, self.u[b:b + 1]])))
        return out


def piece_bounds(lo: float, hi: float, breaks) -> np.ndarray:
    """[lo, the breaks inside (lo, hi) in increasing order, hi]: the ends of a profile's convex
    pieces on [lo, hi] (φ_top on [1/K, 1], φ_other on [0, 1/2])."""
    return np.array([lo, *sorted({float(b) for b in breaks if lo < b < hi}), hi])


def piece_index(bounds: np.ndarray, x) -> np.ndarray:
    """The piece of ``bounds`` holding each x (a point at a break belongs to the piece above it)."""
    return np.clip(np.searchsorted(bounds, x, side="right") - 1, 0, len(bounds) - 2)


def _grid(lo: float, hi: float, breaks: tuple[float, ...], points: int) -> np.ndarray:
    # geometric towards 0 (φ may blow up there) and towards each break, uniform elsewhere
    u = [np.linspace(lo, hi, points)]
    if lo == 0.0:
        u.append(np.logspace(-15, 0, points // 2) * hi)
    for b in (*breaks, hi):
        u.append(b - b * np.logspace(-7, 0, points // 16))
    for b in breaks:
        u.append(b + b * np.logspace(-7, 0, points // 16))
    u = np.unique(np.clip(np.concatenate(u + [np.array([lo, hi, *breaks])]), lo, hi))
    return u


def _table(phi, lo: float, hi: float, breaks: tuple[float, ...], points: int, what: str) -> _Table:
    breaks = tuple(b for b in breaks if lo < b < hi)
    u = _grid(lo, hi, breaks, points)
    f = phi(u)
    if not np.all(np.isfinite(f[1:])):
        raise NotPiecewiseConvex(f"{what} is not finite on ({lo:g}, {hi:g}]")
    if not np.isfinite(f[0]):  # φ(0) = +inf (CE without a clamp): never optimal; keep φ̂ finite
        f = f.copy()
        f[0] = f[1] + 1e6 * (1.0 + abs(f[1]))
    eps = np.finfo(float).eps
    protected = np.isin(u, np.array([lo, hi, *breaks]))
    for _ in range(64):
        du = np.diff(u)
        d = np.diff(f) / du
        # rounding error of each secant slope, to tell float noise from a real loss of convexity
        scale = 1.0 + np.abs(f[:-1]) + np.abs(f[1:]) + np.abs(d) * np.abs(u[1:])
        rounding = 16 * eps * scale / du
        noise = rounding + 1e-9 * (1 + np.abs(d))
        # A secant over an interval too short for the function's size is rounding noise (e.g.
        # (1 − u)² on [1e-16, 2e-16]): merge it into its neighbour, or the slopes are not
        # monotone and φ̂'s inverse is garbage. Breaks and end points are kept.
        local = np.abs(d) + np.abs(np.r_[d[1:], d[-1]]) + np.abs(np.r_[d[0], d[:-1]])
        noisy = rounding > 1e-6 * (1.0 + local)
        drop = np.zeros(u.size, dtype=bool)
        drop[1:] = noisy & ~protected[1:]
        drop[:-1] |= noisy & protected[1:] & ~protected[:-1]
        if not drop.any():
            break
        u, f, protected = u[~drop], f[~drop], protected[~drop]
    bounds = piece_bounds(lo, hi, breaks)
    idx = np.searchsorted(u, bounds)
    start, stop = idx[:-1], idx[1:]
    for j in range(len(start)):
        dj, nj = d[start[j]:stop[j]], noise[start[j]:stop[j]]
        drop = -np.diff(dj) - nj[1:] - nj[:-1]
        if drop.size and drop.max() > 0:
            raise NotPiecewiseConvex(
                f"{what} is not convex on [{bounds[j]:.3g}, {bounds[j + 1]:.3g}] although the loss "
                "declares it convex between its breaks"
            )
    return _Table(u, f, d, bounds, start, stop)


def _profile(loss: Loss, K: int):
    """φ_top (u >= 1/K) and φ_other (u <= 1/2), evaluated through the loss itself."""

    def top(u):
        p = np.empty(u.shape + (K,))
        p[..., 0] = u
        # at u = 1/K, (1 − u)/(K − 1) can round above u: cap it so that label 0 stays the argmax
        p[..., 1:] = np.minimum((1.0 - u) / (K - 1), u)[..., None]
        return loss(p, np.zeros(u.shape, dtype=np.int64), validate=False)

    def other(u):  # label 1 with p_1 = u <= 1/2 <= p_0: never the argmax (ties go to index 0)
        p = np.zeros(u.shape + (K,))
        p[..., 0] = 1.0 - u
        p[..., 1] = u
        return loss(p, np.ones(u.shape, dtype=np.int64), validate=False)

    return top, other


def region_candidates(loss: Loss, q: np.ndarray, *, points: int = 4097):
    """Candidate minimisers (n, C, K) — one per (argmax region, piece pattern) — and their
    surrogate values (n, C). Raises :class:`NotPiecewiseConvex` when the method does not apply."""
    n, K = q.shape
    pieces = loss.pieces
    if pieces is None:
        raise NotPiecewiseConvex(f"{loss.name} declares no convex pieces")
    top_phi, other_phi = _profile(loss, K)
    top = _table(top_phi, 1.0 / K, 1.0, pieces.top, points, "φ_top")
    other = _table(other_phi, 0.0, 0.5, pieces.other, points, "φ_other")
    if np.any(np.diff(other.f[1:]) > 1e-12 * (1.0 + np.abs(other.f[2:]))):
        raise NotPiecewiseConvex("φ_other is not non-increasing, so the ordering argument fails")

    # patterns: the top coordinate's piece × a monotone assignment of the others' pieces
    B = other.n_pieces
    others = [np.array(c[::-1]) for c in combinations_with_replacement(range(B), K - 1)]
    patterns = [(jt, po) for jt in range(top.n_pieces) for po in others]
    C = K * len(patterns)

    order = np.argsort(-q, axis=1, kind="stable")
    rows_t, rows_k, rows_jt, rows_po = [], [], [], []
    for t in range(K):
        rest = order[order != t].reshape(n, K - 1)  # non-top coordinates, q descending
        for jt, po in patterns:
            rows_t.append(np.full(n, t))
            rows_k.append(rest)
            rows_jt.append(np.full(n, jt))
            rows_po.append(np.broadcast_to(po, (n, K - 1)))
    # stack as (n, C, ...) then flatten to R = n*C rows
    t_idx = np.stack(rows_t, 1).reshape(-1)
    k_idx = np.stack(rows_k, 1).reshape(-1, K - 1)
    jt = np.stack(rows_jt, 1).reshape(-1)
    po = np.stack(rows_po, 1).reshape(-1, K - 1)
    qq = np.repeat(q, C, axis=0)
    R = len(t_idx)
    rr = np.arange(R)
    qt = qq[rr, t_idx]
    qo = np.take_along_axis(qq, k_idx, axis=1)

    lo_k, hi_k = other.bounds[po], other.bounds[po + 1]
    s_lo = np.maximum(top.bounds[jt], lo_k.max(1))
    s_hi = np.minimum(top.bounds[jt + 1], 1.0 - lo_k.sum(1))
    # Σ_k min(hi_k, s) + s >= 1 is needed for the others to absorb 1 − s
    a, b = np.zeros(R), np.ones(R)
    for _ in range(60):
        mid = 0.5 * (a + b)
        ok = np.minimum(hi_k, mid[:, None]).sum(1) + mid >= 1.0
        b = np.where(ok, mid, b)
        a = np.where(ok, a, mid)
    s_lo = np.maximum(s_lo, b)
    feasible = s_lo <= s_hi + 1e-15
    s_hi = np.maximum(s_hi, s_lo)

    q_pos = qo > 0
    safe_qo = np.where(q_pos, qo, 1.0)

    def inner(s):
        """Optimal non-top coordinates for top value s (R,) and the surrogate value."""
        cap = np.minimum(hi_k, s[:, None])
        target = 1.0 - s

        def coords(mu):
            with np.errstate(invalid="ignore"):
                r = np.where(q_pos, mu[:, None] / safe_qo, (np.sign(mu) * np.inf)[:, None])
            r = np.where(np.isnan(r), 0.0, r)  # μ = 0 for a class with q = 0; ±inf interpolate to the ends
            return np.minimum(np.maximum(other.argmin_linear(r, po), lo_k), cap)

        lo_mu, hi_mu = np.full(R, -50.0), np.full(R, 50.0)  # bisection on asinh(μ)
        for _ in range(44):
            mid = 0.5 * (lo_mu + hi_mu)
            small = coords(np.sinh(mid)).sum(1) < target
            lo_mu = np.where(small, mid, lo_mu)
            hi_mu = np.where(small, hi_mu, mid)
        p_lo, p_hi = coords(np.sinh(lo_mu)), coords(np.sinh(hi_mu))
        s_lo_, s_hi_ = p_lo.sum(1), p_hi.sum(1)
        gap = s_hi_ - s_lo_
        lam = np.where(gap > 0, (target - s_lo_) / np.where(gap > 0, gap, 1.0), 0.0)
        p = p_lo + np.clip(lam, 0.0, 1.0)[:, None] * (p_hi - p_lo)
        value = qt * top(s) + np.where(qo > 0, qo * other(p), 0.0).sum(1)
        return p, value

    # golden section on the convex V(s)
    a, b = s_lo.copy(), s_hi.copy()
    x1, x2 = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    f1, f2 = inner(x1)[1], inner(x2)[1]
    for _ in range(40):
        left = f1 <= f2
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x2n = np.where(left, x1, a + _GOLDEN * (b - a))
        x1n = np.where(left, b - _GOLDEN * (b - a), x2)
        new = np.where(left, x1n, x2n)
        fn = inner(new)[1]
        f1, f2 = np.where(left, fn, f2), np.where(left, f1, fn)
        x1, x2 = x1n, x2n
    s = 0.5 * (a + b)
    p_o, value = inner(s)
    # a coordinate k < t tied with the top would make k the argmax (first index wins): the region
    # value is then only approached, so move it a few ulps below s (and that mass to the top)
    tied = (p_o >= s[:, None] * (1 - 4 * np.finfo(float).eps)) & (k_idx < t_idx[:, None])
    below = s[:, None] * (1 - 8 * np.finfo(float).eps)
    shift = np.where(tied, p_o - below, 0.0).sum(1)
    p_o = np.where(tied, below, p_o)
    P = np.zeros((R, K))
    # The multiplier bisection absorbs 1 − s only up to the grid's resolution: put the residual
    # back so that every candidate lies on the simplex and its exact value is attained. A positive
    # residual goes to the top (it stays the argmax); a negative one shrinks the others, which
    # stay <= the top, so ties with the top are never reversed.
    residual = 1.0 - s - shift - p_o.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(residual < 0, (p_o.sum(1) + residual) / p_o.sum(1), 1.0)
    p_o = p_o * np.clip(scale, 0.0, 1.0)[:, None]
    P[rr, t_idx] = s + shift + np.maximum(residual, 0.0)
    np.put_along_axis(P, k_idx, p_o, axis=1)
    value = np.where(feasible, value, np.inf)
    piece = np.full((R, K), -1)  # each coordinate's piece of φ_other; −1 for the top
    np.put_along_axis(piece, k_idx, po, axis=1)
    return P.reshape(n, C, K), value.reshape(n, C), {
        "patterns": C, "grid": int(other.u.size),
        "max_projection": float(np.abs(np.where(feasible, residual, 0)).max()),
        "breaks_top": pieces.top, "breaks_other": pieces.other,
        "pattern_top": t_idx.reshape(n, C), "pattern_top_piece": jt.reshape(n, C), "pattern_pieces": piece.reshape(n, C, K)}
