"""Losses with one normalised term: L = α·N + rest, N(p, y) = a(p_y) / Σ_k a(p_k) (NCE, NFL).

Facts used (a decreasing, a(1) = 0, a(0+) = ∞, so N ≥ 0 and Σ_y N(p, y) = 1):

1. As p ranges over the open simplex, the loss vector (N(p, k))_k ranges over the whole open
   simplex: for a direction d > 0, p_k = a⁻¹(λ d_k) has Σ_k p_k = 1 for some λ (the sum falls
   continuously from K to 0). So inf_p q·N(p) = min_k q_k, never attained, and
   C_q >= α min_k q_k + inf C^rest_q: a lower bound (LB) whenever inf C^rest is known exactly.
2. Along p → p̄ with exactly one zero coordinate j (the others fixed and positive), N(p) → e_j
   and C_q(p) → α q_j + C^rest_q(p̄): every such boundary limit is a value the infimum can take.
   Limits with two or more zeros Z give at best α min_Z q_k on a smaller face, never better than
   the single zero argmin_Z q_k, so single zeros suffice.

The minimiser compares, per q, the K boundary limits (rest minimised on each face {p_j = 0}) with
a search of the interior. The result is exact when it meets LB; otherwise the gap to LB is a
certified bound on its sub-optimality. A boundary minimiser is reported through its face point p̄
(where N itself is 0/0) and its *limit* loss vector α e_j + (rest(p̄, k))_k.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from theory.losses import Atom, Loss, Named, Structure, WeightedSum
from theory.minimise._certificates import BoundaryLimits
from theory.minimise._risk import loss_vectors, risk_of_vectors
from theory.minimise._search import search


def split_normalised(loss: Loss) -> tuple[float, Loss, Loss | None] | None:
    """(α, N, rest) when ``loss`` is α·N (+ rest) with exactly one normalised term, else None."""
    while isinstance(loss, Named):
        loss = loss.inner
    terms = loss.terms if isinstance(loss, WeightedSum) else ((1.0, loss),)

    def is_normalised_atom(term: Loss) -> bool:
        # an atom, not any loss of normalised structure: a registered multiple c·N would sum to c
        while isinstance(term, Named):
            term = term.inner
        return isinstance(term, Atom) and term.kind is Structure.NORMALISED

    flags = [is_normalised_atom(t) for _, t in terms]
    normalised = [term for term, flag in zip(terms, flags) if flag]
    others = [term for term, flag in zip(terms, flags) if not flag]
    if len(normalised) != 1 or any(t.structure is Structure.NORMALISED for _, t in others):
        return None
    (alpha, N), = normalised
    rest = None if not others else WeightedSum.of(list(others))
    return alpha, N, rest


def minimise_normalised(loss: Loss, q: np.ndarray, minimise: Callable, *, seed: int, n_random: int,
                        iterations: int):
    """Returns (p, value, loss vectors, exact, :class:`BoundaryLimits`) per row of q (n, K)."""
    alpha, _, rest = split_normalised(loss)
    n, K = q.shape
    rows = np.arange(n)
    q_min = q.min(1)

    # boundary limits: zero on one coordinate j, rest minimised on that face. Faces are visited
    # by increasing q_j and skipped once α q_j + inf rest cannot beat the best limit so far.
    lower, rest_exact, rest_method = alpha * q_min, True, None
    if rest is not None:
        full = minimise(rest, q)
        rest_exact, rest_method = full.exact, full.method
        lower = lower + full.value - full.value_error  # inf C^rest >= its found value less its error
    order = np.argsort(q, axis=1, kind="stable")
    value = np.full(n, np.inf)
    p = np.zeros((n, K))
    vec = np.zeros((n, K))
    j_best = np.full(n, -1)
    for rank in range(K):
        j = order[:, rank]
        todo = rows if rank == 0 else np.flatnonzero(
            alpha * q[rows, j] + (lower - alpha * q_min) < value - _tol(value))
        if todo.size == 0:
            break
        jt = j[todo]
        if rest is None:
            face_p = (1.0 - np.eye(K)[jt]) / (K - 1)
            face_vec = np.zeros((todo.size, K))
        else:
            face_p = _face_minimiser(rest, q[todo], jt, minimise, seed=seed, n_random=n_random,
                                     iterations=iterations)
            face_vec = loss_vectors(rest, face_p)
        face_vec = face_vec + alpha * np.eye(K)[jt]
        face_val = risk_of_vectors(face_vec, q[todo])
        better = face_val < value[todo]
        sel = todo[better]
        value[sel], p[sel], vec[sel], j_best[sel] = face_val[better], face_p[better], face_vec[better], jt[better]

    # interior: N is smooth there; a local search can only gain the remaining gap to the bound,
    # so it runs only where that gap is not negligible
    open_gap = np.flatnonzero(value - lower > _GAP_WORTH_SEARCHING * np.maximum(1.0, np.abs(value)))
    if open_gap.size:
        p_in, v_in, _, _ = search(loss, q[open_gap], seed=seed, n_random=n_random, iterations=iterations)
        inside = v_in < value[open_gap]
        sel = open_gap[inside]
        p[sel], value[sel], j_best[sel] = p_in[inside], v_in[inside], -1
        vec[sel] = loss_vectors(loss, p_in[inside])

    gap = value - lower
    exact = bool(rest_exact and np.all(gap <= _tol(value)))
    certificate = BoundaryLimits(lower_bound=lower if rest_exact else None, gap=gap if rest_exact else None,
                                 zero_coordinate=j_best, rest_method=rest_method, interior_searched=int(open_gap.size))
    return p, value, vec, exact, certificate


#: the interior is searched only where the limit's value exceeds the lower bound by more than this (relative)
_GAP_WORTH_SEARCHING = 1e-6
#: a face is skipped, and a limit is exact, within this (relative) of the best value: the faces' own
#: minimisers are certified to about this
_EXACT_REL = 1e-10


def _tol(value):
    return _EXACT_REL * np.maximum(1.0, np.abs(value))


def _face_minimiser(rest: Loss, q: np.ndarray, j: np.ndarray, minimise: Callable, *, seed, n_random,
                    iterations) -> np.ndarray:
    """argmin of C^rest_q over the face {p_j = 0}, one j per row of q (n, K)."""
    n, K = q.shape
    rows = np.arange(n)
    off = np.eye(K, dtype=bool)[j]
    if K == 2:
        return (~off).astype(float)
    if rest.structure is Structure.POINTWISE:
        # the label j's term q_j φ(p_j) is the constant q_j φ(0) on the face: drop its weight,
        # solve on the simplex, then move any mass left on j to the heaviest other coordinate
        # (φ non-increasing makes that no worse; the caller re-evaluates the exact value).
        qf = np.where(off, 0.0, q)
        total = qf.sum(1, keepdims=True)
        fallback = (~off) / (K - 1)
        safe = np.where(total > 0, qf / np.where(total > 0, total, 1.0), fallback)
        p = minimise(rest, safe).p.copy()
        heavy = np.argmax(np.where(off, -np.inf, safe), axis=1)
        p[rows, heavy] += p[rows, j]
        p[rows, j] = 0.0
        return p
    # otherwise a search on the face, also started from the unconstrained minimiser with the
    # mass of j moved to the heaviest other coordinate
    start = minimise(rest, q).p.copy()
    heavy = np.argmax(np.where(off, -np.inf, q), axis=1)
    start[rows, heavy] += start[rows, j]
    start[rows, j] = 0.0
    return search(rest, q, seed=seed, n_random=0, iterations=iterations, face=off,
                  extra=start[:, None, :])[0]
