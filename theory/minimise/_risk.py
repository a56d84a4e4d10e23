"""The conditional risk C_q(p) = Σ_k q_k L(p, k) and the loss vector (L(p, k))_k."""

from __future__ import annotations

import numpy as np

from theory.losses import Loss


def loss_vectors(loss: Loss, p: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """(L(p, k))_k for every row of ``p`` (..., K): shape (..., K), by :meth:`Loss.vectors`
    (each point once against all labels where the loss broadcasts, else one call per label)."""
    K = p.shape[-1]
    flat = np.reshape(np.asarray(p, dtype=np.float64), (-1, K))
    return loss.vectors(flat, logits=logits).reshape(p.shape[:-1] + (K,))


def risk_of_vectors(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Σ_k q_k ℓ_k with terms of weight 0 counted as 0 (even where ℓ_k is inf); NaN → inf."""
    with np.errstate(invalid="ignore"):
        out = np.where(q > 0, q * values, 0.0).sum(axis=-1)
    return np.where(np.isnan(out), np.inf, out)


def conditional_risk(loss: Loss, p: np.ndarray, q: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """C_q(p) = Σ_k q_k L(p, k) for rows of ``p`` and ``q`` (..., K); terms with q_k = 0 count 0.

    ``logits=True`` means ``p`` holds logits (for losses with ``input == "logits"``).
    """
    return risk_of_vectors(loss_vectors(loss, p, logits=logits), q)
