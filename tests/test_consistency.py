"""Consistency in two named notions (strict order, own prediction): the posteriors include the
near-ties and tiny entries where clamps and ε-softmax tie classes; every failure is re-checked;
claims and check_loss give the same answer by construction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs_check.claims import paper_context
from proofs_check.claims.consistency import consistency_table, entries
from theory import losses
from theory.checks import check_loss
from theory.consistency import Grade, classify, posteriors, strict_topk, tied
from theory.verify import Budget, Recheck


def test_posteriors_have_distinct_entries_near_ties_and_tiny_entries():
    q = posteriors(4, 60, np.random.default_rng(0), pinned=[np.array([0.4, 0.3, 0.2, 0.1])])
    np.testing.assert_allclose(q.sum(1), 1.0)
    np.testing.assert_array_equal(q[0], [0.4, 0.3, 0.2, 0.1])
    s = -np.sort(-q, axis=1)
    assert np.all(np.diff(s, axis=1) < 0)
    rel = -np.diff(s, axis=1) / s[:, 1:]
    assert (rel.min(1) <= 1e-4).sum() >= 10 and rel.min() >= 1e-6 * 0.99  # near-ties down to 1e-6·q_k
    assert (s[:, -1] <= 1e-6).sum() >= 10  # tiny entries


B = Budget()


def test_ce_is_all_k_and_mae_top1_only():
    assert classify(losses.get("ce"), 3, budget=B).strict.grade is Grade.ALL_K
    mae = classify(losses.get("mae"), 3, budget=B)
    assert mae.strict.grade is Grade.TOP1_ONLY and mae.prediction.grade is Grade.TOP1


def test_ce_eps_ties_the_top_yet_predicts_the_bayes_class():
    """q = (0.5, 0.3, 0.2), m = 10: the minimiser is uniform (not top-1 in the strict sense), but its
    first-index argmax region is strictly best (PAPER.md §5, the asymmetric-limit claim)."""
    row = classify(losses.get("ce_eps", m=10.0), 3, budget=B)
    assert row.strict.grade is Grade.NOT_TOP1 and row.prediction.grade is Grade.TOP1
    f = row.strict.confirmed(1)
    assert f is not None and f.why == "tie"


@pytest.mark.parametrize("params", [{}, {"clamp": 0.0}])
def test_ce_eps_mae_is_not_even_top1_in_the_strict_order(params):
    assert classify(losses.get("ce_eps+mae", **params), 3, budget=B).strict.grade is Grade.NOT_TOP1
    row = classify(losses.get("ce_eps+mae", **params), 3, budget=B, n=1, pinned=[np.array([0.4, 0.3996, 0.2004])])
    f = row.strict.confirmed(1)
    np.testing.assert_allclose(f.q, [0.4, 0.3996, 0.2004])
    if params:  # the witness: p* ≈ (0.4995, 0.4995, 0.0010)
        np.testing.assert_allclose(f.p_star, [0.4995, 0.4995, 0.0010], atol=2e-4)
        assert f.p_star[0] == pytest.approx(f.p_star[1], rel=1e-12)


def test_gce_loses_all_k_to_its_clamp_and_keeps_it_without():
    clamped = classify(losses.get("gce"), 4, budget=B)
    assert clamped.strict.grade is not Grade.ALL_K
    f = next(f for f in clamped.strict.failures if f.recheck is Recheck.CONFIRMED)
    assert f.why == "tie" and np.sort(f.q)[:2].max() <= 1e-6  # two tiny entries tied at the clamp
    assert classify(losses.get("gce", clamp=0.0), 4, budget=B).strict.grade is Grade.ALL_K


def test_logit_ties_are_judged_on_logits_not_on_underflowing_probabilities():
    """Logits 30 apart are strictly ordered although their probabilities (1e-13 vs 1e-26) differ by
    less than 1e-9 of the largest; logits held at the same bound tie."""
    z = np.array([[0.0, -30.0, -60.0], [0.0, -60.0, -60.0]])
    q = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])
    np.testing.assert_array_equal(strict_topk(z, q, logits=True), [[True, True], [True, False]])
    assert not tied(np.float64(-30.0), np.float64(-60.0), logits=True)


@pytest.mark.parametrize("K", [3, 4])
def test_logit_losses_keep_the_order_their_papers_prove(K):
    """LDR-KL on unconstrained scores is All-k (Zhu, Ying, Yang 2023); CE on logits clipped to a
    ball is All-k (KKT: z = (q − softmax z)/λ keeps q's strict order). The minimisers of the first
    lie beyond the search box for tiny posteriors: the box's ties must be dismissed, not reported.
    On the reference's normalised softplus scores LDR-KL is top-1 only: two low scores tie at 0
    as their logits go to −∞, which the re-check confirms."""
    assert classify(losses.get("ldr_kl", scores="raw"), K, budget=B).strict.grade is Grade.ALL_K
    assert classify(losses.get("ce+lc"), K, budget=B).strict.grade is Grade.ALL_K
    ref = classify(losses.get("ldr_kl"), K, budget=B)
    assert ref.strict.grade is Grade.TOP1_ONLY and ref.prediction.grade is Grade.TOP1
    f = ref.strict.confirmed(2)
    assert f.why == "tie" and f.log_p is not None and np.sort(f.log_p)[0] == np.sort(f.log_p)[1]


def test_ldr_kl_rows_say_which_score_domain():
    from proofs_check.claims.consistency import _domain

    assert "normalised softplus" in _domain("ldr_kl", {}) and "unconstrained" in _domain("ldr_kl", {"scores": "raw"})


@pytest.mark.slow
def test_check_loss_and_the_claims_table_agree_for_every_registered_loss():
    """The same engine: the classification check_loss reports equals the claims table's row."""
    table = consistency_table(paper_context(), Ks=(3,))
    assert {r.loss for r in table} >= set(losses.names("paper"))
    for row in table:
        if row.params:
            continue
        report = check_loss(row.loss, num_classes=3, checks=["check_allk_consistent", "check_prediction_consistent"],
                            expected_failures={"check_finite": "may be 0/0 on faces"}
                            if row.loss.startswith(("nce", "nfl")) else None)
        r = report["check_prediction_consistent"]
        if r.outcome is None:
            continue
        assert r.data["strict"] == row.by_K[3].strict.label, row.loss
        assert r.data["prediction"] == row.by_K[3].prediction.label, row.loss


def test_entries_cover_every_loss_of_the_paper():
    assert {name for name, params, _ in entries() if not params} == set(losses.names("paper"))


def test_a_near_tie_of_q_is_not_confirmed_as_a_tie_of_the_minimiser():
    """NLNL's conditional risk is separable and convex, Σ_k (1 − q_k)/(K−1)·(−log(1 − p_k)), so with
    its clamp inactive the minimiser is p* = q, strictly ordered like q. At a near-tie of q, merging
    the two classes costs O(gap²), below float resolution: a tied point "as good within rounding"
    must not confirm a failure (it may leave the position undecided)."""
    q = np.array([0.562105, 0.337161, 0.0503671 * (1 + 2e-6), 0.0503671])
    q = q / q.sum()
    row = classify(losses.get("nlnl"), 4, budget=B, n=1, pinned=[q])
    assert row.strict.holds[2] is not False, row.strict.failures


def _convex_user_loss(p, y):  # pointwise and convex in p_y: p*_k = max(0, 1 − c/q_k²), ordered like q
    return (1 - p[np.arange(len(y)), y]) ** 1.5


def _near_tied_at_the_top(K: int, rng: np.random.Generator) -> np.ndarray:
    w = np.sort(rng.dirichlet(np.ones(K)))[::-1]
    w[1] = w[0] * (1 - 1e-6)
    return rng.permutation(w / w.sum())


def test_a_search_tie_at_a_near_tie_of_q_is_dismissed_by_first_order_rivals():
    """A multi-start search (not certified) can end with q's two nearly tied classes exactly tied:
    splitting them gains O(gap²) in C_q, below what comparing two values of C_q resolves. The
    rivals that repair the tie, evaluated as differences of loss vectors on a fine ladder of
    moves, show the first-order gain, so the tie is dismissed and top-1 holds (it was undecided
    at K = 12 before)."""
    loss = losses.from_callable(_convex_user_loss, name="convex_user_loss")
    rng = np.random.default_rng(12)
    qs = [_near_tied_at_the_top(12, rng) for _ in range(4)]
    row = classify(loss, 12, budget=B, n=len(qs), pinned=qs)
    assert row.strict.holds[0] is True, row.strict.failures


def test_a_tie_at_a_kink_of_the_minimiser_is_still_confirmed():
    """The same loss puts p*_k = 0 for every q_k ≤ √c: two such classes tie at 0, a true failure of
    the strict order at that position, which the fine rivals must not dismiss (moving mass into a
    zero coordinate costs at first order)."""
    loss = losses.from_callable(_convex_user_loss, name="convex_user_loss")
    q = np.array([0.6, 0.3, 0.07, 0.03])
    row = classify(loss, 4, budget=B, n=1, pinned=[q])
    assert row.strict.holds == (True, True, False), row.strict.failures
    assert row.strict.confirmed(3) is not None


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 40).flatmap(lambda K: st.tuples(st.just(K), st.integers(0, 2**32 - 1))))
def test_rival_margins_resolve_moves_far_below_the_rounding_of_the_risk(case):
    """For the linear loss 1 − p_y, moving d from the donor to the receiver changes C_q by exactly
    d·(q_donor − q_receiver) (up to the rounding of the moved coordinates): the margins must agree
    with it to within their own rounding bound, for moves down to 1e-12, and that bound counts the
    two labels whose loss changed, not all K."""
    from theory.consistency._moves import FINE_STEPS, ROUNDING_ULPS, repairs, rival_margins

    K, seed = case
    rng = np.random.default_rng(seed)
    q, p = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K))
    linear = losses.from_callable(lambda x, y: 1 - x[np.arange(len(y)), y], name="linear")
    k = int(rng.integers(1, K))
    rivals = repairs(p, q, k, steps=FINE_STEPS)
    margins, rounding = rival_margins(linear, p, rivals, q)
    moved = np.array([r - p for r in rivals])  # +d at the receiver, −d at the donor
    exact = -(moved * q).sum(1)
    assert np.all(np.abs(margins - exact) <= rounding + 4 * np.finfo(float).eps * np.abs(moved).sum(1))
    changed = (np.abs(moved) > 0).any(0)
    assert np.all(rounding <= ROUNDING_ULPS * 2 * q[changed].sum())


def test_sce_ties_two_tiny_classes_at_rces_clamp():
    """SCE = 0.1·CE + RCE: below RCE's clamp c only CE's log pulls a class up, above it RCE's slope
    A(1 − q_k) pushes it down, so both tiny classes sit exactly at c, tied. A search stops within
    its resolution of that kink (here with the two in q's order), which read All-k; the re-check
    must find the tie, at c, and confirm it."""
    q = np.array([1 - 7.06872589e-08 - 1.67826377e-08, 7.06872589e-08, 1.67826377e-08])
    row = classify(losses.get("sce"), 3, budget=B, n=1, pinned=[q])
    assert row.strict.holds == (True, False), row.strict.failures
    f = row.strict.confirmed(2)
    assert f.why == "tie"
    np.testing.assert_allclose(f.p_star[1:], 1e-8, rtol=1e-9)


def test_a_search_tie_between_two_tiny_classes_is_dismissed_by_exact_moves():
    """NLNL's minimiser is p* = q (separable and convex), but a search that keeps ties can end with
    two tiny classes of q tied at their mean. Splitting them gains ~1e-18 in C_q, below any float
    comparison; rivals moved in exact rational arithmetic and evaluated at 50 digits show the
    first-order gain, so the tie is dismissed and position 3 holds (it was undecided)."""
    q = np.array([6.58182122e-01, 3.41817860e-01, 1.29363177e-08, 4.31210589e-09])
    q = q / q.sum()
    row = classify(losses.get("nlnl"), 4, budget=B, n=1, pinned=[q])
    assert row.strict.holds == (True, True, True), row.strict.failures


def test_the_table_shows_a_witness_with_its_tiny_entries():
    """A witness whose q has entries of 1e-8 must not read q = [0.0, 1.0, 0.0] (rounded to 6
    decimals): entries keep six significant digits."""
    from proofs_check.claims.consistency import TableRow, markdown

    q = np.array([1 - 7.06872589e-08 - 1.67826377e-08, 7.06872589e-08, 1.67826377e-08])
    row = classify(losses.get("sce"), 3, budget=B, n=1, pinned=[q])
    text = markdown([TableRow("sce", {}, "", {3: row})])
    assert "7.06873e-08" in text and "1e-08" in text and "0.0," not in text


@pytest.mark.parametrize("n_candidates", [8, 9, 20])
def test_a_position_with_more_candidates_than_rechecked_is_undecided_with_a_witness(n_candidates):
    """Every re-checked candidate dismissed but more remain: the position is undecided, and the
    result carries an undecided failure to show (check_allk_consistent builds its witness from it;
    without one it raised StopIteration, an error row, for NCE+RCE as a repo-style module at K = 10)."""
    from theory.consistency import Failure, Notion
    from theory.consistency._recheck import MAX_TRIES, confirm

    q = np.array([0.5, 0.3, 0.2])
    cands = [Failure(2, q, np.array([0.5, 0.25 + 1e-9 * i, 0.25 - 1e-9 * i]), 1.0, "tie") for i in range(n_candidates)]
    res = confirm(Notion.STRICT, 3, cands, lambda f: (Recheck.DISMISSED, "a float artefact"))
    if n_candidates <= MAX_TRIES:
        assert res.holds == (True, True) and not res.undecided
    else:
        assert res.holds == (True, None) and res.undecided == (2,)
        shown = [f for f in res.failures if f.recheck is Recheck.UNDECIDED]
        assert len(shown) == 1 and shown[0].k == 2 and f"{n_candidates} candidates" in shown[0].how


def _anl_ce_on_logits(z, y, alpha=5.0, beta=5.0, p_min=1e-7):
    """ANL-CE (Ye et al. 2023, eqs. 6 and 11) from its equations, on logits, as a black box."""
    from scipy.special import log_softmax

    logp = log_softmax(z, axis=1)
    rows = np.arange(len(y))
    nce = logp[rows, y] / logp.sum(1)
    a = -np.log(p_min) + np.maximum(logp, np.log(p_min))
    return alpha * nce + beta * (1 - a[rows, y] / a.sum(1))


def test_a_tie_whose_value_falls_as_the_box_widens_is_not_confirmed():
    """ANL-CE on logits at a near-tie of q's top two (relative gap 1.3e-6), the third class small:
    the infimum sends that class's logit to −∞, where NCE's pull towards the tie vanishes and NNCE's
    gain from untying, (β/2)·(q₀ − q₂) ≈ 1.6e-6, remains; at any finite box NCE wins and a search ends
    tied. A wider second search reaches a lower value (2.735 against 2.780), still tied: that shows the
    infimum lies beyond both boxes, not that it is tied. It was confirmed as a "not even top-1" failure
    (the registered form, which takes the boundary limit, passes); it must not be."""
    loss = losses.from_callable(_anl_ce_on_logits, input="logits", name="anl_ce_as_written")
    q = np.array([0.48475095864244383, 0.03049871079891592, 0.48475033055864025])
    row = classify(loss, 3, budget=B, n=1, pinned=[q / q.sum()])
    assert row.strict.holds[0] is not False, row.strict.failures
    assert classify(losses.get("anl_ce"), 3, budget=B, n=1, pinned=[q / q.sum()]).strict.holds[0] is True
