"""Exact-derivative polish of separable minimisers: the KKT conditions solved to full precision.

Pointwise and argmax-pointwise losses have, on the argmax region of t and with the top group G
(t and the classes tied with it at the common value s) and the free non-top coordinates fixed to
their convex pieces, the optimality conditions

    q_k φ_other'(p_k) = −μ                       for every free k (clipped to its piece),
    q_t φ_top'(s) + Σ_{k∈G∖t} q_k φ_other'(s) = −|G|·μ,
    Σ_k p_k = 1,

with φ' increasing on every piece. Given μ each coordinate is found by bisection on its piece
(in log space where the piece reaches 0, so tiny coordinates keep full *relative* precision,
which is what tells a tie from a strict order at q_k ~ 1e-9), and μ by a bracketed secant on
log μ. The derivatives come from the loss's own sympy path (``sympy.lambdify``), or from central
differences for losses without one.
"""

from __future__ import annotations

import numpy as np

from theory.losses import Loss
from theory.minimise._certificates import Polish, derivatives_note
from theory.minimise._regions import argmax_profiles, piece_bounds, piece_index
from theory.tolerances import ROUNDING_REL, TINY

__all__ = ["Profiles", "invert_slope", "profiles"]

_ITER = 60
#: the K = 2 symbolic profiles must agree with the loss's own at K to this (relative, absolute)
_PROFILE_RTOL, _PROFILE_ATOL = 1e-9, 1e-12
#: φ' by central differences (losses without a sympy path): the step relative to u, and its floor
_FD_STEP, _FD_FLOOR = 1e-6, 1e-8
#: an end of a piece is probed this far inside it (relative): a kink's derivative is not the piece's
_END_PROBE_REL = 1e-12
#: the log-space bracket reaches this far below log hi (e^−700 ≈ 1e-304: every normal positive double)
_LOG_SPAN = 700.0
#: a bracket, a step or a residual this small relative to its scale (two ulps) has converged
_TWO_ULPS = 4e-16
#: root_decreasing's resolution in x
_ROOT_XTOL = 1e-13
#: a Newton step this small (relative) has vanished; the total Σ = 1 is met within _MASS_MET
_NEWTON_SETTLED_REL = 1e-14
_MASS_MET = 1e-9
#: a coordinate is strictly inside its piece when this far (relative) from both ends
_INSIDE_REL = 1e-9
#: a free coordinate has reached the top value s when within this (relative) of it
_AT_TOP_REL = 1e-12
#: where the K = 2 profile of a non-top coordinate is compared with the loss's (down to the small end)
_PROBE_OTHER = np.array([1e-9, 1e-4, 0.01, 0.1, 0.25, 0.4])


class Profiles:
    """φ_top, φ_other and their derivatives, vectorised; ``exact`` when from the sympy path.

    The symbolic profiles are built at K = 2 (an argmax-pointwise loss's φ depends on p_y and
    the argmax only); they are used only where they agree with the loss itself at the requested
    K (a loss that reads K, say, does not), else central differences of the loss at K."""

    def __init__(self, loss: Loss, K: int):
        self.K = K
        self.exact = False
        try:
            self._from_sympy(loss)
            self._agrees_with(loss, K)
            self.exact = True
        except Exception:  # noqa: BLE001  (no usable symbolic path: central differences)
            self._from_differences(loss, K)

    def _agrees_with(self, loss: Loss, K: int) -> None:
        key = (_structure_key(loss), K)
        if key not in _AGREES:
            if len(_AGREES) >= 256:
                _AGREES.pop(next(iter(_AGREES)))
            _AGREES[key] = self._matches(loss, K)
        if not _AGREES[key]:
            raise ValueError(f"the K = 2 symbolic profile differs from the loss at K = {K}")

    def _matches(self, loss: Loss, K: int) -> bool:
        top, other = argmax_profiles(loss, K)
        u_top = np.linspace(1.0 / K, 1.0, 9)[1:-1]
        u_other = _PROBE_OTHER
        return all(np.allclose(mine(u), theirs(u), rtol=_PROFILE_RTOL, atol=_PROFILE_ATOL, equal_nan=True)
                   for mine, theirs, u in ((self.top, top, u_top), (self.other, other, u_other)))

    def _from_sympy(self, loss: Loss) -> None:
        funcs, values = _symbolic_profile(loss)
        bound = [(lambda u, f=f: f(u, *values)) for f in funcs]
        self.f_top, self.f_other, self.d_top, self.d_other, self.dd_top, self.dd_other = bound
        probe = np.array([0.25, 0.5, 0.75])
        for f in (self.f_top, self.f_other, self.d_top, self.d_other, self.dd_top, self.dd_other):
            if not np.all(np.isfinite(np.broadcast_to(f(probe), probe.shape))):
                raise ValueError("the symbolic profile is not finite inside (0, 1)")

    def _from_differences(self, loss: Loss, K: int) -> None:
        top, other = argmax_profiles(loss, K)
        self.f_top, self.f_other = top, other

        def deriv(f):
            def d(u):
                u = np.asarray(u, dtype=np.float64)
                h = _FD_STEP * np.maximum(u, _FD_FLOOR)
                lo, hi = np.maximum(u - h, 0.0), np.minimum(u + h, 1.0)
                return (f(hi) - f(lo)) / (hi - lo)
            return d

        self.d_top, self.d_other = deriv(top), deriv(other)
        self.dd_top, self.dd_other = deriv(self.d_top), deriv(self.d_other)

    def top(self, u):
        return np.broadcast_to(self.f_top(np.asarray(u, dtype=np.float64)), np.shape(u))

    def other(self, u):
        return np.broadcast_to(self.f_other(np.asarray(u, dtype=np.float64)), np.shape(u))

    def dtop(self, u):
        return np.broadcast_to(self.d_top(np.asarray(u, dtype=np.float64)), np.shape(u))

    def dother(self, u):
        return np.broadcast_to(self.d_other(np.asarray(u, dtype=np.float64)), np.shape(u))

    def ddtop(self, u):
        return np.broadcast_to(self.dd_top(np.asarray(u, dtype=np.float64)), np.shape(u))

    def ddother(self, u):
        return np.broadcast_to(self.dd_other(np.asarray(u, dtype=np.float64)), np.shape(u))


def _symbolic_profile(loss: Loss):
    """φ_top, φ_other and their first and second derivatives as numpy functions f(u, *values), and
    the loss's parameter ``values``. The sympy work (expression, derivatives, lambdify) is done
    once per *template*, the loss with its numeric parameters made symbols, so the losses of an
    m-sweep share it; a loss whose formula branches on a parameter's value is built concretely."""
    try:
        template, values = _template(loss)
        return _lambdified(template), values
    except Exception:  # noqa: BLE001  (a formula that needs its numbers: build this loss alone)
        return _lambdified(loss), ()


#: lambdified templates by their structure (node types, names, formulas, parameter names); the
#: key holds the formula functions themselves, so a key never matches another function's profile
_TEMPLATES: dict[tuple, tuple] = {}
#: whether a loss's K = 2 symbolic profile agrees with the loss at K, by (structure key, K)
_AGREES: dict[tuple, bool] = {}


def _structure_key(loss: Loss) -> tuple:
    return tuple((type(n), n.name, n.input, repr(n.params), getattr(n, "fn", None)) for n in loss.walk())


def _lambdified(loss: Loss):
    key = _structure_key(loss)
    if key not in _TEMPLATES:
        if len(_TEMPLATES) >= 64:
            _TEMPLATES.pop(next(iter(_TEMPLATES)))
        _TEMPLATES[key] = _build(loss)
    return _TEMPLATES[key]


def _build(loss: Loss):
    import sympy as sp

    u = sp.Symbol("u", positive=True)
    params = sorted((x for x in _free_params(loss)), key=lambda x: x.name)
    top = loss.sympy(2, y=0, t=0, symbols=[u, 1 - u])
    other = loss.sympy(2, y=1, t=0, symbols=[1 - u, u])
    mods = [{"Heaviside": lambda x, h=0.5: np.heaviside(x, h)}, "numpy"]

    def smooth(e):  # the kinks of clamps give DiracDelta terms: the derivative away from them is wanted
        return e.replace(lambda x: isinstance(x, sp.DiracDelta), lambda x: sp.Integer(0))

    exprs = [top, other, sp.diff(top, u), sp.diff(other, u), smooth(sp.diff(top, u, 2)), smooth(sp.diff(other, u, 2))]
    return tuple(sp.lambdify([u, *params], e, mods) for e in exprs)


def _free_params(loss: Loss):
    import sympy as sp

    for w in loss.walk():
        for v in w.params.values():
            if isinstance(v, sp.Symbol):
                yield v
        for w_, _ in getattr(w, "terms", ()):
            if isinstance(w_, sp.Symbol):
                yield w_


def _template(loss: Loss) -> tuple[Loss, tuple[float, ...]]:
    """The loss with every float parameter and weight replaced by a symbol θ_i, and their values
    in the order of the symbols' names."""
    import dataclasses

    import sympy as sp

    values: list[float] = []

    def symbol(v):
        # a symbol carries the value's sign (sympy simplifies with it; 0 stays a number, as a
        # clamp of 0 changes the formula's shape), and its name says which, for the cache key
        if isinstance(v, float) and not isinstance(v, bool) and np.isfinite(v) and v != 0:
            values.append(v)
            sign = "pos" if v > 0 else "neg"
            return sp.Symbol(f"theta_{len(values) - 1:03d}_{sign}", positive=v > 0, negative=v < 0)
        return v

    def rebuild(node: Loss) -> Loss:
        changes = {}
        if node.params:
            changes["params"] = {k: symbol(v) for k, v in node.params.items()}
        for attr in ("inner", "base"):
            sub = getattr(node, attr, None)
            if isinstance(sub, Loss):
                changes[attr] = rebuild(sub)
        if getattr(node, "terms", ()):
            changes["terms"] = tuple((symbol(float(w)), rebuild(sub)) for w, sub in node.terms)
        return dataclasses.replace(node, **changes)

    return rebuild(loss), tuple(values)


def profiles(loss: Loss, K: int) -> Profiles:
    """The profiles of ``loss`` for K classes (the symbolic work is cached per template, see
    :func:`_symbolic_profile`)."""
    return Profiles(loss, K)


def invert_slope(d, target: np.ndarray, lo: np.ndarray, hi: np.ndarray, dd=None) -> np.ndarray:
    """Per element, the u in [lo, hi] with d(u) = target for an increasing d (clipped to the ends).

    Safeguarded Newton (with ``dd`` = d', else bisection) in log space where lo is 0, so tiny u
    keep full relative precision; stops when every bracket or step is below two ulps (_TWO_ULPS) relative."""
    target = np.asarray(target, dtype=np.float64)
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), target.shape).copy()
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), target.shape).copy()
    with np.errstate(all="ignore"):
        # one-sided at the ends, from inside the piece (a kink's derivative is not the piece's)
        at_hi = d(hi * (1 - _END_PROBE_REL)) <= target
        at_lo = d(np.maximum(lo * (1 + _END_PROBE_REL), TINY)) >= target
        log = lo <= 0
        a = np.where(log, np.log(np.maximum(hi, TINY)) - _LOG_SPAN, lo)
        b = np.where(log, np.log(np.maximum(hi, TINY)), hi)
        x = 0.5 * (a + b)
        done = at_hi | at_lo
        for it in range(4 * _ITER):
            u = np.where(log, np.exp(x), x)
            g = d(u) - target
            a = np.where(g < 0, x, a)
            b = np.where(g < 0, b, x)
            if dd is not None and it >= 12:  # bisection first, to enter Newton's quadratic basin
                slope = dd(u) * np.where(log, u, 1.0)
                step = x - g / np.where(slope > 0, slope, np.nan)
                inside = np.isfinite(step) & (step > a) & (step < b)
                new = np.where(inside, step, 0.5 * (a + b))
            else:
                new = 0.5 * (a + b)
            scale = np.maximum(1.0, np.abs(x))
            done = done | (g == 0) | (np.abs(new - x) <= _TWO_ULPS * scale) | (b - a <= _TWO_ULPS * scale)
            x = np.where(done, x, new)
            if np.all(done):
                break
        u = np.where(log, np.exp(x), x)
    u = np.where(at_hi, hi, np.where(at_lo, np.where(log, 0.0, lo), u))
    return np.clip(u, np.where(log, 0.0, lo), hi)


def root_decreasing(F, n: int, lo: float = -80.0, hi: float = 80.0, *, dF=None,
                    x0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the root of a decreasing function in [lo, hi]: ``F(x, rows)`` evaluates it for
    the rows ``rows`` (an index array) at x (len(rows),), so that rows already solved cost
    nothing. Safeguarded Newton when ``dF`` (same signature) is given (from ``x0``); where a
    Newton step leaves the bracket (F' understated where coordinates sit at the ends of their
    pieces, F with flat pieces and jumps), regula falsi with the Illinois rule (the end kept twice
    has its value halved), and bisection every third such step, so the bracket always shrinks.
    Returns (root, bracketed), to 1e-13 in x."""
    every = np.arange(n)
    a, b = np.full(n, lo), np.full(n, hi)
    fa, fb = F(a, every), F(b, every)
    ok = (fa >= 0) & (fb <= 0)
    x = np.clip(x0, lo, hi).astype(np.float64) if (x0 is not None and dF is not None) else 0.5 * (a + b)
    done = ~ok
    kept = np.zeros(n)  # +k: the left end was moved k times in a row; −k: the right end
    fallbacks = np.zeros(n, dtype=np.int64)
    for _ in range(int(np.ceil(np.log2((hi - lo) / _ROOT_XTOL))) + 8):
        idx = np.flatnonzero(~done)
        if idx.size == 0:
            break
        xi, ai, bi, fai, fbi = x[idx], a[idx], b[idx], fa[idx], fb[idx]
        fx = F(xi, idx)
        right = fx > 0  # the root is to the right of x
        ai, fai = np.where(right, xi, ai), np.where(right, fx, fai)
        bi, fbi = np.where(right, bi, xi), np.where(right, fbi, fx)
        streak = np.where(right, np.maximum(kept[idx], 0) + 1, np.minimum(kept[idx], 0) - 1)
        fbi = np.where(streak >= 2, 0.5 * fbi, fbi)  # Illinois: the stale end's value is halved
        fai = np.where(streak <= -2, 0.5 * fai, fai)
        stop = (np.abs(fx) <= _TWO_ULPS) | (bi - ai <= _ROOT_XTOL)
        with np.errstate(all="ignore"):
            falsi = ai + fai * (bi - ai) / (fai - fbi)
        falsi_ok = np.isfinite(falsi) & (falsi > ai) & (falsi < bi) & (fallbacks[idx] % 3 != 2)
        fallback = np.where(falsi_ok, falsi, 0.5 * (ai + bi))
        if dF is not None:
            with np.errstate(all="ignore"):
                step = xi - fx / dF(xi, idx)
            inside = np.isfinite(step) & (step > ai) & (step < bi)
            new = np.where(inside, step, fallback)
            # a vanishing Newton step ends the search where the total is met (not at a jump, where
            # F' is huge but F is not small): to 1e-9, as an ill-conditioned coordinate (a top
            # profile of slope ~1/(1+m)) leaves F a rounding floor far above 1e-13, and the
            # callers' values are second order in the residual (and their errors are stated)
            stop = stop | (inside & (np.abs(step - xi) <= _NEWTON_SETTLED_REL * np.maximum(1.0, np.abs(xi)))
                           & (np.abs(fx) <= _MASS_MET))
        else:
            inside = np.zeros(idx.size, dtype=bool)
            new = fallback
        fallbacks[idx] += ~inside
        a[idx], b[idx], fa[idx], fb[idx], kept[idx] = ai, bi, fai, fbi, streak
        x[idx] = np.where(stop, xi, new)
        done[idx] = stop
    return x, ok


def polish(loss: Loss, q: np.ndarray, P: np.ndarray, breaks_top: tuple[float, ...], breaks_other: tuple[float, ...],
           ) -> tuple[np.ndarray, Polish]:
    """Refine minimisers P (n, K) of a pointwise / argmax-pointwise loss on their KKT conditions
    (see the module docstring), keeping each row's argmax region and each coordinate's convex
    piece. Ties with the top are found, not inherited: the top group starts as {t} and a class
    joins it only when its own solution would exceed the top (an active-set loop), so a tie of
    the grid solution that the exact conditions do not support is undone. Rows whose value would
    not improve are returned unchanged. Returns (P, what was polished)."""
    polisher = _Polisher(loss, q, P, breaks_top, breaks_other)
    group, u, s, ok = polisher.active_set()
    return polisher.assemble(group, u, s, ok)


class _Polisher:
    """What the steps of one :func:`polish` share: the candidates P, their argmax t and top value
    s₀, each coordinate's convex piece and the top's, and Newton's start for the multiplier."""

    def __init__(self, loss: Loss, q: np.ndarray, P: np.ndarray, breaks_top: tuple[float, ...],
                 breaks_other: tuple[float, ...]):
        n, K = P.shape
        self.loss, self.q, self.P, self.n, self.K = loss, q, P, n, K
        self.prof = profiles(loss, K)
        self.rows = np.arange(n)
        self.eye = np.eye(K, dtype=bool)
        self.t = np.argmax(P, axis=1)
        self.s0 = P[self.rows, self.t]
        self.b_other = piece_bounds(0.0, 0.5, breaks_other)
        # a coordinate exactly at a break solves on the piece above it (its solution clips to the
        # break when it wants to go lower): breaks are not fixed, the exact conditions decide
        self.at_break = np.zeros((n, K), dtype=bool)
        idx = piece_index(self.b_other, P)
        self.lo_k, self.hi_k = self.b_other[idx], self.b_other[idx + 1]
        b_top = piece_bounds(1.0 / K, 1.0, breaks_top)
        jt = piece_index(b_top, self.s0)
        self.s_lo0, self.s_hi0 = b_top[jt], b_top[jt + 1]
        self.fixed_mass = np.where(self.at_break, P, 0.0).sum(1)
        self.q_top = q[self.rows, self.t]
        self.safe_q = np.where(q > 0, q, 1.0)
        self.guess = self._multiplier_guess()

    def _multiplier_guess(self) -> np.ndarray:
        """Newton's start for log μ: μ = −q_k φ_other'(p_k) at the candidate's coordinates strictly
        inside their pieces (their median), else μ = −q_t φ_top'(s) (often far off: an ε-loss's top
        profile has slope ~1/(1+m) and its s sits at a piece's end)."""
        P, q, prof = self.P, self.q, self.prof
        with np.errstate(all="ignore"):
            inside = (P > self.lo_k * (1 + _INSIDE_REL)) & (P < self.hi_k * (1 - _INSIDE_REL)) & (q > 0) & ~self.eye[self.t]
            mu_k = np.where(inside, -q * prof.dother(np.where(inside, P, 0.25)), np.nan)
            log_mu = np.log(np.where(mu_k > 0, mu_k, np.nan))
            some = np.isfinite(log_mu).any(1)  # np.nanmedian warns on a row without any
            from_others = np.full(self.n, np.nan)
            from_others[some] = np.nanmedian(log_mu[some], axis=1)
            from_top = np.log(np.maximum(-self.q_top * prof.dtop(np.clip(self.s0, self.s_lo0, self.s_hi0)), TINY))
        return np.where(np.isfinite(from_others), from_others, from_top)

    def active_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(the top groups G, the free coordinates u, the top value s, solved) from G = {t}, one class
        per row joining G while its own solution would exceed the top (at most K rounds)."""
        n, K, q = self.n, self.K, self.q
        group = self.eye[self.t].copy()
        u, s, ok = np.zeros((n, K)), np.zeros(n), np.zeros(n, dtype=bool)
        active = self.rows  # rows whose group changed since their last solve
        for _ in range(K):
            u[active], s[active], ok[active] = self.solve_for(group, active)
            free = ~group[active] & ~self.at_break[active]
            qa = q[active]
            over = free & (qa > 0) & (u[active] >= s[active, None] * (1 - _AT_TOP_REL))
            # no root (the total jumps over 1): a coordinate held at the cap 1/2 of the non-top
            # coordinates wants more mass than it may have outside the top group
            residual = u[active].sum(1) + group[active].sum(1) * s[active] + self.fixed_mass[active] - 1.0
            stuck = (np.abs(residual) > _MASS_MET)[:, None] & free & (qa > 0) & (u[active] >= 0.5 * (1 - _AT_TOP_REL))
            over |= stuck
            join = over.any(1)
            if not join.any():
                break
            # one class per row joins, the violator of largest q: minimisers order the non-top
            # classes like q, so it belongs to the final group, while the others may only violate
            # because the group is still too small (adding them all at once ties classes the exact
            # conditions keep below the top)
            first = np.argmax(np.where(over, qa, -np.inf), axis=1)
            group[active[join], first[join]] = True
            active = active[join]
        return group, u, s, ok

    def solve_for(self, group: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, s, ok) of the rows ``active`` (an index array) with the top groups ``group``."""
        q, prof, t, eye = self.q, self.prof, self.t, self.eye
        lo_k, hi_k, safe_q, q_top = self.lo_k, self.hi_k, self.safe_q, self.q_top
        free = ~group & ~self.at_break
        n_group = group.sum(1)
        q_tied = np.where(group & ~eye[t], q, 0.0)
        s_lo, s_hi = self.s_lo0.copy(), self.s_hi0.copy()
        tied_any = (group & ~eye[t]).any(1)
        for b in self.b_other[1:-1]:  # the tied classes' pieces bound s too
            s_lo = np.where(tied_any & (b <= self.s0), np.maximum(s_lo, b), s_lo)
            s_hi = np.where(tied_any & (b > self.s0), np.minimum(s_hi, b), s_hi)

        last: dict = {}  # the last multiplier and its solution: root finding asks F and F' at the same μ

        def solve(mu, r):
            """(u, s) for the rows r at multipliers mu (len(r),)."""
            key = (mu.tobytes(), r.tobytes())
            if last.get("key") == key:
                return last["u"], last["s"]
            u = invert_slope(prof.dother, -mu[:, None] / safe_q[r], lo_k[r], hi_k[r], prof.ddother)
            u = np.where(free[r] & (q[r] > 0), u, 0.0)
            qt, qg, ng = q_top[r], q_tied[r], n_group[r]

            def gslope(x):
                return (qt * prof.dtop(x) + (qg * prof.dother(x[:, None])).sum(1)) / ng

            def gcurve(x):
                return (qt * prof.ddtop(x) + (qg * prof.ddother(x[:, None])).sum(1)) / ng

            s = invert_slope(gslope, -mu, s_lo[r], s_hi[r], gcurve)
            last.update(key=key, u=u, s=s)
            return u, s

        def total(log_mu, r):
            u, s = solve(np.exp(log_mu), r)
            return u.sum(1) + n_group[r] * s + self.fixed_mass[r] - 1.0

        def slope(log_mu, r):  # dΣ/dlog μ = −μ (Σ_free 1/(q_k φ''(u_k)) + |G|²/Σ_G q φ''(s)), interior terms
            mu = np.exp(log_mu)
            u, s = solve(mu, r)
            with np.errstate(all="ignore"):
                inner = (u > lo_k[r]) & (u < hi_k[r]) & free[r] & (q[r] > 0)
                du = np.where(inner, -1.0 / (safe_q[r] * prof.ddother(np.maximum(u, TINY))), 0.0).sum(1)
                curve = (q_top[r] * prof.ddtop(s) + (q_tied[r] * prof.ddother(s[:, None])).sum(1)) / n_group[r]
                ds = np.where((s > s_lo[r]) & (s < s_hi[r]), -1.0 / curve, 0.0)
            return mu * (du + n_group[r] * ds)

        log_mu, ok = root_decreasing(lambda x, r: total(x, active[r]), len(active),
                                     dF=lambda x, r: slope(x, active[r]), x0=self.guess[active])
        u, s = solve(np.exp(log_mu), active)
        return u, s, ok

    def assemble(self, group: np.ndarray, u: np.ndarray, s: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, Polish]:
        """The polished points, kept only where feasible (in the argmax region of t, on the simplex)
        and no worse than the candidates; the rest are the candidates unchanged."""
        P, q, t, rows, K = self.P, self.q, self.t, self.rows, self.K
        free = ~group & ~self.at_break
        new = np.where(free, u, np.where(self.at_break, P, 0.0))
        new = np.where(group, s[:, None], new)
        # a tied class of lower index would take the argmax (first index wins): keep it a few ulps
        # below the top, as the region enumeration does, and give the difference to the top
        # the sum's residual (the multiplier's bracket) is shared by the top group, which stays tied
        residual = new.sum(1) - 1.0
        new = np.where(group, new - (residual / group.sum(1))[:, None], new)
        low_tied = group & (np.arange(K)[None, :] < t[:, None])
        top_value = new[rows, t].copy()
        new = np.where(low_tied, top_value[:, None] * (1 - 8 * np.finfo(float).eps), new)
        new[rows, t] += 1.0 - new.sum(1)  # the ulps of the shift go to the top, which stays the argmax
        feasible = ok & (new >= 0).all(1) & (np.argmax(new, axis=1) == t)
        from theory.minimise._risk import conditional_risk

        before = conditional_risk(self.loss, P, q)
        after = conditional_risk(self.loss, new, q)
        better = feasible & (after <= before + ROUNDING_REL * np.maximum(1.0, np.abs(before)))
        out = np.where(better[:, None], new, P)
        return out, Polish(polished=better, residual=float(np.abs(residual[better]).max(initial=0.0)),
                           derivatives=derivatives_note(self.prof.exact))
