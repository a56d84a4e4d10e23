"""Moves that repair one position of a minimiser's order, and how C_q changes along them: the rivals
the re-check weighs a candidate failure against."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theory.losses import Input, Loss
from theory.minimise import loss_vectors

__all__ = ["EXACT_ROUNDING", "FINE_STEPS", "REPAIR_STEPS", "ROUNDING_ULPS", "SATURATION_REL", "SNAP_REL", "ascends",
           "descends", "lifted_to_q", "pair", "repair_move", "repairs", "rival_margins", "transfer"]

#: the masses the re-check of a search's point moves into a position's receiver: a ladder fine
#: enough that the first-order gain of repairing a tie at a near-tie of q (|ΔC| ≈ (q_a − q_b)·|φ'|·d,
#: against a second-order cost ∝ d²) shows on consecutive rungs
FINE_STEPS = tuple(10.0 ** (-e / 2) for e in range(24, 5, -1))
#: rounding allowed per unit of Σ q_k (|L(r, k)| + |L(p, k)|) over the labels whose loss changed
ROUNDING_ULPS = 64 * np.finfo(np.float64).eps
#: rounding allowed per unit of C_q in a difference of two 50-digit values at points moved in exact
#: rational arithmetic (theory.verify.exact.exact_risks_along)
EXACT_ROUNDING = 1e-40
#: the masses a repair of a certified minimiser moves (:func:`repairs`): one per few decades, from just
#: above a tie's relative resolution (:data:`theory.consistency._order.TIE_REL`) to a visible move
REPAIR_STEPS = (1e-9, 1e-6, 1e-3)
#: two coordinates this close (relative) may be a tie a search did not resolve (:meth:`theory.consistency._recheck.Rechecker.kink_tie`)
SNAP_REL = 1e-3
#: a lifted point (:func:`lifted_to_q`) below the tied one by more than this relative amount shows the
#: loss does not saturate there (far above float64's relative rounding of C_q, 1e-16)
SATURATION_REL = 1e-12


def pair(p: np.ndarray, q: np.ndarray, k: int) -> tuple[int, int]:
    """The two classes across position k that a repair moves mass between (see :func:`repairs`):
    q's top-k class that p ranks lowest, and the class outside it that p ranks highest."""
    order = np.argsort(-q, kind="stable")
    top, rest = order[:k], order[k:]
    return int(top[np.argmin(p[top])]), int(rest[np.argmax(p[rest])])


def lifted_to_q(log_p: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """A logit loss's point (log-probabilities) with the two classes across position k of q's order
    set to log q of each and the largest class holding the rest: where a loss does not saturate as
    logits go to −∞, this is better than leaving the two tied at a search box's bound."""
    order = np.argsort(-q, kind="stable")
    a, b = order[k - 1], order[k]
    p = np.exp(log_p - np.max(log_p))
    p /= p.sum()
    top = int(np.argmax(p))
    out = p.copy()
    for c in (a, b):
        if c != top:
            out[c] = q[c]
    out[top] = max(1.0 - (out.sum() - out[top]), np.finfo(float).tiny)
    return np.log(np.clip(out, np.finfo(float).tiny, None))


def repairs(p: np.ndarray, q: np.ndarray, k: int, steps: Sequence[float] = REPAIR_STEPS, *,
            logits: bool = False) -> list[np.ndarray]:
    """Points that repair position ``k`` of ``p`` against q and nothing else (:func:`repair_move`):
    p moved by each amount along the repair direction."""
    direction, amounts = repair_move(p, q, k, steps, logits=logits)
    return [p + a * direction for a in amounts]


def repair_move(p: np.ndarray, q: np.ndarray, k: int, steps: Sequence[float], *, logits: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """(direction, amounts) of the moves that repair position ``k`` of ``p`` against q and nothing
    else: mass moved into the class of q's top-k set that p ranks lowest (the "receiver"), taken
    from the class outside the top-k set that p ranks highest, or from p's largest entry when that
    one is 0, by each of ``steps`` but at most half of the donor's mass. For a logit loss
    (``logits``: p holds log-probabilities) the receiver's logit rises and the donor's falls by each
    step. ``direction`` is e_receiver − e_donor (integers)."""
    receiver, donor = pair(p, q, k)
    if not logits and p[donor] <= 0:
        donor = int(np.argmax(np.where(np.arange(len(p)) == receiver, -np.inf, p)))
    direction = transfer(len(p), donor, receiver)
    amounts = np.asarray(steps, dtype=np.float64)
    if not logits:  # the donor keeps some mass: zeroing it would leave the open simplex
        amounts = np.minimum(amounts, p[donor] / 2)
        amounts = amounts[amounts > 0]
    return direction, amounts


def transfer(K: int, src: int, dst: int) -> np.ndarray:
    """e_dst − e_src as integers: the direction that moves mass from class ``src`` to ``dst``."""
    direction = np.zeros(K, dtype=np.int64)
    direction[dst], direction[src] = 1, -1
    return direction


def rival_margins(loss: Loss, p: np.ndarray, rivals: Sequence[np.ndarray], q: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """C_q(r) − C_q(p) for every rival r, as Σ_k q_k (L(r, k) − L(p, k)), and a bound on its
    rounding: :data:`ROUNDING_ULPS` per unit of Σ_k q_k (|L(r, k)| + |L(p, k)|) over the labels
    whose loss changed. Labels whose loss did not change contribute exactly 0, so for a loss of
    p_y the margin carries the rounding of two labels (weighted by their q) instead of that of two
    whole values of C_q, and no cancellation between them. Float64; p and the rivals hold logits
    (log-probabilities) for a loss of logits. A rival whose loss is not finite where p's is gets
    margin +inf."""
    if not len(rivals):
        return np.zeros(0), np.zeros(0)
    V = loss_vectors(loss, np.vstack([p[None], np.asarray(rivals)]), logits=loss.input is Input.LOGITS)
    base, R = V[0], V[1:]
    weight = np.where(q > 0, q, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        D = np.where(q > 0, R - base, 0.0)
        margins = (weight * D).sum(1)
        rounding = ROUNDING_ULPS * (weight * np.where(D != 0, np.abs(R) + np.abs(base), 0.0)).sum(1)
    bad = ~np.isfinite(margins)
    return np.where(bad, np.inf, margins), np.where(bad, 0.0, rounding)


def ascends(margins: np.ndarray, rounding: np.ndarray, moves: np.ndarray) -> bool:
    """Whether rivals on a ladder of growing ``moves`` all cost more than their rounding, at first
    order from the smallest moves on (a kink): over the three smallest rungs the margin grows
    like the move, not like its square (ratio at most (Δmove)^1.5). A smooth minimum within the
    smallest move of p grows like the square."""
    if len(margins) < 3 or not np.all(margins > rounding):
        return False
    return bool(np.all(margins[1:3] / margins[:2] <= (moves[1:3] / moves[:2]) ** 1.5))


def descends(margins: np.ndarray, rounding: np.ndarray) -> bool:
    """Whether rivals on a ladder of growing moves show a first-order descent: two consecutive
    rungs better than p beyond their rounding, the larger move gaining at least 1.5 times as
    much (a gain ∝ the move; rounding noise does not grow with the move)."""
    gain = np.where(margins < -rounding, -margins, 0.0)
    return bool(np.any((gain[:-1] > 0) & (gain[1:] >= 1.5 * gain[:-1])))
