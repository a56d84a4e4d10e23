"""Finite problems and global minimisers of the conditional risk, against brute force."""

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from theory import finite, losses, minimise, noise
from theory.consistency import posteriors
from theory.losses._core import Atom
from theory.minimise import Solver, available_methods, conditional_risk, minimise_conditional_risk
from theory.minimise._regions import _interp_with_slope, _multiplier_solve, _table, argmax_profiles, region_candidates
from theory.strategies import finite_problems, noise_rates, simplex_points


def _grid(n=300):
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    return np.stack([i[keep], j[keep], n - i[keep] - j[keep]], 1) / n


GRID = _grid()
Q = np.random.default_rng(11).dirichlet(np.ones(3), size=5)
PROB_LOSSES = [n for n in losses.names() if losses.get(n).input == "probs"]


def _brute(L, q):
    return np.array([conditional_risk(L, GRID, np.broadcast_to(row, GRID.shape)).min() for row in q])


def _loss_at_or_near(L, res, q):
    """The minimum's value must be the q-weighted loss vector, and that vector the loss at p* or,
    for a boundary limit towards zeroing coordinate j, the limit of the loss along p_j → 0."""
    np.testing.assert_allclose(res.value, (q * res.losses).sum(1), rtol=1e-12)
    j = getattr(res.certificate, "zero_coordinate", np.full(len(q), -1))  # only boundary limits have one
    inside = j < 0
    np.testing.assert_allclose(res.value[inside], conditional_risk(L, res.p[inside], q[inside]), rtol=1e-12)
    rows = np.flatnonzero(~inside)
    if rows.size == 0:
        return
    # the path: p_j = δ, any other zero of p* at 1e-9 (so that p_j vanishes fastest, and below the
    # clamps 1e-8 of RCE and 1e-7 of NNCE, where those terms take their face values), the mass
    # taken from the largest coordinate. NCE converges at the rate 1/log(1/δ).
    previous = np.full(rows.size, np.inf)
    for delta in (1e-30, 1e-100, 1e-300):
        p = res.p[rows].copy()
        p[p == 0] = 1e-9
        p[np.arange(rows.size), j[rows]] = delta
        p[np.arange(rows.size), p.argmax(1)] += 1 - p.sum(1)
        near = conditional_risk(L, p, q[rows])
        assert np.all(near >= res.value[rows] - 1e-12) and np.all(near <= previous + 1e-12)
        previous = near
    assert np.all(near - res.value[rows] <= 0.05 * np.maximum(1, np.abs(res.value[rows])))


@pytest.mark.parametrize("name", PROB_LOSSES)
def test_minimiser_is_no_worse_than_brute_force_on_the_2_simplex(name):
    L = losses.get(name, **({"m": 50.0} if "eps" in name else {}))
    res = minimise_conditional_risk(L, Q)
    brute = _brute(L, Q)
    # exact methods: never above the grid; a certified gap or a search: within the grid's resolution
    tol = 1e-9 if res.exact else 1e-4
    assert np.all(res.value <= brute + tol * np.maximum(1, np.abs(brute))), (res.method, res.value - brute)
    _loss_at_or_near(L, res, Q)
    if res.certificate.lower_bound is not None:
        assert np.all(res.certificate.lower_bound <= brute + 1e-12)
        assert np.all(res.value >= res.certificate.lower_bound - 1e-12)
    # the stated error: the value less it is below every value the grid attains, and an exact
    # method states an error of the order of rounding (a boundary limit's gap is its own)
    assert np.all(res.value - res.value_error <= brute), (res.method, res.value - res.value_error - brute)
    if res.exact:
        assert np.all(res.value_error <= 1e-9 * (1 + np.abs(res.value))), (res.method, res.value_error)


@pytest.mark.parametrize(
    "name, method",
    [("ce", "closed form"), ("mse", "closed form"), ("mae", "vertex enumeration"),
     ("agce", "vertex enumeration"), ("ael", "KKT bisection (convex separable)"),
     ("ce+mae", "KKT bisection (convex separable)"), ("ce_eps+mae", "region enumeration"),
     ("gce", "region enumeration"), ("nce", "boundary enumeration"), ("nce+mae", "boundary enumeration"),
     ("sce", "multi-start simplex descent")],
)
def test_the_method_follows_the_declared_structure(name, method):
    assert minimise_conditional_risk(losses.get(name), Q).method == method


@pytest.mark.slow
@pytest.mark.parametrize("name, params", [
    ("ce_eps", {"m": 10.0}), ("ce_eps", {"m": 1e3}), ("ce_eps", {"m": 0.0}), ("fl_eps", {"m": 1e2}),
    ("ce_eps+mae", {"m": 1e4}), ("ce_eps+mae", {"alpha": 1.0, "beta": 1.0, "m": 1e6}),
    ("fl_eps+mae", {"m": 1e5}), ("gce", {}),
])
def test_region_enumeration_is_never_beaten_by_a_thorough_search(name, params):
    L = losses.get(name, **params)
    q = np.random.default_rng(4).dirichlet(np.ones(5), size=6)
    regions = minimise_conditional_risk(L, q)
    assert regions.method == "region enumeration" and regions.exact
    search = minimise_conditional_risk(L, q, method="multistart", n_random=32, seed=1)
    assert np.all(regions.value <= search.value + 1e-8 * np.maximum(1, np.abs(search.value)))


@pytest.mark.parametrize("name", [n for n in PROB_LOSSES if available_methods(losses.get(n))["regions"]])
@pytest.mark.parametrize("K", [2, 3, 6])
@pytest.mark.parametrize("m", [0.0, 3.0, 1e4, 1e8])
def test_declared_pieces_are_convex_and_phi_other_is_non_increasing(name, K, m):
    """The assumptions of region enumeration, checked on the loss itself (the solver checks them
    too and refuses, falling back to search, when they fail)."""
    L = losses.get(name, **({"m": m} if "eps" in name else {}))
    top, other = argmax_profiles(L, K)
    _table(top, 1.0 / K, 1.0, L.pieces.top, 4097, "φ_top")  # raises NotPiecewiseConvex
    _table(other, 0.0, 0.5, L.pieces.other, 4097, "φ_other")
    u = np.linspace(0, 0.5, 2001)
    assert np.all(np.diff(other(u)) <= 1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=2, max_size=30), st.lists(st.floats(-1.0, 8.0), min_size=1, max_size=40))
@example([0, 0, 0, 3, 3, 5], [0.0, 3.0, 3.0, 1.5, -1.0, 9.0])
def test_the_piecewise_linear_inverse_does_not_depend_on_the_batch(steps, x):
    """Each abscissa's value and slope are the same alone as in any batch (np.interp's search
    starts from the previous element's index, so at a repeated abscissa it does not), and agree
    with np.interp where the abscissae do not repeat."""
    xp = np.cumsum(np.array(steps, dtype=float))  # non-decreasing, with repeats
    fp = np.arange(xp.size, dtype=float) ** 1.5
    x = np.array(x)
    u, du = _interp_with_slope(x, xp, fp)
    for i in range(x.size):
        alone = _interp_with_slope(x[i:i + 1], xp, fp)
        assert alone[0][0] == u[i] and alone[1][0] == du[i]
    assert np.all(np.diff(u[np.argsort(x, kind="stable")]) >= 0)  # non-decreasing in x
    distinct = ~np.isin(x, xp[:-1][np.diff(xp) == 0])
    np.testing.assert_allclose(u[distinct], np.interp(x[distinct], xp, fp), rtol=1e-13, atol=1e-13)


def _bisected_coordinates(other, s, po, lo_k, hi_k, qo, steps=400):
    """The non-top coordinates of region enumeration by plain bisection on asinh(μ/1e-30),
    400 steps, then linear interpolation between the bracket's ends: an independent reference."""
    cap, target = np.minimum(hi_k, s[:, None]), 1.0 - s
    q_pos = qo > 0

    def coords(mu):
        with np.errstate(invalid="ignore"):
            r = np.where(q_pos, mu[:, None] / np.where(q_pos, qo, 1.0), (np.sign(mu) * np.inf)[:, None])
        r = np.where(np.isnan(r), 0.0, r)
        return np.minimum(np.maximum(other.argmin_linear(r, po)[0], lo_k), cap)

    scale, end = 1e-30, np.arcsinh(np.sinh(50.0) / 1e-30)
    a, b = np.full(s.size, -end), np.full(s.size, end)
    for _ in range(steps):
        mid = 0.5 * (a + b)
        short = coords(scale * np.sinh(mid)).sum(1) < target
        a, b = np.where(short, mid, a), np.where(short, b, mid)
    p_a, p_b = coords(scale * np.sinh(a)), coords(scale * np.sinh(b))
    gap = p_b.sum(1) - p_a.sum(1)
    lam = np.clip(np.where(gap > 0, (target - p_a.sum(1)) / np.where(gap > 0, gap, 1.0), 0.0), 0.0, 1.0)
    return p_a + lam[:, None] * (p_b - p_a)


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([("fl_eps", {}), ("ce_eps", {"m": 1e4}), ("ce_eps+mae", {}), ("gce", {}),
                        ("ce_eps+mae", {"clamp": 0.0}), ("ce", {})]),
       st.sampled_from([2, 3, 10]), st.integers(0, 2**32 - 1))
@example(("ce_eps+mae", {}), 3, 3)  # a linear (MAE) piece: the sum jumps
@example(("fl_eps", {}), 10, 10)  # a flat clamp: the sum jumps at μ = 0
def test_the_multiplier_search_meets_the_sum_and_agrees_with_plain_bisection(case, K, seed):
    """Newton with break probing ends where a 400-step bisection ends (to rounding), meets
    Σ p_k = 1 − s wherever that is feasible, and keeps every coordinate in its piece and cap;
    on posteriors with tiny (1e-9·) and zero entries and random piece patterns."""
    name, params = case
    L = losses.get(name, **params)
    other = _table(argmax_profiles(L, K)[1], 0.0, 0.5, L.pieces.other, 4097, "φ_other")
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.full(K, 0.3), size=200)
    q[rng.random(q.shape) < 0.1] *= 1e-9
    q[rng.random(q.shape) < 0.05] = 0.0
    qo = -np.sort(-q, axis=1)[:, 1:]
    po = np.sort(rng.integers(0, other.n_pieces, size=qo.shape), axis=1)[:, ::-1]
    lo_k, hi_k = other.bounds[po], other.bounds[po + 1]
    s = rng.uniform(np.maximum(1.0 / K, lo_k.max(1)), 1.0)
    q_pos = qo > 0
    p, _ = _multiplier_solve(other, s, np.zeros(s.size), po, lo_k, hi_k, qo, q_pos, np.where(q_pos, qo, 1.0))
    cap = np.minimum(hi_k, s[:, None])
    assert np.all((p >= lo_k) & (p <= cap))
    feasible = (cap.sum(1) >= 1 - s) & (lo_k.sum(1) <= 1 - s)
    assert np.abs(p.sum(1) - (1 - s))[feasible].max(initial=0.0) <= 1e-12
    np.testing.assert_allclose(p, _bisected_coordinates(other, s, po, lo_k, hi_k, qo), rtol=0, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name, K", [("ce_eps+mae", 3), ("fl_eps", 3), ("gce", 4)])
def test_region_candidates_do_not_depend_on_the_other_posteriors_of_the_batch(name, K):
    """A posterior's candidates are the same alone as in a batch. They were not: np.interp's
    search starts from the previous element's index, so on a table whose abscissae repeat or
    (by rounding) dip, its answer depends on the neighbours; CE_ε+MAE's surrogate value at
    q = (0.443, 0.557, 1.3e-7) moved by 2.3e-7 with the batch."""
    L = losses.get(name)
    q = posteriors(K, 30, np.random.default_rng(K))  # with near-ties and tiny entries
    P, value, _ = region_candidates(L, q)
    for i in range(len(q)):
        P_i, value_i, _ = region_candidates(L, q[i:i + 1])
        np.testing.assert_allclose(value_i[0], value[i], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(P_i[0], P[i], rtol=0, atol=1e-9)


CERTIFICATE_OF = {Solver.CLOSED_FORM: minimise.ClosedForm, Solver.VERTICES: minimise.VertexValues, Solver.KKT: minimise.KKTBisection,
                  Solver.REGIONS: minimise.RegionEnumeration, Solver.BOUNDARY: minimise.BoundaryLimits,
                  Solver.MULTISTART: minimise.StartsSearch, Solver.LOGITS: minimise.LogitStarts}


@pytest.mark.parametrize("name", losses.names())
def test_each_method_leaves_its_own_certificate_and_a_row_keeps_its_own_part(name):
    L = losses.get(name)
    q = np.random.default_rng(3).dirichlet(np.ones(3), size=4)
    res = minimise_conditional_risk(L, q, n_random=2)
    assert type(res.certificate) is CERTIFICATE_OF[res.method]
    if res.certificate.lower_bound is not None:
        assert res.certificate.lower_bound.shape == (4,)
        assert np.all(res.certificate.lower_bound <= res.value + 1e-12)
    for i in (0, 3):  # one row's minimum carries that row of every per-row array, nested records too
        row = res[i].certificate
        assert type(row) is type(res.certificate)
        for f in dataclasses.fields(row):
            whole, part = getattr(res.certificate, f.name), getattr(row, f.name)
            if isinstance(whole, np.ndarray) and whole.ndim and whole.shape[0] == 4:
                np.testing.assert_array_equal(part, whole[i])
            elif isinstance(whole, minimise.Rows):  # a part (Patterns, Polish): sliced alike
                assert type(part) is type(whole)
    pair = res.take(np.array([2, 0])).certificate
    if isinstance(pair, minimise.RegionEnumeration):
        np.testing.assert_array_equal(pair.patterns.top, res.certificate.patterns.top[[2, 0]])
        np.testing.assert_array_equal(pair.region_values, res.certificate.region_values[[2, 0]])


def test_region_enumeration_refuses_a_loss_whose_declared_pieces_are_wrong():
    # CE_ε wrapped around a loss that claims to be convex but is concave in p_y
    liar = Atom(name="concave_liar", fn=lambda xp, pred, y: 1 - pred.py(y) ** 2, kind="pointwise",
                curvature_of=lambda params: "convex")
    L = losses.with_eps_softmax(liar, m=0.0)
    res = minimise_conditional_risk(L, Q)
    assert res.method == "multi-start simplex descent" and "not convex" in res.certificate.regions_refused


@settings(max_examples=25)
@given(st.integers(2, 6).flatmap(lambda K: simplex_points(K, interior=True)))
def test_normalised_losses_have_infimum_min_q_approached_on_the_boundary(q):
    """NCE's loss vector ranges over the open simplex, so inf_p Σ q_k NCE(p, k) = min_k q_k."""
    for name in ("nce", "nfl"):
        res = minimise_conditional_risk(losses.get(name), q)
        assert res.exact and np.isclose(res.value, q.min(), rtol=0, atol=1e-15)
        assert np.isclose(res.losses.sum(), 1.0) and res.losses[np.argmin(q)] == 1.0


def test_a_search_on_a_sum_of_exactly_solvable_terms_carries_a_certified_gap():
    q = np.random.default_rng(8).dirichlet(np.ones(4), size=6)
    res = minimise_conditional_risk(losses.get("sce"), q)
    assert not res.exact
    ce = minimise_conditional_risk(losses.get("ce"), q).value
    rce = minimise_conditional_risk(losses.get("rce"), q).value
    np.testing.assert_allclose(res.certificate.lower_bound, 0.1 * ce + rce, rtol=1e-12)
    assert np.all(res.certificate.gap >= 0)
    nlnl = minimise_conditional_risk(losses.get("nlnl"), q)
    assert nlnl.method is Solver.MULTISTART and nlnl.certificate.gap is None and nlnl.certificate.lower_bound is None


EPS_FAMILIES = {
    "ce_eps": lambda m: losses.get("ce_eps", m=m),
    "fl_eps+mae": lambda m: losses.get("fl_eps+mae", m=m),
    "ce_eps+mae": lambda m: losses.get("ce_eps+mae", alpha=0.1, beta=1.0, m=m),
    "gce_eps": lambda m: losses.with_eps_softmax(losses.get("gce"), m),
}


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(EPS_FAMILIES)), st.sampled_from([0.0, 1.0, 1e3, 1e5, 2e7, 1e10]),
       st.integers(2, 4).flatmap(lambda K: st.tuples(simplex_points(K), st.integers(0, 2**31 - 1))))
def test_the_stated_value_error_is_certified_and_small(family, m, case):
    """value − value_error is a lower bound of inf C_q, so no point of the simplex may go below it
    (random points, the vertices, the centre and q itself); for region enumeration the bound is
    tight, ≤ 1e-9. m = 2e7 puts the clamp's knee (1+m)c = 0.2 inside the non-top range, where
    a dual over a whole argmax region has a gap (0.04 at K = 2): the bound is per piece pattern."""
    q, seed = case
    K = len(q)
    L = EPS_FAMILIES[family](m)
    res = minimise_conditional_risk(L, q)
    points = np.vstack([np.random.default_rng(seed).dirichlet(np.ones(K) * 0.5, size=400), np.eye(K),
                        np.full((1, K), 1.0 / K), q[None]])
    attained = conditional_risk(L, points, np.broadcast_to(q, points.shape)).min()
    assert res.value - res.value_error <= attained, (res.value, res.value_error, attained)
    assert res.value_error <= 1e-9 * (1 + abs(res.value)), res.value_error


def test_the_error_bound_sees_through_a_flat_clamp_next_to_a_steeper_piece():
    """CE_ε at K = 2, m = 2e7, clamp 1e-8: the minimiser ties the classes at 1/2, and the relaxed
    dual of the whole argmax region (the non-top coordinate free on [0, 1/2], flat below 0.2) is
    0.04 below it. Per piece pattern the duals are tight."""
    q = np.array([[0.474867028975, 0.525132971025]])
    res = minimise_conditional_risk(losses.get("ce_eps", m=2e7), q)
    np.testing.assert_allclose(res.p, [[0.5, 0.5]], atol=1e-12)
    assert res.value_error[0] <= 1e-12


def test_the_polish_ties_only_the_classes_the_exact_conditions_tie():
    """K = 10, CE_ε at m = 1e5: the minimiser ties classes 0, 3 and 5 with the top. Joining every
    class that exceeds the top in one step also tied class 4 (0.127 on the grid) and made the
    polished point worse than the grid's, so 162 of 200 rows stayed unpolished (errors to 8e-8);
    one class at a time, the polish improves the rows and the stated error is ≤ 1e-10."""
    q = np.array([[0.322510853338, 0.056335522762, 0.065619286192, 0.104155651244, 0.086191161407, 0.19390600917,
                   0.011617283901, 0.00931976878, 0.074272225793, 0.076072237412]])
    q = q / q.sum()
    res = minimise_conditional_risk(losses.get("ce_eps"), q)
    top = res.p[0].max()
    tied = np.flatnonzero(res.p[0] >= top * (1 - 1e-9))
    assert set(tied) == {0, 3, 5}
    assert res.certificate.polish.rows == 1
    assert res.value_error[0] <= 1e-10


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(st.integers(3, 6).flatmap(lambda K: simplex_points(K, min_coordinate=0.02)), st.sampled_from([0.3, 0.7, 1.0]))
def test_gce_minimiser_and_value_against_the_closed_form(q, r):
    """GCE (clamp inactive: every coordinate of the minimiser is far above c) has the closed-form
    minimiser p ∝ q^{1/(1−r)} (the vertex of the largest q at r = 1). The found value is within its
    stated error of the closed form's, and that error is ≤ 1e-9 (the audit found locations off by
    2.6e-5, values by 4e-6). Posteriors with exactly tied entries are left to the pinned tests
    below: there the value still holds, the stated error is loose."""
    assume(np.min(np.diff(np.sort(q))) > 1e-9)
    L = losses.get("gce", q=r)
    res = minimise_conditional_risk(L, q)
    if r < 1:
        w = q ** (1 / (1 - r))
        closed = w / w.sum()
    else:
        closed = np.eye(len(q))[np.argmax(q)]
    best = float(conditional_risk(L, closed[None], q[None])[0])
    assert res.value_error <= 1e-9
    assert best - 1e-13 <= res.value <= best + res.value_error
    assert res.value - res.value_error <= best


#: a posterior with two exactly tied pairs, found by the property above (random profile): GCE's
#: minimiser ties the top pair, and the dual bound of the region whose argmax is the third class
#: (below the tied pair) comes out 1.3e-3 under the global value
Q_TIED_PAIRS = np.array([0.02, 0.02, 0.34727273, 0.34727273, 0.26545455])  # sums to 1 within 1e-8: normalised below


def _gce_at_tied_pairs():
    L = losses.get("gce", q=0.7)
    q = Q_TIED_PAIRS / Q_TIED_PAIRS.sum()
    w = q ** (1 / (1 - 0.7))
    closed = float(conditional_risk(L, (w / w.sum())[None], q[None])[0])
    return minimise_conditional_risk(L, q), closed


def test_gce_at_exactly_tied_posteriors_finds_the_closed_forms_value_within_its_stated_error():
    res, closed = _gce_at_tied_pairs()
    assert res.value == pytest.approx(closed, rel=1e-12, abs=0)
    assert res.value - res.value_error <= closed  # the stated error is honest, if loose (below)


@pytest.mark.xfail(strict=True, reason="known looseness, not a wrong value: the weak-duality bound of an argmax region "
                   "whose class lies below an exactly tied pair is 1.3e-3 under its infimum, so the stated error is "
                   "1.3e-3 where the property above asks for 1e-9")
def test_gce_at_exactly_tied_posteriors_states_an_error_below_1e_9():
    res, _ = _gce_at_tied_pairs()
    assert res.value_error <= 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("K", [3, 10])
@pytest.mark.parametrize("name", ["ce_eps", "fl_eps"])
def test_the_search_reaches_the_tie_minimisers_of_argmax_losses(name, K):
    """CE_ε and FL_ε tie several classes with the top. A class can only join the tie by a jump
    (overtaking the top changes the argmax), and a tie kept a few ulps apart must still count as
    one: without joins the search stopped 0.015 above the minimum at K = 10, 9e-5 at K = 3.
    The search (an independent algorithm) and region enumeration now agree, and the search is
    never below the certified lower bound."""
    q = np.random.default_rng(0).dirichlet(np.ones(K), size=12)
    L = losses.get(name)
    exact = minimise_conditional_risk(L, q)
    found = minimise_conditional_risk(L, q, method="multistart", seed=1)
    assert np.all(found.value >= exact.value - exact.value_error)
    assert np.all(found.value - exact.value <= 1e-9 * (1 + np.abs(exact.value))), found.value - exact.value


def test_kkt_and_multistart_agree_on_convex_losses():
    q = np.random.default_rng(3).dirichlet(np.ones(5), size=4)
    for name in ("ael", "aul", "ce+mae"):
        L = losses.get(name)
        a = minimise_conditional_risk(L, q, method="kkt")
        b = minimise_conditional_risk(L, q, method="multistart")
        assert np.all(a.value <= b.value + 1e-9)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-5)


def test_the_search_reaches_the_kkt_minimiser_at_large_k_with_tiny_entries():
    """CE+MAE is convex and separable, so KKT bisection is exact. At K = 30 with an entry of q near
    2e-8, pairwise moves alone stalled at p ≈ q (their donor, the tiny coordinate, has almost no
    mass to give), 1.9e-3 above the minimum; the gradient arcs reach it."""
    from theory.consistency import posteriors

    q = posteriors(30, 6, np.random.default_rng(30), pinned=[])
    L = losses.get("ce+mae")
    exact = minimise_conditional_risk(L, q, method="kkt")
    found = minimise_conditional_risk(L, q, method="multistart", seed=1)
    assert np.all(found.value >= exact.value - 1e-12 * np.abs(exact.value))
    np.testing.assert_allclose(found.value, exact.value, rtol=1e-10)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 12).flatmap(lambda K: st.tuples(
    st.lists(st.floats(-5, 5), min_size=K, max_size=K), st.lists(st.integers(0, 1), min_size=K, max_size=K))))
def test_simplex_projection_is_the_nearest_point_of_the_simplex(case):
    from theory.minimise._search import project_simplex

    v = np.array(case[0])
    v[np.array(case[1], dtype=bool) & (np.arange(len(v)) > 0)] = -np.inf  # −∞ entries project to 0
    w = project_simplex(v[None])[0]
    assert np.all(w >= 0) and abs(w.sum() - 1) <= 1e-12
    assert np.all(w[np.isneginf(v)] == 0)
    finite = np.isfinite(v)
    # optimality (KKT of min |v − w|² on the simplex): v − w is constant on the support and no
    # larger off it
    r = (v - w)[finite]
    on = w[finite] > 0
    assert np.ptp(r[on]) <= 1e-9 and np.all(r[~on] <= r[on].min() + 1e-9)
    np.testing.assert_allclose(project_simplex(w[None])[0], w, atol=1e-12)  # idempotent


def _user_loss(p, y):
    return (1 - p[np.arange(len(y)), y]) ** 1.5 + 0.1 * p.max(axis=1)  # reads every class


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 9).flatmap(lambda K: st.lists(simplex_points(K), min_size=1, max_size=6)),
       st.sampled_from([0.0, 1.0, 1e4]))
def test_loss_vectors_equal_one_evaluation_per_label(P, m):
    """Loss.vectors shares work between labels (ε-softmax once, a sum term by term); it must equal
    evaluating the loss once per label, bit for bit, for library losses, a user's function, and
    ε-softmax and sums over either."""
    from theory.losses import from_callable, with_eps_softmax

    P = np.stack(P)
    user = from_callable(_user_loss)
    K = P.shape[1]
    for L in (user, with_eps_softmax(user, m), 0.5 * user + losses.get("mae"), losses.get("ce_eps+mae"),
              with_eps_softmax(losses.get("gce") + user, m, clamp=1e-3)):
        per_label = np.stack([L(P, np.full(len(P), k), validate=False) for k in range(K)], axis=1)
        np.testing.assert_array_equal(L.vectors(P), per_label, err_msg=repr(L))


def test_known_minimisers():
    q = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(minimise_conditional_risk(losses.get("ce"), q).p, q)
    np.testing.assert_array_equal(minimise_conditional_risk(losses.get("mae"), q).p, [1, 0, 0])
    # PAPER.md §5: CE_ε alone ties the classes at m = 10; CE_ε+MAE keeps the order of q
    p_ce = minimise_conditional_risk(losses.get("ce_eps", m=10.0), q).p
    np.testing.assert_allclose(p_ce, [1 / 3, 1 / 3, 1 / 3], atol=2e-3)
    p_mix = minimise_conditional_risk(losses.get("ce_eps+mae", alpha=0.1, beta=1.0, m=1e4), q).p
    np.testing.assert_allclose(p_mix, [0.892, 0.075, 0.033], atol=2e-3)


@settings(max_examples=20)
@given(finite_problems(max_K=4, max_x=4))
def test_symmetric_risk_identity(prob):
    """R^η(f) = (1 − ηK/(K−1)) R(f) + η/(K−1) E_x Σ_k L(f(x), k), for any loss and f."""
    K, eta = prob.K, 0.3
    L = losses.get("gce")
    f = np.random.default_rng(0).dirichlet(np.ones(K), size=prob.n_x)
    sums = L(np.repeat(f[:, None, :], K, 1), np.broadcast_to(np.arange(K), (prob.n_x, K))).sum(1)
    lhs = prob.noisy(noise.symmetric(K, eta)).risk(L, f)
    rhs = (1 - eta * K / (K - 1)) * prob.risk(L, f) + eta / (K - 1) * prob.px @ sums
    assert np.isclose(lhs, rhs, rtol=1e-10)


def test_symmetric_losses_are_noise_tolerant_and_ce_is_not():
    prob = finite.random_problem(K=4, n_x=6, seed=0)
    T = noise.symmetric(4, 0.5)
    for name, tolerant in (("mae", True), ("nce", True), ("nce+mae", True), ("nce+rce", True),
                           ("ce", False), ("gce", False)):
        excess = prob.excess_risk(losses.get(name), T)
        assert excess >= -1e-9
        assert (excess < 1e-9) is tolerant, (name, excess)


@settings(max_examples=20)
@given(finite_problems(max_K=5, max_x=4), st.data())
def test_symmetric_losses_have_zero_excess_risk_below_the_tolerance_threshold(prob, data):
    """Ghosh et al.: Σ_k L(p, k) constant and η < (K−1)/K ⇒ the noisy minimiser is a clean one."""
    eta = data.draw(noise_rates(prob.K, tolerant=True).filter(lambda r: r <= 0.95 * (prob.K - 1) / prob.K))
    T = noise.symmetric(prob.K, eta)
    for name in ("mae", "nce", "nce+mae"):
        assert abs(prob.excess_risk(losses.get(name), T)) <= 1e-9


def test_eps_losses_become_tolerant_once_m_passes_one_over_the_clamp():
    # The CE_ε band closes only as m approaches 1/c (clamp c = 1e-8): at moderate m the excess
    # need not decrease (measured on this problem: 0.418 at m = 1e2, 0.562 at m = 1e7, 0 at 1e10).
    prob = finite.random_problem(K=3, n_x=5, seed=2)
    T = noise.symmetric(3, 0.4)
    excess = []
    for m in (1e2, 1e7, 1e10):
        excess.append(prob.excess_risk(losses.get("ce_eps+mae", alpha=1.0, beta=1.0, m=m), T))
    assert abs(excess[2]) <= 1e-9 < excess[0], excess


def test_per_x_noise_and_deterministic_problems():
    prob = finite.random_problem(K=3, n_x=4, seed=1, deterministic=True)
    assert set(np.unique(prob.posterior)) <= {0.0, 1.0}
    T = np.stack([noise.symmetric(3, r) for r in (0.1, 0.2, 0.3, 0.4)])
    noisy = prob.noisy(T)
    np.testing.assert_allclose(noisy.posterior.max(1), [0.9, 0.8, 0.7, 0.6])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: p.noisy(np.eye(4)), r"T must be 3×3"),
        (lambda p: p.noisy(np.ones((5, 3, 3)) / 3), r"per-x T must have shape \(4, 3, 3\)"),
        (lambda p: p.risk(losses.get("ce"), np.ones((4, 2)) / 2), r"table of shape \(4, 3\)"),
        (lambda p: finite.FiniteProblem(np.ones(3) / 3, p.posterior), r"px must have shape \(4,\)"),
        (lambda p: finite.random_problem(K=3, n_x=0, seed=0), "n_x must be a positive integer"),
        (lambda p: minimise_conditional_risk(losses.get("ce_eps"), p.posterior, method="kkt"), "does not apply"),
    ],
)
def test_bad_inputs(call, match):
    prob = finite.random_problem(K=3, n_x=4, seed=0)
    with pytest.raises(ValueError, match=match):
        call(prob)


@pytest.mark.parametrize("m", [0.0, 1.0, 1e4])
def test_region_enumeration_on_a_smooth_convex_loss_matches_multistart_and_stays_on_the_simplex(m):
    # regression: secant slopes over intervals of ~1e-16 near u = 0 were rounding noise, which
    # made φ̂' non-monotone and produced off-simplex candidates that "won" the enumeration
    square = losses.pointwise("square", lambda xp, u: (1 - u) ** 2, curvature="convex")
    L = losses.with_eps_softmax(square, m, clamp=0.0)
    q = np.random.default_rng(0).dirichlet(np.ones(3), size=60)
    regions = minimise_conditional_risk(L, q)
    search = minimise_conditional_risk(L, q, method="multistart")
    assert regions.method == "region enumeration"
    np.testing.assert_allclose(regions.p.sum(1), 1.0, atol=1e-12)
    assert np.all(regions.value <= search.value + 1e-9)
    if m == 0:
        kkt = minimise_conditional_risk(square, q)
        np.testing.assert_allclose(regions.value, kkt.value, atol=1e-9)


def test_symbolic_profiles_are_shared_across_parameters_and_equal_the_concrete_ones():
    """The polish's derivatives come from one lambdified template per loss structure (an m-sweep
    builds it once); bound to each loss's parameters they equal the concrete sympy derivatives."""
    import sympy as sp

    from theory.minimise import _polish

    u = sp.Symbol("u", positive=True)
    grid = np.array([1e-9, 1e-4, 0.2, 0.5, 0.9])
    for m in (0.5, 1e3, 1e7):
        L = losses.get("ce_eps+mae", m=m)
        before = len(_polish._TEMPLATES)
        prof = _polish.profiles(L, 3)
        assert prof.exact
        if m != 0.5:
            assert len(_polish._TEMPLATES) == before  # the template of the first m serves
        other = L.sympy(2, y=1, t=0, symbols=[1 - u, u])
        d_concrete = sp.lambdify(u, sp.diff(other, u), "numpy")
        np.testing.assert_allclose(prof.dother(grid), d_concrete(grid), rtol=1e-12)


def test_a_formula_that_branches_on_its_parameter_still_gets_exact_profiles():
    """A template with symbolic parameters fails for a formula with `if` on a parameter: that loss
    is built with its numbers instead (exact derivatives, not central differences)."""
    from theory.losses import register
    from theory.losses._registry import _REGISTRY
    from theory.minimise import _polish

    @register("test_branching", formula="(1 − p_y)^a, or 1 − p_y when a ≤ 1", structure="pointwise", replace=True)
    def branching(xp, pred, y, *, a=2.0):
        return (1 - pred.py(y)) ** a if a > 1 else 1 - pred.py(y)

    try:
        prof = _polish.profiles(losses.get("test_branching", a=3.0), 3)
        assert prof.exact
        np.testing.assert_allclose(prof.dother(np.array([0.25, 0.5])), -3 * (1 - np.array([0.25, 0.5])) ** 2)
    finally:
        _REGISTRY.pop("test_branching", None)


@settings(max_examples=15, deadline=None)
@given(simplex_points(3, min_coordinate=0.02))
def test_the_logit_search_finds_softmax_equal_to_q_for_cross_entropy_on_logits(q):
    """CE on logits is minimised by softmax(z) = q: the vectorised multi-start L-BFGS-B finds it."""
    from theory.minimise._search import logit_search

    ce_logits = losses.get("ce+lc", delta=1e-6)  # clipping only beyond norm 1e6: plain CE in the box
    Z, values, starts = logit_search(ce_logits, np.asarray(q)[None], seed=0)
    p = np.exp(Z - Z.max(1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(1, keepdims=True), np.asarray(q)[None], atol=1e-6)
    assert starts == 7


@pytest.mark.parametrize("box", [0.0, -1.0, float("inf"), float("nan")])
def test_a_bad_logit_search_box_is_refused_naming_what_was_seen(box):
    with pytest.raises(ValueError, match=r"box must be a positive finite number, got"):
        minimise_conditional_risk(losses.get("ldr_kl"), np.array([0.5, 0.3, 0.2]), box=box)


@pytest.mark.parametrize("label_clamp", [0.0, -1e-4, 2.0])
def test_rce_refuses_a_label_clamp_outside_0_1(label_clamp):
    with pytest.raises(ValueError, match=rf"parameter 'label_clamp' must be a finite real number in \(0, 1\], got {label_clamp}"):
        losses.get("rce", label_clamp=label_clamp)


def test_the_theory_cli_reports_each_minimisers_stated_error(tmp_path):
    import json

    from theory.__main__ import main

    out = tmp_path / "rows.json"
    assert main(["--losses", "ce,gce,sce,nlnl", "-K", "3", "--n-x", "3", "--json", str(out)]) == 0
    rows = {r["loss"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["ce"]["method"] == "closed form" and rows["ce"]["value_error"] <= 1e-12
    assert rows["gce"]["value_error"] <= 1e-9
    assert rows["sce"]["value_error"] > 0  # a search bounded only through its terms' minima
    assert rows["nlnl"]["value_error"] is None  # a search with nothing to bound it


def test_a_loss_without_a_sympy_path_states_the_error_of_its_differenced_slopes():
    """The dual bound's tangents need φ'. Without a sympy path it comes from central differences,
    and the stated error widens by their allowed error instead of claiming rounding-level
    certainty; it still bounds the distance to the grid's best value."""
    L = losses.pointwise("square_numpy_only", lambda xp, u: np.square(np.asarray(1 - u, dtype=float)),
                         curvature="convex")
    res = minimise_conditional_risk(L, Q)
    assert res.certificate.derivatives == "central differences"
    assert np.all(res.value_error > 1e-9)  # not the rounding-level error of an exact slope
    assert np.all(res.value - res.value_error <= _brute(L, Q))


def test_a_loss_that_reads_k_is_not_bounded_with_its_k_2_symbolic_profile():
    """The symbolic profiles are built at K = 2. A pointwise loss whose shape depends on K,
    φ(u) = (1 − u)² + (K − 2)(1 − u), has φ = (1 − u)² there but not at K = 3: its profiles come
    from the loss at K (central differences), and the stated error still bounds the grid's best."""
    @losses.register("user_k_shaped", formula="(1 − p_y)² + (K − 2)(1 − p_y)", structure="pointwise",
                     curvature="convex", replace=True)
    def k_shaped(xp, pred, y):
        u = pred.py(y)
        return (1 - u) ** 2 + (pred.K - 2) * (1 - u)

    from theory.minimise._polish import profiles

    L = losses.get("user_k_shaped")
    assert profiles(L, 2).exact and not profiles(L, 3).exact
    res = minimise_conditional_risk(L, Q)
    assert np.all(res.value - res.value_error <= _brute(L, Q))
    assert np.all(res.value <= _brute(L, Q) + 1e-9)
