"""Exact excess risks under label noise on random finite problems, and the range of Σ_k L.

The sweeps are vectorised: for one loss, one K and the noise settings, every clean and every
noisy posterior of every problem goes into a single call of
:func:`theory.minimise.minimise_conditional_risk`; risks then follow from the minimisers' loss
vectors with array arithmetic. Each row is an :class:`ExcessRow`, a typed record (no consumer
parses display strings):

``excess``           R(f*_η) − R(f*): the clean L-risk lost by minimising the noisy risk;
``zero_one_excess``  the same for the 0-1 risk of the first-index argmax of the minimisers, with
                     ``argmax_changes`` the number of x whose prediction moved;
``range_bound``      Theorem B, η(C₂ − C₁)/((K−1) − Kη), with [C₁, C₂] an *independent* range of
                     Σ_k L over the simplex (:func:`sum_range`), never widened by the sums at the
                     minimisers: ``range_consistent`` says whether those sums fell inside it;
``instance_bound``   η(S(f*) − S(f*_η))/((K−1) − Kη), S(f) = E_x Σ_k L(f(x), k): the inequality the
                     theorem rests on, evaluated at the minimisers (it holds whenever they are
                     minimisers, so it tests the minimisers);
``vacuous``          every clean and noisy minimiser of the sweep (every problem, x and noise
                     setting) is the same point although the posteriors differ: the minimiser
                     ignores the data, the excess is 0 whatever the noise, and says nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from theory.finite import FiniteProblem, random_problem
from theory.losses import Curvature, Input, Loss, Structure
from theory.minimise import Minimum, Solver, minimise_conditional_risk, risk_of_vectors
from theory.noise import symmetric
from theory.tolerances import MONOTONE_REL, SAME_VALUE_REL
from theory.validation import check_seed

__all__ = ["ExcessRow", "NoiseKind", "NoiseSetting", "SumRange", "excess_sweep", "loss_sums", "sum_range",
           "sweep_problem", "symmetric_noise", "symmetric_noise_bound", "tolerant_rates", "zero_one_risk"]

#: a sweep is vacuous when its minimisers agree to this (absolute) while its posteriors differ by more
#: than _POSTERIORS_DIFFER: the loss's minimiser does not read the posterior at all
_SAME_MINIMISER_ATOL = 1e-9
_POSTERIORS_DIFFER = 1e-6


def loss_sums(L: Loss, P: np.ndarray) -> np.ndarray:
    """Σ_k L(p, k) for every row of ``P`` (n, K)."""
    return sum(L(P, np.full(len(P), k), validate=False) for k in range(P.shape[1]))


# ----------------------------------------------------------------------------------------------
# The range of Σ_k L over the simplex


@dataclass(frozen=True)
class SumRange:
    """[C₁, C₂] of Σ_k L(p, k) over the simplex Δ_{K−1}, with how each end was obtained.

    ``c1`` / ``c2`` are the best estimates; ``c1_exact`` / ``c2_exact`` say whether they are the
    exact infimum / supremum (closed forms, exact minimisers). ``c1_outer`` ≤ inf Σ and
    ``c2_outer`` ≥ sup Σ are outer bounds that hold by an argument stated in ``how`` (−inf / +inf
    when there is none): a re-check of a violation uses them, so that an underestimated range
    cannot fake a counterexample.
    """

    K: int
    c1: float
    c2: float
    c1_exact: bool
    c2_exact: bool
    c1_outer: float
    c2_outer: float
    how: str
    at_min: np.ndarray = field(repr=False, default=None)
    at_max: np.ndarray = field(repr=False, default=None)

    @property
    def width(self) -> float:
        return self.c2 - self.c1

    def to_dict(self) -> dict:
        return {"K": self.K, "C1": self.c1, "C2": self.c2, "C1_exact": self.c1_exact, "C2_exact": self.c2_exact,
                "C1_outer": self.c1_outer, "C2_outer": self.c2_outer, "how": self.how,
                "at_min": None if self.at_min is None else self.at_min.tolist(),
                "at_max": None if self.at_max is None else self.at_max.tolist()}


def sum_range(L: Loss, K: int, *, rng: np.random.Generator, n: int = 400, n_polish: int = 2,
              floor: float = 0.0, low: Minimum | None = None) -> SumRange:
    """The range of Σ_k L(p, k) over the simplex, independent of any minimiser of a problem.

    Pointwise losses L = φ(p_y) (declared curvature) have closed forms: Σ_k φ(p_k) is convex
    (concave) for convex (concave) φ, so its minimum (maximum) is K·φ(1/K) by Jensen and its
    maximum (minimum) is at a vertex, φ(1) + (K−1)·φ(0). Otherwise C₁ = K·min_p C_u(p) with u the
    uniform posterior (exact when the minimiser is) and C₂ by search (a lower estimate of the
    supremum); argmax-pointwise losses with non-increasing φ_top, φ_other have the outer bound
    C₂ ≤ φ_top(1/K) + (K−1)·φ_other(0). ``floor`` > 0 searches the open simplex (every coordinate
    ≥ floor) for losses that are infinite on its faces. ``low``: the minimum at the uniform
    posterior when the caller has it already (an excess sweep minimises it with its own batch).
    """
    from theory.verify.search import search

    centre = np.full(K, 1.0 / K)
    vertex = np.eye(K)[0]
    if L.input is Input.PROBS and L.structure is Structure.POINTWISE and L.curvature is not None:
        at_centre = float(loss_sums(L, centre[None])[0])
        at_vertex = float(loss_sums(L, vertex[None])[0])
        if L.curvature is Curvature.CONCAVE:
            lo, hi, p_lo, p_hi = at_vertex, at_centre, vertex, centre
        else:
            lo, hi, p_lo, p_hi = at_centre, at_vertex, centre, vertex
            if L.curvature is Curvature.LINEAR:
                lo, hi = min(lo, hi), max(lo, hi)
        how = f"closed form for a {L.curvature} φ: Jensen at the centre, the vertex for the other end"
        return SumRange(K, lo, hi, True, True, lo, hi, how, p_lo, p_hi)
    low = low if low is not None else minimise_conditional_risk(L, centre)
    c1 = float(K * low.value)
    res = search(lambda P: np.nan_to_num(loss_sums(L, P), nan=-np.inf), K, rng=rng, n=n, n_polish=n_polish,
                 hypothesis_examples=0, floor=floor)
    c2 = float(res.score)
    c1_outer = c1 - K * float(low.value_error) if low.exact else -np.inf
    c2_outer = _monotone_outer_bound(L, K)
    how = (f"C₁ = K·min C_uniform by {low.method.value}{'' if low.exact else ' (not certified)'}; C₂ by search over "
           f"{res.n_evaluated} points (a lower estimate of the supremum)"
           + ("; C₂ ≤ φ_top(1/K) + (K−1)·φ_other(0) (non-increasing profiles)" if np.isfinite(c2_outer) else ""))
    return SumRange(K, c1, c2, bool(low.exact), False, c1_outer, max(c2_outer, c2), how, low.p, res.point)


def _monotone_outer_bound(L: Loss, K: int) -> float:
    """φ_top(1/K) + (K−1)·φ_other(0) for argmax-pointwise losses whose profiles are non-increasing
    on a fine grid (then no point of the simplex has a larger sum); +inf otherwise."""
    if L.input is not Input.PROBS or L.structure not in (Structure.POINTWISE, Structure.ARGMAX_POINTWISE):
        return np.inf
    from theory.minimise import argmax_profiles

    top, other = argmax_profiles(L, K)
    u_top = np.linspace(1.0 / K, 1.0, 4097)
    u_other = np.linspace(0.0, 0.5, 4097)
    with np.errstate(all="ignore"):
        ft, fo = top(u_top), other(u_other)
    if not (np.all(np.isfinite(ft)) and np.all(np.isfinite(fo))):
        return np.inf
    if (np.any(np.diff(ft) > MONOTONE_REL * (1 + np.abs(ft[1:])))
            or np.any(np.diff(fo) > MONOTONE_REL * (1 + np.abs(fo[1:])))):
        return np.inf
    return float(ft[0] + (K - 1) * fo[0])


def symmetric_noise_bound(eta: float, K: int, c1: float, c2: float) -> float:
    """Theorem B: R(f*_η) − R(f*) ≤ η(C₂ − C₁)/((K−1) − Kη) for symmetric noise η < (K−1)/K."""
    if not 0 <= eta < (K - 1) / K:
        raise ValueError(f"the bound needs a symmetric rate 0 <= eta < (K-1)/K = {(K - 1) / K:.4g}, got {eta!r}")
    return float(eta * (c2 - c1) / ((K - 1) - K * eta)) if c2 > c1 else 0.0


# ----------------------------------------------------------------------------------------------
# Noise settings and rows


class NoiseKind(str, Enum):
    SYMMETRIC = "symmetric"
    CLASS_CONDITIONAL = "class-conditional"


@dataclass(frozen=True)
class NoiseSetting:
    """One transition matrix T (row-stochastic, T[i, j] = P(ỹ = j | y = i)) with its description.

    ``rate`` is η for symmetric noise; ``dominant`` whether T_yy > T_yk for every k ≠ y (the
    class-conditional tolerance condition 1 − η_y > η_yk).
    """

    kind: NoiseKind
    label: str
    T: np.ndarray = field(repr=False)
    rate: float | None = None

    @property
    def dominant(self) -> bool:
        d = np.diag(self.T)[:, None]
        return bool(np.all((self.T < d) | np.eye(len(self.T), dtype=bool)))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "rate": self.rate, "dominant": self.dominant,
                "T": self.T.tolist()}


def tolerant_rates(K: int, fractions: Sequence[float] = (0.25, 0.5, 0.75)) -> list[float]:
    """Rates η = f·(K−1)/K below the symmetric tolerance threshold."""
    return [f * (K - 1) / K for f in fractions]


def symmetric_noise(fractions: Sequence[float] = (0.25, 0.5, 0.75)) -> Callable[[int], list[NoiseSetting]]:
    """Noise model for :func:`excess_sweep`: symmetric noise at η = f·(K−1)/K per K."""
    return lambda K: [NoiseSetting(NoiseKind.SYMMETRIC, f"η={eta:.4g}", symmetric(K, eta), eta)
                      for eta in tolerant_rates(K, fractions)]


@dataclass(frozen=True)
class ExcessRow:
    """One (loss, K, m, noise setting, problem) of an excess sweep (see the module docstring).

    ``family`` groups rows of one loss family across m; ``stated_bound`` is the bound the caller
    states for this row (Lemma A's, the CE_ε band's, …) when it has one, ``stated`` names it.
    ``minimiser_gap`` is E_x of the noisy minimisers' stated value errors
    (:attr:`theory.minimise.Minimum.value_error`), a bound on R^η(f̂_η) − min R^η; +inf when a
    minimiser's error is not bounded. For such near-minimisers Theorem B's argument gives
    excess ≤ bound + minimiser_gap/(1 − ηK/(K−1)) (see :meth:`slack`), and R(f̂) ≥ R(f*) only
    lowers the computed excess. ``clean_gap`` is the same for the clean minimisers: the computed
    excess can be negative by at most that much. ``minimisers`` holds the (clean, noisy)
    :class:`Minimum` of the row's problem, x by x: a re-check recomputes risks from the very
    minimisers that gave the row (not kept by :meth:`to_dict`).
    """

    loss: str
    family: str
    K: int
    m: float
    noise: NoiseSetting
    problem: int
    seed: int
    n_x: int
    deterministic: bool
    excess: float
    zero_one_excess: float
    argmax_changes: int
    method: Solver
    exact: bool
    minimiser_gap: float
    clean_gap: float
    s_clean: float
    s_noisy: float
    c1: float
    c2: float
    range_exact: bool
    range_consistent: bool
    instance_bound: float | None
    range_bound: float | None
    vacuous: bool
    stated_bound: float | None = None
    stated: str = ""
    minimisers: tuple[Minimum, Minimum] | None = field(default=None, repr=False, compare=False)

    @property
    def rate(self) -> float | None:
        return self.noise.rate

    def problem_instance(self) -> FiniteProblem:
        """The finite problem of this row, rebuilt from its seed."""
        return sweep_problem(self.K, self.n_x, self.seed, self.problem, deterministic=self.deterministic)

    def slack(self) -> float:
        """What the found minimisers' errors allow the excess above a symmetric-noise bound:
        minimiser_gap/(1 − ηK/(K−1)) (0 for exact minimisers up to rounding; +inf unbounded)."""
        if self.rate is None:
            raise ValueError(f"the slack is defined for symmetric noise, this row has {self.noise.label}")
        return self.minimiser_gap / (1 - self.rate * self.K / (self.K - 1))

    def with_bound(self, value: float, stated: str) -> ExcessRow:
        return replace(self, stated_bound=float(value), stated=stated)

    def to_dict(self) -> dict:
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "minimisers"}
        out["noise"] = self.noise.to_dict()
        out["method"] = self.method.value
        return out


def sweep_problem(K: int, n_x: int, seed: int, index: int, *, deterministic: bool = False) -> FiniteProblem:
    """Problem ``index`` of :func:`excess_sweep` for (K, n_x, seed): rebuilds a row's problem."""
    return random_problem(K, n_x, seed=np.random.default_rng([check_seed(seed), K, index]), deterministic=deterministic)


def zero_one_risk(P: np.ndarray, posterior: np.ndarray) -> np.ndarray:
    """1 − q(argmax p) per x: the 0-1 risk of predicting the first-index argmax of each row of P."""
    pred = np.argmax(P, axis=-1)
    return 1.0 - np.take_along_axis(posterior, pred[..., None], axis=-1)[..., 0]


def excess_sweep(
    make_loss: Callable[[float], Loss],
    *,
    Ks: Sequence[int],
    ms: Sequence[float] = (0.0,),
    noise: Callable[[int], list[NoiseSetting]] | None = None,
    n_problems: int | Callable[[int], int] = 4,
    n_x: int = 3,
    seed: int = 0,
    deterministic: bool = False,
    ranges: Callable[[Loss, int, Minimum], SumRange] | None = None,
    family: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ExcessRow]:
    """Rows of excess risks, one per K, m, noise setting and problem (see the module docstring).

    ``make_loss(m)`` builds the loss; ``noise(K)`` gives the :class:`NoiseSetting` list (default:
    symmetric noise at 1/4, 1/2 and 3/4 of (K−1)/K); ``ranges(L, K, uniform)`` the independent
    :class:`SumRange`, given the minimum at the uniform posterior from the sweep's own batch
    (``sum_range(L, K, ..., low=uniform)``);
    omit ``ranges`` and the Theorem-B columns are None (there is no range to compare with).
    """
    noise = noise if noise is not None else symmetric_noise()
    if not len(Ks) or not len(ms):
        raise ValueError(f"excess_sweep needs at least one K and one m, got Ks={list(Ks)}, ms={list(ms)}")
    rows: list[ExcessRow] = []
    total, done = len(Ks) * len(ms), 0
    for K in Ks:
        n_p = n_problems(K) if callable(n_problems) else n_problems
        batch = _Batch.draw(K, n_p, n_x, seed, deterministic, noise)
        for m in ms:
            rows.extend(_rows_at(make_loss(m), float(m), batch, ranges=ranges, family=family))
            done += 1
            if progress is not None:
                progress(done, total)
    return rows


@dataclass(frozen=True)
class _Batch:
    """The problems of one K of a sweep, clean and under every noise setting, as stacked arrays."""

    K: int
    n_x: int
    seed: int
    deterministic: bool
    settings: list[NoiseSetting]
    px: np.ndarray  # (P, X)
    post: np.ndarray  # (P, X, K) clean posteriors
    noisy: np.ndarray  # (E, P, X, K) noisy posteriors, one block per setting

    @classmethod
    def draw(cls, K: int, n_p: int, n_x: int, seed: int, deterministic: bool,
             noise: Callable[[int], list[NoiseSetting]]) -> _Batch:
        problems = [sweep_problem(K, n_x, seed, i, deterministic=deterministic) for i in range(n_p)]
        settings = noise(K)
        if not settings:
            raise ValueError(f"noise(K) gave no noise setting for K = {K}; excess_sweep needs at least one")
        post = np.stack([pr.posterior for pr in problems])
        noisy = np.stack([post @ s.T for s in settings])
        noisy /= noisy.sum(-1, keepdims=True)
        return cls(K, n_x, seed, deterministic, settings, np.stack([pr.px for pr in problems]), post, noisy)

    @property
    def n_problems(self) -> int:
        return len(self.px)


def _rows_at(L: Loss, m: float, b: _Batch, *, ranges, family: str | None) -> list[ExcessRow]:
    """The rows of one loss (at one m) over a batch: every posterior's minimiser in one call, then
    the risks, excess and Theorem-B columns per noise setting and problem."""
    K, px, post, noisy, n_p = b.K, b.px, b.post, b.noisy, b.n_problems
    Q = np.concatenate([post.reshape(-1, K), noisy.reshape(-1, K)])
    # the uniform posterior rides along: its minimum is C₁/K of the independent range
    best_all = minimise_conditional_risk(L, np.vstack([Q, np.full((1, K), 1.0 / K)]), seed=b.seed)
    uniform, best = best_all[len(Q)], best_all.take(slice(0, len(Q)))
    V, Pm = best.losses, best.p
    n0 = post.size // K
    V0, V1 = V[:n0].reshape(post.shape), V[n0:].reshape(noisy.shape)
    P0, P1 = Pm[:n0].reshape(post.shape), Pm[n0:].reshape(noisy.shape)
    bayes = (px * risk_of_vectors(V0, post)).sum(-1)  # (P,)
    clean_of_noisy = (px * risk_of_vectors(V1, post[None])).sum(-1)  # (E, P)
    excess = clean_of_noisy - bayes
    zo_clean = (px * zero_one_risk(P0, post)).sum(-1)
    zo_noisy = (px * zero_one_risk(P1, post[None])).sum(-1)
    changes = (np.argmax(P1, -1) != np.argmax(P0, -1)[None]).sum(-1)  # (E, P)
    S0 = (px * V0.sum(-1)).sum(-1)
    S1 = (px * V1.sum(-1)).sum(-1)
    # the minimiser does not depend on the posterior at all (the sweep's posteriors differ)
    vacuous = bool(np.abs(Pm - Pm[0]).max() <= _SAME_MINIMISER_ATOL and np.abs(Q - Q[0]).max() > _POSTERIORS_DIFFER)
    # E_x of the noisy minimisers' value errors: R^η(f̂_η) − min R^η <= this
    noisy_gap = (px * best.value_error[n0:].reshape(noisy.shape[:-1])).sum(-1)  # (E, P)
    clean_gap = (px * best.value_error[:n0].reshape(post.shape[:-1])).sum(-1)  # (P,)
    rng_ = ranges(L, K, uniform) if ranges is not None else None
    sums = V.sum(-1)
    if rng_ is not None:
        slack = SAME_VALUE_REL * (1 + max(abs(rng_.c1), abs(rng_.c2)))
        c1_low = rng_.c1 - K * float(uniform.value_error)  # C₁ = K·C_uniform at the found minimum
        consistent = bool(sums.min() >= c1_low - slack and sums.max() <= rng_.c2 + slack)
    X = post.shape[1]
    rows = []
    for e, setting in enumerate(b.settings):
        for i in range(n_p):
            clean_rows = np.arange(i * X, (i + 1) * X)
            noisy_rows = n0 + (e * n_p + i) * X + np.arange(X)
            inst = rb = None
            if rng_ is not None and setting.kind is NoiseKind.SYMMETRIC:
                ratio = setting.rate / ((K - 1) - K * setting.rate)
                inst = float(ratio * (S0[i] - S1[e, i]))
                rb = symmetric_noise_bound(setting.rate, K, rng_.c1, rng_.c2)
            rows.append(ExcessRow(
                loss=L.name, family=family or L.name, K=K, m=m, noise=setting, problem=i, seed=b.seed,
                n_x=b.n_x, deterministic=b.deterministic, excess=float(excess[e, i]),
                zero_one_excess=float(zo_noisy[e, i] - zo_clean[i]), argmax_changes=int(changes[e, i]),
                method=best.method, exact=bool(best.exact), minimiser_gap=float(noisy_gap[e, i]),
                clean_gap=float(clean_gap[i]), s_clean=float(S0[i]), s_noisy=float(S1[e, i]),
                c1=np.nan if rng_ is None else rng_.c1, c2=np.nan if rng_ is None else rng_.c2,
                range_exact=bool(rng_ is not None and rng_.c1_exact and rng_.c2_exact),
                range_consistent=True if rng_ is None else consistent,
                instance_bound=inst, range_bound=rb, vacuous=vacuous,
                minimisers=(best.take(clean_rows), best.take(noisy_rows))))
    return rows
