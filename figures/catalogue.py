"""The catalogue of losses × checks (``catalogue.md``, ``catalogue_evidence.md``, ``catalogue.json``) and its figure.

Every registered loss of the paper and of the literature, checked by :func:`theory.checks.check_loss`
at K = 3 and 10 (:mod:`theory.checks.catalogue`), incrementally: each (loss, K) is cached under
``<out>/.catalogue-cache`` by its definition and the ``theory`` package's code, so a rebuild only
recomputes what changed. The figure: one row per loss and K, one column per check, the colour its
status, a black frame where the literature states the property, a cross where we disagree with it.
"""

from __future__ import annotations

import sys

import numpy as np

from figures._common import Context, Figure, Output, plt
from theory.checks import catalogue

COLOURS = {"passed": "#4daf4a", "unexpected pass": "#4daf4a", "failed": "#e41a1c", "expected failure": "#e41a1c",
           "inconclusive": "#ffbf00", "skipped": "#d9d9d9", "error": "#000000"}


def compute(ctx: Context, names=None) -> catalogue.Catalogue:
    def progress(label, done, total):
        print(f"  … catalogue {label}: {done}/{total}", file=sys.stderr, flush=True)

    return catalogue.build(names, cache=ctx.out / ".catalogue-cache", jobs=ctx.jobs, progress=progress)


def build(ctx: Context, names=None) -> Output:
    cat = compute(ctx, names)
    md, js = catalogue.write(cat, ctx.out)
    rows, checks = cat.rows, list(cat.checks)
    fig, ax = plt.subplots(figsize=(0.55 * len(checks) + 3.0, 0.19 * len(rows) + 1.6))
    for i, r in enumerate(rows):
        by = {c.check: c for c in r.cells}
        for j, check in enumerate(checks):
            c = by.get(check)
            if c is None:
                continue
            ax.add_patch(plt.Rectangle((j, i - 0.45), 0.95, 0.9, color=COLOURS.get(c.status, "#ffffff"),
                                       ec="black" if c.stated is not None else "none", lw=0.8))
            if c.agrees is False:
                ax.text(j + 0.47, i, "×", ha="center", va="center", fontsize=7)
    ax.set_xlim(0, len(checks))
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xticks(np.arange(len(checks)) + 0.47, [c.removeprefix("check_") for c in checks], rotation=60,
                  ha="right", fontsize=6)
    ax.set_yticks(range(len(rows)), [f"{r.loss} (K={r.K})" for r in rows], fontsize=5)
    ax.grid(False)
    ax.set_title("Catalogue: every registered loss × every check (frame: the literature states it; ×: we disagree)")
    key = [plt.Rectangle((0, 0), 1, 1, color=COLOURS[s], label=s) for s in ("passed", "failed", "inconclusive",
                                                                              "skipped")]
    ax.legend(handles=key, loc="upper center", bbox_to_anchor=(0.5, 1.0 + 1.2 / (0.19 * len(rows) + 1.6)), ncol=4,
              fontsize=7, frameon=False)
    png = ctx.save(fig, "catalogue")
    counts = {s: sum(1 for r in rows for c in r.cells if c.status == s) for s in COLOURS}
    return Output([md, ctx.out / "catalogue_evidence.md", js, png], {"catalogue": cat, "counts": counts, "cached": sum(r.cached for r in rows),
                                  "disagreements": len(cat.disagreements), "unexplained": len(cat.unexplained)})


FIGURE = Figure("catalogue", "every registered loss × every check at K = 3, 10, beside the literature", build)
