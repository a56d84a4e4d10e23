"""The catalogue (theory.checks.catalogue, python -m theory.checks --catalogue): its cache is keyed
by what decides a verdict, the literature's statements sit beside our verdicts, and every
disagreement carries its explanation, backed here by a computation that could fail."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from theory import losses
from theory.checks import catalogue
from theory.checks.__main__ import main
from theory.minimise import minimise_conditional_risk


def test_a_rebuild_reads_the_cache_and_gives_the_same_rows(tmp_path):
    first = catalogue.build(["mae", "zero_one"], Ks=(3,), cache=tmp_path)
    again = catalogue.build(["mae", "zero_one"], Ks=(3,), cache=tmp_path)
    assert not any(r.cached for r in first.rows) and all(r.cached for r in again.rows)
    assert [r.cells for r in first.rows] == [r.cells for r in again.rows]
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_the_work_is_scheduled_longest_first_by_K_then_by_the_time_the_replaced_entry_took(tmp_path):
    """The registry lists ANL-CE/ANL-FL (the longest at K = 10) last: computed in that order, one worker
    would run them alone at the end."""
    def stale(name, K, seconds):
        (tmp_path / f"{name}-K{K}-{'0' * 32}.json").write_text(json.dumps({"seconds": seconds}))

    stale("nnce", 10, 6.0)
    stale("anl_ce", 10, 73.0)
    stale("anl_ce", 3, 17.0)
    (tmp_path / "mae-K10-broken.json").write_text("{not json")  # an unreadable entry is no hint
    todo = [(n, K, tmp_path / f"{n}-K{K}-{'f' * 32}.json") for n in ("mae", "nnce", "anl_ce") for K in (3, 10)]
    order = [(n, K) for n, K, _ in catalogue._longest_first(todo)]
    assert order == [("anl_ce", 10), ("nnce", 10), ("mae", 10), ("anl_ce", 3), ("mae", 3), ("nnce", 3)]
    assert catalogue._longest_first([("mae", 3, None), ("mae", 10, None)]) == [("mae", 10, None), ("mae", 3, None)]


def test_the_cache_key_changes_with_the_definition_K_budget_and_seed():
    from theory.losses._registry import _REGISTRY

    def one(xp, pred, y):
        return 1 - pred.py(y)

    def other(xp, pred, y):
        return (1 - pred.py(y)) ** 2

    try:
        losses.register("tmp_catalogue_loss", one, formula="1 − p_y", replace=True)
        base = catalogue.cache_key("tmp_catalogue_loss", 3, "default", 0)
        assert base == catalogue.cache_key("tmp_catalogue_loss", 3, "default", 0)
        assert len({base, catalogue.cache_key("tmp_catalogue_loss", 10, "default", 0),
                    catalogue.cache_key("tmp_catalogue_loss", 3, "thorough", 0),
                    catalogue.cache_key("tmp_catalogue_loss", 3, "default", 1)}) == 4
        losses.register("tmp_catalogue_loss", other, formula="1 − p_y", replace=True)  # same text, new code
        assert catalogue.cache_key("tmp_catalogue_loss", 3, "default", 0) != base
    finally:
        _REGISTRY.pop("tmp_catalogue_loss", None)


def test_declared_contract_failures_let_the_properties_run():
    row = catalogue.build(["zero_one"], Ks=(3,)).rows[0]
    assert row.cell("check_input_convention").status == "expected failure"
    assert row.cell("check_symmetric").status == "passed"  # Σ_k 1[argmax p ≠ k] = K − 1
    assert row.cell("check_symmetric").agrees is True


@pytest.mark.parametrize("name", ["aul", "ael"])
@pytest.mark.parametrize("K", [3, 10])
def test_the_aul_ael_explanation_their_noisy_minimiser_is_the_clean_vertex_for_deterministic_labels(name, K):
    """EXPLAINED says: with P(y | x) one-hot (Zhou et al.'s setting) the noisy minimiser is e_y, certified."""
    for eta in (0.25, 0.5, 0.6):
        w = np.full(K, eta / (K - 1))
        w[0] = 1 - eta
        res = minimise_conditional_risk(losses.get(name), w[None])
        assert res.exact and np.allclose(res.p[0], np.eye(K)[0], atol=1e-9), (eta, res.p[0])
    assert (name, "check_noise_tolerant_symmetric") in catalogue.EXPLAINED


def test_every_stated_property_names_a_check_and_a_registered_loss():
    from theory.checks import check_names

    for name, stated in catalogue.STATED.items():
        losses.spec(name)
        assert all(s.check in check_names() and s.source for s in stated)
    assert set(catalogue.DECLARED) <= set(losses.names())


def test_the_markdown_marks_a_disagreement_and_its_note(tmp_path):
    cat = catalogue.build(["aul"], Ks=(3,))
    (row, cell), = cat.disagreements
    assert cell.check == "check_noise_tolerant_symmetric" and cell.note and not cat.unexplained
    md, js = catalogue.write(cat, tmp_path)
    text = md.read_text()
    assert "**✗** ≠" in text and cell.note[:40] in text
    evidence = (tmp_path / "catalogue_evidence.md").read_text()  # each row links to its section there
    assert "](catalogue_evidence.md#aul-at-k--3)" in text and "## aul at K = 3" in evidence
    assert cell.evidence[:60] in evidence
    assert json.loads(js.read_text())["unexplained"] == 0


def test_the_command_line_writes_the_catalogue_of_chosen_losses(tmp_path):
    assert main(["--catalogue", "--losses", "mae,gce", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "catalogue.json").read_text())
    assert [(r["loss"], r["K"]) for r in data["rows"]] == [("mae", 3), ("mae", 10), ("gce", 3), ("gce", 10)]
    cached = {p: p.stat().st_mtime_ns for p in (tmp_path / ".cache").glob("*.json")}
    assert len(cached) == 4
    assert main(["--catalogue", "--losses", "mae,gce", "--out", str(tmp_path)]) == 0  # from the cache: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / ".cache").glob("*.json")} == cached


def test_the_command_line_refuses_an_unknown_loss_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--catalogue", "--losses", "mae,nope", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and "no loss named 'nope'" in err
    assert not (tmp_path / "catalogue.md").exists()


@pytest.mark.slow
def test_the_whole_catalogue_has_no_error_and_no_unexplained_disagreement(whole_catalogue):
    cat = whole_catalogue
    assert {r.loss for r in cat.rows} == set(losses.names("paper") + losses.names("literature"))
    assert {(r.loss, r.K) for r in cat.rows} == {(n, K) for n in losses.names("paper") + losses.names("literature")
                                                 for K in catalogue.KS}
    errors = [(r.loss, r.K, c.check) for r in cat.rows for c in r.cells if c.status == "error"]
    assert not errors
    assert not cat.unexplained, [(r.loss, r.K, c.check, c.status) for r, c in cat.unexplained]


# ----------------------------------------------------------------------------------------------
# Each catalogue loss handed over as a repo-style module (logits in, the batch mean out, no
# reduction option: tests/repo_style.py) gets the verdicts of its registered form, read from the
# whole catalogue's row at K = 3 (the same check_loss call). The registered form knows more (its
# sympy path for 50-digit re-checks, exact minimisers, its stop-gradients), so either may stay
# inconclusive (or skip what an inconclusive requirement blocks) where the other decides; where both
# decide, they decide the same, but for the declared exceptions below.

#: the module's detach is not known to be intended: its gradient differs from its values' derivative
STOP_GRADIENTS = {"nnfl", "anl_fl", "bootstrap_soft"}
CONCLUSIVE = {"passed", "failed", "expected failure", "unexpected pass"}
COMPARED = ["check_bounded_sum", "check_symmetric", "check_top1_consistent", "check_prediction_consistent",
            "check_allk_consistent", "check_noise_tolerant_symmetric", "check_noise_tolerant_within_bound",
            "check_noise_tolerant_class_conditional",
            "check_extreme_logits", "check_low_precision", "check_gradients"]
MODULE_K = 3


@pytest.fixture(scope="session")
def literature_as_modules(whole_catalogue) -> dict:
    """{name: ModuleReport} for every literature loss as a repo-style module, in two processes, the
    losses whose registered row took longest first."""
    pytest.importorskip("torch")
    from repo_style import check_module

    from theory.verify.parallel import in_processes

    took = {r.loss: r.seconds for r in whole_catalogue.rows if r.K == MODULE_K}
    names = sorted(losses.names("literature"), key=lambda n: -took.get(n, 0.0))
    calls = [(n, MODULE_K, catalogue.DECLARED.get(n)) for n in names]
    return {names[i]: report for i, report in in_processes(check_module, calls, jobs=2)}


@pytest.mark.slow
@pytest.mark.parametrize("name", losses.names("literature"))
def test_a_repo_style_module_gets_the_verdicts_of_the_registered_form(name, whole_catalogue, literature_as_modules):
    from theory.losses import Route

    registered = next(r for r in whole_catalogue.rows if r.loss == name and r.K == MODULE_K)
    module = literature_as_modules[name]
    assert module.route == Route.VMAP.value
    for check in COMPARED:
        pair = (registered.cell(check).status, module.status[check])
        if check == "check_gradients" and name in STOP_GRADIENTS:
            assert pair == ("passed", "failed"), pair
        elif set(pair) <= CONCLUSIVE:  # both decided: the same verdict (one may stay inconclusive: it knows less)
            assert pair[0] == pair[1], (check, registered.cell(check).verdict, module.message[check])


def test_a_repo_style_module_is_made_per_example_by_vmap_and_checked_like_its_registered_form():
    """The helper the comparison above runs in workers, on one cheap loss in this process."""
    pytest.importorskip("torch")
    from repo_style import check_module

    from theory.checks import check_loss

    module = check_module("mae", MODULE_K, None, checks=["check_output", "check_symmetric"])
    registered = check_loss("mae", num_classes=MODULE_K, checks=["check_output", "check_symmetric"])
    assert module.route == "one example at a time, batched with torch.func.vmap"
    assert module.status["check_symmetric"] == registered["check_symmetric"].status.value == "passed"


# ----------------------------------------------------------------------------------------------
# The catalogue's findings (the README's marked blocks) follow its cells


def _row(loss: str, K: int, *cells: catalogue.Cell) -> catalogue.Row:
    return catalogue.Row(loss, "literature", K, "", "", "", 0.0, cells)


def test_the_catalogue_findings_follow_the_cells():
    """A made-up catalogue: the numerics sentence names the loss whose cell fails, with its precisions,
    and counts the others; a disagreement is listed with its numbers, and flagged when unexplained;
    the contract sentence tells a face-only failure from one that blocks the checks."""
    fails = catalogue.Cell("check_extreme_logits", "failed", "", "",
                           data={"failing": {"float16": 3}, "precisions": ["float32", "float16"]})
    passes = catalogue.Cell("check_extreme_logits", "passed", "", "")
    cat = catalogue.Catalogue((_row("a", 3, fails), _row("a", 10, fails), _row("b", 3, passes)))
    numerics = catalogue.findings(cat, ["catalogue.numerics"])["catalogue.numerics"]
    assert "`check_extreme_logits` fails for a (K = 3, 10; in float16); passes for the other 1" in numerics
    flipped = catalogue.Catalogue((_row("a", 3, passes), _row("b", 3, fails)))
    assert "fails for b (K = 3; in float16); passes for the other 1" in catalogue.FINDINGS["catalogue.numerics"](flipped)

    tolerant = catalogue.Cell("check_noise_tolerant_symmetric", "failed", "", "", stated=True, stated_source="S",
                              agrees=False, data={"max_excess": 0.02, "max_zero_one_excess": 0.0})
    explained = catalogue.Catalogue((_row("x", 3, replace(tolerant, note="why")),))
    text = catalogue.FINDINGS["catalogue.disagreements"](explained)
    assert text.startswith("Of 1 cells") and "0 of those agree" in text and "L-excess up to 0.02 with 0-1 excess 0" in text
    assert "unexplained" not in text
    assert "(unexplained)" in catalogue.FINDINGS["catalogue.disagreements"](catalogue.Catalogue((_row("x", 3, tolerant),)))

    face = catalogue.Cell("check_finite", "failed", "", "", data={"faces_only": True, "counts": {"nan": 1}})
    inside = catalogue.Cell("check_finite", "failed", "", "", data={"faces_only": False, "counts": {"-inf": 2}})
    skipped = catalogue.Cell("check_symmetric", "skipped", "", "")
    contracts = catalogue.FINDINGS["catalogue.contracts"](
        catalogue.Catalogue((_row("f", 3, face), _row("g", 3, inside, skipped))))
    assert "f fail `check_finite` on the simplex's faces only" in contracts
    assert "g fail it inside the simplex too (-inf values), so 1 of their property and numerics cells are skipped" \
        in contracts


def test_marked_findings_are_rewritten_by_id_and_others_kept(tmp_path):
    from theory import findings

    text = ("intro\n<!-- finding: a.one -->\nold one\n<!-- /finding -->\nmiddle\n"
            "<!-- finding: b.two -->\nkept as written\n<!-- /finding -->\n")
    path = tmp_path / "R.md"
    path.write_text(text)
    assert findings.rewrite(path, {"a.one": "new " * 40}) == ["a.one"]
    after = findings.marked(path.read_text())
    assert findings.same_text(after["a.one"], "new " * 40) and after["b.two"] == "kept as written"
    assert max(len(line) for line in after["a.one"].splitlines()) <= 100  # wrapped
    assert findings.rewrite(path, {"a.one": "new " * 40}) == []  # as computed: nothing changes
    with pytest.raises(KeyError, match="c.three"):
        findings.substitute(text, {"c.three": "x"})
    with pytest.raises(ValueError, match="marked twice"):
        findings.marked(text + "<!-- finding: a.one -->\nagain\n<!-- /finding -->\n")
    assert findings.wrap("- " + "word " * 30).splitlines()[1].startswith("  ")  # a list item continues indented


@pytest.mark.parametrize("argv, says", [
    (["mae", "--findings", "README.md"], "needs --catalogue"),
    (["--catalogue", "--losses", "mae", "--findings", "README.md"], "drop --losses"),
])
def test_catalogue_findings_need_the_whole_catalogue(argv, says, capsys):
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2 and says in capsys.readouterr().err


def test_a_file_without_catalogue_findings_is_refused_before_building(tmp_path, capsys):
    path = tmp_path / "R.md"
    path.write_text("<!-- finding: theorem_b.ce_eps -->\nx\n<!-- /finding -->\n")
    with pytest.raises(SystemExit) as err:
        main(["--catalogue", "--out", str(tmp_path / "out"), "--findings", str(path)])
    assert err.value.code == 2 and "no marked finding of the catalogue" in capsys.readouterr().err
    assert not (tmp_path / "out" / "catalogue.json").exists() and path.read_text().count("\nx\n") == 1
