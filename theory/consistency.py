"""Top-k and All-k consistency of a loss, in two named notions, from its conditional-risk minimisers.

For a posterior q with distinct entries and C_q(p) = Σ_k q_k L(p, k):

**strict order** (:attr:`Notion.STRICT`; Zhu, Ying, Yang 2023)
    L is top-k consistent at q when *every* minimiser p* of C_q has a strict top-k set (the k-th
    and (k+1)-th largest entries differ) equal to q's; All-k consistent when this holds for every
    k = 1..K−1. A tie across position k is a failure.

**own prediction** (:attr:`Notion.PREDICTION`)
    the loss predicts with the first-index argmax of its output. It is top-1 consistent at q when
    the Bayes class's argmax region {p : argmax p = argmax q} is strictly best: its infimum of C_q
    is below the infimum over every other region. (A minimiser that ties the top classes, such as
    CE_ε's uniform minimiser at q = (0.5, 0.3, 0.2), m = 10, can still predict the Bayes class.)

Both are judged over sampled posteriors (:func:`posteriors`) that include near-ties (q_t − q_k down
to 1e-6·q_k) and tiny entries (≤ 1e-6), where the tie mechanisms of clamped and ε-losses appear.
The random stream is keyed by the loss and K (:func:`classify` takes the budget), so a claim and
a loss check that ask about the same loss see the same posteriors and give the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import numpy as np

from theory.losses import Input, Loss, Structure
from theory.minimise import (
    BoundaryLimits,
    Minimum,
    RegionEnumeration,
    Solver,
    VertexValues,
    conditional_risk,
    loss_vectors,
    minimise_conditional_risk,
)
from theory.verify.evidence import Recheck

__all__ = ["PINNED", "Failure", "Grade", "Notion", "NotionResult", "ConsistencyRow", "classify", "posteriors", "strict_topk",
           "tied", "TIE_REL"]

#: posteriors every classification includes (when of length K): the paper's example, and a near
#: tie of the top two where CE_ε+MAE's minimiser ties them (PAPER.md §5, issue 14)
PINNED = (np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.3996, 0.2004]))

#: two entries of a minimiser are tied when they differ by at most TIE_REL·max (or both are 0);
#: the sampled near-ties differ by ≥ 1e-6 relative, so a loss that keeps q's order keeps them apart
TIE_REL = 1e-9
NEAR_TIE = (1e-6, 1e-2)  # relative gaps of the near-tied pairs, log-uniform
TINY = (1e-9, 1e-6)  # tiny entries, log-uniform


class Notion(str, Enum):
    STRICT = "strict order"
    PREDICTION = "own prediction"


class Grade(str, Enum):
    ALL_K = "All-k"
    SOME_K = "top-k for some k"
    TOP1_ONLY = "top-1 only"
    TOP1 = "top-1"  # the own-prediction notion speaks of top-1 only
    NOT_TOP1 = "not even top-1"


@dataclass(frozen=True)
class Failure:
    """A posterior where position ``k`` fails: the minimiser ``p_star`` (its value ``value``), and
    ``why`` ("tie": tied across position k; "order": a different top-k set; "region": another
    argmax region is as good as the Bayes class's, with ``rival`` a point of it). ``recheck`` is
    the re-check's verdict (None before it) and ``how`` what it did."""

    k: int
    q: np.ndarray
    p_star: np.ndarray
    value: float
    why: str
    rival: np.ndarray | None = None
    minimiser: np.ndarray | None = None  # for a tied or alternative point: the minimiser it matches
    recheck: Recheck | None = None  # None: not re-checked
    how: str = ""
    log_p: np.ndarray | None = None  # a logit loss's minimiser as log-probabilities (see :func:`points`)
    at_infinity: bool = False  # a tie of two logits sent to −∞ where the loss saturates (_logit_tie_probes)

    @property
    def point(self) -> np.ndarray:
        """The minimiser where order, ties and values are judged: ``log_p`` for a logit loss, else ``p_star``."""
        return self.p_star if self.log_p is None else self.log_p

    def to_dict(self) -> dict:
        return {"k": self.k, "q": self.q.tolist(), "p_star": self.p_star.tolist(), "value": self.value,
                "why": self.why, "rival": None if self.rival is None else self.rival.tolist(),
                "log_p": None if self.log_p is None else self.log_p.tolist(),
                "recheck": "not re-checked" if self.recheck is None else self.recheck.value, "how": self.how}


@dataclass(frozen=True)
class NotionResult:
    """Which positions held over the sampled posteriors, with every candidate failure and its
    re-check. ``holds[k − 1]`` is True (no failure), False (a failure the re-check confirmed) or
    None (candidate failures, none confirmed and not all dismissed: undecided)."""

    notion: Notion
    holds: tuple[bool | None, ...]  # k = 1..K−1 (own prediction: top-1 only)
    failures: tuple[Failure, ...] = ()

    @property
    def grade(self) -> Grade:
        """The classification by confirmed failures (undecided positions count as holding;
        :attr:`undecided` lists them)."""
        holds = [h is not False for h in self.holds]
        if not holds[0]:
            return Grade.NOT_TOP1
        if self.notion is Notion.PREDICTION:
            return Grade.TOP1
        if all(holds):
            return Grade.ALL_K
        return Grade.TOP1_ONLY if not any(holds[1:]) else Grade.SOME_K

    @property
    def undecided(self) -> tuple[int, ...]:
        return tuple(k + 1 for k, h in enumerate(self.holds) if h is None)

    @property
    def conclusive(self) -> bool:
        """Whether the grade stands without any undecided position."""
        return not self.undecided

    @property
    def ks(self) -> tuple[int, ...]:
        return tuple(k + 1 for k, h in enumerate(self.holds) if h is not False)

    @property
    def label(self) -> str:
        g = self.grade
        text = f"top-k for k ∈ {list(self.ks)}" if g is Grade.SOME_K else g.value
        return text + (f" (undecided at k ∈ {list(self.undecided)})" if self.undecided else "")

    def confirmed(self, k: int) -> Failure | None:
        return next((f for f in self.failures if f.k == k and f.recheck is Recheck.CONFIRMED), None)

    def first_failure(self, k: int) -> Failure | None:
        return next((f for f in self.failures if f.k == k), None)

    def to_dict(self) -> dict:
        return {"notion": self.notion.value, "grade": self.grade.value, "label": self.label,
                "holds": {f"top-{k + 1}": h for k, h in enumerate(self.holds)},
                "failures": [f.to_dict() for f in self.failures[:20]], "n_failures": len(self.failures)}


@dataclass(frozen=True)
class ConsistencyRow:
    """Both notions for one loss at one K, over ``n_posteriors`` sampled posteriors.

    ``domain`` says what the minimisers range over (the simplex, or for a logit loss the logits
    and which score map the loss applies); ``method``/``exact`` how the minimisers were found and
    ``gap`` the largest of their stated value errors (:attr:`Minimum.value_error`; None when a
    search's error is not bounded).
    """

    loss: str
    params: Mapping[str, Any]
    K: int
    domain: str
    n_posteriors: int
    strict: NotionResult
    prediction: NotionResult
    method: Solver
    exact: bool
    gap: float | None
    note: str = ""
    q: np.ndarray = field(default=None, repr=False)

    def notion(self, notion: Notion) -> NotionResult:
        return self.strict if Notion(notion) is Notion.STRICT else self.prediction

    def to_dict(self) -> dict:
        return {"loss": self.loss, "params": dict(self.params), "K": self.K, "domain": self.domain,
                "n_posteriors": self.n_posteriors, "strict": self.strict.to_dict(),
                "prediction": self.prediction.to_dict(), "method": self.method.value, "exact": self.exact,
                "gap": self.gap, "note": self.note}


# ----------------------------------------------------------------------------------------------
# posteriors


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


# ----------------------------------------------------------------------------------------------
# judging minimisers


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


def _why(p: np.ndarray, k: int, *, logits: bool = False) -> str:
    s = -np.sort(-p)
    return "tie" if tied(s[k - 1], s[k], logits=logits) else "order"


def _region_values(loss: Loss, q: np.ndarray, best: Minimum, seed: int) -> tuple[np.ndarray, np.ndarray]:
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
        swapped = _SwapToTop(name=f"{loss.name}@region{t}", params={}, input=loss.input, base=loss, t=t)
        p, v, _, _ = search(swapped, q, seed=seed, n_random=4, iterations=200)
        values[:, t] = v
        points[:, t] = swapped.move(p)
    return values, points


@dataclass(frozen=True, repr=False)
class _SwapToTop(Loss):
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


def _prediction(loss: Loss, q: np.ndarray, best: Minimum, seed: int) -> tuple[np.ndarray, list[Failure]]:
    """Own-prediction top-1 per posterior, with failures."""
    n, K = q.shape
    logits = loss.input is Input.LOGITS
    P = points(loss, best)
    t_star = np.argmax(q, axis=1)
    t_hat = np.argmax(P, axis=1)
    ps = -np.sort(-P, axis=1)
    top_tied = tied(ps[:, 0], ps[:, 1], logits=logits)
    flat = _flat_vertices(best)
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
                rival[b] = P[i, t_star[i]] + 1e-6 * max(1.0, abs(P[i, t_star[i]]))
                failures.append(Failure(1, q[i], best.p[i], float(best.value[i]), "region", rival, log_p=P[i]))
                continue
            why = "tie" if top_tied[i] else "order"
            failures.append(Failure(1, q[i], best.p[i], float(best.value[i]), why, log_p=P[i]))
        return ok, failures
    if ambiguous.any() or best.method is Solver.REGIONS:
        idx = np.flatnonzero(ambiguous) if best.method is not Solver.REGIONS else np.arange(n)
        V, Pt = _region_values(loss, q[idx], best.take(idx), seed)
        own = V[np.arange(len(idx)), t_star[idx]]
        others = np.where(np.eye(K, dtype=bool)[t_star[idx]], np.inf, V)
        rival = np.argmin(others, axis=1)
        margin = others[np.arange(len(idx)), rival] - own
        tol = 1e-10 * np.maximum(1.0, np.abs(own))
        good = margin > tol
        ok[idx] = good
        for j in np.flatnonzero(~good):
            i = idx[j]
            failures.append(Failure(1, q[i], best.p[i], float(best.value[i]), "region", Pt[j, rival[j]]))
    for i in np.flatnonzero(~ok):
        if not any(f.q is q[i] or np.array_equal(f.q, q[i]) for f in failures):
            failures.append(Failure(1, q[i], best.p[i], float(best.value[i]), "order"))
    return ok, failures


def _flat_vertices(best: Minimum) -> np.ndarray:
    """Vertex enumeration: the best vertex is not unique (a flat minimiser set)."""
    if not isinstance(best.certificate, VertexValues):
        return np.zeros(len(best.p), dtype=bool)
    vals = best.certificate.vertex_values
    s = np.sort(vals, axis=1)
    return s[:, 1] - s[:, 0] <= 1e-12 * np.maximum(1.0, np.abs(s[:, 0]))


def _strict(loss: Loss, q: np.ndarray, best: Minimum) -> tuple[np.ndarray, list[Failure]]:
    """Strict-order top-k per posterior and position, with failures; a flat vertex set (two best
    vertices) fails at top-1 (their midpoint is a minimiser with a tied top)."""
    logits = loss.input is Input.LOGITS
    P = points(loss, best)
    ok = strict_topk(P, q, logits=logits)
    flat = _flat_vertices(best)
    failures = []
    for i in np.flatnonzero(flat):
        vals = best.certificate.vertex_values[i]
        a, b = np.argsort(vals)[:2]
        mid = np.zeros(q.shape[1])
        mid[[a, b]] = 0.5
        ok[i, 0] = False
        failures.append(Failure(1, q[i], mid, float(vals[a]), "tie", minimiser=best.p[i]))
    # a loss of saturating scores is flat as logits go to −∞: its infimum may hold ties there, and
    # the order a search leaves among such logits means nothing (see _logit_tie_probes)
    probed = {(i, k): (z, v) for i, k, z, v in _logit_tie_probes(loss, q, best)} if logits else {}
    alternatives = best.certificate.near_optimal if isinstance(best.certificate, RegionEnumeration) else None
    for i, k in zip(*np.nonzero(~ok)):
        if (flat[i] and k == 0) or (i, int(k) + 1) in probed:
            continue
        failures.append(Failure(int(k) + 1, q[i], best.p[i], float(best.value[i]),
                                _why(P[i], int(k) + 1, logits=logits), log_p=P[i] if logits else None))
    if alternatives is not None:  # other minimisers (equal value, different point) must be ordered too
        for i, P_alt in alternatives:
            bad = ~strict_topk(P_alt, np.broadcast_to(q[i], P_alt.shape))
            for j, k in zip(*np.nonzero(bad)):
                if ok[i, k]:
                    ok[i, k] = False
                    failures.append(Failure(int(k) + 1, q[i], P_alt[j], float(best.value[i]),
                                            _why(P_alt[j], int(k) + 1), minimiser=best.p[i]))
    for (i, k), (z_tied, v) in probed.items():
        ok[i, k - 1] = False
        failures.append(Failure(k, q[i], np.exp(z_tied), v, "tie", minimiser=P[i], log_p=z_tied, at_infinity=True))
    if best.method in (Solver.BOUNDARY, Solver.MULTISTART):  # a flat minimiser set may hold ties
        for i, k, p_tied, v in _tie_probes(loss, q, best, ok):
            ok[i, k - 1] = False
            failures.append(Failure(k, q[i], p_tied, v, "tie", minimiser=best.p[i]))
    failures.sort(key=lambda f: f.k)
    return ok, failures


def _tie_probes(loss: Loss, q: np.ndarray, best: Minimum, ok: np.ndarray):
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
            v = _value_like(loss, best, r, q[i])
            if v <= base + 64 * np.finfo(float).eps * (1 + abs(base)):
                yield i, k, r, v
                break


def _logit_tie_probes(loss: Loss, q: np.ndarray, best: Minimum):
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
    good = (V <= base + 64 * np.finfo(float).eps * (1 + np.abs(base))) & (R.max(axis=2) > -box)
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


def _value_like(loss: Loss, best: Minimum, p: np.ndarray, q: np.ndarray) -> float:
    """C_q at a point compared with a minimiser: a boundary minimiser's values are limits."""
    return limit_value(loss, p, q) if best.method is Solver.BOUNDARY else conditional_value(loss, p, q)


def loss_key(loss: Loss) -> str:
    """What identifies a loss for the random streams: its name and parameters."""
    return repr(loss)


def classify(loss: Loss, K: int, *, budget, n: int | None = None, pinned: Sequence[np.ndarray] = PINNED,
             domain: str = "", params: Mapping[str, Any] | None = None) -> ConsistencyRow:
    """Both consistency notions of ``loss`` at ``K`` over sampled posteriors (see the module docstring).

    ``budget`` is a :class:`theory.verify.Budget`; the posteriors come from its stream keyed by
    ("consistency", the loss, K), so every caller asking about the same loss gets the same rows.
    ``n`` defaults to the budget's size (24 / 120 posteriors); ``pinned`` rows (default
    :data:`PINNED`) are always included.
    """
    n = n if n is not None else budget.pick(24, 120)
    rng = budget.rng("consistency", loss_key(loss), int(K))
    q = posteriors(int(K), n, rng, pinned=pinned)
    seed = budget.seed_for("consistency-search", loss_key(loss), int(K))
    best = minimise_conditional_risk(loss, q, seed=seed, n_random=LOGIT_STARTS if loss.input is Input.LOGITS else 8)
    s_ok, s_fail = _strict(loss, q, best)
    p_ok, p_fail = _prediction(loss, q, best, seed)
    gap = float(np.max(best.value_error))
    gap = gap if np.isfinite(gap) else None
    checker = _Rechecker(loss, best, gap, seed)
    if best.method is Solver.MULTISTART:
        s_fail = sorted(s_fail + _kink_probes(q, best, s_ok, checker), key=lambda f: f.k)
    strict = _confirm(Notion.STRICT, K, s_fail, checker)
    prediction = _confirm(Notion.PREDICTION, 2, p_fail, checker)
    where = domain or ("logits" if loss.input is Input.LOGITS else "probabilities on the simplex")
    return ConsistencyRow(
        loss=loss.name, params=dict(params if params is not None else loss.params), K=int(K), domain=where,
        n_posteriors=len(q), strict=strict, prediction=prediction, method=best.method, exact=bool(best.exact),
        gap=gap, q=q)


def _kink_probes(q: np.ndarray, best: Minimum, ok: np.ndarray, checker: _Rechecker) -> list[Failure]:
    """Ties at a kink that a search stopped short of: at every position k that holds, the two
    classes across it within :data:`SNAP_REL` of each other (a search ends within its resolution
    of a tie at a clamp, in either order) are probed by :meth:`_Rechecker.kink_tie`; each tie it
    shows becomes a candidate failure at the tied point."""
    out = []
    for i, kk in zip(*np.nonzero(ok)):
        k = int(kk) + 1
        probe = Failure(k, q[i], best.p[i], float(best.value[i]), "order", minimiser=best.p[i])
        kink = checker.kink_tie(probe)
        if kink is not None:
            out.append(Failure(k, q[i], kink[0], kink[1], "tie", minimiser=best.p[i]))
    return out


#: how many candidate failures per position the re-check tries before calling it undecided
MAX_TRIES = 8
#: random starts of the logit search per posterior (besides 0, log q and the Bayes vertex)
LOGIT_STARTS = 4
#: the re-check's second search over logits widens the box by this factor: a tie of logits held
#: at the first box's bound separates when the minimiser lies beyond it
BOX_WIDENING = 8.0


def _confirm(notion: Notion, K: int, failures: list[Failure], checker: _Rechecker) -> NotionResult:
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


class _Rechecker:
    """Re-checks one candidate failure, independently of the computation that found it.

    Confirmed when (A) the minimiser is certified (an exact method, or a certified gap ≤ 1e-6
    relative), or a second search with another seed and more starts finds the same failure at
    no larger value; and (B) every rival that repairs *only* position k (a little mass moved into
    the class of q's top-k set that p* ranks lowest; for an own-prediction failure, the best point
    of the Bayes class's region) is strictly worse, evaluated at 50 digits through the loss's
    sympy path (float64 for plain callables). Dismissed when a rival is strictly better (the
    candidate is not a minimiser). Undecided otherwise (a rival ties, or the second search
    disagrees)."""

    def __init__(self, loss: Loss, best: Minimum, gap: float | None, seed: int):
        self.loss, self.best, self.gap, self.seed = loss, best, gap, seed
        self._second: dict[bytes, Minimum] = {}
        self._exact: dict[tuple[bytes, bytes], Any] = {}  # 50-digit C_q at points a kink probe moves from
        self.exact_ok = loss.input is Input.PROBS and _has_sympy(loss)

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
        return self.gap is not None and self.gap <= 1e-6 * (1 + abs(value))

    def __call__(self, f: Failure) -> tuple:
        """(status, what was done), and for a failure confirmed as a tie at a kink next to the
        candidate (:meth:`kink_tie`) a third item: (the tied point, its C_q), which becomes the witness."""
        digits = "50-digit" if self.exact_ok else "float64"
        tol = 1e-13 * (1 + abs(f.value)) if self.exact_ok else 1e-10 * (1 + abs(f.value))
        if f.why == "region":  # another argmax region reaches the Bayes region's value
            own = self.value(f.point, f.q)
            rival = self.value(f.rival, f.q)
            certified = self.best.method is Solver.REGIONS or self.certified(own)
            if self.exact_ok:
                # both values exact: a tie must hold to the last digits (two regions meeting at one
                # infimum), a strictly better rival region refutes; anything else is not a failure
                if rival <= own + 1e-30 * (1 + abs(own)) and certified:
                    return Recheck.CONFIRMED, (f"{digits}: a point of another argmax region has C_q = {rival:.15g} ≤ the Bayes "
                                               f"region's {own:.15g} (region infima by {self.best.method.value})")
                if rival > own:
                    return Recheck.DISMISSED, (f"{digits}: the rival region's point is worse ({rival:.15g} > {own:.15g}), "
                                               "the Bayes region is strictly best")
                return Recheck.UNDECIDED, f"{digits}: rival region {rival:.15g} vs {own:.15g}, minimisers not certified"
            if rival < own - 1e-12 * (1 + abs(own)) and certified:
                return Recheck.CONFIRMED, f"float64: another argmax region is strictly better ({rival:.12g} < {own:.12g})"
            if rival > own + 1e-12 * (1 + abs(own)):
                return Recheck.DISMISSED, f"float64: the rival region's point is worse ({rival:.12g} > {own:.12g})"
            return Recheck.UNDECIDED, f"float64: the regions' values {rival:.12g} and {own:.12g} agree to float precision"
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
        resolution = 1e-9 * (1 + abs(base))  # what a float search resolves in C_q
        largest = float(margins.max()) if len(margins) else np.inf  # the rival with the largest move
        kink = self.kink_tie(f)
        if f.why != "tie" and largest <= resolution and kink is None:
            return Recheck.UNDECIDED, (f"{digits}: the minimiser is not certified and the rivals repairing position {f.k} "
                                       f"differ from it by at most {largest:.3g}, below what a search resolves "
                                       f"({resolution:.2g})")
        box = BOX_WIDENING * self.best.certificate.box if logits else 30.0
        key = f.q.tobytes()
        if key not in self._second:  # one second search per posterior, whichever position it judges
            self._second[key] = minimise_conditional_risk(self.loss, f.q[None], seed=self.seed + 1, n_random=32,
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
        if fails and v2 <= base + 1e-9 * (1 + abs(base)):
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
        a, b = _pair(p, q, f.k)
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
        u = _golden(lambda x: self.along(s, level, [x], q, exact=exact)[0][0], -span, span, tol=TIE_REL * s[a] / 8)
        tied_point = s + u * level
        value = self.value(tied_point, q)
        if value > self.value(p, q) + 64 * np.finfo(float).eps * (1 + abs(value)):
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


def _pair(p: np.ndarray, q: np.ndarray, k: int) -> tuple[int, int]:
    """The two classes across position k that a repair moves mass between (see :func:`repairs`):
    q's top-k class that p ranks lowest, and the class outside it that p ranks highest."""
    order = np.argsort(-q, kind="stable")
    top, rest = order[:k], order[k:]
    return int(top[np.argmin(p[top])]), int(rest[np.argmax(p[rest])])


def _golden(h, lo: float, hi: float, *, tol: float) -> float:
    """The minimiser of a unimodal h on [lo, hi] by golden-section search, to within ``tol``;
    0 (the starting point) unless a point strictly better than h(0) was found."""
    r = (np.sqrt(5) - 1) / 2
    x1, x2 = hi - r * (hi - lo), lo + r * (hi - lo)
    f1, f2 = h(x1), h(x2)
    while hi - lo > tol:
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - r * (hi - lo)
            f1 = h(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + r * (hi - lo)
            f2 = h(x2)
    x, fx = (x1, f1) if f1 <= f2 else (x2, f2)
    return x if fx < 0 else 0.0


def _has_sympy(loss: Loss) -> bool:
    from theory.losses import CallableLoss

    return not any(isinstance(x, CallableLoss) for x in loss.walk())


#: a lifted point (:func:`lifted_to_q`) below the tied one by more than this relative amount shows the
#: loss does not saturate there (far above float64's relative rounding of C_q, 1e-16)
SATURATION_REL = 1e-12


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


def repairs(p: np.ndarray, q: np.ndarray, k: int, steps: Sequence[float] = (1e-9, 1e-6, 1e-3), *,
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
    receiver, donor = _pair(p, q, k)
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


#: the masses the re-check of a search's point moves into a position's receiver: a ladder fine
#: enough that the first-order gain of repairing a tie at a near-tie of q (|ΔC| ≈ (q_a − q_b)·|φ'|·d,
#: against a second-order cost ∝ d²) shows on consecutive rungs
FINE_STEPS = tuple(10.0 ** (-e / 2) for e in range(24, 5, -1))
#: rounding allowed per unit of Σ q_k (|L(r, k)| + |L(p, k)|) over the labels whose loss changed
ROUNDING_ULPS = 64 * np.finfo(np.float64).eps
#: rounding allowed per unit of C_q in a difference of two 50-digit values at points moved in exact
#: rational arithmetic (theory.verify.exact.exact_risks_along)
EXACT_ROUNDING = 1e-40
#: two coordinates this close (relative) may be a tie a search did not resolve (:meth:`_Rechecker.kink_tie`)
SNAP_REL = 1e-3


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


def conditional_value(loss: Loss, p: np.ndarray, q: np.ndarray) -> float:
    """C_q(p) in float64; for a logit loss ``p`` holds logits (or log-probabilities: the same point)."""
    return float(conditional_risk(loss, p[None], q[None], logits=loss.input is Input.LOGITS)[0])
