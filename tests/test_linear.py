"""Minimisers within the linear class: the CE certificate, the searches, excess rows, convexity."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from theory import losses
from theory.excess import sum_range
from theory.finite import FiniteProblem, random_problem
from theory.linear import (
    CONVEX_IN_LOGITS,
    LinearClass,
    _ce_risk_and_gradient,
    class_excess,
    linear_problem,
    minimise_in_class,
    random_features,
)
from theory.noise import symmetric

#: a problem where symmetric noise (η = 1/3) moves CE's argmax within the class, certified
MOVES = (3, 8, 2, 2, 0.5)


def _newton_ce(cls, px, q, theta, steps=60):
    """CE's in-class minimiser by Newton's method with the exact Hessian (independent of L-BFGS)."""
    phi = cls.design
    for _ in range(steps):
        _, g, p = _ce_risk_and_gradient(cls, px, q, theta)
        H = np.zeros((g.size, g.size))
        for x in range(cls.n_x):
            pk = p[x, :-1]
            Hx = np.diag(pk) - np.outer(pk, pk)
            H += px[x] * np.kron(Hx, np.outer(phi[x], phi[x]))
        step = np.linalg.solve(H, g)
        theta = theta - step
        if np.abs(step).max() < 1e-15:
            break
    return theta


@settings(max_examples=15)
@given(st.integers(0, 2**31 - 1), st.sampled_from([(3, 6, 1), (3, 8, 2), (4, 10, 2), (2, 5, 1)]),
       st.sampled_from([0.0, 0.2, 0.5]))
@example(0, (3, 8, 2), 0.5)
def test_ces_certificate_holds_the_exact_minimiser_in_its_ball(seed, shape, eta):
    K, n_x, d = shape
    problem, cls = linear_problem(K, n_x, d, seed)
    problem = problem.noisy(symmetric(K, eta * (K - 1) / K))
    found = minimise_in_class(losses.get("ce"), problem, cls)
    assert found.certified
    exact = _newton_ce(cls, problem.px, problem.posterior, found.theta.copy())
    assert np.linalg.norm(exact - found.theta) <= found.radius
    exact_value = _ce_risk_and_gradient(cls, problem.px, problem.posterior, exact)[0]
    assert 0 <= found.value - exact_value + 1e-15 <= found.value_error
    # where the certificate vouches for the argmax, the exact minimiser has it
    z = cls.logits(exact, K)
    assert np.array_equal(np.argmax(z, -1)[found.argmax_certain], found.prediction[found.argmax_certain])


def test_the_certificate_is_refused_where_the_class_is_degenerate():
    # two identical feature columns: the risk is flat along their difference, no unique minimiser
    problem, cls = linear_problem(3, 8, 1, 4)
    twin = LinearClass(np.hstack([cls.features, cls.features]))
    found = minimise_in_class(losses.get("ce"), problem, twin)
    assert not found.certified and found.value_error == np.inf and not found.argmax_certain.any()
    # the same risk is reached, through the degenerate parameterisation
    assert found.value == pytest.approx(minimise_in_class(losses.get("ce"), problem, cls).value, abs=1e-9)


def test_a_minimiser_on_the_box_edge_is_not_certified():
    # one point, deterministic label: CE wants infinite logits, the box stops them
    problem = FiniteProblem(np.array([0.5, 0.5]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    found = minimise_in_class(losses.get("ce"), problem, LinearClass(np.array([[-1.0], [1.0]]), bound=3.0))
    assert np.abs(found.theta).max() == pytest.approx(3.0)
    assert not found.certified


@pytest.mark.parametrize("name", ["ce", "mae", "gce", "ce_eps+mae"])
def test_a_rich_class_reaches_the_tabular_minimum(name):
    # n_x = d + 1 points in general position: every table of logits is a linear function
    L = losses.get(name)
    problem = random_problem(3, 3, seed=7)
    cls = LinearClass(random_features(3, 2, seed=8), bound=200.0)
    assert not cls.restricted
    found = minimise_in_class(L, problem, cls)
    assert found.tabular_gap <= (found.value_error if found.certified else 1e-6)
    assert found.tabular_gap >= -1e-9  # the tabular minimum bounds every class's from below


def test_a_restricted_class_is_worse_than_the_tabular_minimum():
    problem, cls = linear_problem(3, 8, 1, 0)
    assert cls.restricted
    found = minimise_in_class(losses.get("ce"), problem, cls)
    assert found.tabular_gap > 1e-3


@pytest.mark.slow
@settings(max_examples=8)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.2, 0.5, 0.8]))
@example(3, 0.5)
def test_maes_noisy_minimum_is_the_affine_image_of_its_clean_one(seed, frac):
    # Σ_k MAE = 2(K − 1): R^η = a R + b·2(K − 1) on any class, so the minima are related exactly;
    # the search finds both to within 1e-7 (a failure here is a search that missed a minimum)
    K = 3
    eta = frac * (K - 1) / K
    problem, cls = linear_problem(K, 8, 2, seed, concentration=0.5)
    row = class_excess(losses.get("mae"), problem, cls, eta, seed=seed)
    a, b = 1 - eta * K / (K - 1), eta / (K - 1)
    assert row.noisy.value == pytest.approx(a * row.clean.value + b * 2 * (K - 1), abs=1e-7)
    assert abs(row.excess) <= 1e-7 / a


@pytest.mark.slow
@settings(max_examples=6)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["mae", "gce", "ce_eps+mae"]))
@example(3, "gce")
def test_excess_within_the_class_obeys_theorem_b(seed, name):
    L = losses.get(name)
    r = sum_range(L, 3, rng=np.random.default_rng(seed), n=100, n_polish=0)
    problem, cls = linear_problem(3, 8, 2, seed, concentration=0.5)
    row = class_excess(L, problem, cls, 1 / 3, seed=seed, c1=r.c1, c2=r.c2)
    # each search ended no worse than its twin on its own risk: what the theorem rests on
    assert row.noisy.value <= row.noisy_risk_of_clean + 1e-12
    assert row.excess <= row.instance_bound + 1e-12
    assert row.excess <= row.range_bound + 1e-12
    assert row.tabular_zero_one_excess == 0  # noise never moves the Bayes class


def test_noise_moves_ces_argmax_within_the_class_and_not_the_bayes_class():
    K, n_x, d, seed, conc = MOVES
    problem, cls = linear_problem(K, n_x, d, seed, concentration=conc)
    row = class_excess(losses.get("ce"), problem, cls, 1 / 3, seed=seed)
    assert row.certified and row.certain_changes >= 1 and row.zero_one_excess > 0
    assert row.tabular_zero_one_excess == 0 and row.tabular_excess > 0
    mae = class_excess(losses.get("mae"), problem, cls, 1 / 3, seed=seed)
    assert mae.argmax_changes == 0


@pytest.mark.parametrize("name", losses.names("paper"))
def test_only_the_declared_losses_are_convex_in_the_logits(name):
    # midpoint convexity, f((a + b)/2) ≤ (f(a) + f(b))/2, on random pairs of logits: one violation
    # beyond rounding shows the loss is not convex; CE must never violate it
    L = losses.get(name)
    rng = np.random.default_rng(0)
    A, B = rng.normal(scale=3.0, size=(2, 4000, 3))
    fa, fb, fm = (L.vectors(Z, logits=True) for Z in (A, B, (A + B) / 2))
    gap = fm - (fa + fb) / 2
    rounding = 1e-12 * (1 + np.abs(fa) + np.abs(fb))
    violated = np.isfinite(gap) & (gap > rounding)
    if name in CONVEX_IN_LOGITS:
        assert not violated.any()
    else:
        assert violated.any(), f"{name}: midpoint convexity held on every pair tried"


@pytest.mark.parametrize("bad, match", [
    ({"features": np.array([[np.nan]])}, "finite"),
    ({"features": np.zeros(3)}, "shape"),
    ({"features": np.zeros((3, 1)), "bound": 0.0}, "bound"),
    ({"features": np.zeros((3, 1)), "bound": np.inf}, "bound"),
])
def test_bad_classes_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        LinearClass(**bad)


def test_a_class_for_other_points_is_refused():
    problem = random_problem(3, 4, seed=0)
    with pytest.raises(ValueError, match="features for 5 points, the problem has 4"):
        minimise_in_class(losses.get("ce"), problem, LinearClass(np.zeros((5, 1))))


# −Σ_k t_k log softmax(z)_k = −t·z + (Σ_k t_k)·logsumexp(z) is convex for any target t summing to 1
# (label smoothing, negative label smoothing); softplus sums and a max of affine maps are convex;
# CORES subtracts β = 2 cross-entropies' mean, leaving (1 − β)·logsumexp: concave along some lines
@pytest.mark.parametrize("name, convex", [("label_smoothing", True), ("nls", True), ("ova_bce", True),
                                          ("cs_hinge", True), ("cores", False)])
def test_the_catalogue_losses_convex_in_the_logits_by_construction(name, convex):
    L = losses.get(name)
    rng = np.random.default_rng(0)
    A, B = rng.normal(scale=3.0, size=(2, 4000, 3))
    fa, fb, fm = (L.vectors(Z, logits=True) for Z in (A, B, (A + B) / 2))
    violated = np.isfinite(fm) & (fm - (fa + fb) / 2 > 1e-12 * (1 + np.abs(fa) + np.abs(fb)))
    assert violated.any() != convex


@pytest.mark.parametrize("shape", [(3, 8, 2), (3, 16, 2), (4, 10, 2)])
def test_a_search_draws_its_starts_from_a_stream_the_problem_does_not_use(shape):
    """The defect this fixes: linear_problem(K, n_x, d, seed) drew the problem from
    default_rng([seed, K, n_x, d]) and minimise_in_class(…, seed=seed) its random starts from the
    same key, so every caller passing the problem's seed (the claims, empirical.exact) searched
    from starts made of the problem's own random bits. No draw of one stream may appear in the other."""
    from theory.linear import start_stream

    K, n_x, d = shape
    for seed in range(20):
        problem_bits = np.random.default_rng([seed, K, n_x, d]).integers(0, 2**63, size=64)
        _, cls = linear_problem(K, n_x, d, seed)
        start_bits = start_stream(seed, K, cls).integers(0, 2**63, size=64)
        assert not set(problem_bits.tolist()) & set(start_bits.tolist())
        assert not np.array_equal(start_stream(seed, K, cls).normal(size=8),
                                  np.random.default_rng([seed, K, n_x, d]).normal(size=8))
    assert np.array_equal(start_stream(3, K, cls).normal(size=4), start_stream(3, K, cls).normal(size=4))
