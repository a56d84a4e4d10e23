"""figures: every figure builds into a temporary folder from small inputs, and the numbers it
plots have the properties the paper states (bounds hold, identities are exact, formulas match)."""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import matplotlib.colors
import matplotlib.container
import numpy as np
import pytest

import figures
from figures import (
    Context,
    MissingInput,
    band_width,
    consistency,
    gradient_weight,
    one_hot_error,
    theorem_b,
    transition_heatmaps,
)
from figures.__main__ import main
from theory import losses


def _is_png(path) -> bool:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and img.shape[0] > 200 and img.shape[1] > 300


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """One context for the module: claims run once (two processes) and are shared."""
    c = Context(tmp_path_factory.mktemp("figures"), jobs=2)
    c.prefetch([cid for f in figures.FIGURES.values() for cid in f.claims])
    c.cache["exact"] = _quick_exact()  # the finite-X figure draws the small grid, not the main job's
    return c


def _quick_exact():
    try:
        from empirical.exact import quick_grid, run_grid
    except ImportError:
        return None
    return run_grid(quick_grid())


def test_registry_covers_the_issue_and_names_are_unique():
    names = list(figures.FIGURES)
    assert len(names) == len(set(names))
    for required in ("one_hot_error", "band_width", "theorem_b", "consistency", "gradient_weight",
                     "transition_heatmaps", "accuracy_curves", "risk_vs_bound", "accuracy_table"):
        assert required in names
    with pytest.raises(KeyError, match="unknown figure 'nope'"):
        figures.get("nope")


def test_one_hot_error_meets_its_bound_and_identity():
    data = one_hot_error.compute(Ks=(2, 7), ms=np.logspace(-1, 6, 8), n=200)
    for _K, d in data["K"].items():
        assert d["identity_gap"] < 1e-15
        measured, bound = np.array(d["measured"]), np.array(d["bound"])
        assert np.all(measured <= bound * (1 + 1e-12) + 4e-16)  # 1 − p_ε(t) loses ~1 ulp of 1
        np.testing.assert_allclose(measured, bound, rtol=1e-9)  # the centre attains it


def test_band_width_stays_under_lemma_a():
    data = band_width.compute(ms=np.logspace(0, 8, 5), n=300)
    for name, d in data["losses"].items():
        measured, bound = np.array(d["measured"]), np.array(d["bound"])
        assert np.all(measured <= bound * (1 + 1e-9) + 1e-12), name
        assert measured[-1] < measured[0] or measured[0] < 1e-12, name  # MAE_ε is exactly symmetric


def test_band_width_draws_every_measured_point_inside_the_axis(tmp_path):
    """MAE's measured width is float rounding (Σ_k L is constant): its points are drawn on the marked
    floor line inside the axis, and its key says so; no measured point falls outside the view."""
    cap = _Capture(Context(tmp_path, jobs=1))
    band_width.FIGURE.build(cap)
    ax = cap.figures["band_width"].axes[0]
    lo, hi = ax.get_ylim()
    measured = [line for line in ax.get_lines() if "measured" in line.get_label()]
    assert len(measured) == 5 and all(((lo <= line.get_ydata()) & (line.get_ydata() <= hi)).all() for line in measured)
    (mae,) = [line for line in measured if line.get_label().startswith("mae_ε")]
    assert "on the floor line" in mae.get_label() and np.all(mae.get_ydata() == band_width.FLOOR_LINE)
    assert any("drawn on this line" in t.get_text() for t in ax.texts) and lo < band_width.FLOOR_LINE


def test_gradient_weights_match_the_closed_forms():
    data = gradient_weight.compute()
    a, b, m, c = data["alpha"], data["beta"], data["m"], 1e-8
    for regime, d in data["regimes"].items():
        p = np.array(d["p_y"])
        w = {k: np.array(v) for k, v in d["w"].items()}
        np.testing.assert_allclose(w["CE"], 1.0, rtol=1e-9)
        np.testing.assert_allclose(w["MAE"], 2 * p, rtol=1e-9)  # MAE with scale 2
        if regime == "y=t":
            ce_eps = p / (p + m)
        else:  # equal to CE, except where the clamp holds p_ε(y) at c (zero gradient)
            ce_eps = np.where(p / (1 + m) > c, 1.0, 0.0)
        np.testing.assert_allclose(w["CE_ε"], ce_eps, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(w["CE_ε+MAE"], a * ce_eps + 2 * b * p, rtol=1e-6, atol=1e-12)


def test_transition_matrices_are_row_stochastic(tmp_path):
    data = transition_heatmaps.compute(shared=tmp_path)  # no CIFAR-N file here
    assert "skipped" in data["skipped"] and len(data["matrices"]) == 3
    for name, T in data["matrices"].items():
        np.testing.assert_allclose(np.asarray(T).sum(1), 1.0, atol=1e-12 if "blocks" not in name else 1e-9)


@pytest.mark.data
def test_cifar10n_matrices_from_the_shared_file(shared_data):
    data = transition_heatmaps.compute(shared=shared_data)
    human = {k: np.asarray(v) for k, v in data["matrices"].items() if k.startswith("CIFAR-10N")}
    assert len(human) == 3 and data["skipped"] is None
    for T in human.values():
        np.testing.assert_allclose(T.sum(1), 1.0)
        assert np.all(np.diag(T) > T.max(1) - 1e-12)  # the diagonal dominates every row


@pytest.mark.slow
def test_every_theory_figure_builds(ctx):
    for fig in figures.FIGURES.values():
        if fig.from_results or (fig.name == "trained_vs_bound" and ctx.cache["exact"] is None):
            continue
        if fig.name == "catalogue":  # every loss at two K: its own tests (below, and tests/test_catalogue.py)
            continue
        out = fig.build(ctx)
        pngs = [p for p in out.paths if p.suffix == ".png"]
        assert pngs and all(_is_png(p) for p in pngs), fig.name


@pytest.mark.slow  # shares the module's main-job context (16 s)
def test_theorem_b_rows_never_exceed_their_bound(ctx):
    data = theorem_b.compute(ctx)
    assert data["rows"] and data["violations"] == 0
    assert data["class_conditional_ratio"] and max(q for _, q in data["class_conditional_ratio"]) <= 1 + 1e-6
    holds = {k: v for k, v in data["class_conditional"].items() if v["condition_holds"] and v.get("top_bound")}
    assert holds
    for name, d in holds.items():
        assert all(e <= t * (1 + 1e-6) + 1e-12 for e, t in zip(d["max_excess"], d["top_bound"])), name
        assert d["top_bound"][-1] < d["top_bound"][0]  # O(1/(1+m))


@pytest.mark.slow  # shares the module's main-job context (16 s)
def test_consistency_figure_covers_every_loss_and_minimisers_are_right(ctx):
    data = consistency.compute(ctx)
    assert set(losses.names("paper")) <= {r.loss for r in data["rows"]}
    ce = data["simplex"]["CE"]
    np.testing.assert_allclose(ce["p_star"], ce["q"], atol=1e-9)  # CE's minimiser is q itself
    mae = data["simplex"]["MAE"]
    for q, p in zip(mae["q"], mae["p_star"]):
        assert np.allclose(p, np.eye(3)[int(np.argmax(q))])  # MAE's minimiser is the vertex of argmax q


# ----------------------------------------------------------------------------------------------
# Figures from empirical results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    pytest.importorskip("torch")
    from empirical.config import RunConfig
    from empirical.run import Environment, run_one

    out = tmp_path_factory.mktemp("results")
    base = RunConfig(model="tiny", epochs=2, train_per_class=10, batch_size=64)
    for noise in ("clean", "symmetric:0.4"):
        for seed in (1, 2):
            run_one(dataclasses.replace(base, noise=noise, seed=seed, method="ce"), out, Environment(device="cpu"))
            for m in (10.0, 1e4):
                cfg = dataclasses.replace(base, noise=noise, seed=seed, method="ce_eps+mae", params=(("m", m),))
                run_one(cfg, out, Environment(device="cpu"))
    return out


@pytest.mark.slow
def test_result_figures_build_with_means_over_seeds(results, tmp_path):
    ctx = Context(tmp_path, results=results)
    curves = figures.get("accuracy_curves").build(ctx)
    panel = curves.data["synthetic ce_eps+mae symmetric:0.4"]
    assert set(panel) == {"10", "10000"} and all(d["n"] == 2 and len(d["mean"]) == 2 for d in panel.values())
    risk = figures.get("risk_vs_bound").build(ctx)
    assert {tuple(d["m"]) for d in risk.data.values()} == {(0.0,), (10.0, 10000.0)}
    assert all(n == 2 for d in risk.data.values() for n in d["n"])
    table = figures.get("accuracy_table").build(ctx)
    cells = table.data["cells"]
    assert len(cells) == 6 and all(c["test_acc_last"]["n"] == 2 for c in cells)
    for out in (curves, risk):
        assert all(_is_png(p) for p in out.paths)
    assert json.loads((tmp_path / "accuracy_table.json").read_text())["title"] == "method"


def test_missing_results_name_the_command(tmp_path):
    ctx = Context(tmp_path / "out", results=None)
    for name in ("accuracy_curves", "risk_vs_bound", "accuracy_table"):
        with pytest.raises(MissingInput, match="python -m empirical sweep --grid"):
            figures.get(name).build(ctx)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingInput, match=r"empty holds no result files \(\*\.json\)"):
        figures.get("accuracy_table").build(Context(tmp_path / "out", results=tmp_path / "empty"))


def test_cli_builds_one_figure_and_lists_skips(tmp_path, capsys):
    assert main(["one_hot_error", "--out", str(tmp_path)]) == 0
    assert _is_png(tmp_path / "one_hot_error.png")
    assert main(["accuracy_table", "--out", str(tmp_path), "--results", str(tmp_path / "none")]) == 2  # a typo
    (tmp_path / "empty").mkdir()
    # a results folder with nothing in it: an error naming it, before anything is written
    assert main(["accuracy_table", "--out", str(tmp_path), "--results", str(tmp_path / "empty")]) == 2
    assert "empty holds no result files" in capsys.readouterr().err
    assert not (tmp_path / "accuracy_table.md").exists()
    with pytest.raises(SystemExit):
        main(["nope"])


def test_main_job_writes_the_claims_report(tmp_path, monkeypatch):
    from proofs_check import claims

    monkeypatch.setattr(claims, "ids", lambda: ["eps_softmax.simplex", "eps_softmax.order"])
    monkeypatch.setattr(figures, "FIGURES", {"one_hot_error": figures.FIGURES["one_hot_error"]})
    import figures.__main__ as cli

    monkeypatch.setattr(cli, "FIGURES", figures.FIGURES)
    assert cli.main(["--out", str(tmp_path), "--jobs", "1"]) == 0
    report = json.loads((tmp_path / "claims.json").read_text())
    assert [r["check"] for r in report["results"]] == ["eps_softmax.simplex", "eps_softmax.order"]
    assert all(r["verdict"] == "verified, not refuted" and "proved for K = 2..6" in r["verdict_text"]
               for r in report["results"])
    assert (tmp_path / "claims.md").read_text().count("eps_softmax.") >= 2


def test_a_claim_that_fails_to_run_fails_its_figure_not_the_build(tmp_path, monkeypatch):
    import dataclasses as dc

    from proofs_check import claims
    from theory.verify import run_check

    broken = dc.replace(claims.get("consistency.table"), fn=lambda ctx: 1 / 0)
    ctx = Context(tmp_path)
    ctx.claims["consistency.table"] = run_check(broken, claims.paper_context())
    with pytest.raises(RuntimeError, match="(?s)consistency.table failed to run.*ZeroDivisionError"):
        figures.get("consistency").build(ctx)
    assert one_hot_error.FIGURE.build(ctx).paths  # other figures still build


class _Capture(Context):
    """A context that keeps each figure it saves, to inspect what the reader sees."""

    def __init__(self, base: Context):
        super().__init__(base.out, results=base.results, shared=base.shared, jobs=1)
        self.claims, self.cache = base.claims, base.cache  # what the base context computed is shared
        self.figures = {}

    def save(self, fig, name):
        self.figures[name] = fig
        return super().save(fig, name)


def _integer_ticks(axis) -> bool:
    lo, hi = sorted(axis.get_view_interval())  # an image's y axis runs downwards
    ticks = [t for t in axis.get_ticklocs() if lo <= t <= hi]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def test_class_axes_have_integer_ticks(tmp_path):
    from figures import transition_heatmaps

    cap = _Capture(Context(tmp_path, jobs=1))
    transition_heatmaps.FIGURE.build(cap)
    axes = [ax for ax in cap.figures["transition_heatmaps"].axes if ax.get_xlabel() == "noisy label j"]
    assert len(axes) >= 3 and all(_integer_ticks(ax.xaxis) and _integer_ticks(ax.yaxis) for ax in axes)


def test_ce_is_not_hidden_under_ce_eps_and_exact_zeros_are_labelled(tmp_path):
    from figures import gradient_weight

    cap = _Capture(Context(tmp_path, jobs=1))
    gradient_weight.FIGURE.build(cap)
    right = cap.figures["gradient_weight"].axes[1]
    lines = {line.get_label(): line for line in right.get_lines()}
    ce, ce_eps = lines["CE"], lines["CE_ε"]
    assert ce.get_zorder() < ce_eps.get_zorder() and ce.get_linewidth() > ce_eps.get_linewidth()
    assert ce_eps.get_linestyle() == "--"  # the wide CE shows on both sides of the dashes
    assert any("= 0 exactly" in t.get_text() for t in right.texts)


@pytest.mark.slow  # shares the module's main-job context
def test_theorem_b_marks_exact_zeros_and_pairs_each_bound_with_its_loss(ctx):
    from figures import theorem_b

    cap = _Capture(ctx)
    theorem_b.FIGURE.build(cap)
    fig = cap.figures["theorem_b"]
    panels = [ax for ax in fig.axes if ax.get_title()]
    log_panels = [ax for ax in panels if ax.get_yscale() == "log"]
    assert len(log_panels) == 3 and all(any("= 0 exactly" in t.get_text() for t in ax.texts) for ax in log_panels)
    d = next(ax for ax in panels if ax.get_title().startswith("(d)"))
    labels = [line.get_label() for line in d.get_lines()]
    for holds in [lab for lab in labels if "(condition holds)" in lab and "outside" not in lab]:
        assert f"{holds.split(' (')[0]}: its O(1/(1+m)) bound" in labels
    b = next(ax for ax in panels if ax.get_title().startswith("(b)"))
    assert b.get_legend() is None and any(a.get_ylabel().startswith("log₁₀ m") for a in fig.axes)  # a colour bar
    data = theorem_b.compute(ctx)  # every panel says which K its rows cover
    sym, cc = theorem_b.k_text(data["symmetric_K"]), theorem_b.k_text(data["class_conditional_K"])
    assert data["symmetric_K"] == sorted({r["K"] for r in data["rows"]})
    for ax in panels:
        assert (cc if ax.get_title().startswith("(d)") else sym) in ax.get_title(), ax.get_title()
    assert sym in fig._suptitle.get_text() and cc in fig._suptitle.get_text()


@pytest.mark.slow  # shares the module's main-job context
def test_the_consistency_chart_has_a_colour_key(ctx):
    from figures import consistency

    cap = _Capture(ctx)
    consistency.FIGURE.build(cap)
    ax = cap.figures["consistency_table"].axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("holds in full") and "not even top-1" in texts and any("undecided" in t for t in texts)
    # CE holds in full in both notions (All-k; own prediction: top-1, all that notion asks): green everywhere
    row = [t.get_text() for t in ax.get_yticklabels()].index("ce")
    cells = [patch for patch in ax.patches if abs(patch.get_y() - (row - 0.45)) < 1e-9]
    green = consistency._colour(consistency.Grade.ALL_K)
    assert len(cells) == len(ax.get_xticks()) and all(
        np.allclose(c.get_facecolor()[:3], matplotlib.colors.to_rgb(green)) for c in cells)


@pytest.mark.slow  # the module's tiny training runs
def test_results_only_builds_the_results_figures_without_running_a_claim(results, tmp_path, monkeypatch):
    import figures._common as common

    def no_claims(self, ids):
        assert not list(ids), f"--results-only ran claims {ids}"

    monkeypatch.setattr(common.Context, "prefetch", no_claims)
    assert main(["--results-only", "--results", str(results), "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"accuracy_curves.png", "risk_vs_bound.png", "accuracy_table.md"}
    assert not (tmp_path / "claims.md").exists()
    assert main(["--results-only", "one_hot_error", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_trained_vs_bound_reads_a_saved_result_and_draws_its_points(tmp_path):
    pytest.importorskip("torch")
    from empirical.exact import ExactResult
    from figures import trained_vs_bound

    result = _quick_exact()
    results = tmp_path / "results"
    results.mkdir()
    (results / "exact.json").write_text(json.dumps(result.to_dict()))
    ctx = _Capture(Context(tmp_path / "out", results=results))  # nothing cached: the saved file is read
    out = trained_vs_bound.FIGURE.build(ctx)
    assert isinstance(ctx.cache["exact"], ExactResult) and ctx.cache["exact"] == result
    assert _is_png(out.paths[0])
    # it says that it reused the file, when it was written and how to rebuild it
    assert "written" in ctx.cache["exact_source"] and "python -m empirical exact --out" in ctx.cache["exact_source"]
    fig = ctx.figures["trained_vs_bound"]
    assert any("written" in t.get_text() for t in fig.texts)
    panel = {ax.get_title()[:3]: ax for ax in fig.axes if ax.get_title()}
    assert all(panel[k].get_legend() is None for k in ("(c)", "(d)", "(e)"))  # their keys are a panel apart
    key = next(ax for ax in fig.axes if ax.get_legend() is not None and ax.get_legend().get_title().get_text())
    assert not key.axison and {lg.get_title().get_text() for lg in key.artists + [key.get_legend()]} == \
        {"(c) and (e)", "(d)"}
    # (d) has error bars; (e) draws the ε-losses' 0-1 excess against m and CE's beside it
    assert any(isinstance(c, matplotlib.container.ErrorbarContainer) for c in panel["(d)"].containers)
    e = out.data["zero_one_against_m"]
    assert {k.split(", ")[0] for k in e} >= {"ce", "ce_eps+mae"} and e["ce, mlp"]["mean"] == pytest.approx(
        np.mean([p.zero_one_excess for p in result.points if p.method == "ce" and p.model == "mlp"
                 and p.n_train == max(result.grid.ns)]))
    # a dotted line means the population minimisers, and only that
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_linestyle() == ":" and line.get_label() and not line.get_label().startswith("_"):
                assert "population" in line.get_label(), line.get_label()
    n_max = max(result.grid.ns)
    for key, d in out.data["against_n"].items():
        model, label = key.split(" | ")
        sel = [p for p in result.points if p.model == model and p.label == label and p.n_train == n_max]
        assert d["n"][-1] == n_max and d["seeds"][-1] == len(result.grid.seeds)
        assert d["excess"][-1] == pytest.approx(np.mean([p.excess for p in sel]))
        if d["bound"] is not None:
            assert d["population"] <= d["bound"] + 1e-9
    broken = {**result.to_dict(), "schema": 99}
    (results / "exact.json").write_text(json.dumps(broken))
    from empirical.records import RecordError

    with pytest.raises(RecordError, match="schema 99"):
        trained_vs_bound.FIGURE.build(Context(tmp_path / "out2", results=results))


def test_the_catalogue_figure_and_tables_of_chosen_losses(tmp_path):
    from figures import catalogue as catalogue_figure

    out = catalogue_figure.build(Context(tmp_path, jobs=1), names=["mae", "aul"])
    md, evidence, js, png = out.paths
    assert _is_png(png) and md.name == "catalogue.md" and json.loads(js.read_text())["rows"]
    assert "## mae at K = 3" in evidence.read_text()
    assert out.data["disagreements"] == 2 and out.data["unexplained"] == 0  # AUL's tolerance (a setting), K = 3, 10
    assert out.data["counts"]["passed"] > 0 and out.data["counts"]["failed"] > 0
    again = catalogue_figure.build(Context(tmp_path, jobs=1), names=["mae", "aul"])
    assert again.data["cached"] == 4  # incremental: nothing recomputed
