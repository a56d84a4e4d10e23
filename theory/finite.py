"""Exact risks on finite problems: a distribution over a finite X × Y and tabular predictors.

With X finite and f tabular (one probability vector per x), risks are finite sums and the risk
minimiser decomposes per x into a minimisation of the conditional risk over the simplex
(:mod:`theory.minimise`). This is where the paper's excess-risk bounds can be checked exactly.

Conventions: ``px`` (n_x,) is P(x); ``posterior`` (n_x, K) is P(y | x); a class-conditional
transition matrix T (K, K) is row-stochastic, T[i, j] = P(ỹ = j | y = i); a per-x one has shape
(n_x, K, K). The noisy posterior is P(ỹ | x) = Σ_y P(y | x) T_x[y, ·].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.losses import Input, Loss
from theory.minimise import Minimum, conditional_risk, minimise_conditional_risk, risk_of_vectors
from theory.streams import generator
from theory.tolerances import ROW_SUM_ATOL
from theory.validation import check_num_classes, check_probs, check_transition

__all__ = ["FiniteProblem", "random_problem"]


@dataclass(frozen=True)
class FiniteProblem:
    """A joint distribution over a finite X × {0..K−1}.

    Attributes
    ----------
    px : array (n_x,), the marginal P(x) (on the simplex).
    posterior : array (n_x, K), rows P(y | x) (on the simplex).
    """

    px: np.ndarray
    posterior: np.ndarray

    def __post_init__(self):
        post = check_probs(self.posterior, "posterior")
        if post.ndim != 2:
            raise ValueError(f"posterior must have shape (n_x, K), got {post.shape}")
        px = np.asarray(self.px, dtype=np.float64)
        if px.shape != (post.shape[0],):
            raise ValueError(f"px must have shape ({post.shape[0]},) to match posterior {post.shape}, got {px.shape}")
        if not np.all(np.isfinite(px)) or (px < 0).any() or not np.isclose(px.sum(), 1.0, atol=ROW_SUM_ATOL):
            raise ValueError(f"px must be finite, >= 0 and sum to 1 (a distribution over X), got sum {px.sum():.9g}")
        object.__setattr__(self, "px", px)
        object.__setattr__(self, "posterior", post)

    @property
    def K(self) -> int:
        return self.posterior.shape[1]

    @property
    def n_x(self) -> int:
        return self.posterior.shape[0]

    def noisy(self, T) -> FiniteProblem:
        """The distribution of (x, ỹ) when labels pass through T (K, K) or per-x T (n_x, K, K)."""
        T = np.asarray(T, dtype=np.float64)
        if T.ndim == 2:
            T = check_transition(T)
            if T.shape[0] != self.K:
                raise ValueError(f"T must be {self.K}×{self.K} for this problem, got {T.shape}")
            post = self.posterior @ T
        elif T.ndim == 3:
            if T.shape != (self.n_x, self.K, self.K):
                raise ValueError(f"a per-x T must have shape {(self.n_x, self.K, self.K)}, got {T.shape}")
            for i in range(self.n_x):
                check_transition(T[i], name=f"T[{i}]")
            post = np.einsum("xy,xyk->xk", self.posterior, T)
        else:
            raise ValueError(f"T must have shape (K, K) or (n_x, K, K), got {T.shape}")
        return FiniteProblem(self.px, post / post.sum(1, keepdims=True))

    def _check_predictor(self, f, loss: Loss) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        if f.shape != (self.n_x, self.K):
            raise ValueError(f"predictor must be a table of shape {(self.n_x, self.K)}, got {f.shape}")
        return f if loss.input is Input.LOGITS else check_probs(f, "predictor")

    def conditional_risks(self, loss: Loss, f) -> np.ndarray:
        """Σ_k P(k | x) L(f(x), k) for every x: (n_x,).

        ``f`` is a tabular predictor (n_x, K) — probabilities, or logits for logit losses — or a
        :class:`~theory.minimise.Minimum` of this loss, whose loss vectors are used (they are the
        limits where the minimiser is a boundary limit, e.g. for NCE).
        """
        if isinstance(f, Minimum):
            if f.losses is None or f.losses.shape != (self.n_x, self.K):
                shape = None if f.losses is None else f.losses.shape
                raise ValueError(f"a Minimum used as predictor needs loss vectors of shape "
                                 f"{(self.n_x, self.K)}, got {shape}")
            return risk_of_vectors(f.losses, self.posterior)
        return conditional_risk(loss, self._check_predictor(f, loss), self.posterior)

    def risk(self, loss: Loss, f) -> float:
        """E_{(x, y)} L(f(x), y) for a tabular predictor or a Minimum ``f`` (see conditional_risks)."""
        return float(self.px @ self.conditional_risks(loss, f))

    def excess_risk(self, loss: Loss, T, **options) -> float:
        """R(f*_T) − R(f*): the clean risk lost by minimising the risk under label noise T."""
        return self.risk(loss, self.noisy(T).minimiser(loss, **options)) - self.bayes_risk(loss, **options)

    def minimiser(self, loss: Loss, **options) -> Minimum:
        """The risk minimiser, x by x (see :func:`theory.minimise.minimise_conditional_risk`)."""
        return minimise_conditional_risk(loss, self.posterior, **options)

    def bayes_risk(self, loss: Loss, **options) -> float:
        return float(self.px @ self.minimiser(loss, **options).value)


def random_problem(K: int, n_x: int, *, seed, concentration: float = 1.0,
                   deterministic: bool = False) -> FiniteProblem:
    """A random finite problem: P(x) ~ Dirichlet(1), P(y | x) ~ Dirichlet(concentration).

    ``deterministic=True`` makes every posterior one-hot (R(f*) = 0 for losses that vanish at
    the vertex), the setting of the class-conditional tolerance theorem.
    """
    K = check_num_classes(K)
    if isinstance(n_x, bool) or not isinstance(n_x, (int, np.integer)) or n_x < 1:
        raise ValueError(f"n_x must be a positive integer, got {n_x!r}")
    if not (np.isfinite(concentration) and concentration > 0):
        raise ValueError(f"concentration must be a positive number, got {concentration!r}")
    rng = generator(seed)
    px = rng.dirichlet(np.ones(n_x))
    if deterministic:
        post = np.eye(K)[rng.integers(0, K, size=n_x)]
    else:
        post = rng.dirichlet(np.full(K, float(concentration)), size=n_x)
    return FiniteProblem(px, post)
