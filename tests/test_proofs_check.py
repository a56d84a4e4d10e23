"""proofs_check: every claim as a test (``pytest -m claims``) and the registry's own machinery."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from proofs_check import Budget, Evidence, Result, Source, Verdict, Witness, claims
from proofs_check.__main__ import main
from theory._exact import Certifier, exact_conditional_risk, exact_point
from theory import losses


@pytest.mark.claims
@pytest.mark.parametrize("claim_id", claims.ids())
def test_claim_reaches_its_expected_verdict_with_evidence(claim_id):
    claim = claims.get(claim_id)
    result = claim.run("default", seed=0)
    assert result.verdict in claim.expect, (result.verdict, result.evidence_summary, result.note)
    if result.verdict is Verdict.PROVED:
        certs = [e for e in result.evidence if e.kind == "certificate"]
        assert certs and all(s["status"] == "ok" for c in certs for s in c.data["steps"])
    if result.verdict is Verdict.REFUTED:
        assert result.witness.rechecked and result.finding
    json.dumps(result.to_dict())  # the report is plain data


def test_claim_ids_are_unique_and_cover_the_issue_list():
    ids = claims.ids()
    assert len(ids) == len(set(ids))
    for prefix in ("eps_softmax.", "identities.m_zero", "identities.mae_symmetric", "lemma_a.bounded_sum",
                   "lemma_a.ce_eps_band", "gradients.", "symmetric_noise.risk_identity", "theorem_b.",
                   "asymmetric.", "consistency."):
        assert any(i.startswith(prefix) for i in ids), prefix


def test_unknown_and_ambiguous_ids_say_what_exists():
    with pytest.raises(KeyError, match="known ids"):
        claims.get("no_such_claim")
    with pytest.raises(KeyError, match="ambiguous"):
        claims.get("theorem_b")


def _result(verdict, evidence=(), witness=None):
    return Result("x", "s", Source.DERIVED, ("symbolic",), verdict, tuple(evidence), witness, {}, "", "", "default", 0, 0.0)


def test_a_verdict_without_its_evidence_cannot_be_built():
    with pytest.raises(ValueError, match="certificate"):
        _result(Verdict.PROVED, [Evidence("search", "looked around")])
    unconfirmed = Witness({"p": [1, 0]}, "x", "y", "50 digits: holds", rechecked=False)
    with pytest.raises(ValueError, match="re-checked"):
        _result(Verdict.REFUTED, [Evidence("search", "s")], unconfirmed)
    with pytest.raises(ValueError, match="search"):
        _result(Verdict.NOT_REFUTED)


def test_a_simplification_that_does_not_reach_zero_proves_nothing():
    x = sp.Symbol("x", real=True)
    cert = Certifier("x real")
    assert cert.zero("identity", (x + 1) ** 2 - x**2 - 2 * x - 1)
    assert not cert.zero("false identity", sp.sin(x) ** 2 - 1)
    assert not cert.nonneg("undecided sign", x)
    assert cert.evidence("mixed").kind == "search"  # not a certificate once any step failed


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


def test_budget_rejects_unknown_names_and_negative_seeds():
    with pytest.raises(ValueError, match="budget"):
        Budget("huge")
    with pytest.raises(ValueError, match="seed"):
        Budget("default", -1)


def test_cli_runs_one_claim_and_writes_json(tmp_path, capsys):
    out = tmp_path / "r" / "claims.json"
    assert main(["--claim", "eps_softmax.order", "--json", str(out), "--jobs", "1"]) == 0
    data = json.loads(out.read_text())
    assert [r["id"] for r in data["results"]] == ["eps_softmax.order"]
    assert data["results"][0]["verdict"] == "proved"


def test_cli_rejects_an_unknown_claim(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--claim", "nope"])
    assert exc.value.code == 2
    assert "known ids" in capsys.readouterr().err


def test_theorem_b_sweep_rows_satisfy_the_instance_inequality():
    from theory.excess import excess_sweep

    rows = excess_sweep(lambda m: losses.get("gce"), Ks=(3,), n_problems=3, seed=5)
    assert rows and all(r["excess"] >= -1e-9 for r in rows)
    assert all(r["excess"] <= r["instance_bound"] + 1e-9 for r in rows)
    assert all(r["instance_bound"] <= r["range_bound"] + 1e-9 for r in rows)
