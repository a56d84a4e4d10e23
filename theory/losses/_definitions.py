"""Every loss of PAPER.md §3, each written once over an array namespace.

Conventions shared by all entries: ``pred.p`` holds probabilities (..., K), ``pred.logp`` their
logs (a stable log-softmax when built from logits), ``y`` integer labels (...). Values are
per example; reductions happen in the caller. ``xp.detach`` is the stop-gradient sg(·).
"""

from __future__ import annotations

import numpy as np

from theory.losses._core import with_eps_softmax
from theory.losses._domains import CLAMP, NON_NEGATIVE, POSITIVE, WEIGHT, Interval, OneOf
from theory.losses._kinds import Curvature, Input, Structure
from theory.losses._registry import get, register, register_composite
from theory.softmax import PAPER_CLAMP

# ----------------------------------------------------------------------------------------------
# Closed-form conditional-risk minimisers (argmin_p Σ_k q_k L(p, k), q on the simplex).


def _bayes_identity(q, **_):
    """Strictly proper losses (CE, MSE): the minimiser is q itself."""
    return np.array(q, dtype=np.float64, copy=True)


def _bayes_rce(q, *, clamp, **_):
    """RCE = A Σ_{k≠y} max(p_k, c): every coordinate costs A(1−q_k)·c up to c for free, then
    A(1−q_k) per unit, so fill all coordinates to c and the rest on argmax q (needs K c <= 1)."""
    q = np.asarray(q, dtype=np.float64)
    K = q.shape[-1]
    if K * clamp > 1:
        raise ValueError(f"RCE closed form needs K*clamp <= 1, got K={K}, clamp={clamp}")
    p = np.full_like(q, clamp)
    np.put_along_axis(p, np.argmax(q, axis=-1)[..., None], 1 - (K - 1) * clamp, axis=-1)
    return p


def _convex_if(param, lo, hi, otherwise):
    return lambda params: Curvature.CONVEX if lo <= params[param] <= hi else otherwise


# ----------------------------------------------------------------------------------------------
# Atoms


@register(
    "ce", group="paper",
    broadcasts=True,
    formula="−log p_y",
    source="standard cross-entropy",
    conventions="unbounded: +inf at p_y = 0 on probability input; stable log-softmax on logits",
    structure=Structure.POINTWISE,
    curvature=Curvature.CONVEX,
    bayes=_bayes_identity,
)
def cross_entropy(xp, pred, y):
    return -xp.take(pred.logp, y, axis=-1)


@register(
    "fl", group="paper",
    broadcasts=True,
    formula="−(1 − sg(p_y))^γ log p_y",
    source="Lin et al., ICCV 2017 (focal loss); γ = 0.5 as in the paper's baselines",
    conventions="the modulating factor (1 − p_y)^γ is detached (no gradient)",
    structure=Structure.POINTWISE,
    curvature=_convex_if("gamma", 0.0, 1.0, None),
    aliases=("focal",),
    domains={"gamma": NON_NEGATIVE},
)
def focal(xp, pred, y, *, gamma=0.5):
    py = pred.py(y)
    return -((1 - xp.detach(py)) ** gamma) * xp.take(pred.logp, y, axis=-1)


@register(
    "mae", group="paper",
    broadcasts=True,
    formula="s·(1 − p_y), s = 2 (= ‖p − e_y‖₁)",
    source="Ghosh, Kumar, Sastry, AAAI 2017; scale 2 as in the ε-softmax reference",
    conventions="scale 2 by default; NCE+MAE / NFL+MAE use scale 1 as the reference does",
    structure=Structure.POINTWISE,
    curvature=Curvature.LINEAR,
    domains={"scale": POSITIVE},
)
def mean_absolute_error(xp, pred, y, *, scale=2.0):
    return scale * (1 - pred.py(y))


@register(
    "mse", group="paper",
    broadcasts=True,
    formula="(1/K) Σ_k (p_k − 1[k = y])²",
    source="mean squared error on probabilities (Brier score / K)",
    bayes=_bayes_identity,
)
def mean_squared_error(xp, pred, y):
    p = pred.p
    return xp.sum((p - xp.one_hot(y, like=p, axis=-1)) ** 2, axis=-1) / p.shape[-1]


@register(
    "gce", group="paper",
    broadcasts=True,
    formula="(1 − max(p_y, c)^q) / q",
    source="Zhang & Sabuncu, NeurIPS 2018; q = 0.7",
    conventions="p_y clamped from below at c = 1e-8, the reference's one global constant (APL's original code "
    "used 1e-7: pass clamp=1e-7 to reproduce it)",
    structure=Structure.POINTWISE,
    # φ is convex on [c, 1] for 0 < q <= 1 but flat below the clamp c, so it is declared convex
    # (and minimised exactly by KKT) only when the clamp is off; otherwise convex in two pieces.
    curvature=lambda params: Curvature.CONVEX if 0 < params["q"] <= 1 and params["clamp"] == 0 else None,
    breaks=lambda params: (params["clamp"],) if 0 < params["q"] <= 1 else None,
    domains={"q": Interval(0.0, 1.0, lo_open=True), "clamp": CLAMP},  # q ∈ (0, 1] as in the GCE paper
)
def generalized_ce(xp, pred, y, *, q=0.7, clamp=PAPER_CLAMP):
    return (1 - xp.maximum(pred.py(y), clamp) ** q) / q


@register(
    "rce", group="paper",
    broadcasts=True,
    formula="−Σ_k max(p_k, c) log max(e_y, c_y)_k = A Σ_{k≠y} max(p_k, c), A = −log c_y",
    source="Wang et al., ICCV 2019 (symmetric cross-entropy); c_y = 1e-4",
    conventions="p clamped at c = 1e-8 (the reference's constant; APL's code used 1e-7) before the sum, so "
    "Σ_k p̃_k can exceed 1 by < K·c (exactly A(1 − p_y) when no p_k < c); evaluated as A·(Σ_k p̃_k − p̃_y) "
    "(the label's own term is p̃_y·log 1 = 0 for c_y ≤ 1), O(K) per label, to within A·K·ε_machine of the "
    "reference's sum; c_y must lie in (0, 1]",
    bayes=_bayes_rce,
    domains={"clamp": CLAMP, "label_clamp": Interval(0.0, 1.0, lo_open=True)},
)
def reverse_ce(xp, pred, y, *, clamp=PAPER_CLAMP, label_clamp=1e-4):
    p = xp.maximum(pred.p, clamp)
    others = xp.sum(p, axis=-1) - xp.take(p, y, axis=-1)  # Σ_{k≠y} max(p_k, c)
    return -xp.log(xp.asarray(label_clamp, like=p)) * others


@register(
    "nce", group="paper",
    broadcasts=True,
    formula="(−log p_y) / Σ_k (−log p_k)",
    source="Ma et al., ICML 2020 (normalized loss functions)",
    conventions="fully differentiable (numerator and normaliser); undefined (NaN) at a vertex on "
    "probability input, where numerator and normaliser are both infinite",
    structure=Structure.NORMALISED,
)
def normalized_ce(xp, pred, y):
    return xp.take(pred.logp, y, axis=-1) / xp.sum(pred.logp, axis=-1)


@register(
    "nfl", group="paper",
    broadcasts=True,
    formula="[−(1 − sg(p_y))^γ log p_y] / Σ_k −(1 − sg(p_k))^γ log p_k",
    source="Ma et al., ICML 2020; γ = 0.5",
    conventions="only the modulating factors (1 − p)^γ are detached, as in the reference; the log p_k of the "
    "normaliser carry gradient",
    structure=Structure.NORMALISED,
    domains={"gamma": NON_NEGATIVE},
)
def normalized_focal(xp, pred, y, *, gamma=0.5):
    p, logp = pred.p, pred.logp
    py = xp.take(p, y, axis=-1)
    numerator = -((1 - xp.detach(py)) ** gamma) * xp.take(logp, y, axis=-1)
    normaliser = xp.sum(-((1 - xp.detach(p)) ** gamma) * logp, axis=-1)
    return numerator / normaliser


@register(
    "agce", group="paper",
    broadcasts=True,
    formula="[(a + 1)^q − (a + p_y)^q] / q",
    source="Zhou et al., ICCV 2021 (asymmetric loss functions); a = 6, q = 1.5 (CIFAR-10)",
    structure=Structure.POINTWISE,
    curvature=lambda params: Curvature.CONCAVE if params["q"] >= 1 else Curvature.CONVEX,
    domains={"a": POSITIVE, "q": POSITIVE},
)
def asymmetric_gce(xp, pred, y, *, a=6.0, q=1.5):
    return ((a + 1) ** q - (a + pred.py(y)) ** q) / q


@register(
    "aul", group="paper",
    broadcasts=True,
    formula="[(a − p_y)^q − (a − 1)^q] / q",
    source="Zhou et al., ICCV 2021; a = 6.3, q = 1.5 (CIFAR-10)",
    conventions="written for any K (the reference hard-codes K = 10 and crashes on CIFAR-100)",
    structure=Structure.POINTWISE,
    curvature=lambda params: Curvature.CONVEX if params["q"] >= 1 else Curvature.CONCAVE,
    domains={"a": Interval(1.0, lo_open=True), "q": POSITIVE},  # a > 1 keeps a − p_y > 0
)
def asymmetric_unhinged(xp, pred, y, *, a=6.3, q=1.5):
    return ((a - pred.py(y)) ** q - (a - 1) ** q) / q


@register(
    "ael", group="paper",
    broadcasts=True,
    formula="exp(−p_y / a)",
    source="Zhou et al., ICCV 2021; a = 5 (CIFAR-10)",
    structure=Structure.POINTWISE,
    curvature=Curvature.CONVEX,
    domains={"a": POSITIVE},
)
def asymmetric_exponential(xp, pred, y, *, a=5.0):
    return xp.exp(-pred.py(y) / a)


LDR_SCORES = ("normalised_softplus", "raw")
#: LogitClip divides by max(‖z‖, _NORM_FLOOR) where it clips (‖z‖ > 1/δ), so only a zero vector meets the floor
_NORM_FLOOR = 1e-12
_LDR_DIRECT = float(np.log(1e3))  # θ/λ up to which LDR-KL's closed form is used as written


@register(
    "ldr_kl", group="paper",
    broadcasts=True,
    formula="λ·log[(1/K) Σ_k exp((θ·1[k≠y] + f̂_k − f̂_y)/λ)], f̂ = softplus(z) / mean_k softplus(z_k) "
            "(scores='normalised_softplus', the reference) or f̂ = z (scores='raw', the LDR paper's unconstrained scores)",
    source="Zhu, Ying, Yang, ICML 2023 (label distributionally robust losses); θ = 0.1, λ = 10",
    conventions="defined on logits; computed as θ + λ[log(1 − (1 − e^{−θ/λ}) s_y) − log s_y − log K] with "
    "s = softmax(f̂/λ) (the same sum: e^{θ/λ}Σ_k e^{f̂_k/λ} less the label's own surplus), O(K) per label; for "
    "θ/λ > log 1000 the last factor in logs, with 1 − s_y summed over the other classes for a row's dominant "
    "class, so that it stays finite for every λ > 0; the score map is the parameter 'scores'",
    input=Input.LOGITS,
    aliases=("ldr-kl",),
    domains={"theta": NON_NEGATIVE, "lam": POSITIVE, "scores": OneOf(LDR_SCORES)},
)
def ldr_kl(xp, pred, y, *, theta=0.1, lam=10.0, scores="normalised_softplus"):
    if scores == "raw":
        fh = pred.z
    else:
        f = xp.softplus(pred.z)
        fh = f / xp.expand(xp.mean(f, axis=-1), axis=-1)
    # Σ_k exp((θ·1[k≠y] + f̂_k − f̂_y)/λ) = e^{θ/λ} Σ_k e^{(f̂_k − f̂_y)/λ} · (1 − (1 − e^{−θ/λ}) s_y), s = softmax(f̂/λ)
    log_s_all = xp.log_softmax(fh / lam, axis=-1)
    log_s = xp.take(log_s_all, y, axis=-1)
    if theta / lam <= _LDR_DIRECT:  # e^{−θ/λ} >= 1e-3: the last factor is >= 1e-3·s_y, no cancellation
        surplus = 1 - xp.exp(xp.asarray(-theta / lam, like=fh))
        return theta + lam * (xp.log(1 - surplus * xp.exp(log_s)) - log_s - np.log(fh.shape[-1]))
    # A small λ: e^{−θ/λ} and 1 − s_y both round away for a row's dominant class (−inf). In logs,
    # log(e^{−θ/λ} s_y + (1 − s_y)), with log(1 − s_y) summed over the other classes where s_y > 1/2.
    dominant = xp.exp(log_s_all) > 0.5
    log_rest = xp.logsumexp(xp.where(dominant, log_s_all - np.inf, log_s_all), axis=-1)  # log Σ of the others
    log_others = xp.where(log_s > np.log(0.5), log_rest + 0 * log_s, xp.log(xp.maximum(1 - xp.exp(log_s), 0.5)))
    a, b = log_s - theta / lam, log_others
    top = xp.maximum(a, b)
    return theta + lam * (top + xp.log(xp.exp(a - top) + xp.exp(b - top)) - log_s - np.log(fh.shape[-1]))


@register(
    "ce+lc", group="paper",
    broadcasts=True,
    formula="z ← δ·z/‖z‖₂ if ‖z‖₂ > 1/δ; then −log softmax(z)_y",
    source="Wei et al., ICML 2023 (logit clipping)",
    conventions="threshold 1/δ but clipped norm δ, as in the original LogitClip code; "
    "gradient flows through the norm",
    input=Input.LOGITS,
    aliases=("ce_lc", "logitclip"),
    domains={"delta": POSITIVE},
)
def ce_logit_clip(xp, pred, y, *, delta=1.0):
    z = pred.z
    norm = xp.expand(xp.norm(z, axis=-1), axis=-1)
    clipped = xp.where(norm > 1 / delta, delta * z / xp.maximum(norm, _NORM_FLOOR), z)
    return -xp.take(xp.log_softmax(clipped, axis=-1), y, axis=-1)


@register(
    "nlnl", group="paper",
    broadcasts=True,
    formula="(1/(K−1)) Σ_{k≠y} −w_y log max(1 − p_k, c), c = 1e-5",
    source="Kim et al., ICCV 2019 (negative learning)",
    conventions="the expectation over the complementary label ȳ ~ U(k ≠ y) of the reference's "
    "sampled loss −w_y log clamp(1 − p_ȳ, c); finite everywhere (the reference returns NaN on "
    "modern torch); class weights w default to 1; the sum over k ≠ y is evaluated as the full sum less the "
    "label's term (O(K) per label, absolute rounding ≤ K·ε·(−log c)); log(1 − p_k) is the log of the other classes' "
    "mass for a class with p_k > 1/2, so it keeps its digits near p_k = 1 in float32",
    domains={"clamp": Interval(0.0, 1.0, lo_open=True, hi_open=True)},
)
def negative_learning(xp, pred, y, *, clamp=1e-5, weights=None):
    p, logp = pred.p, pred.logp
    K = p.shape[-1]
    # −log max(1 − p_k, c), with 1 − p_k = exp(log(1 − p_k)) free of cancellation near p_k = 1
    per_class = -xp.log(xp.maximum(xp.exp(xp.log_one_minus(p, logp, axis=-1)), clamp))
    value = (xp.sum(per_class, axis=-1) - xp.take(per_class, y, axis=-1)) / (K - 1)  # Σ_{k≠y}, O(K) per label
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (K,) or not np.all(np.isfinite(w)) or (w < 0).any():
            raise ValueError(f"nlnl weights must be {K} finite non-negative numbers, got {weights!r}")
        value = value * xp.sum(xp.one_hot(y, like=p, axis=-1) * xp.asarray(w, like=p), axis=-1)
    return value


# ----------------------------------------------------------------------------------------------
# Composites: α·first + β·second, and the ε-softmax losses


register_composite(
    "sce",
    lambda alpha=0.1, beta=1.0: alpha * get("ce") + beta * get("rce"),
    group="paper", formula="α·CE + β·RCE", source="Wang et al., ICCV 2019; (α, β) = (0.1, 1) on CIFAR-10",
    domains={"alpha": WEIGHT, "beta": WEIGHT},
)
register_composite(
    "nce+rce", lambda alpha=1.0, beta=1.0: alpha * get("nce") + beta * get("rce"),
    group="paper", formula="α·NCE + β·RCE", source="Ma et al., ICML 2020 (active-passive losses)",
    domains={"alpha": WEIGHT, "beta": WEIGHT},
)
register_composite(
    "nce+mae", lambda alpha=1.0, beta=1.0: alpha * get("nce") + beta * get("mae", scale=1.0),
    group="paper", formula="α·NCE + β·(1 − p_y)", source="Ma et al., ICML 2020",
    conventions="MAE without the factor 2, as the reference implements it",
    domains={"alpha": WEIGHT, "beta": WEIGHT},
)
register_composite(
    "nfl+rce", lambda alpha=1.0, beta=1.0, gamma=0.5: alpha * get("nfl", gamma=gamma) + beta * get("rce"),
    group="paper", formula="α·NFL + β·RCE", source="Ma et al., ICML 2020",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "gamma": NON_NEGATIVE},
)
register_composite(
    "nfl+mae", lambda alpha=1.0, beta=1.0, gamma=0.5: alpha * get("nfl", gamma=gamma) + beta * get("mae", scale=1.0),
    group="paper", formula="α·NFL + β·(1 − p_y)", source="Ma et al., ICML 2020",
    conventions="MAE without the factor 2, as the reference implements it",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "gamma": NON_NEGATIVE},
)
register_composite(
    "nce+agce",
    lambda alpha=1.0, beta=4.0, a=6.0, q=1.5: alpha * get("nce") + beta * get("agce", a=a, q=q),
    group="paper", formula="α·NCE + β·AGCE", source="Zhou et al., ICCV 2021; (α, β, a, q) = (1, 4, 6, 1.5) on CIFAR-10",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "a": POSITIVE, "q": POSITIVE},
)
register_composite(
    "nce+aul",
    lambda alpha=1.0, beta=4.0, a=6.3, q=1.5: alpha * get("nce") + beta * get("aul", a=a, q=q),
    group="paper", formula="α·NCE + β·AUL", source="Zhou et al., ICCV 2021; (α, β, a, q) = (1, 4, 6.3, 1.5) on CIFAR-10",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "a": Interval(1.0, lo_open=True), "q": POSITIVE},
)
register_composite(
    "nce+ael",
    lambda alpha=1.0, beta=4.0, a=5.0: alpha * get("nce") + beta * get("ael", a=a),
    group="paper", formula="α·NCE + β·AEL", source="Zhou et al., ICCV 2021; (α, β, a) = (1, 4, 5) on CIFAR-10",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "a": POSITIVE},
)
register_composite(
    "ce+mae", lambda alpha=1.0, beta=1.0: alpha * get("ce") + beta * get("mae"),
    group="paper", formula="α·CE + β·2(1 − p_y)",
    source="plain combination; equals CE_ε+MAE at m = 0 (the paper's m-ablation baseline)",
    domains={"alpha": WEIGHT, "beta": WEIGHT},
)
_EPS_CONVENTIONS = (
    "p_ε = (p + m·e_t)/(1 + m), t = argmax p (first index on ties), clamped from below at c = 1e-8 "
    "before the log; the argmax index carries no gradient"
)
register_composite(
    "ce_eps",
    lambda m=1e5, clamp=PAPER_CLAMP: with_eps_softmax(get("ce"), m, clamp=clamp),
    group="paper", formula="−log max(p_ε(y), c)", source="ε-softmax paper (NeurIPS 2024), reference code",
    conventions=_EPS_CONVENTIONS, aliases=("ce_ε",),
    domains={"m": NON_NEGATIVE, "clamp": CLAMP},
)
register_composite(
    "fl_eps",
    lambda m=1e5, gamma=0.1, clamp=PAPER_CLAMP: with_eps_softmax(get("fl", gamma=gamma), m, clamp=clamp),
    group="paper", formula="−(1 − sg(max(p_ε(y), c)))^γ log max(p_ε(y), c), γ = 0.1",
    source="ε-softmax paper (NeurIPS 2024), reference code",
    conventions=_EPS_CONVENTIONS + "; the focal factor is detached",
    domains={"m": NON_NEGATIVE, "gamma": NON_NEGATIVE, "clamp": CLAMP},
)
register_composite(
    "ce_eps+mae",
    lambda alpha=0.01, beta=5.0, m=1e5, clamp=PAPER_CLAMP: (
        alpha * with_eps_softmax(get("ce"), m, clamp=clamp) + beta * get("mae")
    ),
    group="paper", formula="α·CE_ε + β·2(1 − p_y)",
    source="ε-softmax paper (NeurIPS 2024); defaults are the CIFAR-10 symmetric row",
    conventions=_EPS_CONVENTIONS + "; MAE on the plain softmax, scale 2",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "m": NON_NEGATIVE, "clamp": CLAMP},
)
register_composite(
    "fl_eps+mae",
    lambda alpha=0.01, beta=5.0, m=1e5, gamma=0.1, clamp=PAPER_CLAMP: (
        alpha * with_eps_softmax(get("fl", gamma=gamma), m, clamp=clamp) + beta * get("mae")
    ),
    group="paper", formula="α·FL_ε + β·2(1 − p_y)",
    source="ε-softmax paper (NeurIPS 2024); defaults are the CIFAR-10 symmetric row",
    conventions=_EPS_CONVENTIONS + "; MAE on the plain softmax, scale 2; focal factor detached",
    domains={"alpha": WEIGHT, "beta": WEIGHT, "m": NON_NEGATIVE, "gamma": NON_NEGATIVE, "clamp": CLAMP},
)
