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
from typing import Any

import numpy as np

from theory.consistency._order import TIE_REL, strict_order, strict_topk, tied
from theory.consistency._posteriors import PINNED, posteriors
from theory.consistency._recheck import Rechecker, confirm, kink_probes
from theory.consistency._records import ConsistencyRow, Failure, Grade, Notion, NotionResult
from theory.consistency._regions import own_prediction
from theory.losses import Input, Loss
from theory.minimise import Solver, minimise_conditional_risk
from theory.verify.budget import Size

__all__ = ["LOGIT_STARTS", "PINNED", "TIE_REL", "ConsistencyRow", "Failure", "Grade", "Notion", "NotionResult", "classify",
           "loss_key", "posteriors", "strict_topk", "tied"]

#: random starts of the logit search per posterior (besides 0, log q and the Bayes vertex)
LOGIT_STARTS = 4
#: sampled posteriors per (loss, K), besides the pinned ones
POSTERIORS = Size(24, 120)


def loss_key(loss: Loss) -> str:
    """What identifies a loss for the random streams: its name and parameters."""
    return repr(loss)


def classify(loss: Loss, K: int, *, budget, n: int | None = None, pinned: Sequence[np.ndarray] = PINNED,
             domain: str = "", params: Mapping[str, Any] | None = None) -> ConsistencyRow:
    """Both consistency notions of ``loss`` at ``K`` over sampled posteriors (see the module docstring).

    ``budget`` is a :class:`theory.verify.Budget`; the posteriors come from its stream keyed by
    ("consistency", the loss, K), so every caller asking about the same loss gets the same rows.
    ``n`` defaults to the budget's size (:data:`POSTERIORS`: 24 / 120); ``pinned`` rows (default
    :data:`PINNED`) are always included.
    """
    n = n if n is not None else budget.size(POSTERIORS)
    rng = budget.rng("consistency", loss_key(loss), int(K))
    q = posteriors(int(K), n, rng, pinned=pinned)
    seed = budget.seed_for("consistency-search", loss_key(loss), int(K))
    best = minimise_conditional_risk(loss, q, seed=seed, n_random=LOGIT_STARTS if loss.input is Input.LOGITS else 8)
    s_ok, s_fail = strict_order(loss, q, best)
    p_ok, p_fail = own_prediction(loss, q, best, seed)
    gap = float(np.max(best.value_error))
    gap = gap if np.isfinite(gap) else None
    checker = Rechecker(loss, best, gap, seed)
    if best.method is Solver.MULTISTART:
        s_fail = sorted(s_fail + kink_probes(q, best, s_ok, checker), key=lambda f: f.k)
    strict = confirm(Notion.STRICT, K, s_fail, checker)
    prediction = confirm(Notion.PREDICTION, 2, p_fail, checker)
    where = domain or ("logits" if loss.input is Input.LOGITS else "probabilities on the simplex")
    return ConsistencyRow(
        loss=loss.name, params=dict(params if params is not None else loss.params), K=int(K), domain=where,
        n_posteriors=len(q), strict=strict, prediction=prediction, method=best.method, exact=bool(best.exact),
        gap=gap, q=q)
