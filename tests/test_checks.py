"""theory.checks: the checker against a zoo of broken losses, known results both ways, the
contract for bad input, the pytest helper and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings

from theory import losses, strategies
from theory.checks import (
    LossCheckError,
    LossCheckWarning,
    Status,
    check_loss,
    check_names,
    describe_checks,
    parametrize_with_checks,
)
from theory.checks.__main__ import main
from theory.verify import Verdict

K = 3
CONTRACT = [c["name"] for c in describe_checks() if c["tier"] == "contract"]


def _py(p, y):
    return p[np.arange(len(y)), y]


def asymmetric(p, y):  # concave in p_y: bounded, top-1, tolerant to symmetric noise, not symmetric
    return 1 - _py(p, y) ** 2


def unbounded(p, y):  # hand-written unclamped cross-entropy: +inf at p_y = 0
    return -np.log(_py(p, y))


def nan_at_vertex(p, y):  # MAE plus 0·log p_y: NaN wherever p_y = 0 (e.g. the vertex e_k, k ≠ y)
    return 2 * (1 - _py(p, y)) + 0 * np.log(_py(p, y))


def order_reversing(p, y):  # rewards being wrong: symmetric (Σ_k p_k = 1) but minimised at argmin q
    return _py(p, y)


def label_ignoring(p, y):
    return 1 - p.max(axis=1)


def wrong_shape(p, y):  # a per-class matrix instead of one value per example
    return 1 - p


def double_softmax(p, y):  # a logit loss (log-softmax inside) given probabilities
    z = p - p.max(axis=1, keepdims=True)
    return -(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(len(y)), y]


def raising_inside(p, y):
    if np.any(p == 0):
        raise ValueError("log of zero")
    return -np.log(_py(p, y))


def negative(p, y):
    return -_py(p, y)


# loss, the intended checks, a message pattern, the failures it shares with MAE (declared expected)
TOP1_ONLY = {"check_allk_consistent": "a vertex minimiser: top-1 only, like MAE"}
ZOO = {
    "asymmetric": (asymmetric, ["check_symmetric"], r"not symmetric for K=3: Σ_k L\(p, k\) = .* at p=\[", TOP1_ONLY),
    # CE's unbounded sum, and what follows from it: tolerant in no notion (the checks run; they were skipped)
    "unbounded": (unbounded, ["check_bounded_sum", "check_noise_tolerant_symmetric", "check_noise_tolerant_within_bound",
                              "check_noise_tolerant_class_conditional"],
                  r"unbounded sum for K=3: Σ_k L\(p, k\) = \+inf at p=\[", {}),
    "nan_at_vertex": (nan_at_vertex, ["check_finite"], r"= nan at p=\[.*\], y=\d \(nan\)", {}),
    "order_reversing": (order_reversing, ["check_top1_consistent", "check_prediction_consistent"],
                        r"not top-1 consistent \(strict order\) for K=3: at q=\[", {}),
    "label_ignoring": (label_ignoring, ["check_label_dependence"], r"ignores the label", {}),
    "wrong_shape": (wrong_shape, ["check_output"], r"returned shape \(4, 3\) .* expected one value per example", {}),
    "double_softmax": (double_softmax, ["check_input_convention"], r"looks like a loss of logits.*input='logits'", {}),
    "raising_inside": (raising_inside, ["check_finite"], r"raised ValueError: log of zero at p=\[1, 0, 0\], y=0", {}),
}


@pytest.fixture(scope="module")
def zoo_reports():
    return {name: check_loss(fn, num_classes=K, expected_failures=xf) for name, (fn, _, _, xf) in ZOO.items()}


@pytest.mark.parametrize("name", list(ZOO))
def test_each_broken_loss_fails_exactly_the_intended_check(zoo_reports, name):
    fn, intended, pattern, _ = ZOO[name]
    report = zoo_reports[name]
    assert [r.check for r in report.failures] == intended, str(report)
    failure = report[intended[0]]
    assert failure.verdict is Verdict.REFUTED and failure.witness.confirmed
    assert f"checks=[{intended[0]!r}]" in failure.reproduce.python
    assert failure.reproduce.shell.startswith("python -m theory.checks ")
    import re

    assert re.search(pattern, failure.message), failure.message
    # every other check passed, was declared, was skipped because of the intended failure, or (on
    # the open simplex, where minimisers reach faces the loss is not finite on) is inconclusive
    for r in report.results:
        if r.check not in intended:
            allowed = (Status.PASSED, Status.XFAIL, Status.XPASS, Status.SKIPPED, Status.INCONCLUSIVE)
            assert r.status in allowed, (r.check, r.message)
            if r.status is Status.SKIPPED and r.tier.value == "contract":
                assert r.blocked_by, r.reason
            if r.status is Status.INCONCLUSIVE:
                assert "open simplex" in r.verdict_text, (r.check, r.verdict_text)


@pytest.mark.parametrize("name", list(ZOO))
def test_on_fail_raise_stops_at_the_intended_check(name):
    fn, intended, pattern, xf = ZOO[name]
    with pytest.raises(LossCheckError, match=pattern):
        check_loss(fn, num_classes=K, on_fail="raise", expected_failures=xf)


def test_reproduce_lines_run_as_printed(zoo_reports):
    """The Python line re-creates the same result; the shell line is a valid command line."""
    r = zoo_reports["asymmetric"]["check_symmetric"]
    namespace: dict = {}
    exec(r.reproduce.python.replace("check_loss(", "out = check_loss(", 1).replace("; out =", "\nout =") , namespace)
    again = namespace["out"]["check_symmetric"]
    assert again.status is r.status and again.witness.inputs["p"].tolist() == r.witness.inputs["p"].tolist()
    lib = check_loss("gce", num_classes=K, checks=["check_symmetric"])["check_symmetric"]
    namespace = {}
    exec(lib.reproduce.python.replace("check_loss(", "out = check_loss(", 1).replace("; out =", "\nout ="), namespace)
    assert namespace["out"]["check_symmetric"].status is lib.status
    import shlex

    argv = shlex.split(lib.reproduce.shell)
    assert argv[:3] == ["python", "-m", "theory.checks"]
    assert main(argv[3:]) == 1  # the same failure from the shell


def test_on_fail_warn_warns_once_per_failure():
    with pytest.warns(LossCheckWarning, match="check_symmetric"):
        report = check_loss(asymmetric, num_classes=K, on_fail="warn", expected_failures=TOP1_ONLY)
    assert not report.passed


def test_the_symmetry_witness_is_minimal_and_really_violates():
    r = check_loss(asymmetric, num_classes=K, checks=["check_symmetric"])["check_symmetric"]
    p = np.asarray(r.witness.inputs["p"])
    assert np.isclose(p.sum(), 1) and (p >= 0).all()
    sums = [sum(asymmetric(q[None], np.array([k]))[0] for k in range(K)) for q in (p, np.full(K, 1 / K))]
    assert abs(sums[0] - sums[1]) > 1e-4 * (1 + abs(sums[1]))  # independently of the checker
    assert np.count_nonzero(p) < K  # hypothesis shrinks to a face


def test_a_declared_failure_is_reported_as_expected_not_hidden():
    report = check_loss(asymmetric, num_classes=K, expected_failures={"check_symmetric": "by design", **TOP1_ONLY})
    assert report.passed
    r = report["check_symmetric"]
    assert r.status is Status.XFAIL and r.reason == "by design" and r.witness.confirmed
    # a declared failure that passes shows as an unexpected pass
    mae = check_loss("mae", num_classes=K, checks=["check_symmetric"], expected_failures={"check_symmetric": "?"})
    assert mae["check_symmetric"].status is Status.XPASS


def test_a_declared_contract_failure_lets_the_properties_run():
    blocked = check_loss(negative, num_classes=K, checks=["check_symmetric"])
    assert blocked["check_symmetric"].status is Status.SKIPPED and blocked["check_symmetric"].blocked_by
    declared = check_loss(negative, num_classes=K, checks=["check_symmetric"],
                          expected_failures={"check_finite": "negative by design"})
    assert declared["check_symmetric"].status is not Status.SKIPPED


def every_class_log(p, y):  # takes log p_k of every class: +inf wherever some p_k = 0, finite inside
    return 2 * (1 - _py(p, y)) - 1e-3 * np.log(p).sum(axis=1)


def test_a_loss_infinite_on_faces_is_checked_on_the_open_simplex_and_says_so():
    report = check_loss(every_class_log, num_classes=K)
    assert report["check_finite"].status is Status.FAILED
    assert report["check_finite"].data["restricts_domain"] == "open simplex"
    properties = [r for r in report.results if r.tier.value == "property"]
    assert report["check_bounded_sum"].status is Status.FAILED  # Σ_k L grows like log(1/δ) towards a face
    ran = [r for r in properties if r.blocked_by not in ("check_bounded_sum", "check_symmetric")]
    assert len(ran) >= 5 and all(r.status is not Status.SKIPPED for r in ran)
    assert all("open simplex" in r.verdict_text for r in ran if r.check != "check_eps_softmax")


# ---------------------------------------------------------------------------------------------
# known results, both ways


@pytest.mark.parametrize("name, expected", [("mae", {}), ("rce", {}),
                                            ("nce", {"check_finite": "0/0 on the faces of the simplex"})])
def test_mae_rce_nce_are_symmetric(name, expected):
    r = check_loss(name, num_classes=K, checks=["check_symmetric"], expected_failures=expected)["check_symmetric"]
    assert r.status is Status.PASSED and r.verdict in (Verdict.PROVED, Verdict.NOT_REFUTED)


def test_mae_and_nce_symmetry_is_proved_symbolically():
    for name, expected in (("mae", {}), ("nce", {"check_finite": "0/0 on the faces"})):
        r = check_loss(name, num_classes=4, checks=["check_symmetric"], expected_failures=expected)["check_symmetric"]
        assert r.verdict is Verdict.PROVED
        cert = next(e for e in r.evidence if e.kind == "certificate")
        assert cert.proof.mechanised and "K = 4" in r.verdict_text


@pytest.mark.parametrize("name", ["ce", "gce", "fl"])
def test_ce_gce_fl_are_not_symmetric(name):
    unbounded_sum = {"check_bounded_sum": "unclamped log: +inf at p_y = 0"} if name in ("ce", "fl") else {}
    report = check_loss(name, num_classes=K, checks=["check_symmetric"], expected_failures=unbounded_sum)
    r = report["check_symmetric"]
    assert r.status is Status.FAILED and r.verdict is Verdict.REFUTED and r.witness.confirmed
    if name in ("ce", "fl"):
        assert report["check_bounded_sum"].status is Status.XFAIL


def test_ce_is_allk_consistent_and_mae_is_not():
    ce = check_loss("ce", num_classes=K, checks=["check_allk_consistent"])["check_allk_consistent"]
    mae = check_loss("mae", num_classes=K, checks=["check_allk_consistent"])["check_allk_consistent"]
    assert ce.status is Status.PASSED and ce.data["classification"] == "All-k"
    assert mae.status is Status.FAILED and mae.data["classification"] == "top-1 only"
    assert mae.witness.confirmed and "50-digit" in mae.witness.recheck


def test_gce_is_not_noise_tolerant_and_mae_is():
    gce = check_loss("gce", num_classes=K, checks=["check_noise_tolerant_symmetric"])
    r = gce["check_noise_tolerant_symmetric"]
    assert r.status is Status.FAILED and r.witness.confirmed
    assert r.data["max_excess"] > 1e-4 and r.data["max_zero_one_excess"] >= 0
    mae = check_loss("mae", num_classes=K, checks=["check_noise_tolerant_symmetric",
                                                   "check_noise_tolerant_class_conditional"])
    assert mae["check_noise_tolerant_symmetric"].status is Status.PASSED
    assert mae["check_noise_tolerant_class_conditional"].status is Status.PASSED


NOTIONS = ["check_noise_tolerant_symmetric", "check_noise_tolerant_within_bound"]


@pytest.fixture(scope="module")
def notion_reports():
    """K = 10 reports of the two notions and the ε-softmax band (for the summary's next step)."""
    return {name: check_loss(name, num_classes=10, checks=[*NOTIONS, "check_eps_softmax"])
            for name in ("ce_eps+mae", "ce", "mae", "gce")}


@pytest.mark.parametrize("name, exactly, within", [("ce_eps+mae", False, True), ("ce", False, False),
                                                   ("mae", True, True)])
def test_the_two_notions_of_tolerance_to_symmetric_noise(notion_reports, name, exactly, within):
    """The paper's loss is tolerant within Theorem B's bound and not exactly; CE is neither (its sum
    is unbounded); MAE is both (C₁ = C₂: the bound is 0). K = 10, the issue's setting."""
    report = notion_reports[name]
    exact, bounded = report["check_noise_tolerant_symmetric"], report["check_noise_tolerant_within_bound"]
    assert exact.status is (Status.PASSED if exactly else Status.FAILED), exact.message
    assert bounded.status is (Status.PASSED if within else Status.FAILED), bounded.message
    for r in (exact, bounded):
        assert r.status is Status.PASSED or r.witness.confirmed
    assert bounded.data["max_excess"] == exact.data["max_excess"]  # one sweep, read by both
    if name == "ce_eps+mae":  # a positive excess, under a finite bound: their ratio is reported
        worst = bounded.data["worst"]
        assert 0 < worst["excess"] <= worst["bound"] < 1 and worst["ratio"] == pytest.approx(worst["excess"] / worst["bound"])
        assert bounded.data["max_ratio"] <= 1 and worst["zero_one_excess"] == 0
    if name == "ce":  # no finite bound; the witness is the point where Σ_k L is +inf
        point = np.asarray(bounded.witness.inputs["p"])[None]
        total = sum(losses.get("ce")(point, np.array([k])) for k in range(10))
        assert bounded.data["bound"] == np.inf and np.isposinf(total).all()
    if name == "mae":
        assert bounded.data["range_exact"] and set(bounded.data["bounds"].values()) == {0.0}


def test_an_excess_above_the_bound_fails_the_bounded_notion(monkeypatch):
    """The comparison with the bound is live: with Theorem B's bound shrunk 100-fold (as an
    underestimated range would shrink it), GCE's measured excess exceeds it and the check fails, the
    witness confirmed against the bound of the outer range, shrunk the same way."""
    from theory.checks import noise
    from theory.excess import symmetric_noise_bound

    monkeypatch.setattr(noise, "symmetric_noise_bound", lambda *a: symmetric_noise_bound(*a) / 100)
    r = check_loss("gce", num_classes=K, checks=["check_noise_tolerant_within_bound"])["check_noise_tolerant_within_bound"]
    assert r.status is Status.FAILED and r.witness.confirmed, r.message
    assert "outer range" in r.witness.recheck and r.data["worst"]["excess"] > r.data["worst"]["bound"]


def test_a_violation_of_a_normalised_sum_is_rechecked_where_its_infimum_lies():
    """NCE+AUL attains its infimum only as a coordinate goes to 0 (NCE is 0/0 on the faces). A
    second minimiser searched inside the simplex crawls towards that limit and disagrees, which
    left the verdict inconclusive; the re-check now repeats the boundary enumeration with another
    seed and more starts, and both confirm the excess (AUL is not symmetric: no tolerance theorem
    covers the sum)."""
    r = check_loss("nce+aul", num_classes=10, checks=["check_noise_tolerant_symmetric"],
                   expected_failures={"check_finite": "NCE is 0/0 on the faces"})["check_noise_tolerant_symmetric"]
    assert r.status is Status.FAILED and r.witness.confirmed
    detail = r.data["witness_detail"]
    assert detail["second"]["method"] == detail["primary"]["method"] == "boundary enumeration"
    assert detail["second"]["excess"] > r.data["tolerance"]


def test_the_recheck_recomputes_the_risks_of_the_violating_rows_own_minimisers():
    """The primary side of a re-check is the sweep's own minimisers (carried by the row), their
    risks recomputed at 50 digits: the same excess as the row to float precision; the second side
    is an independent search."""
    r = check_loss("gce", num_classes=3, checks=["check_noise_tolerant_symmetric"])["check_noise_tolerant_symmetric"]
    assert r.status is Status.FAILED and r.witness.confirmed
    rows = r.data["rows"]
    worst = max(rows, key=lambda row: row.excess)
    detail = r.data["witness_detail"]
    assert worst.minimisers is not None
    np.testing.assert_array_equal(detail["primary"]["noisy_minimiser"], worst.minimisers[1].p)
    assert abs(detail["primary"]["excess"] - worst.excess) <= 1e-12 * (1 + abs(worst.excess))
    assert detail["second"]["method"] == "multi-start simplex descent"


def test_eps_softmax_closes_the_band_of_ce():
    r = check_loss("ce", num_classes=K, checks=["check_eps_softmax"])["check_eps_softmax"]
    assert r.status is Status.PASSED
    widths = {row["m"]: row["width"] for row in r.data["rows"]}
    assert widths[1e10] < 1e-8 < widths[1e4]  # all-clamped regime (m ≥ 1/(2c)) against below it


# ---------------------------------------------------------------------------------------------
# bad input and misbehaving losses


@pytest.mark.parametrize("bad, match", [(3, "got int"), ("not a loss", "no loss named"), (np.zeros(3), "got array of shape"),
                                        (lambda p: p, "two positional arguments"),
                                        (int, "got the class builtins.int: pass an instance")])
def test_what_is_not_a_loss_is_rejected_with_what_was_seen(bad, match):
    error = KeyError if isinstance(bad, str) else TypeError
    with pytest.raises(error, match=match):
        check_loss(bad, num_classes=K)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_classes": 1}, "num_classes"), ({"num_classes": 2.5}, "num_classes"),
    ({"input": "probabilities"}, "input must be 'probs' / 'logits', got 'probabilities'"), ({"on_fail": "explode"}, "on_fail must be"),
    ({"budget": "huge"}, "budget must be"), ({"seed": -1}, "seed must be"),
    ({"expected_failures": {"check_nothing": "x"}}, "no check named 'check_nothing'"),
    ({"expected_failures": {"check_symmetric": ""}}, "non-empty reason"),
    ({"checks": ["check_nothing"]}, "known checks"), ({"backend": "jax"}, "backend must be"),
])
def test_bad_arguments_say_what_was_expected(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        check_loss(asymmetric, **{"num_classes": K, **kwargs})


def test_a_library_loss_keeps_its_own_input():
    with pytest.raises(ValueError, match="defined on probs"):
        check_loss("mae", num_classes=K, input="logits")


def test_negative_values_name_the_input():
    r = check_loss(negative, num_classes=K, checks=["check_finite"])["check_finite"]
    assert r.failed and "negative" in r.message and "p=[" in r.message
    assert r.witness.inputs["y"] in range(K)


def test_a_loss_raising_everywhere_fails_the_output_check_naming_the_input():
    def broken(p, y):
        raise RuntimeError("boom")

    report = check_loss(broken, num_classes=K, backend="numpy")
    assert [r.check for r in report.failures] == ["check_output"]
    assert "raised RuntimeError: boom at p=[" in report["check_output"].message
    assert all(r.status is Status.SKIPPED for r in report.results[1:])


def test_a_batch_reducing_loss_is_not_per_example():
    def batch_normalised(p, y):
        v = 1 - _py(p, y)
        return v / v.sum()

    r = check_loss(batch_normalised, num_classes=K, checks=["check_output"])["check_output"]
    assert r.failed and "not a per-example loss" in r.message


def test_a_torch_only_loss_is_called_with_tensors():
    torch = pytest.importorskip("torch")

    def torch_mae(p, y):
        return 2 * (1 - torch.gather(p, 1, y[:, None])[:, 0])

    report = check_loss(torch_mae, num_classes=K, checks=["check_symmetric"])
    assert "called with torch" in report.header and report["check_symmetric"].status is Status.PASSED


def test_a_logit_loss_skips_the_probability_only_checks():
    def ce_logits(z, y):
        z = z - z.max(axis=1, keepdims=True)
        return (np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y])

    report = check_loss(ce_logits, num_classes=K, input="logits",
                        checks=["check_input_convention", "check_eps_softmax", "check_top1_consistent"])
    assert report["check_input_convention"].status is Status.SKIPPED
    assert report["check_eps_softmax"].status is Status.SKIPPED
    assert report["check_top1_consistent"].status is Status.PASSED


def test_the_seed_makes_a_run_reproducible():
    def strip(report):
        d = report.to_dict()
        for r in d["results"]:
            r.pop("seconds")
        return d

    a = check_loss(asymmetric, num_classes=K, seed=7, expected_failures=TOP1_ONLY)
    b = check_loss(asymmetric, num_classes=K, seed=7, expected_failures=TOP1_ONLY)
    assert strip(a) == strip(b)
    json.dumps(a.to_dict())


@settings(max_examples=10, deadline=None)
@given(p=strategies.simplex_points(K))
def test_a_symmetric_loss_passes_wherever_its_sum_is_checked(p):
    # MAE written by hand: every probed point, plus a generated one, has Σ_k L = 2(K − 1)
    def mae(q, y):
        return 2 * (1 - _py(q, y))

    assert abs(sum(mae(p[None], np.array([k]))[0] for k in range(K)) - 2 * (K - 1)) < 1e-12
    assert check_loss(mae, num_classes=K, checks=["check_symmetric"])["check_symmetric"].status is Status.PASSED


# ---------------------------------------------------------------------------------------------
# the pytest helper and the command line


def _mae(p, y):
    return 2 * (1 - _py(p, y))


@parametrize_with_checks([_mae, losses.get("gce")], num_classes=K,
                         expected_failures=lambda loss: TOP1_ONLY if loss is _mae else
                         {"check_symmetric": "GCE is bounded, not symmetric",
                          "check_noise_tolerant_symmetric": "GCE trades tolerance for fit",
                          "check_noise_tolerant_class_conditional": "not symmetric: no theorem makes it tolerant",
                          "check_allk_consistent": "the clamp ties tiny entries at 0"})
def test_parametrize_with_checks_runs_every_check(loss, check):
    check(loss)


def test_parametrize_ids_select_checks_by_name():
    mark = parametrize_with_checks([_mae], num_classes=K)
    ids = [p.id for p in mark.args[1]]
    prefix = ids[0].rsplit("-", 1)[0]
    assert prefix.endswith("_mae") and ids == [f"{prefix}-{c}" for c in check_names()]


def test_cli_exit_status_follows_the_report(tmp_path, capsys):
    assert main(["mae", "-K", "3", "--check", "check_symmetric"]) == 0
    assert main(["gce", "-K", "3", "--check", "check_symmetric"]) == 1
    out = tmp_path / "r.json"
    assert main(["gce", "-K", "3", "--check", "check_symmetric", "--expect-fail",
                 "check_symmetric=bounded, not symmetric", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["results"][-1]["status"] == "expected failure"


def test_cli_exit_status_3_when_the_checker_fails_whatever_the_loss(monkeypatch, capsys):
    """A check that raises is the checker's failure (status 3), told apart from a property that does
    not hold (status 1), even when another check also failed."""
    from theory.checks import sums

    def broken(ctx):
        raise RuntimeError("a bug in the check")

    monkeypatch.setattr(sums, "symbolic_sum", broken)  # what check_bounded_sum and check_symmetric call
    assert main(["mae", "-K", "3", "--check", "check_symmetric"]) == 3
    monkeypatch.undo()
    from theory.checks import noise

    monkeypatch.setattr(noise, "symmetric_sweep", broken)  # GCE still fails check_symmetric beside it
    assert main(["gce", "-K", "3", "--check", "check_symmetric", "--check", "check_noise_tolerant_symmetric"]) == 3
    monkeypatch.undo()
    assert main(["gce", "-K", "3", "--check", "check_symmetric"]) == 1


@pytest.mark.parametrize("name", ["ce_eps+mae", "ce", "mae", "gce"])
def test_the_summary_says_what_the_results_say(notion_reports, name):
    """The summary's first line states each notion of tolerance as its check decided it, with the
    check's own numbers; the next step appears exactly when exact tolerance fails."""
    report = notion_reports[name]
    line = report.summary[0]
    exact, within = report["check_noise_tolerant_symmetric"], report["check_noise_tolerant_within_bound"]
    word = {Status.PASSED: "yes", Status.FAILED: "no"}
    assert f"exactly tolerant (excess 0): {word[exact.status]}" in line
    assert f"tolerant within Theorem B's bound: {word[within.status]}" in line
    assert f"max excess {exact.data['max_excess']:.3g}" in line
    if within.status is Status.PASSED and within.data["worst"]["bound"] > 0:
        assert f"against the bound {within.data['worst']['bound']:.3g}" in line
    nexts = [s for s in report.summary if s.startswith("Next:")]
    assert len(nexts) == (exact.status is not Status.PASSED)
    assert report.to_dict()["summary"] == list(report.summary)
    text = str(report)  # read first: between the header and the table, each entry whole (wrapped)
    assert " ".join(text.split("\ncheck ")[0].split()).endswith(" ".join(" ".join(report.summary).split()))


def test_the_suggested_m_brings_the_bound_under_the_share_it_names(notion_reports):
    """For a bounded, non-symmetric loss of probabilities the next step names an m of
    check_eps_softmax's grid whose Theorem-B bound (from the measured band) is at most
    NEXT_STEP_SHARE of the loss's own, when the grid has one."""
    from theory.checks.noise import FRACTIONS
    from theory.checks.summary import NEXT_STEP_SHARE

    report = notion_reports["gce"]
    (step,) = [s for s in report.summary if s.startswith("Next:")]
    eta = FRACTIONS[-1] * 9 / 10
    own = report["check_noise_tolerant_within_bound"].data["bounds"][f"{eta:.6g}"]
    bounds = {row["m"]: eta * row["width"] / (9 - 10 * eta) for row in report["check_eps_softmax"].data["rows"]}
    meeting = [m for m, b in bounds.items() if m > 0 and b <= NEXT_STEP_SHARE * own]
    chosen = min(meeting) if meeting else min((m for m in bounds if m > 0), key=bounds.get)
    assert f"with_eps_softmax(loss, m={chosen:g})" in step and f"gives the bound {bounds[chosen]:.3g}" in step


def test_a_long_verdict_is_wrapped_in_the_table_never_cut():
    from theory.verify.report import VERDICT_WIDTH

    report = check_loss("ce_eps+mae", num_classes=10, checks=["check_top1_consistent"])
    r = report["check_top1_consistent"]
    assert len(r.verdict_text) > VERDICT_WIDTH  # the case to show: a scope with a posterior in it
    table = str(report).split("\n\n")[1]
    column = [row.split(" | ")[2].strip() for row in table.splitlines()[2:] if " | " in row]
    start = next(i for i, row in enumerate(table.splitlines()[2:]) if row.startswith("check_top1_consistent"))
    rows = table.splitlines()[2:][start:]
    pieces = [rows[0].split(" | ")[2].strip()]
    for row in rows[1:]:
        if row.split(" | ")[0].strip():
            break
        pieces.append(row.split(" | ")[2].strip())
    assert " ".join(pieces) == " ".join(r.verdict_text.split()) and all(len(c) <= VERDICT_WIDTH for c in column)


def test_cli_loads_a_callable_from_a_file(tmp_path):
    path = tmp_path / "my_loss.py"
    path.write_text("import numpy as np\n\ndef loss(p, y):\n    return 2 * (1 - p[np.arange(len(y)), y])\n")
    assert main([f"{path}:loss", "-K", "3", "--check", "check_symmetric"]) == 0


@pytest.mark.parametrize("argv", [["no_such_module_xyz:f"], ["nope"], ["mae", "--check", "check_nothing"],
                                  ["mae", "--expect-fail", "check_symmetric"]])
def test_cli_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# no false pass, no vacuous pass, no silent skip (issue 14 §3)


def test_an_unbounded_logit_loss_fails_bounded_sum_with_the_direction():
    def ce_logits(z, y):
        z = z - z.max(axis=1, keepdims=True)
        return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]

    r = check_loss(ce_logits, num_classes=K, input="logits", checks=["check_bounded_sum"])["check_bounded_sum"]
    assert r.status is Status.FAILED and r.witness.confirmed
    assert "logit ray" in r.witness.inputs["path"] and r.data["C2"] == float("inf")


def weighted_mae(p, y):  # w_y (1 − p_y), w = (1, 2, 3): provably not calibrated
    return np.array([1.0, 2.0, 3.0])[y] * (1 - _py(p, y))


def test_a_flat_minimiser_set_is_a_confirmed_failure_not_a_pass():
    r = check_loss(weighted_mae, num_classes=K, checks=["check_top1_consistent"])["check_top1_consistent"]
    assert r.status is Status.FAILED and r.witness.confirmed, r.message
    # the library's own vertex enumeration agrees (a flat vertex set: two best vertices)
    lib = losses.pointwise("weighted", lambda xp, u: 1 - u, curvature="linear")
    assert lib is not None


def constant_minimiser(p, y):  # g(p) + c_y: the minimiser (uniform) ignores the posterior
    return ((p - 1 / p.shape[1]) ** 2).sum(axis=1) + 0.1 * y


def test_noise_tolerance_of_a_loss_whose_minimiser_ignores_the_data_is_vacuous():
    report = check_loss(constant_minimiser, num_classes=K, checks=["check_noise_tolerant_symmetric"])
    r = report["check_noise_tolerant_symmetric"]
    assert r.status is Status.INCONCLUSIVE and "vacuous" in r.message


def hangs(p, y):
    import time

    time.sleep(30)
    return 1 - _py(p, y)


def exits(p, y):
    import sys

    sys.exit(3)


def complex_valued(p, y):
    return (1 - _py(p, y)) + 1j


def writes_into_its_input(p, y):
    p += 1e-12  # in place: would corrupt the caller's points
    return 1 - _py(p, y)


def warns(p, y):
    import warnings

    warnings.warn("careful", UserWarning, stacklevel=2)
    return 2 * (1 - _py(p, y))


@pytest.mark.parametrize("fn, pattern", [(hangs, "did not return within 0.5 s"), (exits, "SystemExit"),
                                         (complex_valued, "complex values"),
                                         (writes_into_its_input, r"read-only.*p = p\.copy\(\)")])
def test_a_misbehaving_loss_is_contained_and_named(fn, pattern):
    report = check_loss(fn, num_classes=K, backend="numpy", time_limit=0.5, checks=["check_output"])
    r = report["check_output"]
    assert r.status is Status.FAILED and r.witness.confirmed
    import re

    assert re.search(pattern, r.message), r.message


def test_a_torch_fallback_is_said_and_warnings_are_recorded():
    report = check_loss(warns, num_classes=K, checks=["check_output"])
    assert report["check_output"].data["warnings"] and "careful" in report["check_output"].message
    torch = pytest.importorskip("torch")

    def torch_only(p, y):
        return 2 * (1 - torch.gather(p, 1, y[:, None])[:, 0])

    report = check_loss(torch_only, num_classes=K, checks=["check_output"])
    assert "because the other backend failed" in report.header


@pytest.mark.parametrize("K_", [3, 10])
def test_verdicts_state_the_K_they_cover(K_):
    r = check_loss("mae", num_classes=K_, checks=["check_allk_consistent"])["check_allk_consistent"]
    assert f"K = {K_}" in r.verdict_text and r.data["row"]["K"] == K_


@pytest.mark.parametrize("call, match", [
    (lambda: losses.get("ldr_kl", scores="bogus")(np.zeros((1, 3)), np.array([0])), "parameter 'scores' must be one of 'normalised_softplus', 'raw', got 'bogus'"),
    (lambda: losses.from_callable(_mae, time_limit=-1), "time_limit must be a positive number"),
    (lambda: losses.from_callable(_mae, backend="jax"), "backend must be one of"),
    (lambda: losses.with_eps_softmax(3, 1.0), "needs a Loss or a function"),
])
def test_new_parameters_refuse_bad_values_saying_what_was_seen(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("argv", [["mae", "--param", "scale"], ["test_checks:_mae", "--param", "scale=2"]])
def test_cli_param_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "--param" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Every call of user code is bounded: a registered formula is user code too


_HANGING_FORMULA = '''
import sys, time
from theory import losses
from theory.checks import check_loss

def tiny_coordinates_hang(xp, pred, y):  # a user's formula that hangs on the faces (a search would reach them)
    import numpy as np
    if float(np.min(np.asarray(pred.p, dtype=float))) < 1e-7:
        time.sleep(10_000)
    return 1 - pred.py(y)

losses.register("user_hangs_on_faces", tiny_coordinates_hang, formula="1 - p_y", broadcasts=True)
r = check_loss("user_hangs_on_faces", num_classes=3, time_limit=1)["check_finite"]
print(r.status.value, r.witness.inputs, r.witness.recheck, r.message, sep="\\n")
'''


def test_a_registered_formula_that_hangs_is_stopped_by_the_time_limit():
    """losses.register(...) puts the user's function inside the library's loss algebra, where it used
    to be called without the limit: check_loss("name") then hung for ever. In a subprocess, so that a
    regression fails this test instead of hanging the suite."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", _HANGING_FORMULA], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    status, inputs, recheck, message = done.stdout.strip().split("\n", 3)
    assert status == "failed" and "did not return within 1 s" in message and "the first of its batch" in message
    assert "not repeated" in recheck


def test_a_library_formula_gets_no_limit_and_a_users_gets_the_checks_limit():
    from theory.losses import with_time_limit

    def mine(xp, pred, y):
        return 1 - pred.py(y)

    losses.register("tmp_user_formula", mine, formula="1 - p_y", replace=True)
    try:
        composed = with_time_limit(0.5 * losses.get("ce_eps+mae") + losses.get("tmp_user_formula"), 7.0)
        limits = {type(a).__name__ + ":" + a.name: a.time_limit for a in composed.walk() if hasattr(a, "time_limit")}
        assert limits.pop("Atom:tmp_user_formula") == 7.0 and set(limits.values()) == {None}, limits
        assert composed == 0.5 * losses.get("ce_eps+mae") + losses.get("tmp_user_formula")  # equality ignores it
    finally:
        from theory.losses._registry import _REGISTRY

        _REGISTRY.pop("tmp_user_formula", None)


def test_an_inner_time_limit_neither_outlives_nor_cancels_the_outer_one():
    import time

    from theory.losses._guard import LossTimeout, time_limit

    start = time.monotonic()
    with pytest.raises(LossTimeout, match="within 0.3 s"):
        with time_limit(0.3):
            with time_limit(5.0):  # capped by the outer limit's 0.3 s
                time.sleep(10)
    assert time.monotonic() - start < 3
    start = time.monotonic()
    with pytest.raises(LossTimeout):
        with time_limit(0.5):
            with time_limit(0.1):
                pass  # the inner one ends in time: the outer one must still fire
            time.sleep(10)
    assert time.monotonic() - start < 3


def test_outside_the_main_thread_the_report_says_the_time_limit_is_not_enforced():
    import threading

    def in_a_thread(loss):
        out = {}
        thread = threading.Thread(target=lambda: out.setdefault("r", check_loss(loss, num_classes=K,
                                                                                checks=["check_output"])))
        thread.start()
        thread.join()
        return out["r"].header

    assert "not enforced" in in_a_thread(_mae)
    assert "not enforced" not in check_loss(_mae, num_classes=K, checks=["check_output"]).header
    assert "not enforced" not in in_a_thread("mae")  # the library's own formula: no user code to stop


def test_checks_run_torch_on_the_set_number_of_threads_and_give_the_callers_back():
    """check_loss evaluates a loss on many small tensors, where torch's thread pool costs more than it
    gives (benchmarks/bench_torch_threads.py): the checks run on TORCH_THREADS intra-op threads, and the
    caller's setting is restored afterwards, also when a check raises."""
    torch = pytest.importorskip("torch")
    import theory.checks as checks

    seen = set()

    def loss(z, y):
        seen.add(torch.get_num_threads())
        return -torch.log_softmax(z, dim=-1).gather(-1, y[:, None].long())[:, 0]

    before = torch.get_num_threads()
    other = 2 if checks.TORCH_THREADS != 2 else 3
    torch.set_num_threads(other)
    try:
        check_loss(loss, input="logits", num_classes=3, backend="torch", checks=["check_output", "check_finite"])
        assert seen == {checks.TORCH_THREADS}
        assert torch.get_num_threads() == other
        with pytest.raises(checks.LossCheckError):
            check_loss(lambda z, y: z.sum(-1) * np.nan, input="logits", num_classes=3, backend="torch",
                       checks=["check_finite"], on_fail="raise")
        assert torch.get_num_threads() == other
        seen.clear()
        [(_, run)] = list(checks.generate_checks(loss, input="logits", num_classes=3, backend="torch",
                                                 checks=["check_output"]))
        run()
        assert seen == {checks.TORCH_THREADS} and torch.get_num_threads() == other
    finally:
        torch.set_num_threads(before)
