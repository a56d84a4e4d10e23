"""Figure 8: trained models against the population minimisers and Theorem B's bound (finite X, exact risks).

The finite-X experiment of :mod:`empirical.exact` (the default grid: K = 3, 16 points,
2 features, η = 0.4; a linear model and an MLP trained by minibatch SGD on n noisy samples, each
against its clean-label twin; 3 seeds) gives every risk exactly. Four panels:

(a), (b) the excess clean L-risk R(f_η) − R(f_0) of the trained models against n, for the linear
         model and the MLP, with the excess of the population risk minimisers within the model's
         class (dashed, same colour): where training reaches the class's minimiser the trained
         excess approaches it as n grows; a model that fits a small noisy sample departs from it;
(c)      the same against m at the largest n, for CE_ε and CE_ε+MAE, with Theorem B's bound;
(d)      the 0-1 excess against n (mean ± std): what the noise costs in accuracy;
(e)      the 0-1 excess against m at the largest n, for CE_ε and CE_ε+MAE, beside CE's (which has no m):
         where a large m costs more accuracy than plain CE.

The keys of (c) and (e) stand in a panel of their own, so no key covers data. Line styles mean one
thing each: the model (solid linear, dash-dot MLP); dashed with squares is Theorem B's bound, dotted
the population minimisers' excess.

The run records go to ``exact_runs.json`` (:class:`empirical.records.ExcessPoint` per pair).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from figures._common import Context, Figure, MissingInput, Output, plt
from figures._excess import excess_against_m

#: the losses drawn against n (one ε-loss at one m, so the panels stay readable)
AGAINST_N = ("ce", "mae", "gce", "ce_eps+mae, alpha=0.01, beta=5 (m=1000)")
AGAINST_M = ("ce_eps", "ce_eps+mae")
#: one colour per loss family in every panel
COLOURS = {"ce": "C0", "mae": "C1", "gce": "C2", "ce_eps+mae": "C3", "ce_eps": "C4"}
STYLES = {"linear": "-", "mlp": "-."}  # dotted is the population minimisers', dashed the bound


def _family(label: str) -> str:
    return label.split(",")[0].split(" (")[0]


def exact_result(ctx: Context):
    """The finite-X result: ``exact.json`` of the results folder when there is one (written by
    ``python -m empirical exact``), else the default grid trained here; computed once per context."""
    if "exact" not in ctx.cache:
        saved = None if ctx.results is None else Path(ctx.results) / "exact.json"
        if saved is not None and saved.is_file():
            from empirical.exact import ExactResult

            ctx.cache["exact"] = ExactResult.from_dict(json.loads(saved.read_text()))
            ctx.cache["exact_source"] = reused(saved)
            print(f"  finite-X experiment: {ctx.cache['exact_source']}", flush=True)
            ctx.results_used = True
        else:
            try:
                from empirical.exact import default_grid, run_grid
            except ImportError as err:
                raise MissingInput(f"torch is not installed ({err})", 'pip install -e ".[torch]"') from None
            print("  finite-X experiment: training the default grid (linear and MLP, every loss, 3 seeds)",
                  flush=True)
            ctx.cache["exact"] = run_grid(default_grid(), progress=lambda s: print(f"  {s}", flush=True))
    return ctx.cache["exact"]


def reused(path: Path) -> str:
    """What a figure drawn from a saved finite-X result says of it: the file, when it was written, and
    the command that writes it again (the figure does not train when the file is there)."""
    from datetime import UTC, datetime

    written = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"read {path} (written {written}), not trained again; rebuild it with "
            f"python -m empirical exact --out {path}")


def summarise(points) -> dict:
    """Per (model, loss label), against n: the mean ± std (sample, ddof = 1) of the excess and
    0-1 excess, and the population values."""
    from empirical.table import Cell

    groups = defaultdict(list)
    for p in points:
        groups[(p.model, p.label, p.n_train)].append(p)
    by_n: dict = defaultdict(lambda: {"n": [], "excess": [], "excess_std": [], "zero_one": [], "zero_one_std": [],
                                      "seeds": []})
    for (model, label, n), sel in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        d = by_n[f"{model} | {label}"]
        excess, zero_one = Cell(tuple(p.excess for p in sel)), Cell(tuple(p.zero_one_excess for p in sel))
        d["n"].append(n)
        d["excess"].append(excess.mean)
        d["excess_std"].append(excess.std)
        d["zero_one"].append(zero_one.mean)
        d["zero_one_std"].append(zero_one.std)
        d["seeds"].append(excess.n)
        d["population"] = sel[0].population_excess
        d["population_zero_one"] = sel[0].population_zero_one_excess
        d["bound"] = sel[0].bound
    n_max = max(p.n_train for p in points)
    return {"against_n": dict(by_n), "n_max": n_max}


def build(ctx: Context) -> Output:
    result = exact_result(ctx)
    points = result.points
    data = summarise(points)
    json_path = ctx.write_json("exact_runs.json", result.to_dict())
    grid = result.grid
    fig, axes = plt.subplots(2, 3, figsize=(16, 8))
    (a, b, c), (d, e, key) = axes
    for ax, model in ((a, "linear"), (b, "mlp")):
        for label in AGAINST_N:
            s = data["against_n"].get(f"{model} | {label}")
            if s is None:
                continue
            colour = COLOURS[_family(label)]
            ax.errorbar(s["n"], s["excess"], yerr=np.nan_to_num(s["excess_std"]), fmt="o-", ms=3, capsize=2,
                        color=colour, label=f"{label}: trained")
            ax.axhline(s["population"], color=colour, ls=":", lw=1.2)
        ax.plot([], [], "k:", lw=1.2, label="population minimisers within the class")
        cls = "linear class F_B (theory.linear)" if model == "linear" else "tabular class (MLP: fits any table)"
        ax.set(xscale="log", yscale="symlog", xlabel="n noisy training samples",
               ylabel="excess clean L-risk R(f_η) − R(f_0)",
               title=f"({'a' if model == 'linear' else 'b'}) {model} model; dotted: {cls}")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.legend(fontsize=6)
    at_n_max = [p for p in points if p.n_train == data["n_max"] and p.method in AGAINST_M]
    data["against_m"] = excess_against_m(c, at_n_max, key=lambda p: f"{p.method}, {p.model}", m_floor=1.0,
                                         colour=lambda k: COLOURS[k.split(", ")[0]],
                                         style=lambda k: STYLES[k.split(", ")[1]])
    c.set(xlabel="m (m = 0 drawn at 1)", ylabel="excess clean L-risk",
          title=f"(c) L-excess against m at n = {data['n_max']:,} (key: right)")
    for label in AGAINST_N:
        for model, style in STYLES.items():
            s = data["against_n"].get(f"{model} | {label}")
            if s is not None:
                colour = COLOURS[_family(label)]
                d.errorbar(s["n"], s["zero_one"], yerr=np.nan_to_num(s["zero_one_std"]), fmt="o" + style, ms=3,
                           capsize=2, color=colour, label=f"{label} ({model})")
                if s["population_zero_one"]:
                    d.axhline(s["population_zero_one"], color=colour, ls=":", lw=1.2)
    d.axhline(0, color="k", lw=0.8)
    d.set(xscale="log", xlabel="n noisy training samples", ylabel="0-1 excess (accuracy lost to the noise)",
          title="(d) 0-1 excess, mean ± std (dotted where the population minimisers' is not 0)")
    data["zero_one_against_m"] = _zero_one_against_m(e, points, data["n_max"])
    e.set(xscale="log", xlabel="m (m = 0 drawn at 1)", ylabel="0-1 excess (accuracy lost to the noise)",
          title=f"(e) 0-1 excess against m at n = {data['n_max']:,}, beside CE's (key: right)")
    e.axhline(0, color="k", lw=0.8)
    key.axis("off")
    handles, labels = [], []
    for ax in (c, e):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    first = key.legend(handles, labels, loc="upper center", fontsize=5.5, title="(c) and (e)", title_fontsize=7,
                       frameon=False)
    key.add_artist(first)
    key.legend(*d.get_legend_handles_labels(), loc="lower center", fontsize=5.5, ncol=2, title="(d)",
               title_fontsize=7, frameon=False)
    seeds = len(grid.seeds)
    fig.suptitle(f"Trained models vs population minimisers vs Theorem B — {grid.task.label}, symmetric η = "
                 f"{', '.join(f'{e:g}' for e in grid.etas)}, mean ± std over {seeds} seeds, exact risks over X",
                 fontsize=9)
    fig.text(0.01, -0.005,
             "Bound: Theorem B for the population risk minimisers within any class under symmetric noise, with "
             "[C₁, C₂] the range of Σ_k L over the simplex (CE, MAE: no bound drawn; MAE's is 0).\n"
             f"Measured: models trained by {grid.protocol} on n noisy samples, each against its clean-label twin "
             f"(same sample, initialisation and minibatches); MLP: one tanh layer of {grid.width} units.\n"
             "A trained model is not a minimiser: with a non-convex loss SGD stops where it stops, and a small sample "
             "is not the population, so the trained excess can exceed the bound or be negative. A population "
             "minimisers' excess below 0 lies within its stated error (population_error in exact_runs.json: the clean "
             "minimiser's certified error, or its gap to the tabular lower bound where it is not certified)."
             + (f"\nRuns {ctx.cache['exact_source']}." if ctx.cache.get("exact_source") else ""),
             va="top", fontsize=6.5, color="0.25")
    fig.tight_layout()
    return Output([ctx.save(fig, "trained_vs_bound"), json_path], data)


def _zero_one_against_m(ax, points, n_max: int) -> dict:
    """Panel (e): per (ε-loss, model) the 0-1 excess's mean ± std over seeds against m at ``n_max``, and
    CE's at the same n as a horizontal line per model (CE has no m). Returns the plotted numbers."""
    from empirical.table import Cell

    out = {}
    for model, style in STYLES.items():
        for method in AGAINST_M:
            sel = [p for p in points if p.n_train == n_max and p.method == method and p.model == model
                   and p.zero_one_excess is not None]
            if not sel:
                continue
            ms = sorted({p.m if p.m is not None else 0.0 for p in sel})
            cells = [Cell(tuple(p.zero_one_excess for p in sel if (p.m or 0.0) == m)) for m in ms]
            key = f"{method}, {model}"
            out[key] = {"m": ms, "mean": [c.mean for c in cells], "std": [c.std for c in cells]}
            ax.errorbar(np.maximum(ms, 1.0), out[key]["mean"], yerr=np.nan_to_num(out[key]["std"]), fmt="o" + style,
                        ms=3.5, capsize=2, color=COLOURS[method], label=f"{key}: 0-1 excess")
        ce = [p.zero_one_excess for p in points if p.n_train == n_max and p.method == "ce" and p.model == model
              and p.zero_one_excess is not None]
        if ce:
            cell = Cell(tuple(ce))
            out[f"ce, {model}"] = {"mean": cell.mean, "std": cell.std}
            ax.axhline(out[f"ce, {model}"]["mean"], color=COLOURS["ce"], ls=style, lw=1.2,
                       label=f"ce, {model}: 0-1 excess (no m)")
    return out


FIGURE = Figure("trained_vs_bound", "Trained models vs population minimisers and Theorem B (finite X, exact risks)",
                build)
