"""Global minimisers of the conditional risk C_q(p) = Σ_k q_k L(p, k) over the simplex.

Vectorised over many posteriors ``q`` (n, K). How global optimality is established depends on
the loss's declared structure (see :mod:`theory.losses._core`); ``Minimum.method`` says which:

``closed form``           exact: the loss provides its minimiser (CE, MSE: p* = q; RCE).
``vertex enumeration``    exact: a pointwise loss φ(p_y) with φ concave (or linear) makes C_q
                          concave, and a concave function on a polytope attains its minimum at
                          a vertex; all K vertices are evaluated.
``KKT bisection``         exact to the bisection tolerance: a pointwise loss with φ convex makes
                          C_q convex and separable; the KKT conditions q_k φ'(p_k) = μ (p_k > 0),
                          q_k φ'(0) >= μ (p_k = 0) are solved by bisection on μ.
``region enumeration``    exact up to a grid interpolation error of second order: pointwise and
                          argmax-pointwise losses that are convex between declared breaks (the
                          ε-losses, GCE with its clamp); every argmax region and monotone piece
                          pattern is a convex sub-problem (:mod:`._regions`).
``boundary enumeration``  losses α·N + rest with N normalised (NCE, NFL and their sums): the
                          infimum may lie on the boundary, where N is 0/0; boundary limits and
                          an interior search are compared with the lower bound α min q + inf rest,
                          exact when it is met and otherwise with a certified gap
                          (:mod:`._normalised`).
``multi-start search``    not certified: pairwise mass-transfer descent from many starts
                          (:mod:`._search`); every other loss (MSE-like couplings, user losses).

Losses defined on logits are minimised over logits in a box with multi-start L-BFGS-B (not
certified).

Risks need the loss vector (L(p*, k))_k of the minimiser, which ``Minimum.losses`` holds: where
the minimiser is a boundary limit (normalised losses) it is the limit along the stated path,
while the loss at p* itself is undefined. The test-suite compares every method with brute force
on a fine grid of the 2-simplex.

Values are attained values: on a tie between p_t and p_k with k < t the argmax is k (the
first-index convention of :func:`theory.eps_softmax`), so an infimum approached only through
such a tie from region t is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory._validation import check_probs
from theory.losses._core import Atom, Loss, Named, WeightedSum
from theory.minimise._normalised import minimise_normalised, split_normalised
from theory.minimise._regions import NotPiecewiseConvex, region_candidates
from theory.minimise._risk import conditional_risk, loss_vectors
from theory.minimise._search import descend, logit_search, search

__all__ = ["METHODS", "Minimum", "available_methods", "conditional_risk", "loss_vectors", "minimise_conditional_risk"]

METHODS = ("closed_form", "vertices", "kkt", "regions", "boundary", "multistart")


@dataclass(frozen=True)
class Minimum:
    """The minimiser of C_q per row of q.

    Attributes
    ----------
    p : (n, K) minimisers (for a boundary limit, the face point it is approached towards).
    value : (n,) the minimal conditional risk Σ_k q_k losses_k.
    losses : (n, K) the loss vector (L(p, k))_k at the minimiser (its limit for boundary limits).
    method : how the minimum was found; ``exact`` whether that establishes global optimality.
    certificate : method-specific evidence (lower bounds and gaps, patterns, starts at the best).
    logits : (n, K) for losses defined on logits.
    """

    p: np.ndarray
    value: np.ndarray
    method: str
    exact: bool
    certificate: dict[str, Any] = field(default_factory=dict)
    logits: np.ndarray | None = None
    losses: np.ndarray | None = None

    def __getitem__(self, i: int) -> Minimum:
        """The minimum of one row of q."""
        pick = (lambda a: None if a is None else a[i])
        return Minimum(self.p[i], self.value[i], self.method, self.exact, self.certificate,
                       pick(self.logits), pick(self.losses))


def _base(loss: Loss) -> Loss:
    """The atom under registry names and a single positive weight (argmin is scale-free)."""
    while True:
        if isinstance(loss, Named):
            loss = loss.inner
        elif isinstance(loss, WeightedSum) and len(loss.terms) == 1 and loss.terms[0][0] > 0:
            loss = loss.terms[0][1]
        else:
            return loss


def available_methods(loss: Loss) -> dict[str, bool]:
    """Which methods apply to ``loss`` (the first available one of METHODS is the default)."""
    base = _base(loss)
    pointwise = loss.structure == "pointwise"
    curve = loss.curvature if pointwise else None
    probs = loss.input == "probs"
    return {
        "closed_form": probs and isinstance(base, Atom) and base.bayes is not None,
        "vertices": probs and pointwise and curve in ("linear", "concave"),
        "kkt": probs and pointwise and curve == "convex",
        "regions": probs and loss.structure in ("pointwise", "argmax_pointwise") and loss.pieces is not None,
        "boundary": probs and split_normalised(loss) is not None,
        "multistart": True,
    }


def minimise_conditional_risk(
    loss: Loss,
    q: Any,
    *,
    method: str = "auto",
    seed: int = 0,
    n_random: int = 8,
    iterations: int = 400,
) -> Minimum:
    """Global minimiser of C_q over the simplex for every row of ``q`` (n, K) or (K,).

    ``method`` is "auto" (the first method of :data:`METHODS` the loss's structure allows) or
    one of METHODS to force it (a forced method raises ValueError when the loss does not meet
    its assumptions). ``seed``, ``n_random`` and ``iterations`` steer the searches.
    """
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a theory.losses.Loss, got {type(loss).__name__}")
    q = check_probs(q, "q")
    squeeze = q.ndim == 1
    q2 = np.atleast_2d(q)
    if q2.ndim != 2:
        raise ValueError(f"q must have shape (n, K) or (K,), got {q.shape}")
    available = available_methods(loss)
    if method == "auto":
        method = next(m for m in METHODS if available[m])
    elif method not in available:
        raise ValueError(f"method must be 'auto' or one of {METHODS}, got {method!r}")
    elif not available[method]:
        raise ValueError(
            f"method {method!r} does not apply to {loss.name} (input {loss.input}, structure "
            f"{loss.structure}, curvature {loss.curvature}, pieces {loss.pieces})"
        )
    options = {"seed": seed, "n_random": n_random, "iterations": iterations}
    if loss.input == "logits":
        Z, values, n_starts = logit_search(loss, q2, seed=seed)
        e = np.exp(Z - Z.max(1, keepdims=True))
        result = Minimum(e / e.sum(1, keepdims=True), values, "multi-start L-BFGS-B over logits", False,
                         {"box": 30.0, "starts": n_starts, "seed": seed}, logits=Z)
    elif method == "closed_form":
        base = _base(loss)
        p = base.bayes(q2, **base.params)
        result = Minimum(p, conditional_risk(loss, p, q2), "closed form", True, {})
    elif method == "vertices":
        result = _vertices(loss, q2)
    elif method == "kkt":
        result = _kkt(loss, q2)
    elif method == "regions":
        result = _by_regions(loss, q2, **options)
    elif method == "boundary":
        p, value, vec, exact, cert = minimise_normalised(loss, q2, minimise_conditional_risk, **options)
        result = Minimum(p, value, "boundary enumeration", exact, cert, losses=vec)
    else:
        p, value, agree, n_starts = search(loss, q2, **options)
        result = Minimum(p, value, "multi-start pairwise search", False,
                         {"starts": n_starts, "starts_at_best": agree, **options, **_sum_bound(loss, q2, value)})
    if result.losses is None:
        vec = loss_vectors(loss, result.logits if result.logits is not None else result.p,
                           logits=result.logits is not None)
        result = Minimum(result.p, result.value, result.method, result.exact, result.certificate,
                         result.logits, vec)
    return result[0] if squeeze else result


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


def _sum_bound(loss: Loss, q: np.ndarray, value: np.ndarray) -> dict[str, Any]:
    """For a weighted sum whose terms all have exact minimisers, Σ_i w_i inf C_q^{(i)} <= C_q:
    a lower bound, and so a certified gap for a search result (empty dict otherwise)."""
    while isinstance(loss, Named):
        loss = loss.inner
    if not isinstance(loss, WeightedSum) or len(loss.terms) < 2:
        return {}
    lower = np.zeros(len(q))
    for w, term in loss.terms:
        if w > 0:
            methods = available_methods(term)
            if next(m for m in METHODS if methods[m]) == "multistart":
                return {}  # no exact minimiser for this term: no bound
            part = minimise_conditional_risk(term, q)
            if not part.exact:
                return {}
            lower = lower + w * part.value
    return {"lower_bound": lower, "gap": value - lower}


def _by_regions(loss: Loss, q: np.ndarray, *, seed: int, n_random: int, iterations: int) -> Minimum:
    n, K = q.shape
    try:
        P, surrogate, info = region_candidates(loss, q)
    except NotPiecewiseConvex as err:
        p, value, agree, n_starts = search(loss, q, seed=seed, n_random=n_random, iterations=iterations)
        return Minimum(p, value, "multi-start pairwise search", False,
                       {"starts": n_starts, "starts_at_best": agree, "regions_refused": str(err)})
    C = P.shape[1]
    exact_values = conditional_risk(loss, P.reshape(-1, K), np.repeat(q, C, axis=0)).reshape(n, C)
    exact_values = np.where(np.isfinite(surrogate), exact_values, np.inf)  # infeasible patterns
    best = np.argmin(exact_values, axis=1)
    p = P[np.arange(n), best].copy()
    value = exact_values[np.arange(n), best].copy()
    before = value.copy()
    descend(loss, p, q, value, iterations=iterations)  # polish against the grid error
    info.update(polish_gain=before - value)
    return Minimum(p, value, "region enumeration", True, info)
