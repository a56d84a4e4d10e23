"""The README's examples run as written: the Python blocks are executed from the README's own text
(a fragment, which the README says is one, completed here visibly), and each shell line of the
package's commands is parsed by that command's own parser (tests/test_readme_commands.py runs them).
The README's marked findings are the sentences made from the claims' rows (proofs_check.findings)
and from the catalogue's cells (theory.checks.catalogue.FINDINGS)."""

from __future__ import annotations

import shlex

import pytest
from readme_text import BLOCKS, README, alternatives, command, package_lines
from readme_text import block as _block

from theory.checks.__main__ import main


def test_the_parametrize_example_declares_exactly_the_failures_of_its_loss(capsys):
    ns: dict = {}
    exec(_block("def my_loss"), ns)  # "Checking your own loss", as written: K = 10, the whole report
    report = ns["report"]
    exec(_block("parametrize_with_checks([my_loss]"), ns)
    (mark,) = ns["test_my_loss"].pytestmark
    declared = set(mark.args[1][0].values[1].args[0].expected)  # the context the README's decorator built
    assert {r.check for r in report.failures} == declared, report.summary
    for param in mark.args[1]:  # each generated test passes, xfails or skips: none fails
        loss, check = param.values
        try:
            check(loss)
        except (pytest.xfail.Exception, pytest.skip.Exception):
            pass


def test_what_is_here_runs_as_written():
    """The opening example: ε-softmax, a loss three ways, the paper's defaults, noise with its stated
    convention and a finite problem, consistent in K."""

    ns: dict = {}
    exec(_block("from theory import eps_softmax, finite, losses, noise"), ns)
    p, y, y_noisy, T = ns["p"], ns["y"], ns["y_noisy"], ns["T"]
    assert ns["p_eps"].shape == p.shape and T.shape == (p.shape[1],) * 2
    assert (y_noisy != y).sum() == int(0.4 * len(y))  # exact: ⌊ηN⌋ flipped, each to another class
    assert ns["prob"].excess_risk(ns["L"], T) >= 0


def test_a_module_as_a_repository_writes_it_is_adapted_as_the_readme_says(capsys):
    pytest.importorskip("torch")
    ns: dict = {}
    exec(_block("class NCEandRCE(torch.nn.Module)"), ns)
    report = ns["report"]
    assert "batch mean" in report.header and report["check_output"].status.value == "passed"


def test_the_expect_fail_example_exits_0():
    argv = command("python -m theory.checks gce")
    assert argv[:3] == ["python", "-m", "theory.checks"]
    assert main(argv[3:]) == 0


@pytest.mark.slow
def test_the_readme_findings_are_generated_from_the_claims_rows(claim_result):
    """Each marked finding reads as its claim's rows say today: a change of the rows that the README
    does not follow fails here (rewrite with python -m proofs_check --findings README.md)."""
    from proofs_check import findings

    written = findings.marked(README)
    assert set(written) == set(findings.FINDINGS)  # every finding the package makes is published
    results = {claim: claim_result(claim) for claim, _ in findings.FINDINGS.values()}
    for finding_id, text in findings.generated(list(written), results).items():
        assert " ".join(written[finding_id].split()) == " ".join(text.split()), finding_id


def test_a_finding_follows_its_rows():
    """The sentence moves with the rows it is made from (a vanishing point, a monotone order)."""
    from proofs_check.findings import m_dependence, vanishing_point

    ms, peak = [0.0, 10.0, 100.0, 1000.0], [0.1, 0.05, 1e-12, 0.0]
    assert vanishing_point(ms, peak) == 2 and vanishing_point(ms, [0.1, 0.0, 0.2, 0.0]) == 3
    assert vanishing_point(ms, [0.1, 0.1, 0.1, 0.1]) is None
    d = {"m": ms, "max_excess": peak, "max_scaled_by_1_plus_m": [(1 + m) * e for m, e in zip(ms, peak)],
         "monotone_nonincreasing": True}
    text = m_dependence({"L": d})
    assert "≤ 1e-9 from m = 100 on" in text and "monotone non-increasing" in text and "reaches 0.55" in text
    d = {**d, "max_excess": [0.1, 0.2, 0.3, 0.3], "monotone_nonincreasing": False}
    assert "does not vanish on the grid (0.3 at m = 1000)" in m_dependence({"L": d})


def test_the_training_fragment_runs_once_completed():
    """The README says this block is a fragment (model, loader and optimizer are the user's): completed
    here with a linear model, two batches and SGD, it trains: the parameters move."""
    torch = pytest.importorskip("torch")
    code = _block("a fragment of your training script")
    model = torch.nn.Linear(4, 3)
    loader = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(2)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    before = [p.detach().clone() for p in model.parameters()]
    exec(code, {"model": model, "loader": loader, "optimizer": optimizer})
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


#: the anchor of every Python block of the README, each run by a test above
PYTHON_BLOCKS = ("from theory import eps_softmax, finite, losses, noise", "def my_loss",
                 "parametrize_with_checks([my_loss]", "class NCEandRCE(torch.nn.Module)",
                 "a fragment of your training script")
#: the package's commands, by module
COMMANDS = ("proofs_check", "theory.checks", "theory", "figures", "empirical")


def _parsers() -> dict:
    from empirical.cli import build_parser as empirical
    from figures.__main__ import build_parser as figures
    from proofs_check.__main__ import build_parser as proofs_check
    from theory.__main__ import build_parser as theory
    from theory.checks.__main__ import build_parser as checks

    return {"proofs_check": proofs_check, "theory.checks": checks, "theory": theory, "figures": figures,
            "empirical": empirical}


def test_every_python_block_is_run_and_every_package_command_parses():
    """Each Python block is run by a test above; each shell line of the package's commands (each
    alternative of a synopsis) is accepted by that command's own parser (tests/test_readme_commands.py
    runs them)."""
    python = [code for lang, code in BLOCKS if lang == "python"]
    assert all(sum(anchor in code for anchor in PYTHON_BLOCKS) == 1 for code in python), "a Python block no test runs"
    parsers = _parsers()
    parsed = 0
    for line in package_lines():
        assert line.startswith("python -m ") and line.split()[2] in COMMANDS, line
        for variant in alternatives(line):
            argv = shlex.split(variant)
            try:
                parsers[argv[2]]().parse_args(argv[3:])
            except SystemExit as err:
                raise AssertionError(f"the README's command does not parse: {variant}") from err
            parsed += 1
    assert parsed >= 20


@pytest.mark.slow
def test_the_readme_catalogue_findings_are_generated_from_its_cells(whole_catalogue):
    """Each marked catalogue finding reads as the session's whole catalogue says today (rewrite with
    python -m theory.checks --catalogue --findings README.md)."""
    from theory import findings as marked_text
    from theory.checks import catalogue

    written = {i: text for i, text in marked_text.marked(README).items() if i in catalogue.FINDINGS}
    assert set(written) == set(catalogue.FINDINGS)  # every catalogue finding is published
    for finding_id, text in catalogue.findings(whole_catalogue).items():
        assert marked_text.same_text(written[finding_id], text), (finding_id, text)
