"""Figure 3: Theorem B on exact finite problems: measured excess risk against the bound.

Rows come from the claims ``theorem_b.lipschitz_eps`` and ``theorem_b.ce_eps`` (symmetric noise;
exact global minimisers x by x) and ``asymmetric.tolerance`` (class-conditional noise with
R(f*) = 0 and 1 − η_y > η_yk, and with that condition broken). Panels: (a) the largest excess over
problems and rates against m with the largest bound; (b) excess against η at each m; (c) the
tightness ratio excess / bound for both noise models; (d) class-conditional noise, largest excess against m with the
O(1/(1+m)) bound sup_{u ≥ (1/K+m)/(1+m)} ℓ(u) − ℓ(1). Exact zeros are drawn at the floor 1e-16,
marked on each log axis as "= 0 exactly".
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from figures._common import Context, Figure, Output, plt
from theory.excess import ExcessRow

FLOOR = 1e-16
#: a row exceeds its bound when above bound·(1 + SLACK_REL) + SLACK_ABS: the bounds are grid estimates of a sup
SLACK_REL, SLACK_ABS = 1e-6, 1e-9
CLAIMS = ("theorem_b.lipschitz_eps", "theorem_b.ce_eps", "asymmetric.tolerance")


def _bound(row: ExcessRow) -> float:
    """The bound the claim states for the row (Lemma A's, the CE_ε band's), else Theorem B's
    instance bound."""
    for value in (row.stated_bound, row.instance_bound):
        if value is not None:
            return float(value)
    return float("nan")


def compute(ctx: Context) -> dict:
    rows = []
    for cid in CLAIMS[:2]:
        for r in ctx.claim(cid).data["rows"]:
            rows.append({"family": r.family, "K": r.K, "m": r.m, "eta": r.rate, "excess": r.excess,
                         "zero_one_excess": r.zero_one_excess, "bound": _bound(r)})
    by_fam: dict[str, dict] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for r in rows:
        cell = by_fam[r["family"]][r["m"]]
        cell[0], cell[1] = max(cell[0], r["excess"]), max(cell[1], r["bound"])
    symmetric = {f: {"m": sorted(d), "max_excess": [d[m][0] for m in sorted(d)], "max_bound": [d[m][1] for m in sorted(d)]}
                 for f, d in by_fam.items()}
    asym = ctx.claim(CLAIMS[2]).data
    class_conditional = {}
    for label, d in asym["m_dependence"].items():
        class_conditional[label] = {**d}
    violations = sum(r["excess"] > r["bound"] * (1 + SLACK_REL) + SLACK_ABS for r in rows)
    cc_ratio = [(r.m, r.excess / r.stated_bound) for r in asym["rows"]
                if r.noise.dominant and r.stated_bound is not None and r.stated_bound > 0]
    return {"rows": rows, "symmetric": symmetric, "class_conditional": class_conditional, "violations": violations,
            "class_conditional_ratio": cc_ratio, "symmetric_K": sorted({r["K"] for r in rows}),
            "class_conditional_K": sorted({r.K for r in asym["rows"]})}


def k_text(Ks) -> str:
    """"K = 2" or "K ∈ {2, 3}": the K a panel covers, in its title."""
    return f"K = {Ks[0]}" if len(Ks) == 1 else "K ∈ {" + ", ".join(map(str, Ks)) + "}"


def _mark_zero(ax) -> None:
    """Say on the axes that points on the floor are exact zeros (a log axis has no 0)."""
    ax.axhline(FLOOR, color="0.5", lw=0.8, ls=":")
    ax.annotate("= 0 exactly (drawn at 1e-16)", xy=(0.01, FLOOR), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", fontsize=6.5, color="0.3", va="bottom")


def build(ctx: Context) -> Output:
    data = compute(ctx)
    rows = data["rows"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    ax = axes[0, 0]
    for i, (fam, d) in enumerate(data["symmetric"].items()):
        m = np.maximum(d["m"], 1e-1)
        ax.loglog(m, np.maximum(d["max_excess"], FLOOR), "o-", color=f"C{i}", ms=3, label=f"{fam}: excess")
        ax.loglog(m, np.maximum(d["max_bound"], FLOOR), "--", color=f"C{i}", lw=1, label=f"{fam}: bound")
    ax.set(xlabel="m (m = 0 drawn at 0.1)", ylabel="R(f*_η) − R(f*), max over problems and η",
           title=f"(a) symmetric noise, {k_text(data['symmetric_K'])}: excess (solid), bound (dashed)")
    _mark_zero(ax)
    handles, labels = ax.get_legend_handles_labels()
    ax = axes[0, 1]
    log_m = np.log10(np.maximum([r["m"] for r in rows], 0.1))
    points = ax.scatter([r["eta"] for r in rows], np.maximum([r["excess"] for r in rows], FLOOR), c=log_m,
                        cmap="viridis", s=9)
    ax.set_yscale("log")
    fig.colorbar(points, ax=ax, label="log₁₀ m (m = 0 at −1)")
    ax.set(xlabel="η (symmetric noise rate)", ylabel="excess clean risk", title=f"(b) excess vs η (every problem), {k_text(data['symmetric_K'])}")
    _mark_zero(ax)
    ax = axes[1, 0]
    ratio = [(r["m"], r["excess"] / r["bound"]) for r in rows if r["bound"] > 0 and np.isfinite(r["bound"])]
    ax.semilogx([max(m, 0.1) for m, _ in ratio], [q for _, q in ratio], "o", ms=3, alpha=0.5,
                label="symmetric noise: excess / Theorem B bound")
    cc = data["class_conditional_ratio"]
    ax.semilogx([max(m, 0.1) * 1.3 for m, _ in cc], [q for _, q in cc], "^", ms=3, alpha=0.5, color="C3",
                label="class-conditional (condition holds): excess / O(1/(1+m)) bound")
    ax.axhline(1.0, color="k", lw=1)
    ax.set(xlabel="m (m = 0 drawn at 0.1)", ylabel="excess / bound", ylim=(-0.05, 1.15),
           title=f"(c) tightness, {k_text(data['symmetric_K'])} ({data['violations']} of {len(rows)} symmetric rows "
                 "above 1)")
    ax.legend(fontsize=6, loc="upper left")
    ax = axes[1, 1]
    for i, (name, d) in enumerate(data["class_conditional"].items()):
        m = np.maximum(d["m"], 1e-1)
        ax.loglog(m, np.maximum(d["max_excess"], FLOOR), "o-" if d["condition_holds"] else "x:", color=f"C{i}", ms=3,
                  label=name)
        if d.get("top_bound") and d["condition_holds"]:
            ax.loglog(m, np.maximum([b if b is not None else np.nan for b in d["top_bound"]], FLOOR), "--",
                      color=f"C{i}", lw=1, label=f"{name.split(' (')[0]}: its O(1/(1+m)) bound")
    ax.set(xlabel="m (m = 0 drawn at 0.1)", ylabel="max excess clean risk",
           title=f"(d) class-conditional noise, {k_text(data['class_conditional_K'])} (dashed: O(1/(1+m)) bound)")
    _mark_zero(ax)
    ax.legend(fontsize=5.5)
    fig.suptitle(f"Theorem B on exact finite problems: symmetric noise at {k_text(data['symmetric_K'])}, "
                 f"class-conditional at {k_text(data['class_conditional_K'])} (the claims' budget; --thorough adds K)",
                 y=1.0)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=7,
               title="panel (a)")
    return Output([ctx.save(fig, "theorem_b")], data)


FIGURE = Figure("theorem_b", "Theorem B: measured excess risk vs bound over η and m; class-conditional noise",
                build, claims=CLAIMS)
