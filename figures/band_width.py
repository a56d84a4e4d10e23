"""Figure 2: band width of Σ_k L(p_ε, k) against m for each loss, measured and Lemma A's bound.

Measured: max − min of the sum over sampled p on the simplex (K = 10; Dirichlet draws, the
vertices and the centre), a lower estimate of the true width. Bound: for ℓ λ-Lipschitz on [c, 1],
Lemma A gives |Σ_k ℓ(p_ε(k)) − C₀| ≤ 2λ(K−1)/(K(1+m)), so the width is at most twice that; λ is
max |ℓ'| on a 10⁵-point grid. For CE_ε (clamp c = 1e-8) the CE_ε band (Lemma A's companion) is used instead.
A width below 3e-10 (MAE's: Σ_k L is constant, so only rounding remains) is drawn on a marked floor line
inside the axis.
"""

from __future__ import annotations

import math

import numpy as np

from figures._common import Context, Figure, Output, plt
from theory import losses
from theory.excess import loss_sums
from theory.losses import with_eps_softmax
from theory.softmax import PAPER_CLAMP

K = 10
MS = np.logspace(-1, 9, 31)
LIPSCHITZ_LOSSES = ("mae", "ael", "agce", "gce")
CLAMP = PAPER_CLAMP  # the reference's clamp, as the paper's losses use it
#: the log axis starts at BOTTOM; a measured width below FLOOR_LINE (MAE's: Σ_k L is constant, so its
#: measured width is float rounding, ~1e-14, or 0) is drawn on that marked line just above the bottom
BOTTOM, FLOOR_LINE = 1e-10, 3e-10


def _lipschitz(loss, K: int, lo: float) -> float:
    u = np.linspace(lo, 1.0, 100_001)
    P = np.zeros((u.size, K))
    P[:, 0] = u
    P[:, 1:] = ((1 - u) / (K - 1))[:, None]
    v = loss(P, np.zeros(u.size, dtype=int))
    return float(np.max(np.abs(np.diff(v) / np.diff(u))))


def _ce_band(K: int, m: float, c: float = CLAMP) -> float:
    lower = (K - 1) * min(math.log1p(m) + math.log(K / (K - 1)), -math.log(c))
    upper = -math.log((1 / K + m) / (1 + m)) + (K - 1) * (-math.log(c))
    return upper - lower


def compute(ms=MS, n: int = 3000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    P = np.vstack([rng.dirichlet(np.full(K, a), size=n // 3) for a in (0.1, 1.0, 10.0)] + [np.eye(K), np.full((1, K), 1 / K)])
    out = {"m": list(map(float, ms)), "K": K, "losses": {}}
    for name in LIPSCHITZ_LOSSES:
        base = losses.get(name)
        lam = _lipschitz(base, K, base.params["clamp"] if name == "gce" else 0.0)
        widths = []
        for m in ms:
            s = loss_sums(with_eps_softmax(base, float(m), clamp=0.0), P)
            widths.append(float(s.max() - s.min()))
        out["losses"][f"{name}_ε"] = {"lambda": lam, "measured": widths,
                                      "bound": [4 * lam * (K - 1) / (K * (1 + m)) for m in ms]}
    widths = []
    for m in ms:
        s = loss_sums(losses.get("ce_eps", m=float(m), clamp=CLAMP), P)
        widths.append(float(s.max() - s.min()))
    out["losses"]["ce_ε (c=1e-8)"] = {"lambda": None, "measured": widths, "bound": [_ce_band(K, m) for m in ms]}
    return out


def build(ctx: Context) -> Output:
    data = compute()
    fig, ax = plt.subplots(figsize=(8.5, 4))
    for i, (name, d) in enumerate(data["losses"].items()):
        color = f"C{i}"
        lam = f", λ={d['lambda']:.3g}" if d["lambda"] is not None else ""
        ax.loglog(data["m"], d["bound"], color=color, lw=1.3, label=f"{name}: bound{lam}")
        measured = np.asarray(d["measured"])
        low = measured < FLOOR_LINE
        label = f"{name}: measured" + (f" (all ≤ {measured.max():.1g}: on the floor line)" if low.all() else "")
        ax.loglog(data["m"][::2], np.maximum(measured, FLOOR_LINE)[::2], "o", color=color, ms=3.5, mfc="none",
                  label=label)
    ax.axhline(FLOOR_LINE, color="0.5", lw=0.8, ls=":")
    ax.annotate(f"widths below {FLOOR_LINE:g} (float rounding, or 0) are drawn on this line", xy=(0.99, FLOOR_LINE),
                xycoords=("axes fraction", "data"), xytext=(0, 3), textcoords="offset points", fontsize=6.5,
                color="0.3", ha="right", va="bottom")
    ax.set(xlabel="m", ylabel="width of Σ_k L(p_ε, k) over the simplex", ylim=(BOTTOM, None),
           title=f"Lemma A: band width vs m (K={data['K']}; CE_ε's band uses the clamp)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # off the data
    return Output([ctx.save(fig, "band_width")], data)


FIGURE = Figure("band_width", "Band width of Σ_k L(p_ε, k) vs m per loss (measured and Lemma A)", build)
