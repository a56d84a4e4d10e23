"""Public hypothesis strategies for losses under label noise.

>>> from hypothesis import given
>>> from theory import strategies as st_
>>> @given(st_.simplex_points(K=3))
... def test_something(p): ...

Vertices and the centre of the simplex are generated with high priority (``st.one_of`` puts them
first, so they are also where shrinking ends); combine with ``@example`` to pin them.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from theory.finite import FiniteProblem
from theory.noise import symmetric

__all__ = [
    "class_counts",
    "finite_problems",
    "labels",
    "noise_matrices",
    "noise_rates",
    "simplex_points",
]

#: drawn weights summing to at most this are refused (normalising them would amplify rounding)
_MIN_WEIGHT_SUM = 1e-6


def class_counts(min_K: int = 2, max_K: int = 6) -> st.SearchStrategy[int]:
    """Numbers of classes K."""
    return st.integers(min_value=min_K, max_value=max_K)


def simplex_points(K: int, *, interior: bool = False, min_coordinate: float = 0.0) -> st.SearchStrategy[np.ndarray]:
    """Points on the probability simplex Δ_{K−1} as float64 arrays (K,).

    Draws, in order of priority: the centre, the vertices (unless ``interior``), points on faces
    (some coordinates exactly 0, unless ``interior``), near-ties, and general points from
    normalised non-negative weights. ``min_coordinate`` > 0 keeps every coordinate at least that.
    """

    def normalise(w):
        w = np.asarray(w, dtype=np.float64)
        p = w / w.sum()
        if min_coordinate:
            p = min_coordinate + (1 - K * min_coordinate) * p
        return p

    weights = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=K, max_size=K).filter(lambda w: sum(w) > _MIN_WEIGHT_SUM)
    centre = st.just(np.full(K, 1.0 / K))
    general = weights.map(normalise)
    tie = st.tuples(st.integers(0, K - 1), st.integers(0, K - 1), weights).map(
        lambda a: _tie(normalise(a[2]), a[0], a[1])
    )
    parts = [centre]
    if not interior and not min_coordinate:
        parts.append(st.integers(0, K - 1).map(lambda i: np.eye(K)[i]))
        face = st.tuples(weights, st.lists(st.booleans(), min_size=K, max_size=K)).map(
            lambda a: _face(np.asarray(a[0]), np.asarray(a[1]))
        ).filter(lambda w: w.sum() > _MIN_WEIGHT_SUM)
        parts.append(face.map(normalise))
    parts += [tie, general]
    strat = st.one_of(*parts)
    if interior:
        strat = strat.filter(lambda p: np.all(p > 0))
    return strat


def _face(w: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, w, 0.0)


def _tie(p: np.ndarray, i: int, j: int) -> np.ndarray:
    p = p.copy()
    p[i] = p[j] = max(p[i], p[j])
    return p / p.sum()


def labels(K: int) -> st.SearchStrategy[int]:
    """A class label in [0, K)."""
    return st.integers(min_value=0, max_value=K - 1)


def noise_rates(K: int | None = None, *, tolerant: bool = False) -> st.SearchStrategy[float]:
    """Rates η in [0, 1); with ``tolerant=True`` and K given, η < (K−1)/K (symmetric tolerance)."""
    hi = (K - 1) / K if (tolerant and K) else 1.0
    return st.floats(0.0, hi, exclude_max=True, allow_nan=False)


def noise_matrices(K: int, *, kind: str = "any", dominant: bool | None = None) -> st.SearchStrategy[np.ndarray]:
    """Row-stochastic K×K transition matrices, T[i, j] = P(noisy = j | clean = i).

    ``kind`` is "symmetric", "class_conditional" or "any" (either). ``dominant=True`` keeps
    T_yy > T_yk for all k ≠ y, ``False`` forces at least one row to break it, ``None`` either.
    """
    if kind not in ("any", "symmetric", "class_conditional"):
        raise ValueError(f"kind must be 'any', 'symmetric' or 'class_conditional', got {kind!r}")
    rows = st.lists(simplex_points(K), min_size=K, max_size=K).map(np.stack)
    general = rows
    if dominant is True:
        general = rows.map(_make_dominant)
    elif dominant is False:
        general = st.tuples(rows, st.integers(0, K - 1)).map(lambda a: _break_row(a[0], a[1]))
    sym = noise_rates(K, tolerant=dominant is True).map(lambda r: symmetric(K, r))
    if dominant is False:
        sym = st.floats((K - 1) / K, 1.0, exclude_max=True).map(lambda r: symmetric(K, r))
    if kind == "symmetric":
        return sym
    if kind == "class_conditional":
        return general
    return st.one_of(sym, general)


def _make_dominant(T: np.ndarray) -> np.ndarray:
    K = T.shape[0]
    T = 0.5 * T + 0.5 * np.eye(K) * (1 + 1e-3)
    return T / T.sum(1, keepdims=True)


def _break_row(T: np.ndarray, i: int) -> np.ndarray:
    T = T.copy()
    K = T.shape[0]
    j = (i + 1) % K
    T[i] = 0.0
    T[i, i], T[i, j] = 0.3, 0.7
    return T


def finite_problems(K: int | None = None, *, max_K: int = 5, max_x: int = 5,
                    deterministic: bool | None = None) -> st.SearchStrategy[FiniteProblem]:
    """Finite problems: P(x) and P(y | x) rows drawn with :func:`simplex_points`."""

    @st.composite
    def build(draw):
        k = K if K is not None else draw(class_counts(2, max_K))
        n_x = draw(st.integers(1, max_x))
        px = draw(simplex_points(n_x, interior=True)) if n_x > 1 else np.ones(1)
        det = deterministic if deterministic is not None else draw(st.booleans())
        if det:
            post = np.eye(k)[draw(st.lists(labels(k), min_size=n_x, max_size=n_x))]
        else:
            post = np.stack([draw(simplex_points(k)) for _ in range(n_x)])
        return FiniteProblem(px, post)

    return build()
