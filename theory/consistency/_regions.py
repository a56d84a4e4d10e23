"""Own prediction: whether the Bayes class's argmax region is strictly best, from the infimum of C_q
over every argmax region."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.consistency._order import flat_vertices, points, tied
from theory.consistency._records import Failure
from theory.losses import Input, Loss, Structure
from theory.minimise import Minimum, RegionEnumeration, Solver

__all__ = ["ACROSS_THE_TIE", "REGION_MARGIN_REL", "own_prediction", "region_values"]

#: the Bayes class's region is strictly best when every other region's infimum is above its own by
#: more than this, relative (the region values come from the minimiser's own method)
REGION_MARGIN_REL = 1e-10
#: for a logit loss whose minimiser ties the top two: the rival point lifts the tied class's
#: log-probability this far above the Bayes class's (relative), just across the tie
ACROSS_THE_TIE = 1e-6


def region_values(loss: Loss, q: np.ndarray, best: Minimum, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, K) infima of C_q over each argmax region, and (n, K, K) a point of each region attaining it."""
    n, K = q.shape
    if isinstance(best.certificate, RegionEnumeration):
        return best.certificate.region_values, best.certificate.region_points
    if best.method is Solver.BOUNDARY:
        from theory.minimise import split_normalised

        alpha, _, rest = split_normalised(loss)
        if rest is None:  # α·N alone: region t reaches every face p_j = 0, j ≠ t, so its infimum is α·min_{j≠t} q_j
            masked = np.where(np.eye(K, dtype=bool)[None], np.inf, q[:, None, :])  # (n, t, j)
            j = np.argmin(masked, axis=2)
            values = alpha * np.take_along_axis(masked, j[..., None], axis=2)[..., 0]
            points = np.full((n, K, K), 0.0)
            for t in range(K):
                others = (np.arange(K) != t)[None, :] & (np.arange(K)[None, :] != j[:, t][:, None])
                share = 0.5 / np.maximum(others.sum(1), 1)
                points[:, t] = np.where(others, share[:, None], 0.0)
                points[:, t, t] = 1.0 - points[:, t].sum(1)
            return values, points
    values = np.empty((n, K))
    points = np.empty((n, K, K))
    # generic: minimise C_q over the closure of region t, parametrised by moving the largest entry
    # of any point of the simplex to position t (uncertified, a local search)
    from theory.minimise import search

    for t in range(K):
        swapped = SwapToTop(name=f"{loss.name}@region{t}", params={}, input=loss.input, base=loss, t=t)
        p, v, _, _ = search(swapped, q, seed=seed, n_random=4, iterations=200)
        values[:, t] = v
        points[:, t] = swapped.move(p)
    return values, points


@dataclass(frozen=True, repr=False)
class SwapToTop(Loss):
    """L(π_t(p), y): π_t swaps the largest entry of p into position t (region t's closure)."""

    base: Loss = None
    t: int = 0

    @property
    def structure(self) -> Structure:
        return Structure.GENERAL

    def move(self, P: np.ndarray) -> np.ndarray:
        P = np.array(P, dtype=np.float64, copy=True)
        j = np.argmax(P, axis=-1)
        rows = np.arange(P.shape[0])
        top = P[rows, j].copy()
        P[rows, j] = P[rows, self.t]
        P[rows, self.t] = top
        return P

    def value(self, xp, pred, y):
        moved = self.move(np.asarray(pred.p).reshape(-1, pred.K)).reshape(np.shape(pred.p))
        return self.base(moved, np.broadcast_to(y, moved.shape[:-1]), validate=False)


def own_prediction(loss: Loss, q: np.ndarray, best: Minimum, seed: int) -> tuple[np.ndarray, list[Failure]]:
    """Own-prediction top-1 per posterior, with failures."""
    n, K = q.shape
    logits = loss.input is Input.LOGITS
    P = points(loss, best)
    t_star = np.argmax(q, axis=1)
    t_hat = np.argmax(P, axis=1)
    ps = -np.sort(-P, axis=1)
    top_tied = tied(ps[:, 0], ps[:, 1], logits=logits)
    flat = flat_vertices(best)
    ambiguous = top_tied | flat
    ok = (t_hat == t_star) & ~ambiguous
    failures = []
    if logits:  # no region infima over logits: a tied top is a candidate for the re-check
        for i in np.flatnonzero(~ok):
            if top_tied[i] and t_hat[i] == t_star[i]:
                # the first-index argmax predicts the Bayes class: the question is whether the tied class's
                # region does as well; its point just across the tie is the rival (a discontinuous loss, such
                # as the 0-1 loss, is worse there; a continuous one ties and stays undecided)
                rest = np.where(np.arange(K) == t_star[i], -np.inf, P[i])
                b = int(np.argmax(rest))
                rival = P[i].copy()
                rival[b] = P[i, t_star[i]] + ACROSS_THE_TIE * max(1.0, abs(P[i, t_star[i]]))
                failures.append(Failure(1, q[i], best.p[i], float(best.value[i]), "region", rival, log_p=P[i]))
                continue
            why = "tie" if top_tied[i] else "order"
            failures.append(Failure(1, q[i], best.p[i], float(best.value[i]), why, log_p=P[i]))
        return ok, failures
    if ambiguous.any() or best.method is Solver.REGIONS:
        idx = np.flatnonzero(ambiguous) if best.method is not Solver.REGIONS else np.arange(n)
        V, Pt = region_values(loss, q[idx], best.take(idx), seed)
        own = V[np.arange(len(idx)), t_star[idx]]
        others = np.where(np.eye(K, dtype=bool)[t_star[idx]], np.inf, V)
        rival = np.argmin(others, axis=1)
        margin = others[np.arange(len(idx)), rival] - own
        tol = REGION_MARGIN_REL * np.maximum(1.0, np.abs(own))
        good = margin > tol
        ok[idx] = good
        for j in np.flatnonzero(~good):
            i = idx[j]
            failures.append(Failure(1, q[i], best.p[i], float(best.value[i]), "region", Pt[j, rival[j]]))
    for i in np.flatnonzero(~ok):
        if not any(f.q is q[i] or np.array_equal(f.q, q[i]) for f in failures):
            failures.append(Failure(1, q[i], best.p[i], float(best.value[i]), "order"))
    return ok, failures
