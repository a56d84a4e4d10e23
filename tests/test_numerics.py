"""The numerics checks (tier "numerics"): a zoo of losses broken in their torch numerics, each
failing exactly the intended check; every registered loss passing all three in every precision
(the library computes half-precision logits in float32); the gradient check's re-check telling a
kink from a wrong gradient."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from theory import losses  # noqa: E402
from theory.checks import Status, check_loss, describe_checks  # noqa: E402
from theory.verify import Verdict  # noqa: E402

NUMERICS = [c["name"] for c in describe_checks() if c["tier"] == "numerics"]


def test_the_numerics_tier_has_the_three_checks():
    assert NUMERICS == ["check_extreme_logits", "check_low_precision", "check_gradients"]


def naive_log_softmax(z, y):  # −log(softmax(z)_y): −log 0 = +inf once p_y underflows
    return -torch.log(torch.softmax(z, dim=1).gather(1, y[:, None])[:, 0])


class _TwiceTheGradient(torch.autograd.Function):
    """Cross-entropy with a hand-written backward that is off by a factor of 2."""

    @staticmethod
    def forward(ctx, z, y):
        logp = torch.log_softmax(z, dim=1)
        ctx.save_for_backward(logp, y)
        return -logp.gather(1, y[:, None])[:, 0]

    @staticmethod
    def backward(ctx, grad):
        logp, y = ctx.saved_tensors
        g = logp.exp() - F.one_hot(y, logp.shape[1]).to(logp.dtype)
        return 2 * grad[:, None] * g, None


def wrong_backward(z, y):
    return _TwiceTheGradient.apply(z, y)


def clamp_below_float16(z, y):  # the paper's clamp 1e-8 in plain float16, where it rounds to 0: log 0
    return -torch.log(torch.clamp(torch.softmax(z, dim=1).gather(1, y[:, None])[:, 0], min=1e-8))


def clamp_below_bfloat16(z, y):  # 1e-42 is 0 in bfloat16 (and float16), a subnormal in float32
    return -torch.log(torch.clamp(torch.softmax(z, dim=1).gather(1, y[:, None])[:, 0], min=1e-42))


HALF = {"float16", "float16 under autocast"}
BFLOAT = {"bfloat16", "bfloat16 under autocast"}
ZOO = {  # loss, the intended check, the precisions it fails in (None: not asserted)
    "naive log(softmax)": (naive_log_softmax, "check_extreme_logits", None),
    "hand-written gradient off by 2": (wrong_backward, "check_gradients", None),
    "clamp that underflows in float16": (clamp_below_float16, "check_extreme_logits", HALF),
    "clamp that underflows in bfloat16": (clamp_below_bfloat16, "check_extreme_logits", HALF | BFLOAT),
}


@pytest.fixture(scope="module")
def zoo_reports():
    return {name: check_loss(fn, input="logits", num_classes=3, checks=NUMERICS) for name, (fn, _, _) in ZOO.items()}


@pytest.mark.parametrize("name", list(ZOO))
def test_each_broken_loss_fails_exactly_the_intended_numerics_check(zoo_reports, name):
    _, intended, precision = ZOO[name]
    report = zoo_reports[name]
    assert [r.check for r in report.failures] == [intended], str(report)
    failure = report[intended]
    assert failure.verdict is Verdict.REFUTED and failure.witness.confirmed
    assert all(r.status in (Status.PASSED, Status.SKIPPED) for r in report.results if r.check != intended)
    if precision is not None:  # float64 holds every clamp; the parts of the verdict name the precisions
        assert set(failure.data["failing"]) == precision
        assert "float64" not in failure.data["failing"] and "float16" in failure.verdict_text
    if intended == "check_gradients":
        assert failure.witness.inputs["coordinate"] in range(3) and "by autograd but" in failure.witness.observed


def test_the_naive_log_softmax_fails_from_float64_on():
    failing = check_loss(naive_log_softmax, input="logits", num_classes=3,
                         checks=["check_extreme_logits"])["check_extreme_logits"].data["failing"]
    assert "float64" in failing  # e^(−1e4) underflows in every dtype


ALL_PRECISIONS = {"float64", "float32", "bfloat16", "bfloat16 under autocast", "float16", "float16 under autocast"}
_NGCE = "p_k^q (q = 0.7 < 1) has an infinite derivative at p_k = 0: a NaN gradient wherever a probability underflows"
#: the catalogue's numerics findings: (check, the precisions it fails in, why); every other loss passes all three
FINDINGS = {
    "ngce": ("check_extreme_logits", ALL_PRECISIONS, _NGCE),
    "ngce+mae": ("check_extreme_logits", ALL_PRECISIONS, _NGCE),
    "ngce+rce": ("check_extreme_logits", ALL_PRECISIONS, _NGCE),
    "logitnorm": ("check_extreme_logits", {"float16", "float16 under autocast"},
                  "at zero logits the gradient is (p − e_y)/(τ·1e-7) ≈ 2.5e8·(p − e_y): beyond float16's range"),
}


UNBOUNDED_BELOW = {"nls", "cores"}  # catalogue.DECLARED explains why their check_finite is not declared


@pytest.mark.parametrize("K", [3, 10])
@pytest.mark.parametrize("name", losses.names("paper") + losses.names("literature"))
def test_every_registered_loss_passes_the_numerics_checks_but_the_stated_findings(name, K):
    """The paper's losses pass all three in every precision (the library computes half precision in
    float32); the literature's too, but for FINDINGS, which fail exactly there. The catalogue's declared
    contract failures (negative by design, shift-invariant by nature) let the numerics run."""
    from theory.checks.catalogue import DECLARED

    report = check_loss(name, num_classes=K, checks=NUMERICS, expected_failures=DECLARED.get(name))
    finding = FINDINGS.get(name)
    for check in NUMERICS:
        r = report[check]
        if name in UNBOUNDED_BELOW:  # −∞ as a probability goes to 0: check_finite fails, nothing runs after it
            assert r.status is Status.SKIPPED and r.blocked_by == "check_finite", (check, r.reason)
        elif finding is not None and check == finding[0]:
            assert r.status is Status.FAILED and set(r.data["failing"]) == finding[1], (check, r.message)
        else:
            assert r.status is Status.PASSED, (check, r.message)
    if name in losses.names("paper"):
        assert finding is None


def test_half_precision_logits_are_computed_in_float32():
    z = torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float16, requires_grad=True)
    y = torch.tensor([1])
    v = losses.get("ce_eps+mae").torch(reduction="none", validate=False)(z, y)
    assert v.dtype == torch.float32 and torch.isfinite(v).all()
    v.sum().backward()
    assert z.grad.dtype == torch.float16 and torch.isfinite(z.grad).all()


def test_a_kink_that_autograd_takes_one_side_of_is_dismissed_not_failed():
    """max(p_y, c)'s kink and ε-softmax's argmax switch at a tie: autograd takes one side; the
    re-check's one-sided differences match it, so the gradient check passes."""
    def tie_hinge(z, y):  # CE + |z_1 − z_2|: a kink at z_1 = z_2, which ±1e4·e_0 of the probe grid sit on
        return F.cross_entropy(z, y, reduction="none") + (z[:, 1] - z[:, 2]).abs()

    r = check_loss(tie_hinge, input="logits", num_classes=3, checks=["check_gradients"])
    assert r["check_gradients"].status is Status.PASSED


def test_a_numpy_loss_skips_the_numerics_checks_saying_why():
    def mae(p, y):
        return 2 * (1 - p[np.arange(len(y)), y])

    report = check_loss(mae, num_classes=3, checks=NUMERICS, backend="numpy")
    for check in NUMERICS:
        assert report[check].status is Status.SKIPPED and "numpy arrays" in report[check].reason


def test_a_mean_reduced_module_is_checked_in_each_precision_on_its_own_copy():
    class Mean(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", torch.ones(()))

        def forward(self, pred, labels):
            return (self.scale * F.cross_entropy(pred, labels, reduction="none")).mean()

    module = Mean()
    report = check_loss(module, input="logits", num_classes=3, checks=NUMERICS)
    assert all(report[c].status is Status.PASSED for c in NUMERICS), str(report)
    assert module.scale.dtype == torch.float32  # the caller's module was never cast
