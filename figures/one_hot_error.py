"""Figure 1: the one-hot error of ε-softmax against m, measured and the P2 bound, for several K.

‖p_ε − e_t‖_∞ = (1 − p_t)/(1+m) ≤ (K−1)/(K(1+m)) (PAPER.md §2, P2). The measured curve is the
largest error over sampled p (Dirichlet draws, vertices and the centre, where the bound is met).
"""

from __future__ import annotations

import numpy as np

from figures._common import Context, Figure, Output, plt
from theory import eps_softmax

KS = (2, 10, 100)
MS = np.logspace(-2, 8, 41)


def compute(Ks=KS, ms=MS, n: int = 2000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {"m": list(map(float, ms)), "K": {}}
    for K in Ks:
        P = np.vstack([rng.dirichlet(np.full(K, a), size=n // 2) for a in (0.3, 3.0)] + [np.full((1, K), 1 / K), np.eye(K)])
        t = P.argmax(1)
        measured, identity_gap = [], 0.0
        for m in ms:
            Pe = np.asarray(eps_softmax(P, float(m)))
            err = np.abs(Pe - np.eye(K)[t]).max(1)
            identity_gap = max(identity_gap, float(np.abs(err - (1 - P[np.arange(len(P)), t]) / (1 + m)).max()))
            measured.append(float(err.max()))
        out["K"][K] = {"measured": measured, "bound": [(K - 1) / (K * (1 + m)) for m in ms], "identity_gap": identity_gap}
    return out


def build(ctx: Context) -> Output:
    data = compute()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for i, (K, d) in enumerate(data["K"].items()):
        color = f"C{i}"
        ax.loglog(data["m"], d["bound"], color=color, lw=1.5, label=f"K={K}: bound (K−1)/(K(1+m))")
        ax.loglog(data["m"][::3], d["measured"][::3], "o", color=color, ms=4, mfc="none", label=f"K={K}: measured max")
    ax.set(xlabel="m (ε-softmax mixing weight)", ylabel="‖p_ε − e_t‖∞ (max over sampled p)",
           title="ε-softmax one-hot error vs m")
    ax.legend(ncol=1, loc="lower left")
    return Output([ctx.save(fig, "one_hot_error")], data)


FIGURE = Figure("one_hot_error", "One-hot error of ε-softmax vs m (identity and bound)", build)
