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
from theory import losses
from theory.minimise import minimise_conditional_risk

CLAIM = "consistency.table"
SIMPLEX_LOSSES = {"CE": ("ce", {}), "MAE": ("mae", {}), "CE_ε (m=10)": ("ce_eps", {"m": 10.0}),
                  "CE_ε+MAE (α=0.1, β=1, m=1e4)": ("ce_eps+mae", {"alpha": 0.1, "beta": 1.0, "m": 1e4})}


def _colour(classification: str) -> str:
    if classification == "All-k":
        return "#4daf4a"
    if classification.startswith("not"):
        return "#e41a1c"
    return "#ffbf00"  # consistent for some k only (top-1 only, ...)


def _label(row: dict) -> str:
    params = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in row["params"].items())
    return f"{row['loss']} ({params})" if params else row["loss"]


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
    rows = ctx.claim(CLAIM).data["rows"]
    Q = _grid()
    simplex = {}
    for label, (name, params) in SIMPLEX_LOSSES.items():
        mins = minimise_conditional_risk(losses.get(name, **params), Q)
        simplex[label] = {"q": Q.tolist(), "p_star": np.asarray(mins.p).tolist(), "method": mins.method,
                          "exact": bool(mins.exact)}
    return {"rows": rows, "markdown": ctx.claim(CLAIM).data["markdown"], "simplex": simplex}


def build(ctx: Context) -> Output:
    data = compute(ctx)
    md = ctx.write_text("consistency_table.md", data["markdown"] + "\n")
    rows = data["rows"]
    fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(rows) + 1))
    for i, r in enumerate(rows):
        cls = r["classification"]
        ax.barh(i, 1, color=_colour(cls))
        ax.text(0.02, i, f"{cls}   ({r['method']}{'' if r['exact'] else ', not certified'})", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), [_label(r) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.grid(False)
    ax.set_title("All-k consistency of the registered losses (K = 3, 4)")
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


FIGURE = Figure("consistency", "All-k consistency table and K = 3 conditional-risk minimisers", build, claims=(CLAIM,))
