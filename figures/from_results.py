"""Figure 7: figures and tables from a results folder of :mod:`empirical`.

- ``accuracy_curves``: test accuracy per epoch, one panel per (method, noise) as in the paper's
  Figure 1 (CE_ε and CE_ε+MAE, clean and symmetric 0.8), one line per m, mean over seeds with a
  ± std band (sample std, ddof = 1, as in :mod:`empirical.table`; error bars below likewise).
- ``risk_vs_bound``: measured excess clean test risk of each noisy run against its clean-label
  twin, next to Theorem B's bound from the pair's observed sum range, as m varies.
- ``accuracy_table``: method × noise, last-epoch test accuracy, mean ± std and the number of seeds
  (markdown and JSON).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from matplotlib.ticker import MaxNLocator

from figures._common import Context, Figure, MissingInput, Output, plt
from figures._excess import excess_against_m

FIGURE1 = "python -m empirical sweep --grid figure1 --data-dir DATA --out results"
PAIRS = "python -m empirical sweep --grid sym08-cifar10 --data-dir DATA --out results"
TABLE = "python -m empirical sweep --grid paper-cifar10 --data-dir DATA --out results"


def _m(r) -> float | None:
    return dict(r.config.params).get("m")


def curves(results: list) -> dict:
    """Per (dataset, method, noise) and m: mean and sample std of the test accuracy per epoch."""
    groups: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    for r in results:
        c = r.config
        groups[(c.dataset, c.method, c.noise)][_m(r)].append([h.test_acc for h in r.history])
    out = {}
    for (dataset, method, noise), by_m in sorted(groups.items(), key=str):
        lines = {}
        for m, runs in sorted(by_m.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            n = min(len(h) for h in runs)
            acc = np.array([h[:n] for h in runs])
            std = acc.std(0, ddof=1) if len(runs) > 1 else np.zeros(n)  # sample std, as empirical.table
            lines["none" if m is None else f"{m:g}"] = {"mean": acc.mean(0).tolist(), "std": std.tolist(), "n": len(runs)}
        out[f"{dataset} {method} {noise}"] = lines
    return out


def build_curves(ctx: Context) -> Output:
    results = ctx.require_results(FIGURE1)
    data = curves(results)
    panels = list(data.items())
    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, (title, lines) in zip(axes.flat, panels):
        cmap = plt.get_cmap("viridis")
        for j, (m, d) in enumerate(lines.items()):
            epochs = np.arange(1, len(d["mean"]) + 1)
            mean, std = 100 * np.array(d["mean"]), 100 * np.array(d["std"])
            color = cmap(j / max(1, len(lines) - 1))
            ax.plot(epochs, mean, color=color, lw=1.4, label=f"{'no m' if m == 'none' else 'm=' + m} (n={d['n']} seeds)")
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        ax.set(title=title, xlabel="epoch", ylabel="clean test accuracy (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are integers
        ax.legend(fontsize=7)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return Output([ctx.save(fig, "accuracy_curves")], data)


def build_risk(ctx: Context) -> Output:
    from empirical.risk import paired_excess

    results = ctx.require_results(PAIRS)
    rows = paired_excess(results)
    if not rows:
        raise MissingInput("no symmetric-noise run with a clean-label twin in the results", PAIRS)
    fig, ax = plt.subplots(figsize=(6, 4))
    data = excess_against_m(ax, rows, key=lambda p: f"{p.source} {p.method} η={p.eta:g}")
    values = [v for d in data.values() for v in d["excess_mean"] + d["bound_mean"] if np.isfinite(v)]
    ax.set_ylim(min(0.0, 3 * min(values)), 3 * max(max(values), 1e-3))
    several = any(n > 1 for d in data.values() for n in d["n"])
    trained = sorted({(r.model, r.protocol, r.n_train) for r in rows})
    measured = "; ".join(f"{model}, {protocol}, n = {n:,} training images" for model, protocol, n in trained)
    covers = rows[0].bound_covers
    fig.text(0.02, -0.01, f"Bound: Theorem B for the {covers}.\n"
             f"Measured: trained networks ({measured}), not minimisers: they may exceed it.",
             va="top", fontsize=6.5, color="0.25", wrap=True)
    ax.set(xlabel="m (m = 0 or no m drawn at 0.1)", ylabel="excess clean test risk R(f_η) − R(f_clean)",
           title="Measured excess risk vs the bound (paired runs, "
                 + ("mean ± std over seeds)" if several else "one seed each)"))
    ax.legend(fontsize=6)
    return Output([ctx.save(fig, "risk_vs_bound")], data)


def build_table(ctx: Context) -> Output:
    from empirical.table import accuracy_table

    table = accuracy_table(ctx.require_results(TABLE))
    md = table.markdown("test_acc_last", scale=100)
    header = f"Last-epoch clean test accuracy (%), {table.spread_caption('test_acc_last')}\n\n"
    paths = [ctx.write_text("accuracy_table.md", header + md + "\n"), ctx.write_json("accuracy_table.json", table.to_dict())]
    return Output(paths, table.to_dict())


FIGURES = [
    Figure("accuracy_curves", "Test accuracy per epoch for several m (the paper's Figure 1 layout)", build_curves,
           from_results=True),
    Figure("risk_vs_bound", "Measured excess risk vs Theorem B's bound as m varies", build_risk, from_results=True),
    Figure("accuracy_table", "Method × noise accuracy table, mean ± std (n seeds)", build_table, from_results=True),
]
