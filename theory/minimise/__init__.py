"""Global minimisers of the conditional risk C_q(p) = Σ_k q_k L(p, k) over the simplex.

Vectorised over many posteriors ``q`` (n, K). How global optimality is established depends on
the loss's declared structure (see :mod:`theory.losses._core`); ``Minimum.method`` says which:

``closed form``           exact: the loss provides its minimiser (CE, MSE: p* = q; RCE).
``vertex enumeration``    exact: a pointwise loss φ(p_y) with φ concave (or linear) makes C_q
                          concave, and a concave function on a polytope attains its minimum at
                          a vertex; all K vertices are evaluated.
``KKT bisection``         exact: a pointwise loss with φ convex makes C_q convex and separable;
                          the KKT conditions q_k φ'(p_k) = −μ (p_k > 0), q_k φ'(0) >= −μ
                          (p_k = 0) are solved by bisection on μ.
``region enumeration``    exact: pointwise and argmax-pointwise losses that are convex between
                          declared breaks (the ε-losses, GCE with its clamp); every argmax region
                          and monotone piece pattern is a convex sub-problem, solved on a grid
                          (:mod:`._regions`), the best polished on its KKT conditions
                          (:mod:`._polish`).
``boundary enumeration``  losses α·N + rest with N normalised (NCE, NFL and their sums): the
                          infimum may lie on the boundary, where N is 0/0; boundary limits and
                          an interior search are compared with the lower bound α min q + inf rest,
                          exact when it is met and otherwise with a certified gap
                          (:mod:`._normalised`).
``multi-start search``    not certified: descent along pairwise mass transfers and
                          projected/exponentiated-gradient arcs from many starts
                          (:mod:`._search`); every other loss (MSE-like couplings, user losses).

Losses defined on logits are minimised over logits in a box with multi-start L-BFGS-B (not
certified).

"Exact" is never taken on trust: every result states ``Minimum.value_error``, a bound on
value − inf C_q from a certified lower bound of the infimum (weak duality on each piece pattern
for KKT and region enumeration, :mod:`._dual`; the boundary limits' bound; the exact parts of a
sum for a search) plus a float64 allowance, and +inf where nothing bounds it.

Risks need the loss vector (L(p*, k))_k of the minimiser, which ``Minimum.losses`` holds: where
the minimiser is a boundary limit (normalised losses) it is the limit along the stated path,
while the loss at p* itself is undefined. The test-suite compares every method with brute force
on a fine grid of the 2-simplex.

Values are attained values: on a tie between p_t and p_k with k < t the argmax is k (the
first-index convention of :func:`theory.eps_softmax`), so an infimum approached only through
such a tie from region t is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from theory.losses import Atom, Curvature, Input, Loss, Named, Structure, WeightedSum
from theory.minimise._certificates import (
    BoundaryLimits,
    Certificate,
    ClosedForm,
    KKTBisection,
    LogitStarts,
    Patterns,
    Polish,
    RegionEnumeration,
    Rows,
    Solver,
    StartsSearch,
    VertexValues,
    derivatives_note,
)
from theory.minimise._dual import pattern_lower_bounds, separable_lower_bound
from theory.minimise._normalised import minimise_normalised, split_normalised
from theory.minimise._polish import invert_slope, polish, profiles, root_decreasing
from theory.minimise._regions import NotPiecewiseConvex, argmax_profiles, golden_section, region_candidates
from theory.minimise._risk import conditional_risk, loss_vectors, risk_of_vectors
from theory.minimise._search import descend, logit_search, search
from theory.tolerances import ROUNDING_REL, SAME_VALUE_REL, TIE_REL
from theory.validation import check_probs, check_seed

__all__ = ["METHODS", "BoundaryLimits", "Certificate", "ClosedForm", "KKTBisection", "LogitStarts", "Minimum", "Patterns",
           "Polish", "RegionEnumeration", "Rows", "Solver", "StartsSearch", "VertexValues", "argmax_profiles",
           "available_methods", "conditional_risk", "golden_section", "loss_vectors", "minimise_conditional_risk",
           "risk_of_vectors", "search", "split_normalised"]

METHODS = ("closed_form", "vertices", "kkt", "regions", "boundary", "multistart")
#: a candidate as good as the minimum (within SAME_VALUE_REL) is a second minimiser when some
#: coordinate differs from the minimum's by more than this (absolute): apart beyond any polish's error
_DISTINCT_POINT_ATOL = 1e-6


@dataclass(frozen=True)
class Minimum:
    """The minimiser of C_q per row of q.

    Attributes
    ----------
    p : (n, K) minimisers (for a boundary limit, the face point it is approached towards).
    value : (n,) the minimal conditional risk Σ_k q_k losses_k.
    losses : (n, K) the loss vector (L(p, k))_k at the minimiser (its limit for boundary limits).
    method : how the minimum was found; ``exact`` whether that establishes global optimality.
    value_error : (n,) a bound on value − inf C_q: certified by a lower bound of the infimum
        (weak duality per piece pattern of each argmax region, boundary limits, exact parts of
        a sum; see :mod:`._dual`) plus a float64 rounding allowance; +inf where nothing bounds it (a search
        without a lower bound, losses of logits). Locations are not bounded: a flat or tied
        minimum has many minimisers, and only the value is what risks are made of.
    certificate : the method's evidence, a record of :mod:`._certificates` (lower bounds and gaps,
        patterns, starts at the best): its type follows ``method``.
    logits : (n, K) for losses defined on logits.
    """

    p: np.ndarray
    value: np.ndarray
    method: Solver
    exact: bool
    certificate: Certificate = field(default_factory=ClosedForm)
    logits: np.ndarray | None = None
    losses: np.ndarray | None = None
    value_error: np.ndarray | None = None

    def take(self, idx) -> Minimum:
        """The minima of the rows ``idx`` (an index array or a slice), with the certificate's
        per-row arrays sliced alike."""
        def pick(a):
            return None if a is None else a[idx]
        return Minimum(self.p[idx], self.value[idx], self.method, self.exact, self.certificate.take(idx, len(self.p)),
                       pick(self.logits), pick(self.losses), pick(self.value_error))

    def __getitem__(self, i: int) -> Minimum:
        """The minimum of one row of q (its certificate's per-row arrays reduced to that row)."""
        return self.take(i)


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
    pointwise = loss.structure is Structure.POINTWISE
    curve = loss.curvature if pointwise else None
    probs = loss.input is Input.PROBS
    return {
        "closed_form": probs and isinstance(base, Atom) and base.bayes is not None,
        "vertices": probs and pointwise and curve in (Curvature.LINEAR, Curvature.CONCAVE),
        "kkt": probs and pointwise and curve is Curvature.CONVEX,
        "regions": probs and loss.structure in (Structure.POINTWISE, Structure.ARGMAX_POINTWISE) and loss.pieces is not None,
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
    box: float = 30.0,
) -> Minimum:
    """Global minimiser of C_q over the simplex for every row of ``q`` (n, K) or (K,).

    ``method`` is "auto" (the first method of :data:`METHODS` the loss's structure allows) or
    one of METHODS to force it (a forced method raises ValueError when the loss does not meet
    its assumptions). ``seed``, ``n_random`` and ``iterations`` steer the searches; a loss of
    logits is minimised over the box [−box, box]^K with 3 + ``n_random`` starts per posterior.
    """
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a theory.losses.Loss, got {type(loss).__name__}")
    q = check_probs(q, "q")
    seed = check_seed(seed)
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
    if loss.input is Input.LOGITS:
        if not (np.isfinite(box) and box > 0):
            raise ValueError(f"box must be a positive finite number, got {box!r}")
        Z, values, n_starts = logit_search(loss, q2, seed=seed, box=float(box), n_random=n_random)
        e = np.exp(Z - Z.max(1, keepdims=True))
        result = Minimum(e / e.sum(1, keepdims=True), values, Solver.LOGITS, False,
                         LogitStarts(box=float(box), starts=n_starts, seed=seed), logits=Z)
    elif method == "closed_form":
        base = _base(loss)
        p = base.bayes(q2, **base.params)
        value = conditional_risk(loss, p, q2)
        result = Minimum(p, value, Solver.CLOSED_FORM, True, ClosedForm(), value_error=_rounding(value))
    elif method == "vertices":
        result = _vertices(loss, q2)
    elif method == "kkt":
        result = _kkt(loss, q2)
    elif method == "regions":
        result = _by_regions(loss, q2, **options)
    elif method == "boundary":
        p, value, vec, exact, cert = minimise_normalised(loss, q2, minimise_conditional_risk, **options)
        lower = cert.lower_bound
        error = _error(value, lower) if lower is not None else np.full(len(q2), np.inf)
        result = Minimum(p, value, Solver.BOUNDARY, exact, cert, losses=vec, value_error=error)
    else:
        p, value, agree, n_starts = search(loss, q2, **options)
        result = _searched(loss, q2, p, value, starts=n_starts, starts_at_best=agree, **options)
    if result.value_error is None:  # nothing bounds the error of a search over logits
        result = replace(result, value_error=np.full(len(q2), np.inf))
    if result.losses is None:
        vec = loss_vectors(loss, result.logits if result.logits is not None else result.p,
                           logits=result.logits is not None)
        result = replace(result, losses=vec)
    return result[0] if squeeze else result


# ----------------------------------------------------------------------------------------------


def _vertices(loss: Loss, q: np.ndarray) -> Minimum:
    K = q.shape[1]
    eye = np.eye(K)
    values = np.stack([conditional_risk(loss, np.broadcast_to(eye[j], q.shape), q) for j in range(K)], axis=1)
    best = np.argmin(values, axis=1)
    value = values[np.arange(len(q)), best]
    return Minimum(eye[best], value, Solver.VERTICES, True, VertexValues(vertex_values=values),
                   value_error=_rounding(value))


def _kkt(loss: Loss, q: np.ndarray) -> Minimum:
    """Convex separable C_q = Σ_k q_k φ(p_k): q_k φ'(p_k) = −μ on the support, by bisection on
    log μ; each coordinate is the inverse of φ' found in log space (full relative precision for
    tiny coordinates), with φ' from the loss's sympy path when it has one."""
    n, K = q.shape
    prof = profiles(loss, K)
    safe_q = np.where(q > 0, q, 1.0)

    def coords(log_mu, rows):
        u = invert_slope(prof.dother, -np.exp(log_mu)[:, None] / safe_q[rows], 0.0, 1.0, prof.ddother)
        return np.where(q[rows] > 0, u, 0.0)

    log_mu, _ = root_decreasing(lambda x, rows: coords(x, rows).sum(1) - 1.0, n)
    p = coords(log_mu, np.arange(n))
    residual = p.sum(1) - 1.0
    p = p / p.sum(1, keepdims=True)
    value = conditional_risk(loss, p, q)
    lower = separable_lower_bound(prof, q, p, log_mu)
    return Minimum(p, value, Solver.KKT, True,
                   KKTBisection(log_multiplier=log_mu, sum_residual=residual, lower_bound=lower,
                                derivatives=derivatives_note(prof.exact)),
                   value_error=_error(value, lower))


def _rounding(value: np.ndarray) -> np.ndarray:
    """The float64 allowance of an attained value computed as a sum of K terms."""
    return 64 * np.finfo(float).eps * (1.0 + np.abs(value))


def _error(value: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """value − inf C_q bounded through a certified lower bound of the infimum."""
    return np.maximum(value - lower, 0.0) + _rounding(value)


def _searched(loss: Loss, q: np.ndarray, p: np.ndarray, value: np.ndarray, **search: Any) -> Minimum:
    """A search result (``search``: the fields of :class:`StartsSearch`), with a certified error
    where the loss is a sum of exactly solvable terms."""
    lower = _sum_lower_bound(loss, q)
    if lower is None:
        return Minimum(p, value, Solver.MULTISTART, False, StartsSearch(**search), value_error=np.full(len(q), np.inf))
    return Minimum(p, value, Solver.MULTISTART, False, StartsSearch(lower_bound=lower, gap=value - lower, **search),
                   value_error=_error(value, lower))


def _sum_lower_bound(loss: Loss, q: np.ndarray) -> np.ndarray | None:
    """For a weighted sum whose terms all have exact minimisers, Σ_i w_i inf C_q^{(i)} <= C_q:
    a lower bound (each term's infimum taken as its value less its stated error), and so a
    certified gap for a search result (None otherwise)."""
    while isinstance(loss, Named):
        loss = loss.inner
    if not isinstance(loss, WeightedSum) or len(loss.terms) < 2:
        return None
    lower = np.zeros(len(q))
    for w, term in loss.terms:
        if w > 0:
            methods = available_methods(term)
            if next(m for m in METHODS if methods[m]) == "multistart":
                return None  # no exact minimiser for this term: no bound
            part = minimise_conditional_risk(term, q)
            if not part.exact:
                return None
            lower = lower + w * (part.value - part.value_error)
    return lower


def _by_regions(loss: Loss, q: np.ndarray, *, seed: int, n_random: int, iterations: int) -> Minimum:
    n, K = q.shape
    try:
        P, surrogate, patterns = region_candidates(loss, q)
    except NotPiecewiseConvex as err:
        p, value, agree, n_starts = search(loss, q, seed=seed, n_random=n_random, iterations=iterations)
        return _searched(loss, q, p, value, starts=n_starts, starts_at_best=agree, seed=seed, n_random=n_random,
                         iterations=iterations, regions_refused=str(err))
    C = P.shape[1]
    exact_values = conditional_risk(loss, P.reshape(-1, K), np.repeat(q, C, axis=0)).reshape(n, C)
    exact_values = np.where(np.isfinite(surrogate), exact_values, np.inf)  # infeasible patterns
    best = np.argmin(exact_values, axis=1)
    rows = np.arange(n)
    p = P[rows, best].copy()
    value = exact_values[rows, best].copy()
    before = value.copy()
    p, polished = polish(loss, q, p, patterns.breaks_top, patterns.breaks_other)  # exact KKT on the pattern
    value = np.minimum(value, conditional_risk(loss, p, q))
    rest = ~polished.polished  # rows the KKT polish could not improve: a local search
    if rest.any():
        p_r, v_r = p[rest].copy(), value[rest].copy()
        descend(loss, p_r, q[rest], v_r, iterations=iterations)
        p[rest], value[rest] = p_r, v_r
    # per argmax region (candidates are ordered region by region): the infimum and where
    by_region = exact_values.reshape(n, K, C // K)
    j = np.argmin(by_region, axis=2)
    region_points = P.reshape(n, K, C // K, K)[rows[:, None], np.arange(K)[None, :], j]
    # a tie with the top may only be the grid's way of approaching another region's optimum:
    # polish that region's best candidate too and keep the better point
    t0 = np.argmax(p, axis=1)
    tied = (p >= p[rows, t0][:, None] * (1 - TIE_REL)) & ~np.eye(K, dtype=bool)[t0]
    redo = np.flatnonzero(tied.any(1))
    if redo.size:
        k_alt = np.argmax(tied[redo], axis=1)
        alt, _ = polish(loss, q[redo], region_points[redo, k_alt], patterns.breaks_top, patterns.breaks_other)
        v_alt = conditional_risk(loss, alt, q[redo])
        better = v_alt < value[redo] - ROUNDING_REL * np.maximum(1.0, np.abs(value[redo]))
        p[redo[better]], value[redo[better]] = alt[better], v_alt[better]
    region_values = np.minimum(by_region.min(axis=2), np.inf)
    t = np.argmax(p, axis=1)
    region_values[rows, t] = np.minimum(region_values[rows, t], value)
    region_points[rows, t] = p
    # other candidates as good as the best (a second minimiser) must be ordered too
    tol = SAME_VALUE_REL * np.maximum(1.0, np.abs(value))
    near = (exact_values <= value[:, None] + tol[:, None]) & (np.abs(P - p[:, None, :]).max(-1) > _DISTINCT_POINT_ATOL)
    near_optimal = [(i, P[i, near[i]]) for i in np.flatnonzero(near.any(1))]
    # the stated error: a certified lower bound of every region's infimum (weak duality on each
    # piece pattern, with multipliers read off the pattern's candidate and the polished point)
    prof = profiles(loss, K)
    region_lower = pattern_lower_bounds(prof, q, P, patterns, p)
    lower = region_lower.min(1)
    cert = RegionEnumeration(patterns=patterns, polish=polished, polish_gain=before - value, region_values=region_values,
                             region_points=region_points, near_optimal=near_optimal, region_lower_bounds=region_lower,
                             lower_bound=lower, derivatives=derivatives_note(prof.exact))
    return Minimum(p, value, Solver.REGIONS, True, cert, value_error=_error(value, lower))
