"""Exact excess risks under label noise on random finite problems, and the range of Σ_k L.

The sweeps are vectorised (public: proofs_check, theory.checks and the figures use them).

For one loss, one K and one noise model, every clean and every noisy posterior of every problem
goes into a single call of :func:`theory.minimise.minimise_conditional_risk`; risks then follow
from the minimisers' loss vectors with array arithmetic. For symmetric noise the rows carry the
three Theorem-B quantities:

``range_bound``     η(C₂ − C₁)/((K−1) − Kη) with [C₁, C₂] the measured range of Σ_k L(p, k)
                    (C₁ exact as K·min C_uniform, C₂ searched, both widened by every sum seen
                    at a minimiser);
``instance_bound``  η(S(f*) − S(f*_η))/((K−1) − Kη), S(f) = E_x Σ_k L(f(x), k): the inequality
                    the theorem rests on, evaluated at the actual minimisers (sharper);
``excess``          R(f*_η) − R(f*), clean risks of the noisy and the clean minimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from theory._counterexamples import search
from theory.finite import FiniteProblem, random_problem
from theory.losses import Loss
from theory.minimise import minimise_conditional_risk
from theory.minimise._risk import risk_of_vectors
from theory.noise import symmetric

__all__ = ["excess_sweep", "loss_sums", "sweep_problem", "sum_range", "symmetric_noise", "symmetric_noise_bound", "tolerant_rates"]


def loss_sums(L: Loss, P: np.ndarray) -> np.ndarray:
    """Σ_k L(p, k) for every row of ``P`` (n, K)."""
    return sum(L(P, np.full(len(P), k), validate=False) for k in range(P.shape[1]))


def sum_range(L: Loss, K: int, *, rng: np.random.Generator, n: int = 400,
              n_polish: int = 2) -> tuple[float, float, dict]:
    """[C₁, C₂] of Σ_k L(p, k) over the simplex Δ_{K−1}, with how each end was obtained.

    C₁ = K · min_p C_u(p) with u uniform (a conditional-risk minimisation: exact when the method
    is); C₂ by search (a lower estimate of the supremum; callers widen it by the sums they see).
    """
    low = minimise_conditional_risk(L, np.full(K, 1.0 / K))
    res = search(lambda P: loss_sums(L, P), K, rng=rng, n=n, n_polish=n_polish, hypothesis_examples=0)
    c1 = float(K * low.value)
    return c1, float(res.score), {"C1_method": low.method, "C1_exact": bool(low.exact), "C1_at": low.p.tolist(),
                                  "C2_at": res.point.tolist(), "C2_method": "search (lower estimate of the supremum)"}


def symmetric_noise_bound(eta: float, K: int, c1: float, c2: float) -> float:
    """Theorem B: R(f*_η) − R(f*) ≤ η(C₂ − C₁)/((K−1) − Kη) for symmetric noise η < (K−1)/K."""
    if not 0 <= eta < (K - 1) / K:
        raise ValueError(f"the bound needs a symmetric rate 0 <= eta < (K-1)/K = {(K - 1) / K:.4g}, got {eta!r}")
    return float(eta * (c2 - c1) / ((K - 1) - K * eta)) if c2 > c1 else 0.0


def tolerant_rates(K: int, fractions: Sequence[float] = (0.25, 0.5, 0.75)) -> list[float]:
    """Rates η = f·(K−1)/K below the symmetric tolerance threshold."""
    return [f * (K - 1) / K for f in fractions]


def symmetric_noise(fractions: Sequence[float] = (0.25, 0.5, 0.75)) -> Callable[[int], list[tuple[float, np.ndarray]]]:
    """Noise model factory for :func:`excess_sweep`: (η, T) pairs of symmetric noise per K."""
    return lambda K: [(eta, symmetric(K, eta)) for eta in tolerant_rates(K, fractions)]


def sweep_problem(K: int, n_x: int, seed: int, index: int, *, deterministic: bool = False) -> FiniteProblem:
    """Problem ``index`` of :func:`excess_sweep` for (K, n_x, seed): rebuilds a row's problem."""
    return random_problem(K, n_x, seed=np.random.default_rng([seed, K, index]), deterministic=deterministic)


def excess_sweep(
    make_loss: Callable[[float], Loss],
    *,
    Ks: Sequence[int],
    ms: Sequence[float] = (0.0,),
    noise: Callable[[int], list[tuple[float, np.ndarray]]] = symmetric_noise(),
    n_problems: int | Callable[[int], int] = 4,
    n_x: int = 3,
    seed: int = 0,
    deterministic: bool = False,
    sum_range: Callable[[Loss, int], tuple[float, float]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Rows of excess risks (one per K, m, noise setting and problem), see the module docstring.

    ``make_loss(m)`` builds the loss; ``noise(K)`` gives (label, T) pairs, where a float label
    is a symmetric rate η (and enables the Theorem-B columns); ``sum_range(L, K)`` gives the
    measured [C₁, C₂] before widening (omit it to use only the sums seen at the minimisers).
    """
    rows: list[dict] = []
    total, done = len(Ks) * len(ms), 0
    for K in Ks:
        n_p = n_problems(K) if callable(n_problems) else n_problems
        problems = [sweep_problem(K, n_x, seed, i, deterministic=deterministic) for i in range(n_p)]
        px = np.stack([pr.px for pr in problems])  # (P, X)
        post = np.stack([pr.posterior for pr in problems])  # (P, X, K)
        settings = noise(K)
        noisy = np.stack([post @ T for _, T in settings])  # (E, P, X, K)
        noisy /= noisy.sum(-1, keepdims=True)
        for m in ms:
            L = make_loss(m)
            Q = np.concatenate([post.reshape(-1, K), noisy.reshape(-1, K)])
            best = minimise_conditional_risk(L, Q, seed=seed)
            V = best.losses
            V0 = V[: post.size // K].reshape(post.shape)
            V1 = V[post.size // K:].reshape(noisy.shape)
            bayes = (px * risk_of_vectors(V0, post)).sum(-1)  # (P,)
            clean_of_noisy = (px * risk_of_vectors(V1, post[None])).sum(-1)  # (E, P)
            excess = clean_of_noisy - bayes
            S0 = (px * V0.sum(-1)).sum(-1)
            S1 = (px * V1.sum(-1)).sum(-1)
            c1, c2 = sum_range(L, K) if sum_range is not None else (np.inf, -np.inf)
            sums = V.sum(-1)
            c1, c2 = min(c1, float(sums.min())), max(c2, float(sums.max()))
            for e, (label, _) in enumerate(settings):
                for i in range(n_p):
                    row = {"loss": L.name, "K": K, "m": m, "noise": label, "problem": i,
                           "excess": float(excess[e, i]), "method": best.method, "exact": bool(best.exact),
                           "C1": c1, "C2": c2, "seed": seed}
                    if isinstance(label, float):
                        ratio = label / ((K - 1) - K * label)
                        row["instance_bound"] = float(ratio * (S0[i] - S1[e, i]))
                        row["range_bound"] = symmetric_noise_bound(label, K, c1, c2)
                    rows.append(row)
            done += 1
            if progress is not None:
                progress(done, total)
    return rows
