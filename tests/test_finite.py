"""Finite problems and global minimisers of the conditional risk, against brute force."""

import numpy as np
import pytest
from hypothesis import given, settings

from theory import finite, losses, noise
from theory.minimise import conditional_risk, minimise_conditional_risk
from theory.strategies import finite_problems


def _grid(n=300):
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    return np.stack([i[keep], j[keep], n - i[keep] - j[keep]], 1) / n


GRID = _grid()
Q = np.random.default_rng(11).dirichlet(np.ones(3), size=5)
PROB_LOSSES = [n for n in losses.names() if losses.get(n).input == "probs"]


def _brute(L, q):
    return np.array([conditional_risk(L, GRID, np.broadcast_to(row, GRID.shape)).min() for row in q])


NCE_FAMILY = pytest.mark.xfail(
    reason="known limitation: NCE's infimum lies on the boundary where NCE is undefined and is "
    "approached only at a log rate; the multi-start search stops short (issue 4 must handle it)",
    strict=False,
)


@pytest.mark.parametrize("name", [pytest.param(n, marks=NCE_FAMILY) if n.startswith(("nce", "nfl")) else n
                                  for n in PROB_LOSSES])
def test_minimiser_is_no_worse_than_brute_force_on_the_2_simplex(name):
    L = losses.get(name, **({"m": 50.0} if "eps" in name else {}))
    res = minimise_conditional_risk(L, Q)
    brute = _brute(L, Q)
    # exact methods: never above the grid; multi-start: within the grid's resolution
    tol = 1e-9 if res.exact else 1e-4
    assert np.all(res.value <= brute + tol * np.maximum(1, np.abs(brute))), (res.method, res.value - brute)
    np.testing.assert_allclose(res.value, conditional_risk(L, res.p, Q), rtol=1e-12)


@pytest.mark.parametrize(
    "name, method",
    [("ce", "closed form"), ("mse", "closed form"), ("mae", "vertex enumeration"),
     ("agce", "vertex enumeration"), ("ael", "KKT bisection (convex separable)"),
     ("ce+mae", "KKT bisection (convex separable)"), ("ce_eps+mae", "multi-start pairwise search")],
)
def test_the_method_follows_the_declared_structure(name, method):
    assert minimise_conditional_risk(losses.get(name), Q).method == method


def test_kkt_and_multistart_agree_on_convex_losses():
    q = np.random.default_rng(3).dirichlet(np.ones(5), size=4)
    for name in ("ael", "aul", "ce+mae"):
        L = losses.get(name)
        a = minimise_conditional_risk(L, q, method="kkt")
        b = minimise_conditional_risk(L, q, method="multistart")
        assert np.all(a.value <= b.value + 1e-9)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-5)


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
    for name, tolerant in (("mae", True), ("ce", False)):
        L = losses.get(name)
        excess = prob.risk(L, prob.noisy(T).minimiser(L).p) - prob.risk(L, prob.minimiser(L).p)
        assert excess >= -1e-12
        assert (excess < 1e-12) is tolerant


def test_eps_losses_become_tolerant_once_m_passes_one_over_the_clamp():
    # The CE_ε band closes only as m approaches 1/c (clamp c = 1e-8): at moderate m the excess
    # need not decrease (measured on this problem: 0.418 at m = 1e2, 0.562 at m = 1e7, 0 at 1e10).
    prob = finite.random_problem(K=3, n_x=5, seed=2)
    T = noise.symmetric(3, 0.4)
    excess = []
    for m in (1e2, 1e7, 1e10):
        L = losses.get("ce_eps+mae", alpha=1.0, beta=1.0, m=m)
        excess.append(prob.risk(L, prob.noisy(T).minimiser(L).p) - prob.risk(L, prob.minimiser(L).p))
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
