"""Certified lower bounds on inf C_q for separable conditional risks (weak Lagrangian duality).

A pointwise or argmax-pointwise loss has, on the argmax region of t,

    C_q(p) = q_t φ_top(p_t) + Σ_{k≠t} q_k φ_other(p_k),   Σ_k p_k = 1,  0 <= p_k <= p_t,

so in that region p_t ∈ [1/K, 1] and p_k ∈ [0, 1/2]. The region enumeration splits each region
further into *patterns*: each coordinate confined to one piece [a_k, b_k] between the breaks of
its profile, where the profile is convex (:mod:`._regions`; by an exchange argument the
monotone patterns it enumerates cover the region's infimum). For any multiplier μ of the sum
and any λ_k >= 0 of the order constraints p_k <= p_t, every point of a pattern satisfies
C_q(p) >= C_q(p) + μ(Σ_k p_k − 1) + Σ_k λ_k (p_k − p_t), whose right-hand side is separable:

    inf over the pattern  >=  min_{s ∈ [a_t, b_t]} [q_t φ_top(s) + (μ − Σλ)s]
                              + Σ_{k≠t} min_{u ∈ [a_k, b_k]} [q_k φ_other(u) + (μ + λ_k)u] − μ.

This holds for *any* μ and λ >= 0 (weak duality), so the bound is valid whatever multipliers are
used; on a pattern the problem is convex, and multipliers read off a near-optimal point by its
KKT conditions make the bound tight (a whole region is not convex where a clamp joins a flat
piece to a steeper one, and its dual can have a gap). Each one-dimensional minimum is bounded
below by a tangent: h(u) >= h(x) + h'(x)(u − x) on a convex piece, so
min h >= h(x) + min(h'(x)(a − x), h'(x)(b − x)), with x the stationary point (Newton from the
reading point, bisection where that does not converge). The minimum over the simplex is the
minimum over patterns, and a found value minus that is a certified bound on the value's error.

What the certificate rests on: the declared convexity of each piece (checked on a grid by the
region enumeration), the derivative φ' (the loss's own sympy path; for losses without one,
central differences, whose relative error is taken as at most DIFFERENCE_RTOL = 1e-5 and
subtracted as |q φ'|·width, which the result's ``derivatives`` entry says), and float64
arithmetic, for which an allowance of 64 ulps of the magnitudes of the terms is added.

A convex separable loss (the KKT method) is the special case of one pattern without order
constraints: p_k ∈ [0, 1] and the single multiplier μ.
"""

from __future__ import annotations

import numpy as np

from theory.minimise._certificates import Patterns
from theory.minimise._polish import Profiles, invert_slope
from theory.minimise._regions import piece_bounds, piece_index
from theory.tolerances import ROUNDING_REL, TIE_REL

__all__ = ["pattern_lower_bounds", "separable_lower_bound"]

_EPS = np.finfo(float).eps
#: the tangent point is kept this fraction of its piece's width inside the piece, so that the
#: derivative is the piece's own (a kink's derivative belongs to neither side); further in where
#: the formula is not finite there (0·log 0, a power of 1 − p rounded to 0)
_INSETS = (1e-13, 1e-10, 1e-7, 1e-4, 1e-2)
#: coordinates below this count as 0 when reading multipliers (searches leave denormal-sized mass)
_ZERO = 1e-200
#: a coordinate within this fraction of its piece's width of the lower end is at that end
_AT_END_REL = 1e-12
_NEWTON_STEPS = 4
#: the relative error allowed for φ' by central differences (losses without a sympy path)
DIFFERENCE_RTOL = 1e-5


def _slope_rtol(prof: Profiles) -> float:
    return 0.0 if prof.exact else DIFFERENCE_RTOL


def _coordinate_lower(f, d, dd, q: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      x0: np.ndarray, slope_rtol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per element: a lower bound on min_{u ∈ [lo, hi]} q·f(u) + c·u for f convex on [lo, hi],
    and the magnitude of the terms it was computed from (for the rounding allowance). The
    tangent point is the stationary point, by Newton from ``x0``; elements with q = 0 have the
    exact minimum min(c·lo, c·hi). ``slope_rtol``: the relative error of φ' (0 for the sympy
    path), by which the tangent is lowered further."""
    q_pos = q > 0
    safe_q = np.where(q_pos, q, 1.0)
    width = hi - lo
    with np.errstate(all="ignore"):
        inside = np.clip(x0, lo + width * _INSETS[0], hi - width * _INSETS[0])
        x = inside
        for _ in range(_NEWTON_STEPS):
            step = x - (d(x) + c / safe_q) / dd(x)
            x = np.where(np.isfinite(step) & (step > lo) & (step < hi), step, x)
        # where Newton did not settle (a far start, a stationary point at an end or below 1e-13),
        # the safeguarded log-space inversion of φ'
        g = q * d(x) + c
        unsettled = q_pos & ~(np.abs(g) * width <= ROUNDING_REL * (1.0 + np.abs(q * f(x))))
        if unsettled.any():
            x = x.copy()
            x[unsettled] = invert_slope(d, -c[unsettled] / safe_q[unsettled], lo[unsettled], hi[unsettled], dd)
        lower = np.full(q.shape, -np.inf)
        size = np.zeros(q.shape)
        for inset in _INSETS:
            xi = np.clip(x, lo + width * inset, hi - width * inset)
            fx = f(xi)
            g = q * d(xi) + c
            tangent = (q * fx + c * xi + np.minimum(g * (lo - xi), g * (hi - xi))
                       - slope_rtol * np.abs(q * d(xi)) * width)
            fill = ~np.isfinite(lower) & np.isfinite(tangent)
            lower = np.where(fill, tangent, lower)
            size = np.where(fill, np.abs(q * fx) + np.abs(c * xi) + np.abs(g) * width, size)
            if np.all(np.isfinite(lower) | ~q_pos):
                break
    exact_zero = np.minimum(c * lo, c * hi)
    return np.where(q_pos, lower, exact_zero), np.where(q_pos, size, np.abs(exact_zero))


def _allowance(*sizes: np.ndarray) -> np.ndarray:
    return 64 * _EPS * sum(sizes)


def separable_lower_bound(prof: Profiles, q: np.ndarray, p: np.ndarray, log_mu: np.ndarray) -> np.ndarray:
    """Lower bounds (n,) on inf over the simplex of Σ_k q_k φ(p_k), φ convex on [0, 1] (the KKT
    method), from the multiplier μ = exp(log_mu) of each row and its solution ``p``, less the
    rounding allowance."""
    mu = np.exp(np.asarray(log_mu, dtype=np.float64))
    c = np.broadcast_to(mu[:, None], q.shape)
    low, size = _coordinate_lower(prof.other, prof.dother, prof.ddother, q, c, np.zeros(q.shape), np.ones(q.shape), p,
                                  _slope_rtol(prof))
    return low.sum(1) - mu - _allowance(size.sum(1), np.abs(mu))


def _median(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per row, the median of the first ``count`` values after sorting (NaN sorts last); NaN for
    rows with none."""
    ordered = np.sort(values, axis=1)
    lo = np.clip((count - 1) // 2, 0, values.shape[1] - 1)
    hi = np.clip(count // 2, 0, values.shape[1] - 1)
    rows = np.arange(len(values))
    return np.where(count > 0, 0.5 * (ordered[rows, lo] + ordered[rows, hi]), np.nan)


def _multipliers(prof: Profiles, q: np.ndarray, p: np.ndarray, t: np.ndarray, lo: np.ndarray, hi: np.ndarray
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Candidate multipliers (μ (n,), λ (n, K)) for patterns of the region of t from a
    near-optimal point p, by its KKT conditions: coordinates inside their piece give
    μ = −q_k φ_other'(p_k) (their median); the top group G (t and the classes tied with it at
    s = p_t) gives μ_G = −(q_t φ_top'(s) + Σ_{G∖t} q_k φ_other'(s))/|G|, with λ_k = −μ − q_k φ_other'(s)
    for the tied k; classes at their piece's lower end give the smallest μ that keeps them there.
    Each set is a valid multiplier; the bound keeps the best."""
    n, K = q.shape
    rows = np.arange(n)
    top_mask = np.eye(K, dtype=bool)[t]
    s = p[rows, t]
    tied = (p >= s[:, None] * (1 - TIE_REL)) & ~top_mask
    at_low = (p <= lo + np.maximum(_ZERO, _AT_END_REL * (hi - lo))) & ~top_mask & ~tied
    free = ~top_mask & ~tied & ~at_low & (p < hi) & (q > 0)
    width = hi - lo
    with np.errstate(all="ignore"):
        slope = q * prof.dother(np.clip(p, lo + width * _INSETS[0], hi - width * _INSETS[0]))
        mu_free = _median(np.where(free, -slope, np.nan), free.sum(1))
        s_in = np.clip(s, 1.0 / K + _INSETS[0], 1.0 - _INSETS[0])
        tied_slope = np.where(tied, q * prof.dother(np.minimum(s, 0.5 * (1 - _INSETS[0])))[:, None], 0.0)
        mu_group = -(q[rows, t] * prof.dtop(s_in) + tied_slope.sum(1)) / (1 + tied.sum(1))
        mu_low = np.max(np.where(at_low, -slope, -np.inf), axis=1)
    out = []
    for mu in (mu_free, mu_group, mu_low):
        mu = np.where(np.isfinite(mu), mu, mu_group)
        mu = np.where(np.isfinite(mu), mu, 0.0)
        lam = np.where(tied, np.maximum(-mu[:, None] - tied_slope, 0.0), 0.0)
        out.append((mu, np.where(np.isfinite(lam), lam, 0.0)))
    return out


def _pattern_bound(prof: Profiles, q: np.ndarray, p: np.ndarray, t: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                   top_lo: np.ndarray, top_hi: np.ndarray) -> np.ndarray:
    """The best of the dual bounds of each row's pattern (top t on [top_lo, top_hi], the others
    on [lo, hi]) over the multiplier sets read off p, less the rounding allowance."""
    n, K = q.shape
    rows = np.arange(n)
    top_mask = np.eye(K, dtype=bool)[t]
    q_top = q[rows, t]
    q_other = np.where(top_mask, 0.0, q)
    best = np.full(n, -np.inf)
    for mu, lam in _multipliers(prof, q, p, t, lo, hi):
        low_t, size_t = _coordinate_lower(prof.top, prof.dtop, prof.ddtop, q_top, mu - lam.sum(1), top_lo, top_hi,
                                          p[rows, t], _slope_rtol(prof))
        low_o, size_o = _coordinate_lower(prof.other, prof.dother, prof.ddother, q_other, mu[:, None] + lam, lo, hi, p,
                                          _slope_rtol(prof))
        low_o = np.where(top_mask, 0.0, low_o)
        size_o = np.where(top_mask, 0.0, size_o)
        best = np.maximum(best, low_t + low_o.sum(1) - mu - _allowance(size_t, size_o.sum(1), np.abs(mu)))
    return best


def pattern_lower_bounds(prof: Profiles, q: np.ndarray, points: np.ndarray, patterns: Patterns, best: np.ndarray
                         ) -> np.ndarray:
    """Lower bounds (n, K) on the infimum of C_q over each argmax region: the least over the
    region's ``patterns`` (from :func:`._regions.region_candidates`) of each pattern's dual
    bound, with multipliers read off the pattern's candidate point ``points`` (n, C, K) and, for
    the patterns holding it, off the polished minimiser ``best`` (n, K): a minimiser that ties
    classes with its top lies in the closure of each tied class's region."""
    n, C, K = points.shape
    b_top = piece_bounds(1.0 / K, 1.0, patterns.breaks_top)
    b_other = piece_bounds(0.0, 0.5, patterns.breaks_other)
    t = patterns.top.reshape(-1)
    piece = patterns.pieces.reshape(-1, K)
    jt = patterns.top_piece.reshape(-1)
    lo = np.where(piece >= 0, b_other[np.maximum(piece, 0)], 0.0)
    hi = np.where(piece >= 0, b_other[np.maximum(piece, 0) + 1], 0.5)
    top_lo, top_hi = b_top[jt], b_top[jt + 1]
    Q = np.repeat(q, C, axis=0)
    bounds = _pattern_bound(prof, Q, points.reshape(-1, K), t, lo, hi, top_lo, top_hi).reshape(n, C)
    # the polished minimiser's own multipliers, on its pattern in the region of each class tied
    # with its top (where that pattern is one of the enumerated)
    piece_of = piece_index(b_other, best)
    top_piece = piece_index(b_top, best)
    at_top = best >= best.max(1, keepdims=True) * (1 - TIE_REL)
    for r in range(K):
        own = np.where(np.arange(K) == r, -1, piece_of)
        match = ((patterns.pieces == own[:, None, :]).all(-1) & (patterns.top == r)
                 & (patterns.top_piece == top_piece[:, r, None]) & at_top[:, r, None])
        hit = np.flatnonzero(match.any(1))
        if hit.size:
            c = np.argmax(match[hit], axis=1)
            flat = hit * C + c
            again = _pattern_bound(prof, q[hit], best[hit], np.full(hit.size, r), lo[flat], hi[flat], top_lo[flat],
                                   top_hi[flat])
            bounds[hit, c] = np.maximum(bounds[hit, c], again)
    return bounds.reshape(n, K, C // K).min(axis=2)
