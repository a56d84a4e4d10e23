"""Global minimisers of the conditional risk C_q(p) = Σ_k q_k L(p, k) over the simplex.

Vectorised over many posteriors ``q`` (n, K). How global optimality is established depends on
the loss's declared structure (see :mod:`theory.losses._core`):

``closed form``          exact: the loss provides its minimiser (CE, MSE: p* = q; RCE).
``vertex enumeration``   exact: a pointwise loss φ(p_y) with φ concave (or linear) makes C_q
                         concave, and a concave function on a polytope attains its minimum at a
                         vertex; all K vertices are evaluated.
``KKT bisection``        exact to the bisection tolerance: a pointwise loss with φ convex makes
                         C_q convex and separable; the KKT conditions q_k φ'(p_k) = μ (p_k > 0),
                         q_k φ'(0) >= μ (p_k = 0) are solved by bisection on μ.
``multi-start search``   not certified: pairwise mass-transfer descent with a geometric line
                         search, from vertices, face centroids of top-j sets of q, q itself,
                         tempered q and random Dirichlet points. The certificate records how many
                         starts reached the best value. Used for every other loss (ε-losses,
                         NCE, NFL, MSE-like couplings, user losses).

Losses defined on logits are minimised over logits in a box with multi-start L-BFGS-B.

The test-suite compares every method with brute force on a fine grid of the simplex for K = 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory._validation import check_probs
from theory.losses._core import Atom, Loss, Named

__all__ = ["Minimum", "conditional_risk", "minimise_conditional_risk"]


@dataclass(frozen=True)
class Minimum:
    """Result: minimiser ``p`` (n, K), its conditional risk ``value`` (n,), the method, whether
    the method is exact, and method-specific evidence in ``certificate``."""

    p: np.ndarray
    value: np.ndarray
    method: str
    exact: bool
    certificate: dict[str, Any] = field(default_factory=dict)
    logits: np.ndarray | None = None


def conditional_risk(loss: Loss, p: np.ndarray, q: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """C_q(p) = Σ_k q_k L(p, k) for rows of ``p`` and ``q`` (..., K); terms with q_k = 0 count 0.

    ``logits=True`` means ``p`` holds logits (for losses with ``input == "logits"``).
    """
    K = q.shape[-1]
    batch = p.shape[:-1]
    rep = np.broadcast_to(p[..., None, :], batch + (K, K))
    labels = np.broadcast_to(np.arange(K), batch + (K,))
    if logits or loss.input == "logits":
        values = loss.from_logits(rep, labels, validate=False)
    else:
        values = loss(rep, labels, validate=False)
    with np.errstate(invalid="ignore"):
        terms = np.where(q > 0, q * values, 0.0)
    out = terms.sum(axis=-1)
    return np.where(np.isnan(out), np.inf, out)


def _base(loss: Loss) -> Loss:
    while isinstance(loss, Named):
        loss = loss.inner
    return loss


def minimise_conditional_risk(
    loss: Loss,
    q: Any,
    *,
    method: str = "auto",
    seed: int = 0,
    n_random: int = 8,
    iterations: int = 400,
) -> Minimum:
    """Global minimiser of C_q over the simplex for every row of ``q`` (n, K).

    ``method`` is "auto" (the exact method the loss's structure allows, else multi-start),
    or one of "closed_form", "vertices", "kkt", "multistart" to force one (a forced exact method
    raises ValueError when the loss does not meet its assumptions).
    """
    q = check_probs(q, "q")
    squeeze = q.ndim == 1
    q2 = np.atleast_2d(q)
    if q2.ndim != 2:
        raise ValueError(f"q must have shape (n, K) or (K,), got {q.shape}")
    base = _base(loss)
    pointwise = loss.structure == "pointwise"
    curve = loss.curvature if pointwise else None
    available = {
        "closed_form": isinstance(base, Atom) and base.bayes is not None,
        "vertices": pointwise and curve in ("linear", "concave"),
        "kkt": pointwise and curve == "convex",
        "multistart": True,
    }
    if method == "auto":
        method = next(m for m in ("closed_form", "vertices", "kkt", "multistart") if available[m])
    elif method not in available:
        raise ValueError(f"method must be 'auto' or one of {sorted(available)}, got {method!r}")
    elif not available[method]:
        raise ValueError(
            f"method {method!r} does not apply to {loss.name} (structure {loss.structure}, "
            f"curvature {loss.curvature})"
        )
    if loss.input == "logits":
        result = _logit_multistart(loss, q2, seed=seed)
    elif method == "closed_form":
        p = base.bayes(q2, **base.params)
        result = Minimum(p, conditional_risk(loss, p, q2), "closed form", True, {})
    elif method == "vertices":
        result = _vertices(loss, q2)
    elif method == "kkt":
        result = _kkt(loss, q2)
    else:
        result = _multistart(loss, q2, seed=seed, n_random=n_random, iterations=iterations)
    if squeeze:
        return Minimum(result.p[0], result.value[0], result.method, result.exact, result.certificate,
                       None if result.logits is None else result.logits[0])
    return result


# ----------------------------------------------------------------------------------------------


def _vertices(loss: Loss, q: np.ndarray) -> Minimum:
    K = q.shape[1]
    eye = np.eye(K)
    values = np.stack([conditional_risk(loss, np.broadcast_to(eye[j], q.shape), q) for j in range(K)], axis=1)
    best = np.argmin(values, axis=1)
    return Minimum(eye[best], values[np.arange(len(q)), best], "vertex enumeration", True,
                   {"vertex_values": values})


def _phi(loss: Loss, K: int):
    """φ(u) of a pointwise loss, evaluated through the loss itself at p = (u, rest uniform)."""

    def phi(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        p = np.empty(u.shape + (K,))
        p[..., 0] = u
        p[..., 1:] = ((1 - u) / (K - 1))[..., None]
        return loss(p, np.zeros(u.shape, dtype=np.int64), validate=False)

    return phi


def _kkt(loss: Loss, q: np.ndarray, *, tol: float = 1e-13) -> Minimum:
    n, K = q.shape
    phi = _phi(loss, K)

    def dphi(u):
        h = 1e-6 * np.maximum(u, 1e-6)
        lo, hi = np.maximum(u - h, 0.0), np.minimum(u + h, 1.0)
        return (phi(hi) - phi(lo)) / (hi - lo)

    u_lo, u_hi = 1e-12, 1.0
    d_lo, d_hi = dphi(np.array(u_lo)), dphi(np.array(u_hi))

    def p_of(mu: np.ndarray) -> np.ndarray:
        # per coordinate: smallest u in [0,1] with q_k φ'(u) >= mu (φ' nondecreasing)
        lo = np.zeros((n, K))
        hi = np.ones((n, K))
        qk = np.where(q > 0, q, 1.0)
        target = mu[:, None] / qk
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = dphi(np.clip(mid, u_lo, u_hi)) < target
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        u = 0.5 * (lo + hi)
        u = np.where(target <= d_lo, 0.0, u)
        u = np.where(target >= d_hi, 1.0, u)
        return np.where(q > 0, u, 0.0)

    mu_lo = np.where(np.isfinite(d_lo), q.max(1) * d_lo - 1.0, -1e12)
    mu_hi = np.maximum(q.max(1) * d_hi, 0.0) + 1.0
    for _ in range(200):
        mu = 0.5 * (mu_lo + mu_hi)
        s = p_of(mu).sum(1)
        mu_lo = np.where(s < 1, mu, mu_lo)
        mu_hi = np.where(s < 1, mu_hi, mu)
        if np.all(mu_hi - mu_lo <= tol * np.maximum(1.0, np.abs(mu))):
            break
    p = p_of(mu_hi)  # the upper end of the bracket always has Σ p >= 1
    p = p / p.sum(1, keepdims=True)
    return Minimum(p, conditional_risk(loss, p, q), "KKT bisection (convex separable)", True,
                   {"multiplier": 0.5 * (mu_lo + mu_hi), "bracket": mu_hi - mu_lo})


def _starts(q: np.ndarray, rng: np.random.Generator, n_random: int) -> np.ndarray:
    """Starting points per row of q: (n, S, K)."""
    n, K = q.shape
    order = np.argsort(-q, axis=1)
    starts = [np.broadcast_to(np.eye(K), (n, K, K))]
    faces = np.zeros((n, K, K))
    for j in range(1, K + 1):
        rows = np.arange(n)[:, None]
        faces[rows, j - 1, order[:, :j]] = 1.0 / j
    starts.append(faces)
    tempered = [q]
    for power in (0.5, 2.0, 4.0):
        t = q ** power
        tempered.append(t / t.sum(1, keepdims=True))
    starts.append(np.stack(tempered, axis=1))
    if n_random:
        starts.append(rng.dirichlet(np.ones(K), size=(n, n_random)))
    return np.concatenate(starts, axis=1)


def _candidates(P: np.ndarray, g: np.ndarray, eye: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Points reached by moving mass along three kinds of direction, each with a geometric
    ladder of amounts (B, C, K):

    1. pairwise: from the support coordinate with the largest slope to the vertex with the
       smallest;
    2. into the tie group: from that coordinate to the coordinates tied at the maximum (split
       equally, so ties are kept: ε-losses have minimisers on ties between top classes);
    3. out of the tie group: from the whole group (equally) to the best vertex outside it;
    4. pairwise moves from the first coordinate to every vertex.
    """
    B, K = P.shape
    rows = np.arange(B)
    group = P >= P.max(1, keepdims=True) - 1e-15
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
    for k in range(K):
        cands.append(P[:, None, :] + amount[..., None] * (eye[k] - eye[away])[:, None, :])
    return np.clip(np.concatenate(cands, axis=1), 0.0, None)


def _multistart(loss: Loss, q: np.ndarray, *, seed: int, n_random: int, iterations: int,
                rtol: float = 1e-12) -> Minimum:
    n, K = q.shape
    rng = np.random.default_rng(seed)
    P = _starts(q, rng, n_random)
    S = P.shape[1]
    Q = np.broadcast_to(q[:, None, :], P.shape).reshape(-1, K)
    P = P.reshape(-1, K).copy()
    f = conditional_risk(loss, P, Q)
    h = 1e-7
    eye = np.eye(K)
    steps = 2.0 ** -np.arange(0, 40)
    active = np.ones(len(P), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        _descend(loss, P, Q, f, active, iterations, h, eye, steps, rtol, K)
    f = f.reshape(n, S)
    P = P.reshape(n, S, K)
    best = np.argmin(f, axis=1)
    value = f[np.arange(n), best]
    agree = (f <= value[:, None] + 1e-9 * np.maximum(1.0, np.abs(value[:, None]))).sum(1)
    return Minimum(P[np.arange(n), best], value, "multi-start pairwise search", False,
                   {"starts": S, "starts_at_best": agree, "seed": seed, "iterations": iterations})


def _descend(loss, P, Q, f, active, iterations, h, eye, steps, rtol, K) -> None:
    """Descent in place on the rows of P (values f) until no candidate improves."""
    for _ in range(iterations):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        Pa, Qa, fa = P[idx], Q[idx], f[idx]
        # directional slopes towards each vertex
        moved = Pa[:, None, :] + h * (eye[None] - Pa[:, None, :])
        g = (conditional_risk(loss, moved.reshape(-1, K), np.repeat(Qa, K, 0)).reshape(-1, K) - fa[:, None]) / h
        g = np.where(np.isfinite(g), g, np.inf)
        cand = _candidates(Pa, g, eye, steps)
        n_c = cand.shape[1]
        fc = conditional_risk(loss, cand.reshape(-1, K), np.repeat(Qa, n_c, 0)).reshape(-1, n_c)
        best = np.argmin(fc, axis=1)
        fb = fc[np.arange(len(idx)), best]
        improve = fb < fa - rtol * np.maximum(1.0, np.abs(fa))
        P[idx[improve]] = cand[np.arange(len(idx))[improve], best[improve]]
        f[idx[improve]] = fb[improve]
        active[idx[~improve]] = False


def _logit_multistart(loss: Loss, q: np.ndarray, *, seed: int, box: float = 30.0, n_random: int = 4) -> Minimum:
    from scipy.optimize import minimize

    n, K = q.shape
    rng = np.random.default_rng(seed)
    Z = np.zeros((n, K))
    values = np.zeros(n)
    for i in range(n):
        starts = [np.zeros(K), np.log(np.maximum(q[i], 1e-12)), 5 * np.eye(K)[np.argmax(q[i])]]
        starts += list(rng.normal(scale=2.0, size=(n_random, K)))
        best = (np.inf, None)
        for z0 in starts:
            res = minimize(lambda z, qi=q[i]: float(conditional_risk(loss, z[None], qi[None], logits=True)[0]),
                           np.clip(z0, -box, box), method="L-BFGS-B", bounds=[(-box, box)] * K)
            if res.fun < best[0]:
                best = (res.fun, res.x)
        values[i], Z[i] = best
    e = np.exp(Z - Z.max(1, keepdims=True))
    return Minimum(e / e.sum(1, keepdims=True), values, "multi-start L-BFGS-B over logits", False,
                   {"box": box, "starts": 3 + n_random, "seed": seed}, logits=Z)
