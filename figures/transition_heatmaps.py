"""Figure 6: transition matrices T[i, j] = P(noisy = j | clean = i) as heatmaps.

The synthetic models of :mod:`theory.noise` (symmetric 0.4, CIFAR-10 pairs 0.4, the first 20 classes
of CIFAR-100's index blocks at 0.4) and, when the shared CIFAR-10N file is present, the empirical
matrices of its aggre, rand1 and worst label sets (read with the restricted unpickler).
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from figures._common import Context, Figure, Output, plt
from theory import noise

HUMAN = {"CIFAR-10N aggre": "aggre_label", "CIFAR-10N rand1": "random_label1", "CIFAR-10N worst": "worse_label"}


def compute(shared=None) -> dict:
    mats = {"symmetric η=0.4 (K=10)": noise.symmetric(10, 0.4),
            "CIFAR-10 pairs η=0.4": noise.cifar10_asymmetric(0.4),
            "CIFAR-100 blocks η=0.4 (classes 0–19)": noise.cifar100_blocks(0.4)[:20, :20]}
    skipped = None
    path = None if shared is None else shared / "cifar-n" / "CIFAR-10_human.pt"
    if path is not None and path.is_file():
        from empirical.safe_pickle import load_torch_zip

        labels = load_torch_zip(path)
        for title, key in HUMAN.items():
            T = noise.empirical_transition(labels["clean_label"], labels[key], 10)
            mats[f"{title} ({100 * noise.actual_rate(labels['clean_label'], labels[key]):.1f} % noisy)"] = T
    else:
        skipped = f"CIFAR-10N matrices skipped: {path or 'no shared data folder'} not found"
    return {"matrices": {k: np.asarray(v).tolist() for k, v in mats.items()}, "skipped": skipped}


def build(ctx: Context) -> Output:
    data = compute(ctx.shared)
    mats = data["matrices"]
    cols = 3
    rows = -(-len(mats) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.6 * rows), squeeze=False)
    for ax, (title, T) in zip(axes.flat, mats.items()):
        T = np.asarray(T)
        im = ax.imshow(T, cmap="viridis", vmin=0, vmax=1)
        ax.set(title=title, xlabel="noisy label j", ylabel="clean label i")
        for axis in (ax.xaxis, ax.yaxis):  # classes are integers
            axis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(False)
        if T.shape[0] <= 10:
            for (i, j), v in np.ndenumerate(T):
                if v >= 0.005:
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=5.5, color="w" if v < 0.6 else "k")
    for ax in axes.flat[len(mats):]:
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.6, label="T[i, j] = P(noisy = j | clean = i)")
    return Output([ctx.save(fig, "transition_heatmaps")], data)


FIGURE = Figure("transition_heatmaps", "Transition-matrix heatmaps (synthetic models and CIFAR-10N)", build)
