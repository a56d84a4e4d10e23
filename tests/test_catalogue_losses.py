"""The catalogue's losses against independent implementations, written here from each paper's
equation in plain numpy/scipy (a different form where the library's is rewritten for stability or
speed), at K = 3, 10 and 100; numpy, torch and sympy agree for every registered loss in
tests/test_losses.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import entr, expit, log_expit, log_softmax, softmax

from theory import losses

C = 1e-8  # this package's clamp (RCE, inside NGCE+RCE)


def _onehot(y, K):
    return np.eye(K)[y]


def _py(p, y):
    return p[np.arange(len(y)), y]


def ngce(p, y, q=0.7):
    K = p.shape[1]
    return (1 - _py(p, y) ** q) / (K - (p ** q).sum(1))


def nnce(p, y, p_min=1e-7):
    A = -math.log(p_min)
    ce = -np.log(np.clip(p, p_min, 1.0))  # CE(p̃, k) for every k
    return 1 - (A - _py(ce, y)) / (A - ce).sum(1)


def nnfl(p, y, gamma=0.5, p_min=1e-7):
    A = -((1 - p_min) ** gamma) * math.log(p_min)
    pt = np.clip(p, p_min, 1.0)
    fl = -((1 - pt) ** gamma) * np.log(pt)
    return 1 - (A - _py(fl, y)) / (A - fl).sum(1)


def js(p, y, pi1=0.5):
    K = p.shape[1]
    e = _onehot(y, K)
    m = pi1 * e + (1 - pi1) * p
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_e = (e * np.log(np.where(e > 0, e / m, 1.0))).sum(1)
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(1)
    return (pi1 * kl_e + (1 - pi1) * kl_p) / (-(1 - pi1) * math.log(1 - pi1))


def taylor_ce(p, y, t=2):
    return sum((1 - _py(p, y)) ** k / k for k in range(1, t + 1))


def phuber_ce(p, y, tau=10.0):
    u = _py(p, y)
    with np.errstate(divide="ignore"):
        return np.where(u <= 1 / tau, -tau * u + math.log(tau) + 1, -np.log(u))


def tgce(p, y, q=0.7, k=0.5):
    u = _py(p, y)
    return np.where(u <= k, (1 - k ** q) / q, (1 - u ** q) / q)


def poly1(p, y, epsilon=2.0):
    u = _py(p, y)
    return -np.log(u) + epsilon * (1 - u)


def poly1_focal(p, y, gamma=2.0, epsilon=1.0):
    u = _py(p, y)
    return -((1 - u) ** gamma) * np.log(u) + epsilon * (1 - u) ** (gamma + 1)


def brier(p, y):
    return ((p - _onehot(y, p.shape[1])) ** 2).sum(1)


def spherical(p, y):
    return 1 - _py(p, y) / np.sqrt((p ** 2).sum(1))


def zero_one(p, y):
    return (np.argmax(p, axis=1) != y).astype(float)


def smoothed_ce(p, y, rate):
    K = p.shape[1]
    target = (1 - rate) * _onehot(y, K) + rate / K
    return -(target * np.log(p)).sum(1)


def cores(p, y, beta=2.0):
    ce_all = -np.log(p)  # CE(p, k) for every k
    return _py(ce_all, y) - beta * ce_all.mean(1)


def confidence_penalty(p, y, beta=0.1):
    return -np.log(_py(p, y)) - beta * entr(p).sum(1)


def bootstrap_soft(p, y, beta=0.95):
    target = beta * _onehot(y, p.shape[1]) + (1 - beta) * p
    return -(target * np.log(p)).sum(1)


def bootstrap_hard(p, y, beta=0.8):
    return -beta * np.log(_py(p, y)) - (1 - beta) * np.log(p.max(1))


def logitnorm(z, y, tau=0.04):
    zn = z / (tau * (np.linalg.norm(z, axis=1, keepdims=True) + 1e-7))
    return -_py(log_softmax(zn, axis=1), y)


def ova_bce(z, y):
    e = _onehot(y, z.shape[1])
    return -(e * log_expit(z) + (1 - e) * log_expit(-z)).sum(1)


def cs_hinge(z, y):
    others = np.where(_onehot(y, z.shape[1]) > 0, -np.inf, z)
    return np.maximum(0.0, 1 + others.max(1) - _py(z, y))


def nce(p, y):
    return np.log(_py(p, y)) / np.log(p).sum(1)


def nfl(p, y, gamma=0.5):
    fl = -((1 - p) ** gamma) * np.log(p)
    return _py(fl, y) / fl.sum(1)


def rce(p, y):
    return -(np.clip(p, C, None) * np.log(np.clip(_onehot(y, p.shape[1]), 1e-4, None))).sum(1)


INDEPENDENT = {
    "ngce": ngce, "nnce": nnce, "nnfl": nnfl, "js": js, "taylor_ce": taylor_ce, "phuber_ce": phuber_ce,
    "tgce": tgce, "poly1": poly1, "poly1_focal": poly1_focal, "brier": brier, "spherical": spherical,
    "zero_one": zero_one, "label_smoothing": lambda p, y: smoothed_ce(p, y, 0.1),
    "nls": lambda p, y: smoothed_ce(p, y, -0.2), "cores": cores, "confidence_penalty": confidence_penalty,
    "bootstrap_soft": bootstrap_soft, "bootstrap_hard": bootstrap_hard,
    "logitnorm": logitnorm, "ova_bce": ova_bce, "cs_hinge": cs_hinge,
    "ngce+mae": lambda p, y: ngce(p, y) + (1 - _py(p, y)), "ngce+rce": lambda p, y: ngce(p, y) + rce(p, y),
    "anl_ce": lambda p, y: 5 * nce(p, y) + 5 * nnce(p, y), "anl_fl": lambda p, y: 5 * nfl(p, y) + 5 * nnfl(p, y),
}


def test_the_catalogue_has_25_literature_losses_each_with_an_independent_twin():
    assert set(losses.names("literature")) == set(INDEPENDENT) and len(INDEPENDENT) >= 25
    assert not set(losses.names("literature")) & set(losses.names("paper"))
    for name in INDEPENDENT:
        spec = losses.spec(name)
        assert spec.formula and "20" in spec.source and spec.group == "literature", name  # a paper with its year


@pytest.mark.parametrize("name", list(INDEPENDENT))
@pytest.mark.parametrize("K", [3, 10, 100])
@settings(max_examples=10)
@given(seed=st.integers(0, 2**16), concentration=st.sampled_from([0.1, 0.5, 2.0]))
@example(seed=0, concentration=0.5)
def test_the_library_equals_the_independent_implementation(name, K, seed, concentration):
    rng = np.random.default_rng(seed)
    loss = losses.get(name)
    y = rng.integers(0, K, size=32)
    if loss.input == "logits":
        x = rng.standard_normal((32, K)) * rng.choice([0.1, 1.0, 10.0], size=(32, 1))
        expected, got = INDEPENDENT[name](x, y), loss(x, y)
    else:
        p = np.clip(rng.dirichlet(np.full(K, concentration), size=32), 1e-12, None)
        p /= p.sum(1, keepdims=True)
        expected, got = INDEPENDENT[name](p, y), loss(p, y)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", list(INDEPENDENT))
def test_the_torch_criterion_on_logits_equals_the_independent_implementation(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    K = 10
    z = rng.standard_normal((16, K)) * 3
    y = rng.integers(0, K, size=16)
    loss = losses.get(name)
    x = z if loss.input == "logits" else softmax(z, axis=1)
    got = loss.torch(reduction="none", validate=False)(torch.from_numpy(z), torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(got, INDEPENDENT[name](x, y), rtol=1e-9, atol=1e-11)


def test_ova_bce_is_the_sigmoid_loss():
    z, y = np.array([[0.3, -1.2, 2.0]]), np.array([2])
    expected = -np.log(expit(2.0)) - np.log(1 - expit(0.3)) - np.log(1 - expit(-1.2))
    np.testing.assert_allclose(losses.get("ova_bce")(z, y), [expected], rtol=1e-12)
