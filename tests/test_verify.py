"""theory.verify: keyed random streams, the evidence rules, typed proof steps, the status rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from theory.verify import (
    Budget,
    Certifier,
    Check,
    Context,
    Evidence,
    Kind,
    Outcome,
    Part,
    Recheck,
    Status,
    Target,
    Tier,
    Verdict,
    Witness,
    decide,
    run_check,
    short,
)
from theory.verify.registry import Method, Origin

ROOT = Path(__file__).resolve().parents[1]


def _sources(*, but: tuple[str, ...] = ()) -> list[Path]:
    """Every .py file of theory, proofs_check, empirical and figures (sorted), but the paths ``but``
    (relative to the repository's root): what the source scans below read."""
    return [path for pkg in ("theory", "proofs_check", "empirical", "figures") for path in sorted((ROOT / pkg).rglob("*.py"))
            if str(path.relative_to(ROOT)) not in but]

# -- keyed random streams ---------------------------------------------------------------------

def test_a_key_names_one_stream_and_different_keys_never_share_one():
    b = Budget("default", 3)
    same = b.rng("theorem_b", 3, 1e4).random(8), b.rng("theorem_b", 3, 1e4).random(8)
    np.testing.assert_array_equal(*same)
    streams = [b.rng(*key).random(8) for key in [("a", 11), ("a1", 1), ("a", 1, 1), ("a", 11.0), ("a", "11")]]
    for i in range(len(streams)):
        for j in range(i):
            assert not np.array_equal(streams[i], streams[j]), (i, j)
    assert not np.array_equal(Budget("default", 4).rng("a", 11).random(8), streams[0])


@given(st.tuples(st.text(max_size=5), st.integers(-5, 5)), st.tuples(st.text(max_size=5), st.integers(-5, 5)))
@example(("a", 11), ("a1", 1))
def test_keys_collide_only_when_equal(k1, k2):
    b = Budget()
    assert (b.seed_for(*k1) == b.seed_for(*k2)) == (k1 == k2)


def test_a_derived_seed_is_keyed_below_the_reported_bound_and_is_the_budgets_reported_seed():
    from theory.streams import REPORTED_SEED_BOUND, derived_seed

    seeds = [derived_seed(seed, *key) for seed in (0, 7) for key in [("consistency re-check", "second search"),
                                                                      ("excess re-check", "second search"), ("k", 3)]]
    assert all(0 <= s < REPORTED_SEED_BOUND for s in seeds) and len(set(seeds)) == len(seeds)
    assert derived_seed(7, "k", 3) == derived_seed(7, "k", 3)
    b = Budget("default", 7)
    # the seeds reports printed before reported_seed existed (seed_for reduced by hand) are the same
    assert b.reported_seed("k", 3) == derived_seed(7, "k", 3) == b.seed_for("k", 3) % REPORTED_SEED_BOUND


def test_no_seed_is_salted_or_reduced_by_hand():
    """Every seed the package derives comes from a keyed stream (theory.streams): a salt such as
    ``seed + 1`` gives a second computation starts that depend on the first's, and a reduction by
    hand (``% 2**31``) is a second definition of the reported seeds."""
    import re

    by_hand = re.compile(r"\bseed\s*[-+*]\s*\d|%\s*2\s*\*\*\s*3[12]\b")
    found = [f"{path.relative_to(ROOT)}:{i}" for path in _sources(but=("theory/streams.py",))
             for i, line in enumerate(path.read_text().splitlines(), 1) if by_hand.search(line)]
    assert not found, found


def _small_float_literals(path, *, named_ok: bool = True) -> list[tuple[int, float]]:
    """The float literals below 1e-5 in ``path`` (tolerances, floors, steps) that are not the value of a
    module-level named constant (when ``named_ok``) or a parameter's default."""
    import ast

    tree = ast.parse(path.read_text())
    allowed = set()
    roots = [node for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))] if named_ok else []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            roots += [d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
    for root in roots:
        allowed |= {id(sub) for sub in ast.walk(root)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and type(node.value) is float and 0 < abs(node.value) < 1e-5
            and id(node) not in allowed]


def test_every_tolerance_is_a_named_constant():
    """A tolerance, floor or step (a float below 1e-5) is written once, as a module-level constant with its
    meaning beside it (theory.tolerances for those several modules share), or as a parameter's default:
    never inline in a computation, where two copies of one rule drift apart."""
    inline = [f"{path.relative_to(ROOT)}:{line}: {value!r}" for path in _sources()
              for line, value in _small_float_literals(path)]
    assert not inline, inline


def test_the_scan_for_inline_tolerances_can_fail(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("TOL = 1e-9\n\ndef f(x, step=1e-6):\n    return x < TOL + 1e-12\n")
    assert _small_float_literals(source) == [(4, 1e-12)]
    assert _small_float_literals(source, named_ok=False) == [(1, 1e-9), (4, 1e-12)]


def _clamp_copies(path) -> list[int]:
    """Lines of ``path`` that write the paper's clamp as a literal: a name ``*clamp*`` or ``c`` assigned
    it, a ``clamp=`` argument or a ``clamp`` parameter's default given it."""
    import ast

    from theory.softmax import PAPER_CLAMP

    def is_clamp(node) -> bool:
        return isinstance(node, ast.Constant) and type(node.value) is float and node.value == PAPER_CLAMP

    def clamp_name(name: str) -> bool:
        return "clamp" in name.lower() or name == "c"

    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and is_clamp(node.value):
            lines += [node.lineno for t in node.targets if isinstance(t, ast.Name) and clamp_name(t.id)]
        elif isinstance(node, ast.keyword) and node.arg and clamp_name(node.arg) and is_clamp(node.value):
            lines.append(node.value.lineno)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            pairs = [*zip(positional[len(positional) - len(args.defaults):], args.defaults),
                     *zip(args.kwonlyargs, args.kw_defaults)]
            lines += [d.lineno for a, d in pairs if d is not None and clamp_name(a.arg) and is_clamp(d)]
    return lines


def test_the_papers_clamp_is_defined_once(tmp_path):
    """The reference's clamp c = 1e-8 is theory.softmax.PAPER_CLAMP; every other module imports it."""
    copies = [f"{path.relative_to(ROOT)}:{line}" for path in _sources(but=("theory/softmax.py",))
              for line in _clamp_copies(path)]
    assert not copies, copies
    source = tmp_path / "m.py"  # the scan can fail
    source.write_text("CLAMP = 1e-8\nSTEP = 1e-8\n\ndef f(p, clamp=1e-8):\n    return g(p, clamp=1e-8)\n")
    assert _clamp_copies(source) == [1, 4, 5]


def test_every_budget_size_is_a_named_constant():
    """What a search does at each budget is a module-level :class:`theory.verify.Size` named for what it
    counts (read with ``budget.size``), not a ``pick(a, b)`` of two bare numbers at the call."""
    import re

    call = re.compile(r"\.pick\(")
    found = [f"{path.relative_to(ROOT)}:{i}" for path in _sources(but=("theory/verify/budget.py", "theory/verify/runner.py"))
             for i, line in enumerate(path.read_text().splitlines(), 1) if call.search(line)]
    assert not found, found


def test_a_size_is_read_at_the_budget():
    from theory.verify import Size

    size = Size((3, 10), (3, 10, 50))
    assert Budget("default").size(size) == (3, 10) and Budget("thorough", 5).size(size) == (3, 10, 50)
    with pytest.raises(TypeError, match="size must be a theory.verify.Size, got tuple"):
        Budget().size((3, 10))


def test_budget_rejects_bad_names_seeds_and_keys():
    with pytest.raises(ValueError, match="budget must be one of"):
        Budget("huge")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        Budget("default", -1)
    with pytest.raises(ValueError, match="needs a key"):
        Budget().rng()
    with pytest.raises(TypeError, match="key part must be"):
        Budget().rng(object())


# -- evidence rules ---------------------------------------------------------------------------

def _proof(argued: bool = False, failed: bool = False):
    c = Certifier("x real", scope="K = 2..3")
    x = sp.Symbol("x", real=True)
    c.zero("square", (x + 1) ** 2 - x**2 - 2 * x - 1)
    if failed:
        c.zero("false identity", sp.sin(x) ** 2 - 1)
    if argued:
        c.argue("every K", "by induction")
    return c


def test_a_proof_with_an_argued_or_unreduced_step_is_not_a_certificate():
    assert _proof().evidence("s").kind is Kind.CERTIFICATE
    assert _proof(argued=True).evidence("s").kind is Kind.ARGUMENT
    assert _proof(failed=True).evidence("s").kind is Kind.ARGUMENT
    with pytest.raises(ValueError, match="fully mechanised"):
        Evidence(Kind.CERTIFICATE, "s", covers="K = 2", proof=_proof(argued=True).proof())
    with pytest.raises(ValueError, match="argued step"):
        from theory.verify.evidence import Step, StepKind
        Step(StepKind.ARGUED, "x", "y", ok=True)


def test_a_cited_proof_counts_only_when_it_is_mechanised():
    c = Certifier("a", scope="every K")
    assert c.cite("lemma", _proof().proof(), "claim.a")
    assert not c.cite("lemma 2", _proof(argued=True).proof(), "claim.b")
    assert c.evidence("s").kind is Kind.ARGUMENT


@pytest.mark.parametrize("status, verdict", [(Recheck.CONFIRMED, Verdict.REFUTED), (Recheck.DISMISSED, Verdict.NOT_REFUTED),
                                             (Recheck.UNDECIDED, Verdict.INCONCLUSIVE)])
def test_a_failures_sentence_stands_only_on_the_outcome_its_witness_refutes(status, verdict):
    """A check writes what is wrong with a loss before its candidate is re-checked; a candidate the
    re-check dismisses or cannot decide must not leave that sentence on a passed or inconclusive outcome
    (a report saying "passed" and "is not noise-tolerant" at once)."""
    failure = "L is not noise-tolerant: excess 2.2e-07 > tolerance 1.3e-07"
    w = Witness({"q": [0.5, 0.5]}, "excess 2.2e-07", "0 (within 1.3e-07)", "a second search", status)
    out = decide([Evidence(Kind.SEARCH, "9 settings", covers="K = 3")], w, failure=failure)
    assert out.verdict is verdict
    assert (out.note == failure) is (status is Recheck.CONFIRMED)
    assert out.note  # the outcome still says in one line what happened to the candidate
    if status is Recheck.DISMISSED:
        assert out.witness is None and any("dismissed" in e.summary for e in out.evidence)
    kept = decide([Evidence(Kind.SEARCH, "9 settings", covers="K = 3")], w, note="a neutral line", failure=failure)
    assert kept.note == (failure if status is Recheck.CONFIRMED else
                         "a neutral line")


def test_verdicts_follow_from_the_evidence_and_state_their_scope():
    cert = _proof().evidence("identity")
    assert decide([cert]).verdict is Verdict.PROVED
    mixed = decide([cert, _proof(argued=True).evidence("every K"),
                    Evidence(Kind.SEARCH, "searched", covers="K = 10 (search)")])
    assert mixed.verdict is Verdict.NOT_REFUTED
    assert "proved for K = 2..3" in mixed.verdict_text and "argued for K = 2..3" in mixed.verdict_text
    assert "not refuted for K = 10" in mixed.verdict_text
    cross = decide([cert, Evidence(Kind.SEARCH, "agrees", covers="K = 10", cross_check=True)])
    assert cross.verdict is Verdict.PROVED  # a cross-check of a proof forms no weaker part


@pytest.mark.parametrize("status, verdict", [(Recheck.CONFIRMED, Verdict.REFUTED), (Recheck.UNDECIDED, Verdict.INCONCLUSIVE),
                                             (Recheck.DISMISSED, Verdict.NOT_REFUTED)])
def test_a_witness_refutes_only_when_its_recheck_confirmed_it(status, verdict):
    w = Witness({"p": [1, 0]}, "seen", "expected", "50 digits", status)
    out = decide([Evidence(Kind.SEARCH, "searched", covers="K = 3")], w)
    assert out.verdict is verdict
    assert (out.witness is None) == (status is Recheck.DISMISSED)


def test_an_outcome_that_breaks_the_rules_cannot_be_built():
    search = Evidence(Kind.SEARCH, "s", covers="K = 3")
    with pytest.raises(ValueError, match="certificate"):
        Outcome(Verdict.PROVED, (Part(Verdict.PROVED, "K = 3", "x"),), (search,))
    with pytest.raises(ValueError, match="confirmed"):
        Outcome(Verdict.REFUTED, (Part(Verdict.REFUTED, "K = 3", "x"),), (search,))
    with pytest.raises(ValueError, match="at least one part"):
        Outcome(Verdict.NOT_REFUTED, (), (search,))
    with pytest.raises(ValueError, match="note"):
        Outcome(Verdict.INCONCLUSIVE, (Part(Verdict.INCONCLUSIVE, "K = 3", "x"),), (search,))
    with pytest.raises(ValueError, match="must say what it covers"):
        Evidence(Kind.SEARCH, "no scope")


@given(st.integers(1, 40), st.integers(2, 12))
def test_a_cut_vector_always_ends_with_an_ellipsis_its_last_entry_and_its_length(n, width):
    """One rendering (theory.formatting.vector) for witnesses and messages: a vector longer than the
    width shows its first width − 1 entries, an ellipsis, its last entry and its length."""
    from theory.formatting import vector

    x = np.arange(n) + 0.5
    text = vector(x, width=width)
    if n > width:
        assert text.endswith(f"…, {x[-1]:.4g}] ({n} entries)") and text.count(",") == width
    else:
        assert "…" not in text and text.count(",") == n - 1
    assert short({"p": np.arange(20) / 190.0, "K": 20}).endswith("…, 0.1] (20 entries), K=20")


# -- status rules -----------------------------------------------------------------------------

def _check(fn, expect=None, finding=""):
    return Check("test.fake", Target.PAPER, Tier.CLAIM, "t", "s", Origin.DERIVED, "r", (Method.SEARCH,), fn,
                 expect=expect or Verdict.NOT_REFUTED, finding=finding)


def test_the_status_follows_the_verdict_and_what_was_declared():
    search = Evidence(Kind.SEARCH, "s", covers="K = 3")
    confirmed = Witness({"x": 1}, "o", "e", "r", Recheck.CONFIRMED)
    undecided = Witness({"x": 1}, "o", "e", "r", Recheck.UNDECIDED)
    ctx = Context(None, budget=Budget("default", 0), subject_name="a statement")
    assert run_check(_check(lambda c: decide([search])), ctx).status is Status.PASSED
    assert run_check(_check(lambda c: decide([search], confirmed)), ctx).status is Status.FAILED
    xfail = run_check(_check(lambda c: decide([search], confirmed), Verdict.REFUTED, "a finding"), ctx)
    assert xfail.status is Status.XFAIL and xfail.finding == "a finding"
    assert run_check(_check(lambda c: decide([search], undecided)), ctx).status is Status.INCONCLUSIVE
    boom = run_check(_check(lambda c: 1 / 0), ctx)
    assert boom.status is Status.ERROR and "ZeroDivisionError" in boom.reason and boom.verdict is None


def test_a_paper_claim_must_expect_a_verdict_and_explain_an_expected_refutation():
    with pytest.raises(ValueError, match="finding"):
        _check(lambda c: None, Verdict.REFUTED)
    with pytest.raises(ValueError, match="expected verdict"):
        Check("x", Target.PAPER, Tier.CLAIM, "t", "s", Origin.DERIVED, "r", (Method.SEARCH,), lambda c: None)


@given(st.lists(st.floats(0.05, 1.0), min_size=3, max_size=6), st.sampled_from([0.0, 1e-3]))
@example([0.7, 0.2, 0.1], 0.0)
def test_compass_search_reaches_an_interior_maximum(w, floor):
    """From the centre, the vectorised compass search finds the maximiser of a smooth concave
    score on the simplex (every start at once, the floor respected)."""
    from theory.verify.search import compass

    target = np.asarray(w) / np.sum(w)
    target = floor + (1 - len(w) * floor) * target

    def score(P):
        return -np.sum((P - target) ** 2, axis=1)

    centre = np.full((2, len(w)), 1.0 / len(w))
    P, S, used = compass(score, centre, floor=floor)
    np.testing.assert_allclose(P, np.broadcast_to(target, P.shape), atol=1e-7)
    assert np.all(P >= floor - 1e-15) and used > 0 and np.all(S <= 0)


def test_claim_workers_share_the_cpus_without_overriding_the_user(monkeypatch):
    """Worker processes get cpu_count // jobs BLAS/OpenMP threads (two workers with a full-size
    pool each oversubscribe the CPUs); a setting of the user's is kept, and nothing stays set."""
    import os

    from theory.verify.parallel import threads_per_worker

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    with threads_per_worker(2):
        assert os.environ["OPENBLAS_NUM_THREADS"] == os.environ["OMP_NUM_THREADS"] == "4"
        assert os.environ["MKL_NUM_THREADS"] == "7"
    assert "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ
    assert os.environ["MKL_NUM_THREADS"] == "7"


def test_exact_risks_along_moves_in_rational_arithmetic():
    """Points moved along an integer direction stay exactly on the simplex: the difference with the
    base risk is exact to 50 digits even for a move of 1e-18 (a float point p + 1e-18 would not
    even move the 0.5 coordinate)."""
    from theory import losses
    from theory.verify.exact import exact_conditional_risk, exact_risks_along

    ce = losses.get("ce")
    p, q = np.array([0.5, 0.25, 0.25]), np.array([0.2, 0.5, 0.3])
    base = exact_conditional_risk(ce, p, q)
    (moved,) = exact_risks_along(ce, p, q, np.array([1, -1, 0]), [1e-18])
    d = sp.Rational(1e-18)
    expected = -sp.Rational(0.2) * sp.log(sp.Rational(1, 2) + d) - sp.Rational(0.5) * sp.log(sp.Rational(1, 4) - d) \
        - sp.Rational(0.3) * sp.log(sp.Rational(1, 4))
    assert abs(moved - sp.N(expected, 60)) < 1e-45
    # to first order (q_1/p_1 − q_0/p_0)·d = 1.6e-18, resolved although C_q ≈ 1.25
    assert abs(float(moved - base) - 1.6e-18) < 1e-30
    with pytest.raises(ValueError, match="integers summing to 0"):
        exact_risks_along(ce, p, q, np.array([1, 0, 0]), [1e-3])
    with pytest.raises(ValueError, match="leaves the simplex"):
        exact_risks_along(ce, p, q, np.array([1, -1, 0]), [0.3])


def test_the_markdown_report_holds_every_statement_verdict_and_witness_in_full(tmp_path):
    from proofs_check.report import render_markdown, run_all
    from theory.verify.report import _anchor

    results = run_all(["eps_softmax.simplex", "consistency.ce_eps_mae_order"], jobs=1, progress=False)
    text = render_markdown(results)
    rows = [line for line in text.splitlines() if line.startswith("| [")]
    assert len(rows) == len(results)
    for r, row in zip(results, rows):
        assert row.replace("\\|", "").count("|") == 4  # three cells, pipes inside escaped
        assert " ".join(r.verdict_text.split()).replace("|", "\\|") in row  # the verdict, not cut
        assert f"## {r.check}" in text and f"(#{_anchor(r.check)})" in row
        assert f'<a id="{_anchor(r.check)}"></a>' in text  # the link's target exists
        assert f"**Statement.** {r.statement}" in text
        for e in r.evidence:
            assert e.summary in text
    witnessed = [r for r in results if r.witness is not None]
    assert witnessed and all(r.witness.recheck in text and r.finding in text for r in witnessed)
    from proofs_check.__main__ import main

    assert main(["--claim", "eps_softmax.simplex", "--markdown", str(tmp_path / "c.md"), "--jobs", "1"]) == 0
    assert "**Statement.**" in (tmp_path / "c.md").read_text()


def _imports(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("theory", ("proofs_check", "empirical", "figures")),  # the mathematics knows no claim, trainer or figure
    ("theory/verify", ("theory.checks", "proofs_check")),  # the engine knows targets, not the checks or the paper
    ("proofs_check", ("empirical", "figures")),
])
def test_no_module_imports_from_a_layer_above_it(package, forbidden):
    """The layers: theory.verify < theory (checks, losses, …) < proofs_check < empirical, figures; an
    import upwards (even a lazy one inside a function) makes a circle."""
    upward = {(str(p.relative_to(ROOT)), m) for p in (ROOT / package).rglob("*.py") for m in _imports(p)
              if any(m == f or m.startswith(f + ".") for f in forbidden)}
    assert not upward, sorted(upward)


def test_no_module_imports_a_private_module_of_another_package():
    """What one package needs of another is that package's public interface: a private module
    (``_name``) is imported only from inside the package that owns it."""
    crossing = []
    for path in _sources():
        here = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for module in _imports(path):
            parts = module.split(".")
            private = next((i for i, seg in enumerate(parts) if seg.startswith("_") and not seg.startswith("__")),
                           None)
            if private is None:
                continue
            owner = ".".join(parts[:private])
            if not (here == owner or here.startswith(owner + ".")):
                crossing.append((str(path.relative_to(ROOT)), module))
    assert not crossing, sorted(crossing)
