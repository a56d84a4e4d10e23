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
convex value V(s), and for each s a root search on the multiplier μ of Σ_{k≠t} p_k = 1 − s, where
each coordinate takes the point at which the slope of q_k φ̂ (interpolated between the secant
slopes) crosses μ, capped at s. The sum is piecewise linear in μ with known breaks, so a
safeguarded Newton search lands on its root (see :func:`_multiplier_solve`), started at the
multiplier of the golden section's previous point.
The interpolation error is second order in the grid spacing; the winning point is then
re-evaluated with the loss itself and polished by the local search of :mod:`._search`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations_with_replacement

import numpy as np

from theory.losses import Loss
from theory.minimise._certificates import Patterns
from theory.tolerances import MONOTONE_REL, ROUNDING_REL

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
#: passes of :func:`_table` that merge every secant shorter than its rounding noise into a neighbour;
#: a merged secant can still be too short, so passes repeat until none is. The cap bounds the work on
#: a pathological φ: a table still noisy after it keeps its last secants, and the convexity check
#: that follows judges them with their noise allowance
_MERGE_PASSES = 64
#: halvings of [0, 1] that find the least top value s for which the other classes can absorb 1 − s:
#: 2⁻⁶⁰ is below float64's resolution of s
_TOP_BISECTIONS = 60
#: golden-section steps on the top value s of a pattern: the bracket shrinks by 0.618⁴⁰ ≈ 4e-9 of its
#: width, then the KKT polish (:mod:`._polish`) solves the best pattern exactly
_GOLDEN_STEPS = 40
#: a piece is linear where its secant slopes agree to this (relative): a clamp's flat stretch, MAE's part
_LINEAR_REL = 1e-6
#: a secant is rounding noise when its rounding error exceeds this share of the slopes about it
_NOISY_SECANT_REL = 1e-6
#: a secant slope may drop by this (relative) beyond its rounding before φ is judged not convex
_CONVEXITY_SLACK_REL = 1e-9
#: φ(0) = +inf (CE without a clamp) stands in the table as φ(u₁) + _INFINITE_STEP·(1 + |φ(u₁)|): never optimal
_INFINITE_STEP = 1e6


def golden_section(h: Callable[[float], float], lo: float, hi: float, *, tol: float) -> tuple[float, float]:
    """The minimiser of a unimodal ``h`` on [lo, hi] by golden-section search, to within ``tol``,
    and its value. (:func:`region_candidates` runs the same search vectorised over rows, each point's
    multiplier warm-started at its neighbour's.)"""
    x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f1, f2 = h(x1), h(x2)
    while hi - lo > tol:
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - _GOLDEN * (hi - lo)
            f1 = h(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + _GOLDEN * (hi - lo)
            f2 = h(x2)
    return (x1, f1) if f1 <= f2 else (x2, f2)


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

    def argmin_linear(self, r: np.ndarray, piece: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per element: the point u of its piece minimising φ(u) − r·u, i.e. where φ' = r, and
        du/dr there.

        φ' is interpolated linearly between the secant slopes, each taken at its interval's
        midpoint (second-order accurate); below the first slope the piece's left end is optimal,
        above the last its right end. u is piecewise linear in r; du/dr is the slope of the
        linear piece holding r (0 beyond the ends and on a jump of a flat stretch of φ').
        """
        if self.n_pieces == 1:
            return _interp_with_slope(r, *self._inverse[0])
        u, du = np.empty(r.shape), np.empty(r.shape)
        for j, (xp, fp) in enumerate(self._inverse):
            mask = piece == j
            if mask.any():
                u[mask], du[mask] = _interp_with_slope(r[mask], xp, fp)
        return u, du

    @cached_property
    def _inverse(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per piece, the interpolation table of φ'^{-1}: slopes (at interval midpoints) → u.
        The slopes are made non-decreasing (they are, up to the rounding noise the convexity
        check allows), so that the table is a function; a linear piece (see
        :attr:`linear_slopes`) is one jump, from its left end to its right end at its slope."""
        out = []
        for j, c in enumerate(self.linear_slopes):
            a, b = self.start[j], self.stop[j]
            if np.isfinite(c):
                out.append((np.array([c, c]), self.u[[a, b]]))
                continue
            slopes = np.maximum.accumulate(self.d[a:b])
            mids = 0.5 * (self.u[a:b] + self.u[a + 1:b + 1])
            out.append((np.concatenate([slopes[:1], slopes, slopes[-1:]]),
                        np.concatenate([self.u[a:a + 1], mids, self.u[b:b + 1]])))
        return out

    def slope_reaching(self, u: np.ndarray, piece: np.ndarray) -> np.ndarray:
        """Per element, the r at which φ̂'^{-1}(r) on its piece reaches u (u inside the piece):
        the kink where a coordinate capped at u stops moving."""
        out = np.empty(u.shape)
        for j, (xp, fp) in enumerate(self._inverse):
            mask = piece == j
            if mask.any():
                out[mask] = np.interp(u[mask], fp, xp)
        return out

    def slope_range(self, piece: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per element, the r below which φ̂'^{-1}(r) is its piece's left end, and the r above
        which it is its right end."""
        first = np.array([xp[0] for xp, _ in self._inverse])
        last = np.array([xp[-1] for xp, _ in self._inverse])
        return first[piece], last[piece]

    @cached_property
    def linear_slopes(self) -> np.ndarray:
        """Per piece, its slope where φ is linear on it (its secant slopes agree to _LINEAR_REL
        relative: a clamp's flat stretch, MAE's part of CE_ε + MAE), else NaN. There
        φ(u) − r·u is minimised at the piece's left end for r below the slope and at its right
        end above it: φ'^{-1} jumps."""
        out = np.full(self.n_pieces, np.nan)
        for j in range(self.n_pieces):
            d = self.d[self.start[j]:self.stop[j]]
            centre = float(np.median(d))
            if d.max() - d.min() <= _LINEAR_REL * (1.0 + abs(centre)):
                out[j] = centre
        return out


def _interp_with_slope(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The linear interpolant of (xp, fp) at x (xp non-decreasing; constant beyond the ends) and
    the slope of its linear piece holding each x (0 beyond the ends).

    Written out rather than np.interp: where xp repeats a value (a jump of the interpolant),
    np.interp's search starts from the previous element's index, so the value it returns at a
    repeated abscissa depends on the other elements of the batch. Here each x takes the piece
    [xp[i−1], xp[i]) of the right-sided search, whatever the batch."""
    i = np.minimum(np.maximum(np.searchsorted(xp, x, side="right"), 1), xp.size - 1)
    x0, dx, f0 = xp[i - 1], xp[i] - xp[i - 1], fp[i - 1]
    inside = (x > xp[0]) & (x < xp[-1])  # then xp[i − 1] <= x < xp[i], so dx > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(inside, (fp[i] - f0) / np.where(inside, dx, 1.0), 0.0)
        u = np.where(inside, f0 + slope * (x - x0), np.where(x <= xp[0], fp[0], fp[-1]))
    return u, slope


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
        f[0] = f[1] + _INFINITE_STEP * (1.0 + abs(f[1]))
    eps = np.finfo(float).eps
    protected = np.isin(u, np.array([lo, hi, *breaks]))
    for _ in range(_MERGE_PASSES):
        du = np.diff(u)
        d = np.diff(f) / du
        # rounding error of each secant slope, to tell float noise from a real loss of convexity
        scale = 1.0 + np.abs(f[:-1]) + np.abs(f[1:]) + np.abs(d) * np.abs(u[1:])
        rounding = 16 * eps * scale / du
        noise = rounding + _CONVEXITY_SLACK_REL * (1 + np.abs(d))
        # A secant over an interval too short for the function's size is rounding noise (e.g.
        # (1 − u)² on [1e-16, 2e-16]): merge it into its neighbour, or the slopes are not
        # monotone and φ̂'s inverse is garbage. Breaks and end points are kept.
        local = np.abs(d) + np.abs(np.r_[d[1:], d[-1]]) + np.abs(np.r_[d[0], d[:-1]])
        noisy = rounding > _NOISY_SECANT_REL * (1.0 + local)
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


_MU_RANGE = np.sinh(50.0)  # the multiplier's bracket is [−_MU_RANGE, _MU_RANGE]
# Brackets are bisected and measured in asinh(μ / _MU_SCALE): geometric in |μ| above the scale,
# as the multipliers' scales q_k·φ̂' span many decades when the q_k do
_MU_SCALE = 1e-30
_RESOLUTION = 100.0 / 2.0**44  # the bracket width at which a row is interpolated: relative in μ
_MAX_STEPS = 200  # > 3 × 46 + probes: every third step at the latest bisects
#: a jump or kink at μ_b is probed at μ_b(1 ± _BREAK_OFFSET) ± _BREAK_OFFSET_AT_ZERO (what is left at μ_b = 0)
_BREAK_OFFSET, _BREAK_OFFSET_AT_ZERO = 1e-13, 1e-200
_EPS = np.finfo(float).eps


def _multiplier_solve(other: _Table, s, guess, po, lo_k, hi_k, qo, q_pos, safe_qo):
    """Per row, the non-top coordinates p_k(μ) = clip(φ̂'^{-1}(μ/q_k), lo_k, min(hi_k, s)) whose
    sum is 1 − s, and the multiplier μ. Returns (p (R, K−1), μ (R,)).

    g(μ) = Σ_k p_k(μ) − (1 − s) is non-decreasing and piecewise linear. Its breaks are known: it
    jumps where a coordinate lies on a linear piece of φ̂ (at μ = slope·q_k; a class with q_k = 0
    at μ = 0), and has a kink where a coordinate leaves its lower end or reaches its cap. Each
    row keeps a bracket (g < 0 at its lower end, g >= 0 at its upper end; both are multipliers
    actually evaluated, so it holds whatever the rounding of the transcendental functions that
    produced them) and takes Newton steps from ``guess``; a step that leaves the bracket, or that
    follows two steps in a row that did not halve |g|, is replaced by bisection in
    asinh(μ / _MU_SCALE). A step that would cross a break probes the break's two sides first and
    goes on by Newton from the side next to the root. A row ends
    - where |g| is rounding: Newton lands there once it reaches the root's linear piece;
    - where g crosses 0 between the two sides of a break: a jump is split between the jumping
      coordinates linearly (a kink, to within _BREAK_OFFSET relative in μ);
    - when its bracket is narrower than _RESOLUTION (next to a class of tiny q the root may fall
      between two floats): interpolated linearly between the bracket's ends."""
    solver = _MultiplierSolve(other, s, guess, po, lo_k, hi_k, qo, q_pos, safe_qo)
    active = np.arange(len(s))
    for _ in range(_MAX_STEPS):
        active = solver.step(active)
        if active.size == 0:
            return solver.p, solver.mu
    solver.interpolate(active)
    return solver.p, solver.mu


class _MultiplierSolve:
    """The state of :func:`_multiplier_solve`: per row, the bracket [lo, hi] of the multiplier with
    the coordinates evaluated at its ends, the current multiplier and coordinates, and how many
    Newton steps in a row did not halve |g|."""

    def __init__(self, other: _Table, s, guess, po, lo_k, hi_k, qo, q_pos, safe_qo):
        R, n_other = qo.shape
        self.other, self.po, self.lo_k, self.q_pos, self.safe_qo = other, po, lo_k, q_pos, safe_qo
        self.cap = np.minimum(hi_k, s[:, None])
        self.target = 1.0 - s
        self.tolerance = 8 * _EPS * (n_other + 1)
        first, last = other.slope_range(po)
        reach_cap = np.where(self.cap < hi_k, other.slope_reaching(self.cap, po), last)
        with np.errstate(invalid="ignore"):
            breaks = np.concatenate([np.where(q_pos, other.linear_slopes[po] * qo, 0.0),  # jumps
                                     np.where(q_pos, first * qo, np.nan),  # leaving the lower end
                                     np.where(q_pos, reach_cap * qo, np.nan)], axis=1)  # at the cap
        self.breaks = np.where(np.isfinite(breaks), breaks, np.nan)
        self.all_positive = bool(q_pos.all())
        self.lo, self.hi = np.full(R, -_MU_RANGE), np.full(R, _MU_RANGE)
        self.p_lo, self.p_hi = np.full((R, n_other), np.nan), np.full((R, n_other), np.nan)  # p at lo, hi
        self.mu = np.clip(guess, -_MU_RANGE, _MU_RANGE)
        self.p = np.empty((R, n_other))
        self.stalls = np.zeros(R, dtype=np.int64)  # steps in a row that did not halve |g|
        self.residual = np.full(R, np.inf)

    def coords(self, mu, r):
        """p (len(r), K−1) at the multipliers mu for the rows r, and dg/dμ."""
        ratio = mu[:, None] / self.safe_qo[r]
        if not self.all_positive:  # a class with q = 0: ±inf (the piece's ends), 0 at μ = 0
            with np.errstate(invalid="ignore"):
                ratio = np.where(self.q_pos[r], ratio, (np.sign(mu) * np.inf)[:, None])
            ratio = np.where(np.isnan(ratio), 0.0, ratio)
        u, du = self.other.argmin_linear(ratio, self.po[r])
        p = np.minimum(np.maximum(u, self.lo_k[r]), self.cap[r])
        moving = self.q_pos[r] & (u > self.lo_k[r]) & (u < self.cap[r])
        return p, np.where(moving, du / self.safe_qo[r], 0.0).sum(1)

    @staticmethod
    def width(a, b):
        return np.arcsinh(b / _MU_SCALE) - np.arcsinh(a / _MU_SCALE)

    @staticmethod
    def midpoint(a, b):
        return _MU_SCALE * np.sinh(0.5 * (np.arcsinh(a / _MU_SCALE) + np.arcsinh(b / _MU_SCALE)))

    def record(self, r, x, p_x, g):
        """Narrow the brackets of the rows r with the evaluations (x, p_x, g)."""
        raise_lo = (g < 0) & (x > self.lo[r])
        lower_hi = (g >= 0) & (x < self.hi[r])
        self.lo[r] = np.where(raise_lo, x, self.lo[r])
        self.hi[r] = np.where(lower_hi, x, self.hi[r])
        self.p_lo[r] = np.where(raise_lo[:, None], p_x, self.p_lo[r])
        self.p_hi[r] = np.where(lower_hi[:, None], p_x, self.p_hi[r])

    def interpolate(self, r):
        """p of the rows r between their bracket's ends, where g crosses 0, linearly."""
        if r.size == 0:
            return
        for ends, at in ((self.lo, self.p_lo), (self.hi, self.p_hi)):
            missing = r[np.isnan(at[r, 0])]
            if missing.size:
                at[missing] = self.coords(ends[missing], missing)[0]
        a, b = self.p_lo[r], self.p_hi[r]
        s_a, s_b = a.sum(1), b.sum(1)
        gap = s_b - s_a
        lam = np.clip(np.where(gap > 0, (self.target[r] - s_a) / np.where(gap > 0, gap, 1.0), 0.0), 0.0, 1.0)
        self.p[r] = a + lam[:, None] * (b - a)
        self.mu[r] = self.lo[r] + lam * (self.hi[r] - self.lo[r])

    def step(self, active):
        """One Newton-or-bisection step of the rows ``active``; returns the rows still unsolved."""
        x = self.mu[active]
        p_x, slope = self.coords(x, active)
        g = p_x.sum(1) - self.target[active]
        self.p[active] = p_x
        self.record(active, x, p_x, g)
        # |g| within rounding: of the sum, or of g's change over a few floats around x
        solved = np.abs(g) <= self.tolerance + 4 * np.abs(slope) * np.spacing(np.abs(x))
        la, ha = self.lo[active], self.hi[active]
        self.stalls[active] = np.where(np.abs(g) <= 0.5 * self.residual[active], 0, self.stalls[active] + 1)
        self.residual[active] = np.abs(g)
        with np.errstate(all="ignore"):
            newton_step = x - g / slope
        newton = np.isfinite(newton_step) & (newton_step > la) & (newton_step < ha) & (self.stalls[active] < 2)
        self.stalls[active] = np.where(newton, self.stalls[active], 0)
        nxt = np.where(newton, newton_step, self.midpoint(la, ha))
        nxt, at_break = self.probe_breaks(active, x, nxt, solved)
        la, ha = self.lo[active], self.hi[active]
        narrow = ~solved & ~at_break & (self.width(la, ha) <= _RESOLUTION)
        self.interpolate(active[at_break | narrow])
        done = solved | at_break | narrow
        self.mu[active] = np.where(done, self.mu[active], nxt)
        return active[~done]

    def probe_breaks(self, active, x, nxt, solved):
        """The break nearest x between x and the next point, inside the bracket: its two sides are
        evaluated first, and the step goes on by Newton from the side next to the root. Returns
        (the next points, whether the root lies between a break's two sides)."""
        at_break = np.zeros(active.size, dtype=bool)
        la, ha = self.lo[active], self.hi[active]
        B = self.breaks[active]
        with np.errstate(invalid="ignore"):
            crossing = ((B >= np.maximum(np.minimum(x, nxt), la)[:, None])
                        & (B <= np.minimum(np.maximum(x, nxt), ha)[:, None]) & ~solved[:, None])
        probe = np.flatnonzero(crossing.any(1))
        if not probe.size:
            return nxt, at_break
        r = active[probe]
        nearest = np.argmin(np.where(crossing[probe], np.abs(B[probe] - x[probe, None]), np.inf), axis=1)
        at = B[probe, nearest]
        offset = _BREAK_OFFSET * np.abs(at) + _BREAK_OFFSET_AT_ZERO
        below, above = at - offset, at + offset
        p_below, slope_below = self.coords(below, r)
        p_above, slope_above = self.coords(above, r)
        g_below, g_above = p_below.sum(1) - self.target[r], p_above.sum(1) - self.target[r]
        self.record(r, below, p_below, g_below)
        self.record(r, above, p_above, g_above)
        at_break[probe] = (self.lo[r] >= below) & (self.hi[r] <= above)
        nxt = nxt.copy()
        with np.errstate(all="ignore"):
            nxt[probe] = np.where(g_below >= 0, below - g_below / slope_below, above - g_above / slope_above)
        la, ha = self.lo[active], self.hi[active]
        nxt = np.where(np.isfinite(nxt) & (nxt > la) & (nxt < ha), nxt, self.midpoint(la, ha))
        return nxt, at_break


def argmax_profiles(loss: Loss, K: int):
    """The two profiles (top, other) of a loss of the form φ_top(p_y) / φ_other(p_y) by whether y is
    the argmax, at K classes, evaluated through the loss itself: ``top(u)`` for the argmax label with
    p_y = u ≥ 1/K (the other classes equal), ``other(u)`` for a non-argmax label with p_y = u ≤ 1/2.
    Both take arrays of u."""

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
    top_phi, other_phi = argmax_profiles(loss, K)
    top = _table(top_phi, 1.0 / K, 1.0, pieces.top, points, "φ_top")
    other = _table(other_phi, 0.0, 0.5, pieces.other, points, "φ_other")
    if np.any(np.diff(other.f[1:]) > MONOTONE_REL * (1.0 + np.abs(other.f[2:]))):
        raise NotPiecewiseConvex("φ_other is not non-increasing, so the ordering argument fails")

    t_idx, k_idx, jt, po, C = _enumerate_patterns(q, top.n_pieces, other.n_pieces)
    qq = np.repeat(q, C, axis=0)
    R = len(t_idx)
    qt = qq[np.arange(R), t_idx]
    qo = np.take_along_axis(qq, k_idx, axis=1)

    lo_k, hi_k = other.bounds[po], other.bounds[po + 1]
    s_lo = np.maximum(top.bounds[jt], lo_k.max(1))
    s_hi = np.minimum(top.bounds[jt + 1], 1.0 - lo_k.sum(1))
    # Σ_k min(hi_k, s) + s >= 1 is needed for the others to absorb 1 − s
    a, b = np.zeros(R), np.ones(R)
    for _ in range(_TOP_BISECTIONS):
        mid = 0.5 * (a + b)
        ok = np.minimum(hi_k, mid[:, None]).sum(1) + mid >= 1.0
        b = np.where(ok, mid, b)
        a = np.where(ok, a, mid)
    s_lo = np.maximum(s_lo, b)
    feasible = s_lo <= s_hi + ROUNDING_REL
    s_hi = np.maximum(s_hi, s_lo)

    q_pos = qo > 0
    safe_qo = np.where(q_pos, qo, 1.0)

    def inner(s, guess):
        """Optimal non-top coordinates for top value s (R,), the surrogate value and
        the multiplier μ (Newton's start: ``guess``)."""
        p, x = _multiplier_solve(other, s, guess, po, lo_k, hi_k, qo, q_pos, safe_qo)
        value = qt * top(s) + np.where(qo > 0, qo * other(p), 0.0).sum(1)
        return p, value, x

    s, p_o, value = _golden_rows(inner, s_lo, s_hi)
    P, residual = _onto_simplex(s, p_o, t_idx, k_idx, K)
    value = np.where(feasible, value, np.inf)
    piece = np.full((R, K), -1)  # each coordinate's piece of φ_other; −1 for the top
    np.put_along_axis(piece, k_idx, po, axis=1)
    return P.reshape(n, C, K), value.reshape(n, C), Patterns(
        count=C, grid=int(other.u.size), max_projection=float(np.abs(np.where(feasible, residual, 0)).max()),
        breaks_top=pieces.top, breaks_other=pieces.other,
        top=t_idx.reshape(n, C), top_piece=jt.reshape(n, C), pieces=piece.reshape(n, C, K))


def _enumerate_patterns(q: np.ndarray, top_pieces: int, other_pieces: int):
    """Every (argmax class t, top piece, monotone assignment of the other classes' pieces) for every
    row of q, flattened to R = n·C rows: (t (R,), the non-top classes in q-descending order (R, K−1),
    the top's piece (R,), the others' pieces (R, K−1), C)."""
    n, K = q.shape
    others = [np.array(c[::-1]) for c in combinations_with_replacement(range(other_pieces), K - 1)]
    patterns = [(jt, po) for jt in range(top_pieces) for po in others]
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
    return (np.stack(rows_t, 1).reshape(-1), np.stack(rows_k, 1).reshape(-1, K - 1),
            np.stack(rows_jt, 1).reshape(-1), np.stack(rows_po, 1).reshape(-1, K - 1), C)


def _golden_rows(inner, s_lo: np.ndarray, s_hi: np.ndarray):
    """Golden section on the convex V(s) of every row at once (:func:`golden_section`, vectorised),
    each point's multiplier starting Newton at its neighbour's; ``inner(s, guess)`` gives (p, V, μ).
    Returns (s, the others' coordinates at s, V(s))."""
    R = len(s_lo)
    a, b = s_lo.copy(), s_hi.copy()
    x1, x2 = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    _, f1, m1 = inner(x1, np.zeros(R))
    _, f2, m2 = inner(x2, m1)
    for _ in range(_GOLDEN_STEPS):
        left = f1 <= f2
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x2n = np.where(left, x1, a + _GOLDEN * (b - a))
        x1n = np.where(left, b - _GOLDEN * (b - a), x2)
        new = np.where(left, x1n, x2n)
        _, fn, mn = inner(new, np.where(left, m1, m2))
        f1, f2 = np.where(left, fn, f2), np.where(left, f1, fn)
        m1, m2 = np.where(left, mn, m2), np.where(left, m1, mn)
        x1, x2 = x1n, x2n
    s = 0.5 * (a + b)
    p_o, value, _ = inner(s, 0.5 * (m1 + m2))
    return s, p_o, value


def _onto_simplex(s: np.ndarray, p_o: np.ndarray, t_idx: np.ndarray, k_idx: np.ndarray, K: int):
    """The candidates (R, K) from the top value s and the others' coordinates, in the argmax region
    of t and on the simplex, and the residual 1 − Σ p the multiplier left."""
    R = len(s)
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
    P[np.arange(R), t_idx] = s + shift + np.maximum(residual, 0.0)
    np.put_along_axis(P, k_idx, p_o, axis=1)
    return P, residual
