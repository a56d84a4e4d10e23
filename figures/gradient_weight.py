"""Figure 5: the gradient weight w(p_y) of CE, MAE, CE_ε and CE_ε+MAE, with ∇_z L = w·(p − e_y).

Computed by autograd through each loss's torch path (the same definition the trainer uses) on
logits whose softmax has p_y on the x-axis: in the y = t regime the remaining mass is spread
evenly (p_y ≥ 1/K), in the y ≠ t regime one other class holds more than p_y. w = −∂L/∂z_y / (1 − p_y).
PAPER.md §3 gives the closed forms the test compares against. CIFAR-10 defaults: α 0.01, β 5, m 1e5.
"""

from __future__ import annotations

import numpy as np

from figures._common import Context, Figure, Output, plt
from theory import losses

K = 10
ALPHA, BETA, M = 0.01, 5.0, 1e5
FLOOR = 1e-12  # where exact zeros are drawn on the log axis
LOSSES = {"CE": ("ce", {}), "MAE": ("mae", {}), "CE_ε": ("ce_eps", {"m": M}),
          "CE_ε+MAE": ("ce_eps+mae", {"alpha": ALPHA, "beta": BETA, "m": M})}


def _probs(py: np.ndarray, regime: str) -> np.ndarray:
    P = np.zeros((py.size, K))
    P[:, 0] = py
    if regime == "y=t":
        P[:, 1:] = ((1 - py) / (K - 1))[:, None]
    else:  # class 1 holds the most: (1 − p_y)·0.9 > p_y for p_y < 0.45
        P[:, 1] = 0.9 * (1 - py)
        P[:, 2:] = (0.1 * (1 - py) / (K - 2))[:, None]
    return P


def compute() -> dict:
    import torch

    grids = {"y=t": np.linspace(1 / K + 1e-3, 0.999, 200), "y≠t": np.linspace(1e-3, 0.44, 200)}
    out = {"K": K, "alpha": ALPHA, "beta": BETA, "m": M, "regimes": {}}
    for regime, py in grids.items():
        z = torch.tensor(np.log(_probs(py, regime)), dtype=torch.float64, requires_grad=True)
        y = torch.zeros(py.size, dtype=torch.long)
        curves = {}
        for label, (name, params) in LOSSES.items():
            loss = losses.get(name, **params)
            (grad,) = torch.autograd.grad(loss.torch_value(z, y).sum(), z)
            curves[label] = (-grad[:, 0].numpy() / (1 - py)).tolist()
        out["regimes"][regime] = {"p_y": py.tolist(), "w": curves}
    return out


def build(ctx: Context) -> Output:
    data = compute()
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4), sharey=True)
    for ax, (regime, d) in zip(axes, data["regimes"].items()):
        for i, (label, w) in enumerate(d["w"].items()):
            # CE and CE_ε coincide (w = 1) where y ≠ t above the clamp: CE wide and pale beneath,
            # CE_ε dashed on top, so that both stay visible
            style = {"lw": 4.0, "alpha": 0.45, "zorder": 1} if label == "CE" else {"lw": 1.6, "zorder": 3}
            ax.semilogy(d["p_y"], np.maximum(w, FLOOR), color=f"C{i}", label=label,
                        ls="--" if label == "CE_ε" and regime == "y≠t" else "-", **style)
        if any(min(w) <= 0 for w in d["w"].values()):
            ax.axhline(FLOOR, color="0.5", lw=0.8, ls=":")
            ax.annotate("w = 0 exactly (CE_ε below its clamp; drawn at 1e-12)", xy=(0.03, FLOOR),
                        xycoords=("axes fraction", "data"), xytext=(0, 3), textcoords="offset points",
                        fontsize=6.5, color="0.3", va="bottom")
        ax.set(xlabel="p_y (softmax probability of the label)", title=f"{regime}" + (" (label is the argmax)" if regime == "y=t" else " (another class is the argmax)"))
    axes[0].set_ylabel("gradient weight w, ∇_z L = w (p − e_y)")
    axes[0].legend(title=f"α={ALPHA}, β={BETA}, m={M:g}")
    fig.suptitle(f"Gradient weights, K={K}", y=1.02)
    return Output([ctx.save(fig, "gradient_weight")], data)


FIGURE = Figure("gradient_weight", "Gradient weight w(p_y) of CE, MAE, CE_ε, CE_ε+MAE in both regimes", build)
