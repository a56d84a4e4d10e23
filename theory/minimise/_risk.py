"""The conditional risk C_q(p) = Σ_k q_k L(p, k) and the loss vector (L(p, k))_k."""

from __future__ import annotations

import numpy as np

from theory.losses._core import Loss

#: at most this many (point, label, class) entries are computed at once by a broadcasting loss
#: (≈ 128 MB of float64), so that K = 100 with thousands of points stays within a few hundred MB
CHUNK_ENTRIES = 2**24


def loss_vectors(loss: Loss, p: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """(L(p, k))_k for every row of ``p`` (..., K): shape (..., K).

    A loss that broadcasts (:attr:`Loss.broadcasts`, every library loss) sees each point once
    against all K labels, in chunks of rows; any other loss (a user's function) is called once
    per label on the points themselves, so nothing of size K² per point is ever built."""
    K = p.shape[-1]
    batch = p.shape[:-1]
    flat = np.reshape(p, (-1, K))
    call = loss.from_logits if (logits or loss.input == "logits") else loss
    if not loss.broadcasts:
        by_label = np.empty((K, len(flat)))  # one contiguous row per label, transposed at the end
        for k in range(K):
            by_label[k] = call(flat, np.full(len(flat), k), validate=False)
        return np.ascontiguousarray(by_label.T).reshape(batch + (K,))
    out = np.empty(flat.shape)
    rows = max(1, CHUNK_ENTRIES // (K * K))
    for start in range(0, len(flat), rows):
        part = flat[start:start + rows]
        out[start:start + rows] = call(part[:, None, :], np.broadcast_to(np.arange(K), (len(part), K)), validate=False)
    return out.reshape(batch + (K,))


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
