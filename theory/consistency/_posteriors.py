"""The posteriors a classification is judged over: spread ones, near-ties and tiny entries, where the
tie mechanisms of clamped and ε-losses appear (see :func:`posteriors`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["NEAR_TIE", "PINNED", "TINY", "min_gap", "posteriors"]

#: posteriors every classification includes (when of length K): the paper's example, and a near
#: tie of the top two where CE_ε+MAE's minimiser ties them (PAPER.md §5, issue 14)
PINNED = (np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.3996, 0.2004]))
NEAR_TIE = (1e-6, 1e-2)  # relative gaps of the near-tied pairs, log-uniform
TINY = (1e-9, 1e-6)  # tiny entries, log-uniform


def min_gap(K: int) -> float:
    """The smallest gap between sorted entries of a "spread" posterior: min(0.02, 0.2/K²)."""
    return min(0.02, 0.2 / K**2)


def _spread(K: int, m: int, rng: np.random.Generator) -> np.ndarray:
    gap = min_gap(K)
    g = gap / (1 - gap * K * (K - 1) / 2)
    w = -np.sort(-rng.dirichlet(np.ones(K), size=m), axis=1) + g * np.arange(K - 1, -1, -1)
    return w / w.sum(1, keepdims=True)


def _near_tie(K: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows with one adjacent pair nearly tied: the top two for half of them."""
    w = _spread(K, m, rng)
    for row in w:
        j = 0 if rng.random() < 0.5 else int(rng.integers(0, K - 1))
        r = 10 ** rng.uniform(np.log10(NEAR_TIE[0]), np.log10(NEAR_TIE[1]))
        mid = 0.5 * (row[j] + row[j + 1])
        row[j], row[j + 1] = mid * (1 + r / 2), mid * (1 - r / 2)  # q_j − q_{j+1} = r·mid
    return w


def _tiny(K: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows whose one or two smallest entries are tiny (and distinct)."""
    w = _spread(K, m, rng)
    for row in w:
        n_tiny = 1 if K < 3 or rng.random() < 0.5 else 2
        vals = np.sort(10 ** rng.uniform(np.log10(TINY[0]), np.log10(TINY[1]), size=n_tiny))[::-1]
        if n_tiny == 2 and vals[0] < 2 * vals[1]:
            vals[1] = vals[0] / 3
        row[K - n_tiny:] = vals
        row[: K - n_tiny] *= (1 - vals.sum()) / row[: K - n_tiny].sum()
    return w


def posteriors(K: int, n: int, rng: np.random.Generator, *, pinned: Sequence[np.ndarray] = ()) -> np.ndarray:
    """``pinned`` rows of length K, then ``n`` − len(pinned) random posteriors with distinct entries:
    a third "spread" (sorted entries ≥ :func:`min_gap` apart), a third with one nearly tied pair
    (relative gap in 1e-6..1e-2, the top pair half of the time), a third with tiny entries
    (1e-9..1e-6); classes randomly permuted."""
    rows = [np.asarray(p, dtype=np.float64) for p in pinned if len(p) == K]
    m = max(n - len(rows), 0)
    sizes = [m - 2 * (m // 3), m // 3, m // 3]
    parts = [f(K, s, rng) for f, s in zip((_spread, _near_tie, _tiny), sizes) if s]
    w = np.concatenate(parts) if parts else np.zeros((0, K))
    perm = np.argsort(rng.random(w.shape), axis=1)
    q = np.take_along_axis(w, np.argsort(perm, axis=1), axis=1)
    out = np.vstack([*[r[None] for r in rows], q]) if rows else q
    srt = np.sort(out, axis=1)
    if not np.all(np.diff(srt, axis=1) > 0):  # pragma: no cover - the constructions keep entries apart
        raise AssertionError("sampled posteriors must have distinct entries")
    return out
