"""Consistency from the global conditional-risk minimisers, in two named notions
(:mod:`theory.consistency`): the strict order of Zhu, Ying, Yang (2023), and the loss's own
prediction (first-index argmax: is the Bayes class's argmax region strictly best?).

Every check calls :func:`theory.consistency.classify` with the run's budget, whose random stream
is keyed by the loss and K: the claim ``consistency.table`` asks the same function about the
same loss and gets the same answer. A candidate failure counts only once its re-check confirmed
it (50-digit values for library losses; see :class:`theory.consistency._recheck.Rechecker`); candidates
that the re-check could neither confirm nor dismiss make the verdict inconclusive.
"""

from __future__ import annotations

from theory.checks._framework import Context, loss_check, scope
from theory.checks._subject import Subject
from theory.consistency import ConsistencyRow, Notion, NotionResult, classify
from theory.formatting import vector
from theory.verify import Evidence, Kind, Outcome, Recheck, Witness, decide


def row(ctx: Context) -> ConsistencyRow:
    """The classification of the subject at its K (computed once per context)."""
    if ctx.memo.consistency is None:
        s: Subject = ctx.subject
        ctx.memo.consistency = classify(s.loss, s.K, budget=ctx.budget)
    return ctx.memo.consistency


def _outcome(ctx: Context, notion: Notion, k_max: int, name: str) -> Outcome:
    r = row(ctx)
    res: NotionResult = r.notion(notion)
    subject: Subject = ctx.subject
    cert = "" if r.exact else " (not certified)"
    covers = scope(ctx, f"{notion.value}, top-k for k ≤ {k_max}, {r.n_posteriors} posteriors (with near-ties and "
                        f"tiny entries)")
    data = {"row": r.to_dict(), "notion": notion.value, "classification": res.label,
            "strict": r.strict.label, "prediction": r.prediction.label}
    ev = Evidence(Kind.SEARCH, f"{r.n_posteriors} posteriors, K={r.K}: {notion.value}: {res.label}; other notion "
                  f"({r.notion(Notion.PREDICTION if notion is Notion.STRICT else Notion.STRICT).notion.value}): "
                  f"{r.notion(Notion.PREDICTION if notion is Notion.STRICT else Notion.STRICT).label}; minimisers by "
                  f"{r.method.value}{cert}", covers=covers, data=data)
    ks = range(1, k_max + 1)
    failing = [k for k in ks if res.holds[k - 1] is False]
    undecided = [k for k in ks if res.holds[k - 1] is None]
    if not failing and not undecided:
        return decide([ev], data=data, note=f"{name} ({notion.value}) at K={r.K} on {r.n_posteriors} posteriors: "
                      f"{res.label}")
    if failing:
        f = res.confirmed(failing[0])
        status = Recheck.CONFIRMED
    else:
        f = next(x for x in res.failures if x.k == undecided[0] and x.recheck is Recheck.UNDECIDED)
        status = Recheck.UNDECIDED
    what = {"tie": f"is tied across position {f.k}", "order": f"has a different top-{f.k} set than q",
            "region": "is no better than another argmax region's"}[f.why]
    inputs = {"K": r.K, "k": f.k, "q": f.q, "p_star": f.p_star}
    if f.rival is not None:
        inputs["rival"] = f.rival
    w = Witness(inputs, f"the minimiser {what}", f"every minimiser ordered like q at position {f.k} ({notion.value})",
                f.how, status)
    note = (f"{subject.name} is not {name} ({notion.value}) for K={r.K}: at q={vector(f.q)} the conditional-risk "
            f"minimiser p*={vector(f.p_star, digits=6)} {what} (over {r.n_posteriors} posteriors: {res.label})"
            if status is Recheck.CONFIRMED else
            f"undecided whether {subject.name} is {name} ({notion.value}) for K={r.K}: at q={vector(f.q)} a "
            f"candidate failure at position {f.k} could not be confirmed or dismissed ({f.how})")
    return decide([ev], w, data=data, note=note, witness_covers=scope(ctx, f"{notion.value}, q={vector(f.q)}"))


@loss_check(
    "check_top1_consistent", tier="property", methods=("exact finite problems", "numeric search"),
    statement="Top-1 consistent in the strict order sense: for posteriors q with distinct entries (including "
              "near-ties and tiny entries), every conditional-risk minimiser p* has a strict argmax (no tie at the "
              "top) equal to argmax q.",
    reference="Zhang 2004; Tewari & Bartlett 2007 (classification calibration); Zhu, Ying, Yang 2023 (ties fail)")
def check_top1_consistent(ctx: Context) -> Outcome:
    return _outcome(ctx, Notion.STRICT, 1, "top-1 consistent")


@loss_check(
    "check_prediction_consistent", tier="property", methods=("exact finite problems", "numeric search"),
    statement="Top-1 consistent for the loss's own prediction: for posteriors q with distinct entries, the argmax "
              "region of the Bayes class (first-index argmax = argmax q) has a strictly smaller infimum of the "
              "conditional risk than every other argmax region, so minimising the risk predicts the Bayes class "
              "even when the minimiser ties classes at the top.",
    reference="derived: the prediction rule argmax (first index on ties) of PAPER.md §1")
def check_prediction_consistent(ctx: Context) -> Outcome:
    return _outcome(ctx, Notion.PREDICTION, 1, "top-1 consistent")


@loss_check(
    "check_allk_consistent", tier="property", methods=("exact finite problems", "numeric search"),
    requires=("check_top1_consistent",),
    statement="All-k consistent (strict order): for posteriors q with distinct entries (including near-ties and tiny "
              "entries), every conditional-risk minimiser p* has, for every k = 1..K−1, a strict top-k set equal to "
              "q's (ties across position k count as failures).",
    reference="Zhu, Ying, Yang 2023 (All-k consistency); paper §5")
def check_allk_consistent(ctx: Context) -> Outcome:
    return _outcome(ctx, Notion.STRICT, ctx.subject.K - 1, "All-k consistent")
