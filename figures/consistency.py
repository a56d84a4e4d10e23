"""Figure 4: All-k consistency of every registered loss, and conditional-risk minimisers on the
2-simplex (K = 3) for CE, MAE, CE_ε and CE_ε+MAE.

The table is the claim ``consistency.table`` (minimisers by each loss's certified method; a
failing k carries its re-checked witness), written as ``consistency_table.md`` and drawn as a
coloured table. The simplex panels draw, for a grid of posteriors q with distinct entries, an
arrow from q to the global minimiser p* of C_q(p) = Σ_k q_k L(p, k) (:mod:`theory.minimise`).
"""

from __future__ import annotations

import numpy as np

from figures._common import Context, Figure, Output, plt
from proofs_check.claims.consistency import TableRow
from theory import losses
from theory.consistency import Grade, Notion
from theory.minimise import minimise_conditional_risk

CLAIM = "consistency.table"
SIMPLEX_LOSSES = {"CE": ("ce", {}), "MAE": ("mae", {}), "CE_ε (m=10)": ("ce_eps", {"m": 10.0}),
                  "CE_ε+MAE (α=0.1, β=1, m=1e4)": ("ce_eps+mae", {"alpha": 0.1, "beta": 1.0, "m": 1e4})}


def _colour(grade: Grade) -> str:
    """Green where the notion holds in full (All-k in the strict order; top-1 in the own-prediction
    notion, which asks nothing more), amber where it holds for some k only, red where not even top-1."""
    if grade in (Grade.ALL_K, Grade.TOP1):
        return "#4daf4a"
    if grade is Grade.NOT_TOP1:
        return "#e41a1c"
    return "#ffbf00"  # consistent for some k only (top-1 only, ...)


def _xy(P: np.ndarray) -> np.ndarray:
    """Barycentric (·, 3) → plane: vertices e0 (0, 0), e1 (1, 0), e2 (1/2, √3/2)."""
    P = np.asarray(P, dtype=float)
    return np.stack([P[:, 1] + P[:, 2] / 2, P[:, 2] * np.sqrt(3) / 2], axis=1)


def _grid(n: int = 7) -> np.ndarray:
    pts = [(i, j, n - i - j) for i in range(1, n) for j in range(1, n - i)]
    Q = np.array(pts, dtype=float) / n
    Q = Q + np.array([0.011, -0.004, -0.007])  # break ties so every q has distinct entries
    return Q[(Q > 0).all(1)]


def compute(ctx: Context) -> dict:
    result = ctx.claim(CLAIM)
    rows: list[TableRow] = result.data["rows"]
    Q = _grid()
    simplex = {}
    for label, (name, params) in SIMPLEX_LOSSES.items():
        mins = minimise_conditional_risk(losses.get(name, **params), Q)
        simplex[label] = {"q": Q.tolist(), "p_star": np.asarray(mins.p).tolist(), "method": mins.method.value,
                          "exact": bool(mins.exact)}
    return {"rows": rows, "markdown": result.data["markdown"], "simplex": simplex}


def build(ctx: Context) -> Output:
    data = compute(ctx)
    md = ctx.write_text("consistency_table.md", data["markdown"] + "\n")
    rows: list[TableRow] = data["rows"]
    Ks = sorted(rows[0].by_K)
    cols = [(K, n) for n in (Notion.STRICT, Notion.PREDICTION) for K in Ks]
    fig, ax = plt.subplots(figsize=(3.0 * len(cols) + 2.5, 0.28 * len(rows) + 1.2))
    for i, r in enumerate(rows):
        for j, (K, notion) in enumerate(cols):
            res = r.by_K[K].notion(notion)
            ax.add_patch(plt.Rectangle((j, i - 0.45), 0.98, 0.9, color=_colour(res.grade),
                                       alpha=0.5 if res.undecided else 1.0))
            ax.text(j + 0.03, i, res.label, va="center", fontsize=6)
    ax.set_xlim(0, len(cols))
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xticks(np.arange(len(cols)) + 0.5, [f"K={K}\n{n.value}" for K, n in cols], fontsize=7)
    ax.set_yticks(range(len(rows)), [r.label for r in rows], fontsize=7)
    ax.grid(False)
    ax.set_title("Consistency of the registered losses in two notions (faded: undecided positions)")
    key = [plt.Rectangle((0, 0), 1, 1, color=_colour(Grade.ALL_K),
                         label="holds in full: All-k (strict order), top-1 (own prediction asks only that)"),
           plt.Rectangle((0, 0), 1, 1, color=_colour(Grade.TOP1_ONLY),
                         label="strict order for some k only (top-1 only, top-k for k ∈ {…})"),
           plt.Rectangle((0, 0), 1, 1, color=_colour(Grade.NOT_TOP1), label="not even top-1"),
           plt.Rectangle((0, 0), 1, 1, color=_colour(Grade.TOP1_ONLY), alpha=0.5,
                         label="faded: some positions undecided")]
    ax.legend(handles=key, loc="upper center", bbox_to_anchor=(0.5, -0.6 / (0.28 * len(rows) + 1.2)), ncol=4,
              fontsize=7, frameon=False)
    table_png = ctx.save(fig, "consistency_table")

    fig, axes = plt.subplots(1, len(data["simplex"]), figsize=(3.2 * len(data["simplex"]), 3.2))
    corners = _xy(np.eye(3))
    for ax, (label, d) in zip(axes, data["simplex"].items()):
        ax.fill(*corners.T, color="#f4f4f4", zorder=0)
        q, p = _xy(d["q"]), _xy(d["p_star"])
        ax.quiver(q[:, 0], q[:, 1], p[:, 0] - q[:, 0], p[:, 1] - q[:, 1], angles="xy", scale_units="xy", scale=1,
                  width=0.006, color="C0", alpha=0.8)
        ax.plot(*q.T, "k.", ms=3)
        for k, (x, y) in enumerate(corners):
            ax.annotate(f"e{k}", (x, y), textcoords="offset points", xytext=(0, -10 if y == 0 else 3), ha="center", fontsize=8)
        ax.set(title=f"{label}\n{d['method']}", aspect="equal", xlim=(-0.08, 1.08), ylim=(-0.12, 0.95))
        ax.axis("off")
    fig.suptitle("Conditional-risk minimisers on the 2-simplex: arrows from q = P(y|x) to p* (K = 3)", y=1.04)
    simplex_png = ctx.save(fig, "simplex_minimisers")
    return Output([md, table_png, simplex_png], data)


FIGURE = Figure("consistency", "Consistency (strict order and own prediction) of every loss; minimisers on the 2-simplex",
                build, claims=(CLAIM,))
