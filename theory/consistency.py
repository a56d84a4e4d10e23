"""Top-k and All-k consistency of a loss, judged from its conditional-risk minimisers.

For a posterior q with distinct entries, a loss is *top-k consistent* at q when every minimiser
p* of C_q(p) = Σ_k q_k L(p, k) has a well-defined top-k set (p*_(k) > p*_(k+1) by more than
:data:`TIE`) equal to the top-k set of q; *All-k consistent* when this holds for every
k = 1..K−1 (Zhu, Ying, Yang 2023). A minimiser that ties classes across position k has no top-k
set and counts as a failure at k. The verdicts here are over sampled posteriors, with the global
minimisers of :mod:`theory.minimise` (whose ``exact`` flag says whether they are certified).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory.losses import Loss
from theory.minimise import minimise_conditional_risk

__all__ = ["TIE", "Consistency", "classify", "consistency", "distinct_posteriors", "min_gap", "topk_ok"]

TIE = 1e-7


def min_gap(K: int) -> float:
    """The smallest gap between sorted entries of a sampled posterior: min(0.02, 0.2/K²)."""
    return min(0.02, 0.2 / K**2)


def distinct_posteriors(K: int, n: int, rng: np.random.Generator, *, pinned: Sequence[np.ndarray] = ()) -> np.ndarray:
    """``pinned`` rows (those of length K) followed by random posteriors whose sorted entries are
    at least :func:`min_gap` apart, so the top-k set of q is unambiguous for every k.

    Each is a Dirichlet(1) draw, sorted, plus a ladder g·(K−1−j) on the j-th largest entry,
    renormalised (g chosen so the gaps are ≥ min_gap(K) after renormalisation), with the classes
    randomly permuted.
    """
    rows = [np.asarray(p, dtype=np.float64) for p in pinned if len(p) == K]
    m = max(n - len(rows), 0)
    gap = min_gap(K)
    g = gap / (1 - gap * K * (K - 1) / 2)
    w = -np.sort(-rng.dirichlet(np.ones(K), size=m), axis=1) + g * np.arange(K - 1, -1, -1)
    w /= w.sum(1, keepdims=True)
    perm = np.argsort(rng.random((m, K)), axis=1)
    q = np.take_along_axis(w, np.argsort(perm, axis=1), axis=1)
    return np.vstack([*[r[None] for r in rows], q]) if rows else q


def topk_ok(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(n, K−1) booleans: is the top-k set of p well defined (gap > TIE) and equal to q's, k = 1..K−1."""
    K = q.shape[1]
    order_q = np.argsort(-q, axis=1)
    ps = -np.sort(-p, axis=1)
    out = np.empty((len(q), K - 1), dtype=bool)
    for k in range(1, K):
        strict = ps[:, k - 1] - ps[:, k] > TIE
        top_p = np.sort(np.argsort(-p, axis=1, kind="stable")[:, :k], axis=1)
        same = np.all(top_p == np.sort(order_q[:, :k], axis=1), axis=1)
        out[:, k - 1] = strict & same
    return out


def classify(holds: Sequence[bool]) -> str:
    """A label from ``holds[k − 1]`` = "top-k consistent", k = 1..K−1."""
    holds = list(holds)
    if all(holds):
        return "All-k"
    if not holds[0]:
        return "not even top-1"
    ks = [k + 1 for k, h in enumerate(holds) if h]
    return "top-1 only" if ks == [1] else f"top-k for k ∈ {ks}"


@dataclass(frozen=True)
class Consistency:
    """Which top-k consistencies held over the sampled posteriors, with a witness per failure.

    ``holds[k]`` for k = 1..K_max−1 (a k checked at several K holds when it held at every one);
    ``witnesses["top-k"]`` = {"K", "q", "p_star"} for the first failing posterior;
    ``exact`` whether every minimiser was certified; ``n_posteriors`` per K.
    """

    holds: dict[int, bool]
    witnesses: dict[str, dict[str, Any]]
    method: str
    exact: bool
    n_posteriors: dict[int, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return classify([self.holds[k] for k in sorted(self.holds)])


def consistency(loss: Loss, Ks: Sequence[int], n: int, rng: np.random.Generator, *, seed: int = 0,
                pinned: Sequence[np.ndarray] = ()) -> Consistency:
    """Top-k consistency of ``loss`` for every k < K, K in ``Ks``, over ``n`` sampled posteriors per K."""
    holds: dict[int, bool] = {}
    witnesses: dict[str, dict[str, Any]] = {}
    methods, exact, counts = [], True, {}
    for K in Ks:
        q = distinct_posteriors(K, n, rng, pinned=pinned)
        best = minimise_conditional_risk(loss, q, seed=seed)
        methods.append(best.method)
        exact = exact and best.exact
        counts[int(K)] = len(q)
        ok = topk_ok(best.p, q)
        for k in range(1, K):
            good = bool(ok[:, k - 1].all())
            holds[k] = holds.get(k, True) and good
            if not good and f"top-{k}" not in witnesses:
                j = int(np.argmin(ok[:, k - 1]))
                witnesses[f"top-{k}"] = {"K": int(K), "q": q[j].tolist(), "p_star": best.p[j].tolist()}
    return Consistency(holds, witnesses, " / ".join(dict.fromkeys(methods)), exact, counts)
