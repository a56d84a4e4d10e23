"""ε-softmax: properties P1–P4 of PAPER.md §2 on random and adversarial inputs."""

import numpy as np
import pytest
import sympy
from hypothesis import example, given
from hypothesis import strategies as st

from theory import eps_softmax, losses, one_hot_error
from theory.strategies import simplex_points

M_VALUES = st.sampled_from([0.0, 1e-3, 0.5, 1.0, 10.0, 1e3, 1e5, 1e8])


@given(st.integers(2, 8).flatmap(lambda K: st.tuples(simplex_points(K), M_VALUES)))
@example((np.array([0.5, 0.5, 0.0]), 1e5))  # a tie: first index wins
@example((np.array([1.0, 0.0]), 0.0))
def test_p1_simplex_order_and_topk(args):
    p, m = args
    pe = eps_softmax(p, m)
    K = p.size
    assert np.all(pe >= 0) and np.isclose(pe.sum(), 1.0, atol=1e-12)
    t = int(np.argmax(p))
    assert int(np.argmax(pe)) == t
    others = np.arange(K) != t
    np.testing.assert_allclose(pe[others], p[others] / (1 + m), rtol=1e-12, atol=1e-300)
    assert np.isclose(pe[t], (p[t] + m) / (1 + m), rtol=1e-12)
    # every top-k set is preserved (stable order with the first-index tie rule)
    ranks_p = np.argsort(np.argsort(-np.where(others, p, np.inf), kind="stable"), kind="stable")
    ranks_e = np.argsort(np.argsort(-np.where(others, pe, np.inf), kind="stable"), kind="stable")
    assert np.array_equal(ranks_p, ranks_e)


@given(st.integers(2, 8).flatmap(lambda K: st.tuples(simplex_points(K), M_VALUES)))
def test_p2_one_hot_error_identities_and_bound(args):
    p, m = args
    K = p.size
    pt = p.max()
    linf = one_hot_error(p[None], m, norm="linf")[0]
    l1 = one_hot_error(p[None], m, norm="l1")[0]
    assert np.isclose(linf, (1 - pt) / (1 + m), rtol=1e-9, atol=1e-15)
    assert np.isclose(l1, 2 * (1 - pt) / (1 + m), rtol=1e-9, atol=1e-15)
    assert l1 <= 2 * (K - 1) / (K * (1 + m)) + 1e-15


@given(st.integers(2, 8).flatmap(lambda K: st.tuples(simplex_points(K), M_VALUES)))
def test_p3_coordinate_ranges(args):
    p, m = args
    K = p.size
    pe = eps_softmax(p, m)
    t = int(np.argmax(p))
    assert np.all(np.delete(pe, t) <= 1 / (1 + m) + 1e-15)
    assert (1 / K + m) / (1 + m) - 1e-12 <= pe[t] <= 1 + 1e-15


@pytest.mark.parametrize("m", [0.0, 1.0, 1e5])
def test_p4_clamp_makes_ce_eps_constant_below_threshold(m):
    c = 1e-8
    L = losses.get("ce_eps", m=m, clamp=c)
    threshold = (1 + m) * c
    py = np.array([0.0, threshold * 0.5, threshold * 0.999])
    p = np.stack([1 - py, py], axis=1)  # y = 1 is never the argmax
    np.testing.assert_allclose(L(p, np.ones(3, dtype=int)), -np.log(c), rtol=1e-12)
    above = np.array([[1 - 2 * threshold, 2 * threshold]])
    assert L(above, np.array([1]))[0] < -np.log(c)


def test_p4_zero_gradient_in_the_clamp_regime():
    torch = pytest.importorskip("torch")
    m, c = 10.0, 1e-8
    z = torch.tensor([[30.0, 0.0, 1.0]], dtype=torch.float64, requires_grad=True)  # p_1 ≈ 1e-13
    losses.get("ce_eps", m=m, clamp=c).torch()(z, torch.tensor([1])).backward()
    assert torch.all(z.grad == 0)


def test_m_zero_is_the_plain_softmax_and_large_m_is_one_hot():
    p = np.random.default_rng(0).dirichlet(np.ones(5), size=50)
    np.testing.assert_array_equal(eps_softmax(p, 0.0), p)
    far = eps_softmax(p, 1e12)
    np.testing.assert_allclose(far, np.eye(5)[np.argmax(p, 1)], atol=1e-11)


def test_the_argmax_index_carries_no_gradient_and_p_does():
    torch = pytest.importorskip("torch")
    z = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    m = 3.0
    pe = eps_softmax(torch.softmax(z, -1), m)
    w = torch.randn(4, 6, dtype=torch.float64)
    (pe * w).sum().backward()
    z2 = z.detach().clone().requires_grad_(True)
    (torch.softmax(z2, -1) * w / (1 + m)).sum().backward()  # the one-hot term adds nothing
    torch.testing.assert_close(z.grad, z2.grad)


def test_sympy_needs_the_region_for_symbolic_points_and_is_exact_given_it():
    p = sympy.symbols("p0:3", positive=True)
    with pytest.raises(ValueError, match="pass the argmax index"):
        eps_softmax(list(p), 2)
    m = sympy.Symbol("m", positive=True)
    pe = eps_softmax(list(p), m, t=1)
    assert sympy.simplify(pe[1] - (p[1] + m) / (1 + m)) == 0
    assert sympy.simplify(pe[0] - p[0] / (1 + m)) == 0


@pytest.mark.parametrize(
    "p, m, match",
    [
        (np.array([0.5, 0.6]), 1.0, "sum to 1"),
        (np.array([1.2, -0.2]), 1.0, ">= 0"),
        (np.array([np.nan, 1.0]), 1.0, "finite"),
        (np.array([1.0]), 1.0, "K >= 2"),
        (np.array([0.5, 0.5]), -1.0, "m must be"),
        (np.array([0.5, 0.5]), float("nan"), "m must be"),
    ],
)
def test_bad_inputs_name_expected_and_seen(p, m, match):
    with pytest.raises(ValueError, match=match):
        eps_softmax(p, m)


_P = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"t": 5}, ValueError, r"t must index a class in \[0, 2\], got 5"),
        ({"t": -1}, ValueError, r"t must index a class in \[0, 2\], got -1"),
        ({"t": 1.5}, TypeError, "t must be an integer argmax index .* got float 1.5"),
        ({"t": np.array([0.0, 1.0])}, TypeError, "t must be an integer argmax index"),
        ({"t": np.array([0, 1, 1])}, ValueError, r"batch shape \(2,\) of p, got shape \(3,\)"),
        ({"t": 1}, ValueError, r"largest entry of its row of p .* got t=1 where p is 0.3 < max 0.5"),
        ({"t": np.array([0, 2])}, ValueError, r"got t=2 where p is 0.3 < max 0.6 \(row \(1,\)\)"),
        ({"clamp": float("nan")}, ValueError, r"clamp must be a finite real number in \[0, 1\), got nan"),
        ({"clamp": 2.0}, ValueError, r"clamp must be .* got 2.0"),
        ({"clamp": -1e-8}, ValueError, r"clamp must be .* got -1e-08"),
        ({"clamp": "1e-8"}, TypeError, r"clamp must be a real number in \[0, 1\), got str"),
    ],
)
def test_a_stated_argmax_or_clamp_is_checked_saying_what_was_seen(kwargs, error, match):
    """A wrong t used to give rows that no longer sum to 1, clamp=NaN all NaN: now refused."""
    with pytest.raises(error, match=match):
        eps_softmax(_P, 3.0, **kwargs)


@given(st.integers(2, 6).flatmap(lambda K: st.lists(simplex_points(K), min_size=1, max_size=5)))
def test_stating_the_argmax_of_each_row_gives_what_computing_it_gives(rows):
    p = np.array(rows)
    t = np.argmax(p, axis=-1)
    np.testing.assert_array_equal(eps_softmax(p, 7.0, t=t), eps_softmax(p, 7.0))
    tied = np.flatnonzero((p == p.max(-1, keepdims=True)).sum(-1) > 1)
    for i in tied:  # any largest entry of a tied row is an accepted argmax
        other = np.flatnonzero(p[i] == p[i].max())[-1]
        out = eps_softmax(p[i], 7.0, t=other)
        assert out[other] == pytest.approx((p[i, other] + 7.0) / 8.0) and out.sum() == pytest.approx(1.0)


def test_torch_inputs_are_checked_like_numpy_ones():
    torch = pytest.importorskip("torch")
    p = torch.tensor(_P)
    with pytest.raises(ValueError, match=r"got t=2 where p is 0.3 < max 0.6"):
        eps_softmax(p, 3.0, t=torch.tensor([0, 2]))
    with pytest.raises(TypeError, match="dtype torch.float32"):
        eps_softmax(p, 3.0, t=torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        eps_softmax(torch.tensor([[1.2, -0.2]]), 3.0)
    criterion = losses.get("ce_eps+mae").torch()
    logits = torch.zeros(2, 3)
    logits[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"logits must be finite, got nan at index \(1, 2\)"):
        criterion(logits, torch.tensor([0, 1]))
    logits[1, 2] = float("inf")
    with pytest.raises(ValueError, match=r"logits must be finite, got inf at index \(1, 2\)"):
        criterion(logits, torch.tensor([0, 1]))
