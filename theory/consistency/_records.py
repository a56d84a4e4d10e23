"""The records a consistency classification returns: the two notions, grades, candidate failures
and their re-checks, per notion and per loss."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from theory.minimise import Solver
from theory.verify.evidence import Recheck

__all__ = ["ConsistencyRow", "Failure", "Grade", "Notion", "NotionResult"]


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
    at_infinity: bool = False  # a tie of two logits sent to −∞ where the loss saturates (logit_tie_probes)

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
        text = f"top-k for k ∈ {_set(self.ks)}" if g is Grade.SOME_K else g.value
        return text + (f" (undecided at k ∈ {_set(self.undecided)})" if self.undecided else "")

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


def _set(ks) -> str:
    """{1, 3}: a set of k, never a list that reads as an interval."""
    return "{" + ", ".join(str(k) for k in ks) + "}"
