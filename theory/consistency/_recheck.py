"""The re-check of candidate failures, independent of the computation that found them: confirmed,
dismissed or undecided (:class:`Rechecker`), position by position (:func:`confirm`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from theory.consistency._moves import (
    EXACT_ROUNDING,
    FINE_STEPS,
    ROUNDING_ULPS,
    SATURATION_REL,
    SNAP_REL,
    ascends,
    descends,
    lifted_to_q,
    pair,
    repair_move,
    repairs,
    rival_margins,
    transfer,
)
from theory.consistency._order import TIE_REL, conditional_value, limit_value, points, strict_topk
from theory.consistency._records import Failure, Notion, NotionResult
from theory.losses import Input, Loss
from theory.minimise import Minimum, Solver, golden_section, minimise_conditional_risk
from theory.streams import derived_seed
from theory.tolerances import BOX_WIDENING, SAME_VALUE_REL
from theory.verify.evidence import Recheck

__all__ = ["BOX_WIDENING", "CERTIFIED_GAP_REL", "EXACT_AGREE_REL", "EXACT_TIE_REL", "FLOAT_AGREE_REL", "FLOAT_REGION_REL",
           "MAX_TRIES", "SEARCH_RESOLUTION_REL", "Rechecker", "confirm", "kink_probes"]

#: how many candidate failures per position the re-check tries before calling it undecided
MAX_TRIES = 8
#: a minimiser found by a search counts as certified when its stated error (the largest over the
#: posteriors) is at most this, relative to C_q
CERTIFIED_GAP_REL = 1e-6
#: C_q at a candidate and at a point it is compared with agree within this, relative, when both are
#: 50-digit values through the loss's sympy path (EXACT) or float64 evaluations (FLOAT)
EXACT_AGREE_REL = 1e-13
FLOAT_AGREE_REL = 1e-10
#: two argmax regions' 50-digit values tie when they agree to this, relative: two regions meeting at
#: one infimum agree to the last digits, anything looser is one region better than the other
EXACT_TIE_REL = 1e-30
#: two regions' float64 values differ when apart by more than this, relative (beyond rounding of C_q)
FLOAT_REGION_REL = 1e-12
#: what a float64 search resolves in C_q, relative: a smaller difference is not seen by a search
SEARCH_RESOLUTION_REL = SAME_VALUE_REL


def kink_probes(q: np.ndarray, best: Minimum, ok: np.ndarray, checker: Rechecker) -> list[Failure]:
    """Ties at a kink that a search stopped short of: at every position k that holds, the two
    classes across it within :data:`SNAP_REL` of each other (a search ends within its resolution
    of a tie at a clamp, in either order) are probed by :meth:`Rechecker.kink_tie`; each tie it
    shows becomes a candidate failure at the tied point."""
    out = []
    for i, kk in zip(*np.nonzero(ok)):
        k = int(kk) + 1
        probe = Failure(k, q[i], best.p[i], float(best.value[i]), "order", minimiser=best.p[i])
        kink = checker.kink_tie(probe)
        if kink is not None:
            out.append(Failure(k, q[i], kink[0], kink[1], "tie", minimiser=best.p[i]))
    return out


def confirm(notion: Notion, K: int, failures: list[Failure], checker: Rechecker) -> NotionResult:
    """Re-check candidate failures position by position: the first confirmed one decides that the
    position fails; dismissed candidates (float artefacts) are dropped; if the candidates tried
    are only undecided, the position is undecided."""
    holds: list[bool | None] = []
    kept: list[Failure] = []
    for k in range(1, K):
        cands = [f for f in failures if f.k == k]
        if not cands:
            holds.append(True)
            continue
        state: bool | None = True
        for f in cands[:MAX_TRIES]:
            status, how, *tied = checker(f)
            if tied:  # confirmed as a tie at a kink next to the candidate: the tied point is the witness
                point, value = tied[0]
                f = replace(f, p_star=point, why="tie", value=value)
            kept.append(replace(f, recheck=status, how=how))
            if status is Recheck.CONFIRMED:
                state = False
                break
            if status is Recheck.UNDECIDED:
                state = None
        if state is True and len(cands) > MAX_TRIES:  # more candidates than were re-checked: not all were dismissed
            state = None
            kept.append(replace(cands[MAX_TRIES], recheck=Recheck.UNDECIDED,
                                how=f"not re-checked: {len(cands)} candidates at position {k}, the first {MAX_TRIES} "
                                    "were dismissed and the rest were not tried"))
        holds.append(state)
    return NotionResult(notion, tuple(holds), tuple(kept))


class Rechecker:
    """Re-checks one candidate failure, independently of the computation that found it.

    Confirmed when (A) the minimiser is certified (an exact method, or a certified gap ≤
    :data:`CERTIFIED_GAP_REL` relative), or a second search with another seed and more starts finds the same failure at
    no larger value; and (B) every rival that repairs *only* position k (a little mass moved into
    the class of q's top-k set that p* ranks lowest; for an own-prediction failure, the best point
    of the Bayes class's region) is strictly worse, evaluated at 50 digits through the loss's
    sympy path (float64 for plain callables). Dismissed when a rival is strictly better (the
    candidate is not a minimiser). Undecided otherwise (a rival ties, or the second search
    disagrees)."""

    def __init__(self, loss: Loss, best: Minimum, gap: float | None, seed: int):
        self.loss, self.best, self.gap, self.seed = loss, best, gap, seed
        self.second_seed = derived_seed(seed, "consistency re-check", "second search")  # independent of the first
        self._second: dict[bytes, Minimum] = {}
        self._exact: dict[tuple[bytes, bytes], Any] = {}  # 50-digit C_q at points a kink probe moves from
        self.exact_ok = loss.input is Input.PROBS and has_sympy(loss)

    def _plain(self, loss: Loss, p: np.ndarray, q: np.ndarray) -> float:
        if self.exact_ok:
            try:
                from theory.verify.exact import exact_conditional_risk

                v = exact_conditional_risk(loss, p, q)
                if v.is_finite:
                    return float(v)
            except (ValueError, TypeError, ZeroDivisionError, NotImplementedError):
                pass
        return conditional_value(loss, p, q)

    def value(self, p: np.ndarray, q: np.ndarray) -> float:
        """C_q(p); for a loss with a normalised term at a point with zero coordinates, its least
        boundary limit α·q_j + C^rest_q(p) over the zero coordinates j (where N itself is 0/0)."""
        if self.best.method is Solver.BOUNDARY:
            return limit_value(self.loss, p, q, self._plain)
        return self._plain(self.loss, p, q)

    def certified(self, value: float) -> bool:
        if self.best.exact:
            return True
        return self.gap is not None and self.gap <= CERTIFIED_GAP_REL * (1 + abs(value))

    def __call__(self, f: Failure) -> tuple:
        """(status, what was done), and for a failure confirmed as a tie at a kink next to the
        candidate (:meth:`kink_tie`) a third item: (the tied point, its C_q), which becomes the witness."""
        if f.why == "region":  # another argmax region reaches the Bayes region's value
            return self._region(f)
        return self._order(f)

    @property
    def digits(self) -> str:
        return "50-digit" if self.exact_ok else "float64"

    def _region(self, f: Failure) -> tuple:
        """An own-prediction failure: is the rival region's point as good as the Bayes region's?"""
        digits = self.digits
        own = self.value(f.point, f.q)
        rival = self.value(f.rival, f.q)
        certified = self.best.method is Solver.REGIONS or self.certified(own)
        if self.exact_ok:
            # both values exact: a tie must hold to the last digits (two regions meeting at one
            # infimum), a strictly better rival region refutes; anything else is not a failure
            if rival <= own + EXACT_TIE_REL * (1 + abs(own)) and certified:
                return Recheck.CONFIRMED, (f"{digits}: a point of another argmax region has C_q = {rival:.15g} ≤ the Bayes "
                                           f"region's {own:.15g} (region infima by {self.best.method.value})")
            if rival > own:
                return Recheck.DISMISSED, (f"{digits}: the rival region's point is worse ({rival:.15g} > {own:.15g}), "
                                           "the Bayes region is strictly best")
            return Recheck.UNDECIDED, f"{digits}: rival region {rival:.15g} vs {own:.15g}, minimisers not certified"
        if rival < own - FLOAT_REGION_REL * (1 + abs(own)) and certified:
            return Recheck.CONFIRMED, f"float64: another argmax region is strictly better ({rival:.12g} < {own:.12g})"
        if rival > own + FLOAT_REGION_REL * (1 + abs(own)):
            return Recheck.DISMISSED, f"float64: the rival region's point is worse ({rival:.12g} > {own:.12g})"
        return Recheck.UNDECIDED, f"float64: the regions' values {rival:.12g} and {own:.12g} agree to float precision"

    def _order(self, f: Failure) -> tuple:
        """A failure of order or a tie at position k: the rivals that repair only k, then, for a
        minimiser that is not certified, a second search (:meth:`_second_search`)."""
        digits = self.digits
        tol = (EXACT_AGREE_REL if self.exact_ok else FLOAT_AGREE_REL) * (1 + abs(f.value))
        base = self.value(f.point, f.q)
        if f.minimiser is not None:  # a tied or alternative point: is it as good as the minimiser?
            reference = self.value(f.minimiser, f.q)
            if base > reference + tol:
                return Recheck.DISMISSED, (f"{digits}: the tied point is worse than the minimiser ({base:.12g} > "
                                           f"{reference:.12g}): not a minimiser")
        logits = self.loss.input is Input.LOGITS
        if self.certified(base) or self.best.method is Solver.BOUNDARY:  # values compared (boundary limits)
            rivals = repairs(f.point, f.q, f.k, logits=logits)
            margins = np.array([self.value(r, f.q) - base for r in rivals])
            better = bool(np.any(margins < -tol))
        else:  # a search's point: a fine ladder of moves, as exact differences (50 digits) or of loss vectors
            direction, amounts = repair_move(f.point, f.q, f.k, FINE_STEPS, logits=logits)
            margins, rounding = self.along(f.point, direction, amounts, f.q, exact=True)
            # a first-order gain, and the best rival ordered at position k: a δ-off point of a
            # minimiser that is itself misordered gains at first order too, but stays misordered
            best_rival = f.point + amounts[int(np.argmin(margins))] * direction if len(amounts) else f.point
            better = descends(margins, rounding) and bool(
                strict_topk(best_rival[None], f.q[None], logits=logits)[0, f.k - 1])
        margin = float(margins.min()) if len(margins) else np.inf
        if better:
            return Recheck.DISMISSED, (f"{digits}: a rival repairing position {f.k} is better by {-margin:.3g} and ordered "
                                       "there: not a minimiser")
        rivals_text = (f"no rival repairing only position {f.k} is better (smallest margin {margin:.3g})"
                       if len(margins) else "no rival can repair this position")
        if self.certified(base):
            cert = "exact" if self.best.exact else f"certified to within {self.gap:.2g}"
            return Recheck.CONFIRMED, (f"{digits}: C_q(p*) = {base:.12g}, minimiser {cert} ({self.best.method.value}); "
                                       f"{rivals_text}")
        resolution = SEARCH_RESOLUTION_REL * (1 + abs(base))
        largest = float(margins.max()) if len(margins) else np.inf  # the rival with the largest move
        kink = self.kink_tie(f)
        if f.why != "tie" and largest <= resolution and kink is None:
            return Recheck.UNDECIDED, (f"{digits}: the minimiser is not certified and the rivals repairing position {f.k} "
                                       f"differ from it by at most {largest:.3g}, below what a search resolves "
                                       f"({resolution:.2g})")
        return self._second_search(f, base, margin, rivals_text, kink, tol, resolution)

    def _second_search(self, f: Failure, base: float, margin: float, rivals_text: str,
                       kink: tuple[np.ndarray, float, str] | None, tol: float, resolution: float) -> tuple:
        """The verdict on a failure at a minimiser that is not certified: a second search with another
        seed and more starts (over logits, in a box :data:`BOX_WIDENING` times wider) must find the same
        failure at no larger value; a tie at a kink (:meth:`kink_tie`) or of logits at the box's bound
        where the loss saturates needs the same."""
        digits, logits = self.digits, self.loss.input is Input.LOGITS
        box = BOX_WIDENING * self.best.certificate.box if logits else 30.0
        key = f.q.tobytes()
        if key not in self._second:  # one second search per posterior, whichever position it judges
            self._second[key] = minimise_conditional_risk(self.loss, f.q[None], seed=self.second_seed, n_random=32,
                                                          box=box)
        second = self._second[key]
        where = f"another seed, 32 random starts{f', logits in ±{box:g}' if logits else ''}"
        fails = (bool(not strict_topk(points(self.loss, second), f.q[None], logits=logits)[0, f.k - 1])
                 if f.k < len(f.q) else True)
        v2 = float(second.value[0])
        if kink is not None and v2 >= kink[1] - tol:
            return Recheck.CONFIRMED, (f"{digits}: {kink[2]}; the minimiser is not certified, and a second search ({where}) "
                                       f"finds nothing lower (C_q = {v2:.12g})"), kink[:2]
        if not fails and v2 < base - tol:
            return Recheck.DISMISSED, (f"{digits}: a second search ({where}) finds a strictly better point (C_q = {v2:.12g} < "
                                       f"{base:.12g}) where position {f.k} holds: not a minimiser")
        if fails and logits and v2 < base - resolution:
            # the wider box reaches lower: C_q's infimum is not attained in the first box, and a tie that
            # both searches leave at their boxes says nothing of the order of the classes in the limit
            return Recheck.UNDECIDED, (f"{digits}: {rivals_text}, but a second search ({where}) finds the failure at a lower "
                                       f"value (C_q = {v2:.12g} < {base:.12g}): C_q falls as the box widens, so its infimum lies "
                                       "beyond both searches' boxes, where the order of these classes is not seen")
        if fails and v2 <= base + SEARCH_RESOLUTION_REL * (1 + abs(base)):
            return Recheck.CONFIRMED, (f"{digits}: {rivals_text}; the minimiser is not certified, and a second search "
                                       f"({where}) finds the same failure at C_q = {v2:.12g}")
        # Two logits sent to −∞ where the loss saturates tie in the limit, whatever order a search
        # leaves them in. (A point tied *inside* the simplex that is as good within rounding proves
        # nothing: at a near-tie of q, untying costs O(gap²), below float resolution.)
        if f.at_infinity:  # saturation, or merely flat below the search's resolution? lift the tied classes to q
            lifted = lifted_to_q(f.point, f.q, f.k)
            v_lift = self.value(lifted, f.q)
            if v_lift < base - SATURATION_REL * abs(base) and strict_topk(lifted[None], f.q[None], logits=True)[0, f.k - 1]:
                return Recheck.DISMISSED, (f"{digits}: the loss does not saturate there: with the two tied classes' logits at "
                                           f"log q the point is ordered at position {f.k} and better (C_q = {v_lift:.15g} < "
                                           f"{base:.15g}): not a minimiser")
        if f.at_infinity and np.isfinite(margin) and v2 >= base - tol:
            return Recheck.CONFIRMED, (f"{digits}: {rivals_text}; with both logits at the box's bound the point attains "
                                       f"C_q = {base:.12g}, as good as the minimiser within rounding (the loss saturates "
                                       f"there: its infimum is approached with the two tied), and a second search ({where}) "
                                       f"finds nothing lower ({v2:.12g})")
        return Recheck.UNDECIDED, (f"{digits}: {rivals_text}, but the minimiser is not certified and a second search "
                                   f"({where}) {'does not reproduce the failure' if not fails else 'finds a lower value'}")

    def along(self, p: np.ndarray, direction: np.ndarray, amounts: np.ndarray, q: np.ndarray, *,
              exact: bool) -> tuple[np.ndarray, np.ndarray]:
        """C_q(p + a·direction) − C_q(p) for each amount a and a bound on its rounding: in exact
        rational arithmetic at 50 digits where ``exact`` and the loss has a sympy path (values
        finite), else in float64 by :func:`rival_margins`. ``direction`` holds small integers
        summing to 0."""
        if exact and self.exact_ok:
            from theory.verify.exact import exact_conditional_risk, exact_risks_along

            try:
                key = (p.tobytes(), q.tobytes())
                if key not in self._exact:
                    self._exact[key] = exact_conditional_risk(self.loss, p, q)
                base = self._exact[key]
                vals = exact_risks_along(self.loss, p, q, direction, amounts)
            except (ValueError, TypeError, ZeroDivisionError, NotImplementedError):
                vals = None
            if vals is not None and base.is_finite and all(v.is_finite for v in vals):
                return (np.array([float(v - base) for v in vals]),
                        np.full(len(vals), EXACT_ROUNDING * (1 + abs(float(base)))))
        return rival_margins(self.loss, p, [p + a * direction for a in np.atleast_1d(amounts)], q)

    def kink_tie(self, f: Failure) -> tuple[np.ndarray, float, str] | None:
        """A tie at a kink of C_q next to a candidate that a search left nearly tied or misordered
        across position k (as at a clamp, where a search stops within its resolution of the tie).

        The two classes on either side of position k (receiver a and donor b, as in
        :func:`repairs`), when within :data:`SNAP_REL` of each other, are set equal; their common
        level is refined by golden section along e_a + e_b − 2·e_t (t the largest class, the
        slack); at that point every move of mass between a and b, either way, from
        TIE_REL·p_a/4 up to p_a/2 must cost at first order (:func:`ascends`): along that line the
        minimum then ties a and b to within :data:`TIE_REL`, which a smooth near-tie of q (a gain
        at first order one way) cannot show. The tied point must also be no worse than the
        candidate. Returns (the tied point, its C_q, what was seen), or None. At 50 digits where
        the loss has a sympy path; first a float64 screen: a first-order gain in float64 already
        shows a smooth near-tie (most of them: :func:`descends` one way), and the golden section costs
        tens of evaluations."""
        p, q = f.p_star, f.q
        if self.loss.input is Input.LOGITS or self.best.method is Solver.BOUNDARY or not 0 < f.k < len(q):
            return None
        a, b = pair(p, q, f.k)
        if min(p[a], p[b]) <= 0 or abs(p[a] - p[b]) > SNAP_REL * max(p[a], p[b]):
            return None
        s = p.copy()
        s[a] = s[b] = 0.5 * (p[a] + p[b])
        moves = np.array([d for d in FINE_STEPS if d <= s[a] / 2])
        for src, dst in ((b, a), (a, b)):  # the float64 screen
            if descends(*self.along(s, transfer(len(q), src, dst), moves, q, exact=False)):
                return None
        return self._kink_tie(p, s, a, b, q, exact=self.exact_ok)

    def _kink_tie(self, p: np.ndarray, s: np.ndarray, a: int, b: int, q: np.ndarray, *, exact: bool
                  ) -> tuple[np.ndarray, float, str] | None:
        """:meth:`kink_tie` from the candidate ``p`` and ``s``, p with classes a and b set equal."""
        t = int(np.argmax(np.where(np.isin(np.arange(len(p)), [a, b]), -np.inf, p)))
        level = np.zeros(len(p), dtype=np.int64)
        level[[a, b]], level[t] = 1, -2
        span = min(SNAP_REL * s[a], s[a] / 2, s[t] / 4)
        u, gain = golden_section(lambda x: self.along(s, level, [x], q, exact=exact)[0][0], -span, span,
                                 tol=TIE_REL * s[a] / 8)
        u = u if gain < 0 else 0.0  # s itself (h(0) = 0) unless the search found a strictly better level
        tied_point = s + u * level
        value = self.value(tied_point, q)
        if value > self.value(p, q) + ROUNDING_ULPS * (1 + abs(value)):
            return None  # worse than the candidate beyond float rounding
        smallest = TIE_REL * tied_point[a] / 4
        moves = smallest * 10.0 ** np.arange(int(np.log10(tied_point[a] / 2 / smallest)) + 1)
        seen = []
        for src, dst in ((b, a), (a, b)):
            m, r = self.along(tied_point, transfer(len(q), src, dst), moves, q, exact=exact)
            if not ascends(m, r, moves):
                return None
            seen.append(float(m[0]))
        return tied_point, value, (
            f"classes {a} and {b} set equal and their level refined (golden section) give C_q = {value:.12g}, no worse "
            f"than the candidate; moving mass between them either way costs at first order for every move from "
            f"{moves[0]:.2g} to {moves[-1]:.2g} (a kink: {seen[0]:.3g} and {seen[1]:.3g} at the smallest), so along that "
            f"line the minimum ties them to within {TIE_REL:g}")


def has_sympy(loss: Loss) -> bool:
    from theory.losses import CallableLoss

    return not any(isinstance(x, CallableLoss) for x in loss.walk())
