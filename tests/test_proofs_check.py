"""proofs_check: every claim as a test (``pytest -m claims``), the registry's own machinery, and
evidence that can fail."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from proofs_check import claims
from proofs_check.__main__ import main
from proofs_check.claims.symmetric_noise import risk_identity_proof, theorem_b_proof
from theory import losses
from theory.excess import SumRange, excess_sweep, sum_range
from theory.verify import Kind, StepKind, Verdict
from theory.verify.exact import exact_conditional_risk, exact_point

SLOW_CLAIMS = {"consistency.table", "asymmetric.tolerance", "theorem_b.ce_eps", "theorem_b.unbounded",
               "theorem_b.lipschitz_eps", "theorem_b.linear_class", "linear_class.noise_moves_ce_argmax"}  # 3-15 s each


@pytest.mark.claims
@pytest.mark.parametrize("claim_id", [pytest.param(i, marks=pytest.mark.slow) if i in SLOW_CLAIMS else i
                                      for i in claims.ids()])
def test_claim_reaches_its_expected_verdict_with_evidence(claim_result, claim_id):
    claim = claims.get(claim_id)
    result = claim_result(claim_id)
    assert result.verdict is claim.expect, (result.verdict_text, result.evidence_summary, result.reason)
    if result.verdict is Verdict.PROVED:
        certs = [e for e in result.evidence if e.kind is Kind.CERTIFICATE]
        assert certs and all(e.proof.mechanised for e in certs)
        assert not any(s.kind is StepKind.ARGUED for e in certs for s in e.proof.steps)
    else:  # a verdict short of proved says what is mechanised and what is argued or searched
        assert all(p.scope for p in result.parts)
    if result.verdict is Verdict.REFUTED:
        assert result.witness.confirmed and result.finding
    json.dumps(result.to_dict())  # the report is plain data


def test_proved_means_every_step_is_computed_or_cited():
    for proof in (risk_identity_proof(), theorem_b_proof()):
        assert proof.mechanised and not proof.argued
        assert {s.kind for s in proof.steps} <= {StepKind.COMPUTED, StepKind.CITED}
    assert "every K" in risk_identity_proof().scope


def test_claim_ids_are_unique_and_cover_the_paper():
    ids = claims.ids()
    assert len(ids) == len(set(ids))
    for prefix in ("eps_softmax.", "identities.m_zero", "identities.mae_symmetric", "lemma_a.bounded_sum",
                   "lemma_a.ce_eps_band", "gradients.", "symmetric_noise.risk_identity", "theorem_b.",
                   "asymmetric.", "consistency.", "theorem_b.linear_class", "linear_class."):
        assert any(i.startswith(prefix) for i in ids), prefix


def test_unknown_and_ambiguous_ids_say_what_exists():
    with pytest.raises(KeyError, match="known ids"):
        claims.get("no_such_claim")
    with pytest.raises(KeyError, match="ambiguous"):
        claims.get("theorem_b")


@pytest.mark.parametrize("p", [[0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]])
def test_exact_points_sum_to_exactly_one_and_move_by_ulps(p):
    exact = exact_point(np.array(p))
    assert sum(exact) == 1
    assert max(abs(float(e) - v) for e, v in zip(exact, p)) < 1e-15


def test_high_precision_risk_agrees_with_the_float_path():
    L = losses.get("ce_eps+mae", alpha=0.1, beta=1.0, m=1e4)
    p, q = np.array([0.6, 0.3, 0.1]), np.array([0.5, 0.3, 0.2])
    float_value = float(q @ np.array([L(p, np.array(k)) for k in range(3)]))
    assert abs(float(exact_conditional_risk(L, p, q)) - float_value) < 1e-12


def test_cli_runs_one_claim_and_writes_json(tmp_path):
    out = tmp_path / "r" / "claims.json"
    assert main(["--claim", "eps_softmax.order", "--json", str(out), "--jobs", "1"]) == 0
    data = json.loads(out.read_text())
    assert [r["check"] for r in data["results"]] == ["eps_softmax.order"]
    assert data["results"][0]["verdict"] == "verified, not refuted"
    assert "proved for K = 2..6" in data["results"][0]["verdict_text"]


def test_cli_rejects_an_unknown_claim(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--claim", "nope"])
    assert exc.value.code == 2
    assert "known ids" in capsys.readouterr().err


# -- Theorem B's cross-check can fail ---------------------------------------------------------

def test_the_theorem_b_range_is_independent_of_the_minimisers():
    """With the true range, every excess is within the bounds; with a range that is too narrow
    (as an underestimated search would give), the check sees it: the bound is violated and the
    sums at the minimisers fall outside the range. Nothing is widened to fit."""
    true = excess_sweep(lambda m: losses.get("gce"), Ks=(3,), n_problems=3, seed=5,
                        ranges=lambda L, K, u: sum_range(L, K, rng=np.random.default_rng(0), low=u))
    assert all(r.excess <= r.instance_bound + 1e-9 <= r.range_bound + 2e-9 for r in true)
    assert all(r.range_consistent for r in true)

    def too_narrow(L, K, uniform):
        return SumRange(K, 2.0, 2.1, False, False, -np.inf, np.inf, "deliberately wrong")

    wrong = excess_sweep(lambda m: losses.get("gce"), Ks=(3,), n_problems=3, seed=5, ranges=too_narrow)
    assert not any(r.range_consistent for r in wrong)
    assert any(r.excess > r.range_bound for r in wrong)


def test_excess_rows_report_the_zero_one_excess_and_vacuity():
    rows = excess_sweep(lambda m: losses.get("ce"), Ks=(3,), n_problems=4, seed=2)
    assert all(r.zero_one_excess >= -1e-12 and r.argmax_changes >= 0 for r in rows)
    assert not any(r.vacuous for r in rows)
    flat = losses.pointwise("flat", lambda xp, u: 0 * u + 1.0, curvature="linear")
    assert all(r.vacuous for r in excess_sweep(lambda m: flat, Ks=(3,), n_problems=2, seed=2))


@pytest.mark.slow
def test_the_unbounded_claim_is_decided_by_its_rows(monkeypatch):
    """The statement differs at K = 2 (CE_ε's excess vanishes as m grows) and K ≥ 3 (it does
    not); the verdict follows the computed rows, per K. Were every excess to count as vanished,
    K = 3 would contradict the statement, and the second method would confirm it."""
    from proofs_check.claims import symmetric_noise

    result = claims.get("theorem_b.unbounded").run("default", seed=0)
    assert result.verdict is Verdict.NOT_REFUTED
    floors = {K: d["max_excess"][-1] for K, d in result.data["m_dependence"].items()}
    assert floors[2] <= symmetric_noise.VANISHED < floors[3]
    monkeypatch.setattr(symmetric_noise, "VANISHED", 1.0)
    contradicted = claims.get("theorem_b.unbounded").run("default", seed=0)
    assert contradicted.verdict is Verdict.REFUTED and contradicted.witness.inputs["K"] == 3


@pytest.mark.slow
def test_the_linear_class_claims_are_decided_by_their_rows(monkeypatch):
    """The in-class checks can fail: with a range narrowed to a point, Theorem B's bound is 0 and
    GCE's in-class excess exceeds it (its minimisers are not certified, so the verdict is
    inconclusive, never refuted); in a class rich enough to fit every table (n_x = d + 1) the
    Bayes argmax never moves, so the search for CE's moving argmax must come back empty."""
    from dataclasses import replace

    from proofs_check.claims import linear_class

    real = linear_class.sum_range
    monkeypatch.setattr(linear_class, "sum_range", lambda *a, **k: replace(real(*a, **k), c2=real(*a, **k).c1))
    narrowed = claims.get("theorem_b.linear_class").run("default", seed=0)
    assert narrowed.verdict is Verdict.INCONCLUSIVE and narrowed.witness.inputs["loss"] == "gce"
    monkeypatch.setattr(linear_class, "SHAPE", {**linear_class.SHAPE, "n_x": 3})
    rich = claims.get("linear_class.noise_moves_ce_argmax").run("default", seed=0)
    assert rich.verdict is Verdict.INCONCLUSIVE and rich.data["tried"] == 60


#: the named results a claim may cite; the claims report must state each one it cites
NAMED = ("Theorem B", "Lemma A", "CE_ε band", "Risk identity", "Class-conditional noise", "Consistency", "ε-softmax")


def test_the_claims_report_states_every_result_it_cites():
    """claims.md is read alone: every named result a claim's text cites is stated in its preamble, and
    no claim points to a document outside the report."""
    from pathlib import Path

    import proofs_check
    from proofs_check.statements import PREAMBLE

    source = "\n".join(p.read_text() for p in Path(proofs_check.__file__).parent.rglob("*.py")
                       if p.name != "statements.py")
    for name in NAMED:
        assert f"**{name}" in PREAMBLE, name
    cited = {name for name in ("Theorem B", "Lemma A", "CE_ε band", "risk identity") if name in source}
    assert cited and all(name.lower() in PREAMBLE.lower() for name in cited)
    for c in claims.all_claims():
        assert "PAPER.md" not in c.statement + c.reference + c.title, c.id


def test_the_claims_report_text_has_no_empty_or_degenerate_phrases(claim_result):
    """Phrases a reader stumbles on: an empty list after "argued:", a one-value grid read as a range,
    a set of k written as an interval."""
    from proofs_check.report import render_markdown

    text = render_markdown([claim_result(i) for i in ("theorem_b.bound", "lemma_a.bounded_sum", "identities.m_zero")])
    assert "PAPER.md" not in text and "**Theorem B**" in text
    assert "argued: ;" not in text and "values from 0 to 0" not in text and "1 values" not in text
    assert not re.search(r"k ∈ \[\d", text)


@pytest.mark.parametrize("content, says", [(None, "No such file"), ("no markers here\n", "has no marked finding"),
                                           ("<!-- finding: nope -->\nx\n<!-- /finding -->\n", "unknown finding 'nope'")])
def test_findings_refuses_a_file_it_cannot_rewrite_in_one_line(tmp_path, capsys, content, says):
    """--findings on a missing file, a file without markers or with an unknown id: exit 2, one line
    naming what was wrong, and the file as it was."""
    path = tmp_path / "README.md"
    if content is not None:
        path.write_text(content)
    assert main(["--findings", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err
    assert (path.read_text() if content is not None else None) == content
