"""Noise models: exact rates, stated conventions, tolerance conditions, cleanlab interop."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory import noise
from theory.strategies import noise_matrices


def _balanced(K, per_class):
    return np.repeat(np.arange(K), per_class)


@given(K=st.integers(2, 10), rate=st.floats(0.0, 0.95), per=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_symmetric_exact_hits_the_rate_and_never_keeps_the_true_class(K, rate, per, seed):
    y = _balanced(K, per)
    y_noisy = noise.sample(y, noise.symmetric(K, rate), seed=seed, exact=True)
    flipped = y_noisy != y
    for k in range(K):
        assert flipped[y == k].sum() == int(np.floor(rate * per + 1e-9))
    # a flipped label is always another class, and no class flips to itself
    assert np.all(y_noisy[flipped] != y[flipped])
    assert np.all((0 <= y_noisy) & (y_noisy < K))


def test_symmetric_exact_shares_flips_equally_among_targets():
    y = _balanced(10, 900)
    y_noisy = noise.sample(y, noise.symmetric(10, 0.4), seed=0)
    T_hat = noise.empirical_transition(y, y_noisy)
    off = T_hat[~np.eye(10, dtype=bool)]
    assert np.all(np.abs(off - 0.4 / 9) <= 1 / 900 + 1e-12)
    np.testing.assert_allclose(np.diag(T_hat), 0.6)


def test_the_other_symmetric_convention_is_explicit():
    T = noise.symmetric(4, 0.4, include_true=True)
    assert np.isclose(1 - T[0, 0], 0.4 * 3 / 4)


def test_iid_sampling_matches_T_in_distribution():
    y = _balanced(5, 20000)
    T = noise.pairs(5, 0.3, [(0, 1), (1, 2)])
    T_hat = noise.empirical_transition(y, noise.sample(y, T, seed=3, exact=False))
    assert np.max(np.abs(T_hat - T)) < 0.015


def test_pair_flips_draw_from_original_members_and_the_reference_flag_reproduces_the_defect():
    y = _balanced(10, 5000)
    good = noise.flip_pairs(y, noise.CIFAR10_PAIRS, 0.4, seed=0)
    for src, dst in noise.CIFAR10_PAIRS:
        members = y == src
        assert np.mean(good[members] != src) == 0.4
        assert np.all(good[members & (good != src)] == dst)
    assert noise.actual_rate(y, good) == pytest.approx(0.2)
    ref = noise.flip_pairs(y, noise.CIFAR10_PAIRS, 0.4, seed=0, reference_sequential=True)
    # cat→dog then dog→cat on current labels: some flipped cats are flipped back
    assert 0.17 < noise.actual_rate(y, ref) < 0.195
    assert 0.2 < np.mean(ref[y == 3] != 3) < 0.28
    np.testing.assert_array_equal(good, noise.sample(y, noise.cifar10_asymmetric(0.4), seed=0))


def test_cifar100_blocks_are_cyclic_inside_index_blocks():
    T = noise.cifar100_blocks(0.3)
    assert T[4, 0] == 0.3 and T[0, 1] == 0.3 and T[9, 5] == 0.3
    assert np.allclose(T.sum(1), 1)


def test_samplers_are_reproducible_and_leave_the_input_alone():
    y = _balanced(3, 50)
    before = y.copy()
    a = noise.sample(y, noise.symmetric(3, 0.5), seed=0)
    b = noise.sample(y, noise.symmetric(3, 0.5), seed=np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(y, before)


@given(noise_matrices(4, kind="class_conditional", dominant=True))
def test_tolerance_dominant_matrices(T):
    assert noise.tolerance(T).dominant_ok


@given(noise_matrices(4, kind="class_conditional", dominant=False))
def test_tolerance_reports_violations(T):
    rep = noise.tolerance(T)
    assert not rep.dominant_ok and rep.violations


@pytest.mark.parametrize("rate, ok", [(0.7, True), (0.75, False), (0.8, False)])
def test_symmetric_tolerance_threshold(rate, ok):
    rep = noise.tolerance(noise.symmetric(4, rate))
    assert rep.symmetric_rate == pytest.approx(rate) and rep.symmetric_ok is ok


@given(noise_matrices(5))
def test_cleanlab_round_trip(T):
    N = noise.to_cleanlab(T)
    np.testing.assert_allclose(N.sum(0), 1.0)
    np.testing.assert_allclose(noise.from_cleanlab(N), T)


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: noise.symmetric(4, 1.0), ValueError, r"rate must lie in \[0, 1\), got 1.0"),
        (lambda: noise.symmetric(4, -0.1), ValueError, r"rate must lie in \[0, 1\)"),
        (lambda: noise.symmetric(4, float("nan")), ValueError, r"rate must lie in \[0, 1\)"),
        (lambda: noise.symmetric(1, 0.1), ValueError, "K must be an integer number of classes >= 2"),
        (lambda: noise.sample([0, 1], np.array([[0.5, 0.6], [0.5, 0.5]]), seed=0), ValueError, "row 0 summing to 1.1"),
        (lambda: noise.sample([0, 1], np.ones((2, 3)) / 3, seed=0), ValueError, r"square K×K matrix"),
        (lambda: noise.sample([0, 1], np.array([[1.2, -0.2], [0, 1]]), seed=0), ValueError, ">= 0"),
        (lambda: noise.sample([0, 5], noise.symmetric(3, 0.1), seed=0), ValueError, r"labels must lie in \[0, 2\]"),
        (lambda: noise.sample([0, 1], noise.symmetric(3, 0.1), seed=None), TypeError, "seed must be a non-negative integer or a numpy Generator"),
        (lambda: noise.pairs(3, 0.1, [(0, 0)]), ValueError, "two different classes"),
        (lambda: noise.from_cleanlab(np.array([[0.9, 0.9], [0.1, 0.2]])), ValueError, "column-stochastic"),
    ],
)
def test_bad_inputs(call, err, match):
    with pytest.raises(err, match=match):
        call()
