"""Numeric search for counterexamples: vectorised sampling, scipy polishing, hypothesis shrinking.

Every numeric check follows the same three steps (:func:`search`):

1. a vectorised sample of the simplex (uniform, sparse near faces, near vertices, faces with
   exact zeros, ties, the centre and the vertices), scored by the check's ``score`` function
   (the ratio observed / bound, > 1 means a violation);
2. a compass search maximises the score from the best sampled points, all starts at once (in a
   softmax parametrisation, so every iterate is on the simplex): this measures how tight the
   bound is;
3. when a violation is seen, hypothesis searches the public strategy
   :func:`theory.strategies.simplex_points` for one and shrinks it to a minimal witness.

The search reports the worst score and where it was seen; re-checking a witness in exact or
high-precision arithmetic is the caller's job (it knows the claim).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from theory import strategies
from theory.tolerances import SAME_VALUE_REL, START_LOG_FLOOR

__all__ = ["SearchResult", "compass", "search", "shrink", "simplex_sample"]


def simplex_sample(rng: np.random.Generator, K: int, n: int, *, floor: float = 0.0) -> np.ndarray:
    """``n`` points (n, K) of the simplex mixing the regimes where bounds are tight or break.

    ``floor`` > 0 keeps every coordinate at least ``floor`` (p ↦ floor + (1 − K·floor)·p): the
    open simplex, for losses that are defined only there.
    """
    parts = [np.full((1, K), 1.0 / K), np.eye(K)]
    k = max(n // 6, 1)
    parts.append(rng.dirichlet(np.ones(K), size=k))
    parts.append(rng.dirichlet(np.full(K, 0.1), size=k))  # near faces and vertices
    near = np.eye(K)[rng.integers(0, K, size=k)] + rng.exponential(1e-3, size=(k, K))
    parts.append(near / near.sum(1, keepdims=True))
    face = rng.dirichlet(np.ones(K), size=k) * (rng.random((k, K)) < 0.6)
    face[face.sum(1) == 0, 0] = 1.0
    parts.append(face / face.sum(1, keepdims=True))
    tie = rng.dirichlet(np.ones(K), size=k)
    tie[:, 1] = tie[:, 0]
    parts.append(tie / tie.sum(1, keepdims=True))
    rest = n - sum(len(a) for a in parts)
    if rest > 0:
        parts.append(rng.dirichlet(np.full(K, 0.5), size=rest))
    out = np.concatenate(parts)[:max(n, K + 1)]
    return floor + (1 - K * floor) * out if floor else out


@dataclass(frozen=True)
class SearchResult:
    """The worst case seen: ``score`` (observed / bound; > 1 is a violation) at ``point``."""

    score: float
    point: np.ndarray
    n_evaluated: int
    witness: np.ndarray | None  # a hypothesis-shrunk violating point, when one exists

    def to_dict(self) -> dict:
        return {"worst_score": self.score, "at": self.point.tolist(), "points_evaluated": self.n_evaluated,
                "minimal_witness": None if self.witness is None else self.witness.tolist()}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def search(score: Callable[[np.ndarray], np.ndarray], K: int, *, rng: np.random.Generator,
           n: int = 2000, n_polish: int = 3, hypothesis_examples: int = 200,
           tolerance: float = SAME_VALUE_REL, floor: float = 0.0) -> SearchResult:
    """Maximise ``score`` (vectorised over rows of (n, K) points) over the simplex Δ_{K−1}
    (every coordinate ≥ ``floor``, see :func:`simplex_sample`)."""
    P = simplex_sample(rng, K, n, floor=floor)
    s = np.asarray(score(P), dtype=np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s)
    best_s, best_p = float(s[order[0]]), P[order[0]]
    evaluated = len(P)
    if n_polish:
        starts = order[:n_polish]
        Q, S, used = compass(score, P[starts], s[starts], floor=floor)
        evaluated += used
        j = int(np.argmax(S))
        if S[j] > best_s:
            best_s, best_p = float(S[j]), Q[j]
    witness = None
    if best_s > 1 + tolerance and hypothesis_examples:
        witness = shrink(lambda p: float(score(p[None])[0]) > 1 + tolerance, K,
                         max_examples=hypothesis_examples, floor=floor)
        if witness is None:
            witness = best_p
    return SearchResult(best_s, best_p, evaluated, witness)


def _directions(K: int) -> np.ndarray:
    """Moves in logit space: ±e_j, and e_i − e_j (mass from j to i) up to K = 12."""
    eye = np.eye(K)
    dirs = [eye, -eye]
    if K <= 12:
        i, j = np.nonzero(~np.eye(K, dtype=bool))
        dirs.append(eye[i] - eye[j])
    return np.concatenate(dirs)


def compass(score: Callable[[np.ndarray], np.ndarray], P0: np.ndarray, s0: np.ndarray | None = None, *,
            floor: float = 0.0, step: float = 1.0, min_step: float = 1e-10,
            max_rounds: int = 400) -> tuple[np.ndarray, np.ndarray, int]:
    """Maximise ``score`` from each row of ``P0`` (m, K) by compass search in the logits of
    p = floor + (1 − K·floor)·softmax(z), every start in one vectorised call per round: each round
    tries z ± h along :func:`_directions`, moves to the best improvement or halves h, and a start
    stops once h < ``min_step``. Returns (points (m, K), scores (m,), evaluations)."""
    m, K = P0.shape
    D = _directions(K)

    def point(Z):
        p = _softmax(Z)
        return floor + (1 - K * floor) * p if floor else p

    def scored(Z):
        return np.nan_to_num(np.asarray(score(point(Z)), dtype=np.float64), nan=-np.inf)

    Z = np.log(np.clip((P0 - floor) / (1 - K * floor) if floor else P0, START_LOG_FLOOR, None))
    S = scored(Z) if s0 is None else np.asarray(s0, dtype=np.float64).copy()
    h = np.full(m, float(step))
    evaluated = 0 if s0 is not None else m
    for _ in range(max_rounds):
        idx = np.flatnonzero(h >= min_step)
        if idx.size == 0:
            break
        C = Z[idx, None, :] + h[idx, None, None] * D[None]
        s = scored(C.reshape(-1, K)).reshape(len(idx), len(D))
        evaluated += s.size
        j = np.argmax(s, axis=1)
        sb = s[np.arange(len(idx)), j]
        up = sb > S[idx]
        Z[idx[up]] = C[np.flatnonzero(up), j[up]]
        S[idx[up]] = sb[up]
        h[idx[~up]] *= 0.5
    return point(Z), S, evaluated


def shrink(violates: Callable[[np.ndarray], bool], K: int, *, max_examples: int = 200,
           floor: float = 0.0) -> np.ndarray | None:
    """A minimal point of :func:`theory.strategies.simplex_points` (coordinates ≥ ``floor``) for
    which ``violates`` holds."""
    try:
        return find(
            strategies.simplex_points(K, min_coordinate=floor), violates,
            settings=settings(max_examples=max_examples, database=None, derandomize=True,
                              phases=[Phase.generate, Phase.shrink],
                              suppress_health_check=list(HealthCheck)),
        )
    except NoSuchExample:
        return None
