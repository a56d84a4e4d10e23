"""Strict order: judging a minimiser's top-k sets and ties against q, the probes for ties a flat
minimiser set holds, and C_q at a point (boundary limits included)."""

from __future__ import annotations

import numpy as np

from theory import tolerances
from theory.consistency._moves import ROUNDING_ULPS
from theory.consistency._records import Failure
from theory.losses import Input, Loss
from theory.minimise import BoundaryLimits, Minimum, RegionEnumeration, Solver, VertexValues, conditional_risk

__all__ = ["TIE_REL", "conditional_value", "flat_vertices", "limit_value", "points", "strict_order", "strict_topk", "tied",
           "value_like", "why_failed"]

#: two entries of a minimiser are tied when they differ by at most TIE_REL·max (or both are 0);
#: the sampled near-ties differ by ≥ 1e-6 relative, so a loss that keeps q's order keeps them apart
TIE_REL = tolerances.TIE_REL  # the one tie rule of theory (theory.tolerances)
#: two vertex values of a vertex enumeration this close (relative) are one flat minimum
FLAT_REL = 1e-12


def tied(a: np.ndarray, b: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """Whether entries a and b of a minimiser are tied. Probabilities: |a − b| ≤ TIE_REL·max(|a|, |b|)
    (two zeros tie). Log-probabilities of a logit loss (:func:`points`): |a − b| ≤ TIE_REL·max(1, |a|, |b|),
    so logits that a search drove to the same bound of its box tie, and logits e^{-30} apart in
    probability (which a relative rule on probabilities would call tied) do not."""
    scale = np.maximum(np.abs(a), np.abs(b))
    if logits:
        scale = np.maximum(scale, 1.0)
    return np.abs(a - b) <= TIE_REL * scale


def points(loss: Loss, best: Minimum) -> np.ndarray:
    """Where a minimiser's order and ties are judged: its probabilities, or for a loss of logits its
    log-probabilities (log-softmax of the logits: the logits' order, finite where a probability
    underflows or is too small for a relative rule on probabilities)."""
    if loss.input is not Input.LOGITS:
        return best.p
    from scipy.special import log_softmax

    return log_softmax(best.logits, axis=1)


def strict_topk(p: np.ndarray, q: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """(n, K−1): is p's top-k set strict (not tied across position k) and equal to q's, k = 1..K−1.
    ``p`` holds probabilities, or log-probabilities when ``logits`` (see :func:`tied`)."""
    K = q.shape[1]
    order_q = np.argsort(-q, axis=1, kind="stable")
    order_p = np.argsort(-p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order_p, axis=1)
    out = np.empty((len(q), K - 1), dtype=bool)
    for k in range(1, K):
        strict = ~tied(ps[:, k - 1], ps[:, k], logits=logits)
        same = np.all(np.sort(order_p[:, :k], axis=1) == np.sort(order_q[:, :k], axis=1), axis=1)
        out[:, k - 1] = strict & same
    return out


def why_failed(p: np.ndarray, k: int, *, logits: bool = False) -> str:
    s = -np.sort(-p)
    return "tie" if tied(s[k - 1], s[k], logits=logits) else "order"


def flat_vertices(best: Minimum) -> np.ndarray:
    """Vertex enumeration: the best vertex is not unique (a flat minimiser set)."""
    if not isinstance(best.certificate, VertexValues):
        return np.zeros(len(best.p), dtype=bool)
    vals = best.certificate.vertex_values
    s = np.sort(vals, axis=1)
    return s[:, 1] - s[:, 0] <= FLAT_REL * np.maximum(1.0, np.abs(s[:, 0]))


def strict_order(loss: Loss, q: np.ndarray, best: Minimum) -> tuple[np.ndarray, list[Failure]]:
    """Strict-order top-k per posterior and position, with failures; a flat vertex set (two best
    vertices) fails at top-1 (their midpoint is a minimiser with a tied top)."""
    logits = loss.input is Input.LOGITS
    P = points(loss, best)
    ok = strict_topk(P, q, logits=logits)
    flat = flat_vertices(best)
    failures = []
    for i in np.flatnonzero(flat):
        vals = best.certificate.vertex_values[i]
        a, b = np.argsort(vals)[:2]
        mid = np.zeros(q.shape[1])
        mid[[a, b]] = 0.5
        ok[i, 0] = False
        failures.append(Failure(1, q[i], mid, float(vals[a]), "tie", minimiser=best.p[i]))
    # a loss of saturating scores is flat as logits go to −∞: its infimum may hold ties there, and
    # the order a search leaves among such logits means nothing (see logit_tie_probes)
    probed = {(i, k): (z, v) for i, k, z, v in logit_tie_probes(loss, q, best)} if logits else {}
    alternatives = best.certificate.near_optimal if isinstance(best.certificate, RegionEnumeration) else None
    for i, k in zip(*np.nonzero(~ok)):
        if (flat[i] and k == 0) or (i, int(k) + 1) in probed:
            continue
        failures.append(Failure(int(k) + 1, q[i], best.p[i], float(best.value[i]),
                                why_failed(P[i], int(k) + 1, logits=logits), log_p=P[i] if logits else None))
    if alternatives is not None:  # other minimisers (equal value, different point) must be ordered too
        for i, P_alt in alternatives:
            bad = ~strict_topk(P_alt, np.broadcast_to(q[i], P_alt.shape))
            for j, k in zip(*np.nonzero(bad)):
                if ok[i, k]:
                    ok[i, k] = False
                    failures.append(Failure(int(k) + 1, q[i], P_alt[j], float(best.value[i]),
                                            why_failed(P_alt[j], int(k) + 1), minimiser=best.p[i]))
    for (i, k), (z_tied, v) in probed.items():
        ok[i, k - 1] = False
        failures.append(Failure(k, q[i], np.exp(z_tied), v, "tie", minimiser=P[i], log_p=z_tied, at_infinity=True))
    if best.method in (Solver.BOUNDARY, Solver.MULTISTART):  # a flat minimiser set may hold ties
        for i, k, p_tied, v in tie_probes(loss, q, best, ok):
            ok[i, k - 1] = False
            failures.append(Failure(k, q[i], p_tied, v, "tie", minimiser=best.p[i]))
    failures.sort(key=lambda f: f.k)
    return ok, failures


def tie_probes(loss: Loss, q: np.ndarray, best: Minimum, ok: np.ndarray):
    """Points tied across a position k that holds, as good as the minimiser (within float
    rounding): the minimiser set is flat there and contains a tie. Three ties per position: the
    two classes at their mean, both at the smaller value, both at 0 (the mass going to the top);
    a boundary minimiser keeps its zero coordinate."""
    n, K = q.shape
    zero = best.certificate.zero_coordinate if isinstance(best.certificate, BoundaryLimits) else None
    for i, kk in zip(*np.nonzero(ok)):
        k = int(kk) + 1
        p, base = best.p[i], float(best.value[i])
        order = np.argsort(-q[i], kind="stable")
        a, b = order[k - 1], order[k]
        top = int(np.argmax(p))
        j = -1 if zero is None else int(zero[i])
        cands = []
        for mode in ("mean", "low", "zero"):
            r = p.copy()
            if mode == "mean":
                r[a] = r[b] = 0.5 * (p[a] + p[b])
            elif top in (a, b):
                continue
            else:
                v = min(p[a], p[b]) if mode == "low" else 0.0
                r[top] += p[a] + p[b] - 2 * v
                r[a] = r[b] = v
            if j >= 0 and r[j] != 0:
                continue
            cands.append(r)
        for r in cands:
            v = value_like(loss, best, r, q[i])
            if v <= base + ROUNDING_ULPS * (1 + abs(base)):
                yield i, k, r, v
                break


def logit_tie_probes(loss: Loss, q: np.ndarray, best: Minimum):
    """For a loss of logits, at every position k: the two classes on position k's sides both
    sent to the lower bound of the search box (the limit z → −∞, where a loss of saturating scores
    is flat: its infimum is approached with them tied), when that is as good as the minimiser within
    float rounding. Yields (row, k, log-probabilities of the tied point, its value)."""
    from scipy.special import log_softmax

    box = best.certificate.box
    n, K = q.shape
    order = np.argsort(-q, axis=1, kind="stable")
    R = np.repeat(best.logits[:, None, :], K - 1, axis=1)  # (n, k − 1, K)
    rows, ks = np.arange(n)[:, None], np.arange(K - 1)[None, :]
    R[rows, ks, order[:, :-1]] = -box
    R[rows, ks, order[:, 1:]] = -box
    V = conditional_risk(loss, R.reshape(-1, K), np.repeat(q, K - 1, axis=0), logits=True).reshape(n, K - 1)
    base = best.value[:, None]
    good = (V <= base + ROUNDING_ULPS * (1 + np.abs(base))) & (R.max(axis=2) > -box)
    for i, k in zip(*np.nonzero(good)):  # (every logit at the bound is the uniform point, not a limit)
        yield int(i), int(k) + 1, log_softmax(R[i, k]), float(V[i, k])


def limit_value(loss: Loss, p: np.ndarray, q: np.ndarray, plain=None) -> float:
    """C_q(p); at a point with zero coordinates, for a loss α·N + rest with N normalised (0/0 there),
    the least boundary limit α·q_j + C^rest_q(p) over the zero coordinates j. ``plain(loss, p, q)``
    evaluates a loss at a point (default :func:`conditional_value`)."""
    plain = plain or conditional_value
    if (p == 0).any():
        from theory.minimise import split_normalised

        parts = split_normalised(loss)
        if parts is not None:
            alpha, _, rest = parts
            j = int(np.flatnonzero(p == 0)[np.argmin(q[p == 0])])
            return float(alpha * q[j] + (0.0 if rest is None else plain(rest, p, q)))
    return plain(loss, p, q)


def value_like(loss: Loss, best: Minimum, p: np.ndarray, q: np.ndarray) -> float:
    """C_q at a point compared with a minimiser: a boundary minimiser's values are limits."""
    return limit_value(loss, p, q) if best.method is Solver.BOUNDARY else conditional_value(loss, p, q)


def conditional_value(loss: Loss, p: np.ndarray, q: np.ndarray) -> float:
    """C_q(p) in float64; for a logit loss ``p`` holds logits (or log-probabilities: the same point)."""
    return float(conditional_risk(loss, p[None], q[None], logits=loss.input is Input.LOGITS)[0])
