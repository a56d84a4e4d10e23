"""The catalogue: robust (and not so robust) losses of the noisy-label literature beyond the paper's.

Each is written once over an array namespace, from its paper's equation, with the defaults its
paper states (where a paper tunes a parameter per data set, the CIFAR-10 value, and the entry says
so). Every entry is in group "literature" (:func:`theory.losses.names`), so the paper's claims keep
covering exactly the paper's losses; ``python -m theory.checks --catalogue`` checks them all and
sets each verdict beside the property its literature states (:mod:`theory.checks.catalogue`).

Conventions as in :mod:`theory.losses._definitions`: ``pred.p`` probabilities (..., K),
``pred.logp`` their logs (a stable log-softmax when built from logits), ``y`` integer labels,
``xp.detach`` the stop-gradient sg(·). ``p log p`` is evaluated as ``p·log max(p, 1e-30)`` (0 at
p = 0; the floor is representable in float32 and bfloat16).
"""

from __future__ import annotations

import math

import numpy as np

from theory.losses import _definitions  # noqa: F401  (the paper's losses come first in the registry)
from theory.losses._domains import NON_NEGATIVE, POSITIVE, WEIGHT, Interval
from theory.losses._kinds import Curvature, Input, Structure
from theory.losses._registry import get, register, register_composite

#: p·log p is evaluated as p·log max(p, XLOGX_FLOOR): exact to |p log p| < 7e-29 below it
XLOGX_FLOOR = 1e-30
#: ANL's probability floor: p is clamped to [p_min, 1] so that −log p ≤ A = −log p_min
ANL_PMIN = 1e-7
#: LogitNorm's ε in z/(τ(‖z‖₂ + ε)) (Wei et al.'s code)
LOGITNORM_EPS = 1e-7

UNIT_OPEN = Interval(0.0, 1.0, lo_open=True, hi_open=True)
#: ANL's floor must leave some class above it, or Σ_k (A + log p̃_k) is 0 and NNCE is 0/0: the largest
#: probability is ≥ 1/K, so a floor ≤ 1e-3 serves every K ≤ 1000
ANL_FLOOR = Interval(0.0, 1e-3, lo_open=True)
#: NGCE's q: as q → 0 both 1 − p_y^q and K − Σ_k p_k^q vanish (0/0 in float64 below ≈ 1e-16), so q ≥ 1e-3
NGCE_Q = Interval(1e-3, 1.0)
#: JS's π₁: its closed form cancels to noise as π₁ → 0 (KL(p ‖ m) and the scale Z both vanish)
JS_PI1 = Interval(1e-6, 1 - 1e-6)


def _xlogx(xp, p):
    return p * xp.log(xp.maximum(p, XLOGX_FLOOR))


def _ce_and_uniform(xp, pred, y, own, uniform):
    """own·(−log p_y) + uniform·(1/K) Σ_k (−log p_k): label smoothing, negative label smoothing and
    CORES are this with different weights (CE against a target mixing e_y with the uniform one)."""
    logp = pred.logp
    return -own * xp.take(logp, y, axis=-1) - uniform * xp.mean(logp, axis=-1)


# ----------------------------------------------------------------------------------------------
# Normalised losses and their negative forms (APL, Ma et al. 2020; ANL, Ye et al. 2023)


@register(
    "ngce", broadcasts=True, group="literature",
    formula="(1 − p_y^q) / (K − Σ_k p_k^q)",
    source="Ma et al., ICML 2020 (normalized loss functions, NGCE, eq. 6 with GCE); q = 0.7",
    domains={"q": NGCE_Q},
)
def normalized_gce(xp, pred, y, *, q=0.7):
    pq = pred.p ** q
    return (1 - xp.take(pq, y, axis=-1)) / (pred.K - xp.sum(pq, axis=-1))


@register(
    "nnce", broadcasts=True, group="literature",
    formula="1 − (A + log p̃_y) / Σ_k (A + log p̃_k), p̃ = max(p, p_min), A = −log p_min",
    source="Ye et al., NeurIPS 2023 (active negative loss, normalized negative CE, eq. 11); p_min = 1e-7",
    conventions="p clamped from below at p_min before the logs, so every A + log p̃_k ∈ [0, A]",
    domains={"p_min": ANL_FLOOR},
)
def normalized_negative_ce(xp, pred, y, *, p_min=ANL_PMIN):
    A = -math.log(p_min)
    v = A + xp.log(xp.maximum(pred.p, p_min))  # A − CE(p̃, k) ≥ 0
    return 1 - xp.take(v, y, axis=-1) / xp.sum(v, axis=-1)


@register(
    "nnfl", broadcasts=True, group="literature",
    formula="1 − (A − FL(p̃, y)) / Σ_k (A − FL(p̃, k)), FL(p̃, k) = −(1 − sg(p̃_k))^γ log p̃_k, A = −(1 − p_min)^γ log p_min",
    source="Ye et al., NeurIPS 2023 (normalized negative focal loss); γ = 0.5, p_min = 1e-7",
    conventions="the focal factor is detached as in this package's FL and NFL; p clamped at p_min",
    domains={"gamma": NON_NEGATIVE, "p_min": ANL_FLOOR},
)
def normalized_negative_fl(xp, pred, y, *, gamma=0.5, p_min=ANL_PMIN):
    A = -((1 - p_min) ** gamma) * math.log(p_min)
    pt = xp.maximum(pred.p, p_min)
    v = A + (1 - xp.detach(pt)) ** gamma * xp.log(pt)
    return 1 - xp.take(v, y, axis=-1) / xp.sum(v, axis=-1)


# ----------------------------------------------------------------------------------------------
# Bounded losses of p_y


@register(
    "js", broadcasts=True, group="literature",
    formula="[π₁·KL(e_y ‖ m) + (1 − π₁)·KL(p ‖ m)] / Z, m = π₁e_y + (1 − π₁)p, Z = −(1 − π₁) log(1 − π₁)",
    source="Englesson & Azizpour, NeurIPS 2021 (Jensen–Shannon divergence loss, eq. 3); π₁ = 0.5 (tuned per setting "
           "in the paper)",
    conventions="KL(p ‖ m) in closed form: (1 − p_y)(−log(1 − π₁)) + p_y log p_y − p_y log m_y; the scale Z makes "
                "it 1 at p = e_k, k ≠ y; π₁ → 0 tends to CE/Z-like, π₁ → 1 to MAE/2",
    structure=Structure.POINTWISE,
    domains={"pi1": JS_PI1},
)
def jensen_shannon(xp, pred, y, *, pi1=0.5):
    py = pred.py(y)
    log_my = xp.log(pi1 + (1 - pi1) * py)
    kl_p = (1 - py) * (-math.log1p(-pi1)) + _xlogx(xp, py) - py * log_my
    return (pi1 * (-log_my) + (1 - pi1) * kl_p) / (-(1 - pi1) * math.log1p(-pi1))


@register(
    "taylor_ce", broadcasts=True, group="literature",
    formula="Σ_{k=1}^{t} (1 − p_y)^k / k",
    source="Feng et al., IJCAI 2020 (can cross entropy loss be robust to label noise?, Taylor CE, eq. 5); t = 2",
    conventions="the order-t Taylor expansion of −log p_y around p_y = 1; t = 1 is MAE/2",
    structure=Structure.POINTWISE, curvature=Curvature.CONVEX,
    domains={"t": Interval(1.0, 100.0)},
)
def taylor_ce(xp, pred, y, *, t=2):
    u = 1 - pred.py(y)
    total = 0
    for k in range(1, int(t) + 1):
        total = total + u ** k / k
    return total


@register(
    "phuber_ce", broadcasts=True, group="literature",
    formula="−τ p_y + log τ + 1 if p_y ≤ 1/τ, else −log p_y",
    source="Menon et al., ICLR 2020 (can gradient clipping mitigate label noise?, partially Huberised CE, eq. 7); τ = 10",
    conventions="written as −log max(p_y, 1/τ) − τ(p_y − max(p_y, 1/τ)), so every namespace takes one branch-free path",
    structure=Structure.POINTWISE, curvature=Curvature.CONVEX,
    domains={"tau": Interval(1.0, lo_open=True)},
)
def phuber_ce(xp, pred, y, *, tau=10.0):
    py = pred.py(y)
    v = xp.maximum(py, 1.0 / tau)
    return -xp.log(v) - tau * (py - v)


@register(
    "tgce", broadcasts=True, group="literature",
    formula="(1 − max(p_y, k)^q) / q",
    source="Zhang & Sabuncu, NeurIPS 2018 (truncated L_q loss, eq. 9); q = 0.7, k = 0.5",
    conventions="constant (1 − k^q)/q below p_y = k: GCE with its clamp raised to k",
    structure=Structure.POINTWISE,
    breaks=lambda params: (params["k"],),
    domains={"q": Interval(0.0, 1.0, lo_open=True), "k": UNIT_OPEN},
)
def truncated_gce(xp, pred, y, *, q=0.7, k=0.5):
    return (1 - xp.maximum(pred.py(y), k) ** q) / q


@register(
    "poly1", broadcasts=True, group="literature",
    formula="−log p_y + ε(1 − p_y)",
    source="Leng et al., ICLR 2022 (PolyLoss, Poly-1 CE, eq. 3); ε = 2 (the paper's ImageNet value)",
    structure=Structure.POINTWISE, curvature=Curvature.CONVEX,  # −log u is convex, ε(1 − u) linear
    domains={"epsilon": Interval(-1.0)},
)
def poly1_ce(xp, pred, y, *, epsilon=2.0):
    return -xp.take(pred.logp, y, axis=-1) + epsilon * (1 - pred.py(y))


@register(
    "poly1_focal", broadcasts=True, group="literature",
    formula="−(1 − p_y)^γ log p_y + ε(1 − p_y)^{γ+1}",
    source="Leng et al., ICLR 2022 (PolyLoss, Poly-1 focal, eq. 4); γ = 2, ε = 1",
    conventions="Lin et al.'s focal loss, not detached (unlike this package's FL, which follows the ε-softmax "
                "reference)",
    structure=Structure.POINTWISE,
    domains={"gamma": NON_NEGATIVE, "epsilon": Interval(-1.0)},
)
def poly1_focal(xp, pred, y, *, gamma=2.0, epsilon=1.0):
    u = 1 - pred.py(y)
    return -(u ** gamma) * xp.take(pred.logp, y, axis=-1) + epsilon * u ** (gamma + 1)


# ----------------------------------------------------------------------------------------------
# Scoring rules and the 0-1 loss


@register(
    "brier", broadcasts=True, group="literature",
    formula="Σ_k (p_k − 1[k = y])²",
    source="Brier, Monthly Weather Review 1950 (the Brier score; bounded: Ghosh et al., AAAI 2017)",
    conventions="K times this package's MSE",
    bayes=lambda q, **_: np.array(q, dtype=np.float64, copy=True),
)
def brier(xp, pred, y):
    p = pred.p
    return xp.sum((p - xp.one_hot(y, like=p, axis=-1)) ** 2, axis=-1)


@register(
    "spherical", broadcasts=True, group="literature",
    formula="1 − p_y / ‖p‖₂",
    source="Gneiting & Raftery, JASA 2007 (the spherical score, a strictly proper scoring rule), as a loss in [0, 1)",
    bayes=lambda q, **_: np.array(q, dtype=np.float64, copy=True),
)
def spherical(xp, pred, y):
    p = pred.p
    return 1 - xp.take(p, y, axis=-1) / xp.norm(p, axis=-1)


@register(
    "zero_one", broadcasts=True, group="literature",
    formula="1[argmax p ≠ y] (first index on ties)",
    source="the 0-1 loss (symmetric: Ghosh, Kumar, Sastry, AAAI 2017; Manwani & Sastry 2013)",
    conventions="piecewise constant: its gradient is 0 wherever it exists, so it cannot be trained by descent",
)
def zero_one(xp, pred, y):
    p = pred.p
    return 1 - xp.take(xp.one_hot(xp.argmax(p, axis=-1), like=p, axis=-1), y, axis=-1)


# ----------------------------------------------------------------------------------------------
# Label smoothing, confidence regularisers, bootstrapping


@register(
    "label_smoothing", broadcasts=True, group="literature",
    formula="(1 − ε)(−log p_y) + ε·(1/K) Σ_k (−log p_k)",
    source="Szegedy et al., CVPR 2016 (label smoothing); as a remedy for noise: Lukasik et al., ICML 2020; ε = 0.1",
    domains={"epsilon": Interval(0.0, 1.0, hi_open=True)},
)
def label_smoothing(xp, pred, y, *, epsilon=0.1):
    return _ce_and_uniform(xp, pred, y, 1 - epsilon, epsilon)


@register(
    "nls", broadcasts=True, group="literature",
    formula="(1 − r)(−log p_y) + r·(1/K) Σ_k (−log p_k), r < 0",
    source="Wei et al., ICML 2022 (to smooth or not? negative label smoothing); r = −0.2",
    conventions="label smoothing with a negative rate: it rewards −log p_k of the other classes, so it takes "
                "negative values",
    domains={"r": Interval(-10.0, 0.0, hi_open=True)},
)
def negative_label_smoothing(xp, pred, y, *, r=-0.2):
    return _ce_and_uniform(xp, pred, y, 1 - r, r)


@register(
    "cores", broadcasts=True, group="literature",
    formula="−log p_y − β·(1/K) Σ_k (−log p_k)",
    source="Cheng et al., ICLR 2021 (CORES², confidence regularisation, eq. 3, uniform noisy prior); β = 2",
    conventions="the regulariser is E_{Ỹ ~ uniform}[CE(p, Ỹ)] subtracted, as in the paper; it takes negative values",
    domains={"beta": NON_NEGATIVE},
)
def cores(xp, pred, y, *, beta=2.0):
    return _ce_and_uniform(xp, pred, y, 1, -beta)


@register(
    "confidence_penalty", broadcasts=True, group="literature",
    formula="−log p_y − β·H(p), H(p) = −Σ_k p_k log p_k",
    source="Pereyra et al., ICLR workshop 2017 (confidence penalty, eq. 2); β = 0.1",
    conventions="p log p as p·log max(p, 1e-30); it takes negative values near a vertex",
    domains={"beta": NON_NEGATIVE},
)
def confidence_penalty(xp, pred, y, *, beta=0.1):
    return -xp.take(pred.logp, y, axis=-1) + beta * xp.sum(_xlogx(xp, pred.p), axis=-1)


@register(
    "bootstrap_soft", broadcasts=True, group="literature",
    formula="−Σ_k [β 1[k = y] + (1 − β) sg(p_k)] log p_k",
    source="Reed et al., ICLR workshop 2015 (soft bootstrapping, eq. 6); β = 0.95",
    conventions="the model's own prediction in the target is detached (a target, not a term to minimise)",
    domains={"beta": Interval(0.0, 1.0)},
)
def bootstrap_soft(xp, pred, y, *, beta=0.95):
    logp = pred.logp
    return -beta * xp.take(logp, y, axis=-1) - (1 - beta) * xp.sum(xp.detach(pred.p) * logp, axis=-1)


@register(
    "bootstrap_hard", broadcasts=True, group="literature",
    formula="−β log p_y − (1 − β) log p_t, t = argmax p",
    source="Reed et al., ICLR workshop 2015 (hard bootstrapping, eq. 7); β = 0.8",
    conventions="t is the first-index argmax, an index (no gradient)",
    domains={"beta": Interval(0.0, 1.0)},
)
def bootstrap_hard(xp, pred, y, *, beta=0.8):
    logp = pred.logp
    t = xp.argmax(pred.p, axis=-1)
    return -beta * xp.take(logp, y, axis=-1) - (1 - beta) * xp.take(logp, t, axis=-1)


# ----------------------------------------------------------------------------------------------
# Losses of the logits


@register(
    "logitnorm", broadcasts=True, group="literature",
    formula="−log softmax(z / (τ(‖z‖₂ + 1e-7)))_y",
    source="Wei et al., ICML 2022 (mitigating neural network overconfidence with logit normalization, eq. 5); τ = 0.04",
    input=Input.LOGITS,
    domains={"tau": POSITIVE},
)
def logitnorm(xp, pred, y, *, tau=0.04):
    z = pred.z
    zn = z / (tau * (xp.expand(xp.norm(z, axis=-1), axis=-1) + LOGITNORM_EPS))
    return -xp.take(xp.log_softmax(zn, axis=-1), y, axis=-1)


@register(
    "ova_bce", broadcasts=True, group="literature",
    formula="−log σ(z_y) − Σ_{k≠y} log(1 − σ(z_k)) = Σ_k softplus(z_k) − z_y",
    source="one-vs-all binary cross-entropy (sigmoid loss; e.g. Wightman et al. 2021, 'ResNet strikes back')",
    input=Input.LOGITS,
)
def ova_bce(xp, pred, y):
    z = pred.z
    return xp.sum(xp.softplus(z), axis=-1) - xp.take(z, y, axis=-1)


@register(
    "cs_hinge", broadcasts=True, group="literature",
    formula="max(0, 1 + max_{k≠y} z_k − z_y)",
    source="Crammer & Singer, JMLR 2001 (multiclass hinge loss); unbounded along logit rays, so not noise-tolerant "
           "(Ghosh, Kumar, Sastry, AAAI 2017)",
    input=Input.LOGITS,
)
def crammer_singer_hinge(xp, pred, y):
    z = pred.z
    others = xp.where(xp.one_hot(y, like=z, axis=-1) > 0, z - np.inf, z)
    return xp.maximum(1 + xp.amax(others, axis=-1) - xp.take(z, y, axis=-1), 0.0)


# ----------------------------------------------------------------------------------------------
# Combinations of the APL and ANL papers


register_composite(
    "ngce+mae", lambda alpha=1.0, beta=1.0, q=0.7: alpha * get("ngce", q=q) + beta * get("mae", scale=1.0),
    formula="α·NGCE + β·(1 − p_y)", source="Ma et al., ICML 2020 (active-passive losses); (α, β) = (1, 1) on CIFAR-10",
    conventions="MAE without the factor 2, as in the APL code", group="literature",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "q": NGCE_Q},
)
register_composite(
    "ngce+rce", lambda alpha=1.0, beta=1.0, q=0.7: alpha * get("ngce", q=q) + beta * get("rce"),
    formula="α·NGCE + β·RCE", source="Ma et al., ICML 2020 (active-passive losses); (α, β) = (1, 1) on CIFAR-10",
    group="literature", domains={"alpha": WEIGHT, "beta": WEIGHT, "q": NGCE_Q},
)
register_composite(
    "anl_ce", lambda alpha=5.0, beta=5.0: alpha * get("nce") + beta * get("nnce"),
    formula="α·NCE + β·NNCE", source="Ye et al., NeurIPS 2023 (ANL-CE, eq. 12); (α, β) = (5, 5) on CIFAR-10",
    conventions="the paper's L1 weight decay belongs to training, not to the loss", group="literature",
    domains={"alpha": WEIGHT, "beta": WEIGHT},
)
register_composite(
    "anl_fl", lambda alpha=5.0, beta=5.0, gamma=0.5: alpha * get("nfl", gamma=gamma) + beta * get("nnfl", gamma=gamma),
    formula="α·NFL + β·NNFL", source="Ye et al., NeurIPS 2023 (ANL-FL); (α, β) = (5, 5), γ = 0.5 on CIFAR-10",
    conventions="the paper's L1 weight decay belongs to training, not to the loss", group="literature",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "gamma": NON_NEGATIVE},
)
