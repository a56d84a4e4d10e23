"""Parity with the reference implementation (PAPER.md §3): values and logit gradients of every loss
agree with an independent transcription of the reference's formulas, to 1e-6 relative in float64,
at K = 3, 10, 100.

The transcriptions below are written from PAPER.md §3 the way the reference computes them
(softmax / log-softmax on logits, ``clamp(p, min=c, max=1)`` with its one global c = 1e-8,
``detach`` for stop-gradients, the argmax index as an integer): not from this package's code.
NLNL is left out: the reference trains it with a sampled complementary label and its own
selection procedure, which is not a loss of (logits, label) alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional

EPS = 1e-8  # the reference's one clamp constant


def _onehot(y, K):
    return F.one_hot(y, K).to(torch.float64)


def ref_ce(z, y):
    return F.cross_entropy(z, y, reduction="none")


def ref_fl(z, y, gamma=0.5):
    logpt = F.log_softmax(z, dim=1).gather(1, y[:, None])[:, 0]
    pt = logpt.detach().exp()
    return -((1 - pt) ** gamma) * logpt


def ref_mae(z, y, scale=2.0):
    p = F.softmax(z, dim=1)
    return scale * (1 - (p * _onehot(y, z.shape[1])).sum(1))


def ref_mse(z, y):
    p = F.softmax(z, dim=1)
    return ((p - _onehot(y, z.shape[1])) ** 2).sum(1) / z.shape[1]


def ref_gce(z, y, q=0.7):
    p = torch.clamp(F.softmax(z, dim=1), min=EPS, max=1.0)
    return (1 - p.gather(1, y[:, None])[:, 0] ** q) / q


def ref_rce(z, y):
    p = torch.clamp(F.softmax(z, dim=1), min=EPS, max=1.0)
    label = torch.clamp(_onehot(y, z.shape[1]), min=1e-4, max=1.0)
    return -(p * torch.log(label)).sum(1)


def ref_sce(z, y, a=0.1, b=1.0):
    return a * ref_ce(z, y) + b * ref_rce(z, y)


def ref_nce(z, y):
    logp = F.log_softmax(z, dim=1)
    return -(logp * _onehot(y, z.shape[1])).sum(1) / -logp.sum(1)


def ref_nfl(z, y, gamma=0.5):
    logp = F.log_softmax(z, dim=1)
    normalizor = (-1 * (1 - logp.detach().exp()) ** gamma * logp).sum(1)
    logpt = logp.gather(1, y[:, None])[:, 0]
    pt = logpt.detach().exp()
    return -((1 - pt) ** gamma) * logpt / normalizor


def ref_agce(z, y, a=6.0, q=1.5):
    p = F.softmax(z, dim=1).gather(1, y[:, None])[:, 0]
    return ((a + 1) ** q - (a + p) ** q) / q


def ref_aul(z, y, a=6.3, q=1.5):
    p = F.softmax(z, dim=1).gather(1, y[:, None])[:, 0]
    return ((a - p) ** q - (a - 1) ** q) / q


def ref_ael(z, y, a=5.0):
    p = F.softmax(z, dim=1).gather(1, y[:, None])[:, 0]
    return torch.exp(-p / a)


def ref_ldr_kl(z, y, theta=0.1, lam=10.0):
    f = F.softplus(z)
    fh = f / f.mean(1, keepdim=True)
    margin = theta * (1 - _onehot(y, z.shape[1])) + fh - fh.gather(1, y[:, None])
    return lam * (torch.logsumexp(margin / lam, dim=1) - np.log(z.shape[1]))


def ref_ce_lc(z, y, delta=1.0):
    norm = torch.norm(z, p=2, dim=1, keepdim=True)
    clipped = torch.where(norm > 1 / delta, delta * z / norm, z)
    return F.cross_entropy(clipped, y, reduction="none")


def _eps_softmax(z, m):
    p = F.softmax(z, dim=1)
    t = p.argmax(1)  # an index: no gradient
    return (p + m * F.one_hot(t, z.shape[1]).to(p.dtype)) / (1 + m)


def ref_ce_eps(z, y, m=1e5):
    pe = torch.clamp(_eps_softmax(z, m), min=EPS)
    return -torch.log(pe.gather(1, y[:, None])[:, 0])


def ref_fl_eps(z, y, m=1e5, gamma=0.1):
    pe = torch.clamp(_eps_softmax(z, m), min=EPS).gather(1, y[:, None])[:, 0]
    return -((1 - pe.detach()) ** gamma) * torch.log(pe)


def ref_ce_eps_mae(z, y, alpha=0.01, beta=5.0, m=1e5):
    return alpha * ref_ce_eps(z, y, m) + beta * ref_mae(z, y)


def ref_fl_eps_mae(z, y, alpha=0.01, beta=5.0, m=1e5, gamma=0.1):
    return alpha * ref_fl_eps(z, y, m, gamma) + beta * ref_mae(z, y)


# (registry name, its parameters, the transcription)
CASES = [
    ("ce", {}, ref_ce), ("fl", {}, ref_fl), ("mae", {}, ref_mae), ("mse", {}, ref_mse), ("gce", {}, ref_gce),
    ("rce", {}, ref_rce), ("sce", {}, ref_sce), ("nce", {}, ref_nce), ("nfl", {}, ref_nfl), ("agce", {}, ref_agce),
    ("aul", {}, ref_aul), ("ael", {}, ref_ael),
    ("nce+rce", {}, lambda z, y: ref_nce(z, y) + ref_rce(z, y)),
    ("nce+mae", {}, lambda z, y: ref_nce(z, y) + ref_mae(z, y, scale=1.0)),
    ("nfl+rce", {}, lambda z, y: ref_nfl(z, y) + ref_rce(z, y)),
    ("nce+agce", {}, lambda z, y: ref_nce(z, y) + 4 * ref_agce(z, y)),
    ("nce+aul", {}, lambda z, y: ref_nce(z, y) + 4 * ref_aul(z, y)),
    ("nce+ael", {}, lambda z, y: ref_nce(z, y) + 4 * ref_ael(z, y)),
    ("ldr_kl", {}, ref_ldr_kl), ("ce+lc", {}, ref_ce_lc),
    ("ce_eps", {}, ref_ce_eps), ("fl_eps", {}, ref_fl_eps),
    ("ce_eps+mae", {}, ref_ce_eps_mae), ("fl_eps+mae", {}, ref_fl_eps_mae),
    ("ce_eps+mae", {"m": 10.0}, lambda z, y: ref_ce_eps_mae(z, y, m=10.0)),
]


def _logits(K: int, n: int = 64, seed: int = 0):
    g = np.random.default_rng([seed, K])
    z = g.normal(0, 3, size=(n, K))
    z[: n // 4] *= 8  # saturated rows: clamps and stop-gradients matter there
    return torch.tensor(z, dtype=torch.float64, requires_grad=True), torch.tensor(g.integers(0, K, n))


@pytest.mark.parametrize("K", [3, 10, 100])
@pytest.mark.parametrize("name, params, ref", CASES, ids=[f"{c[0]}{c[1] or ''}" for c in CASES])
def test_values_and_logit_gradients_match_the_reference(name, params, ref, K):
    crit = losses.get(name, **params).torch(reduction="none")
    z1, y = _logits(K)
    z2 = z1.detach().clone().requires_grad_(True)
    ours, theirs = crit(z1, y), ref(z2, y)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(z1.grad.numpy(), z2.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_clamp_constants_are_parameters_with_the_reference_defaults():
    for name in ("gce", "rce"):
        assert losses.spec(name).defaults["clamp"] == 1e-8
    assert losses.get("gce", clamp=1e-7).params["clamp"] == 1e-7  # APL's constant, on request
    assert losses.get("sce").inner.terms[1][1].params["clamp"] == 1e-8
