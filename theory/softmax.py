"""ε-softmax (PAPER.md §2), one implementation for numpy, torch and sympy.

    p_ε = (p + m · e_t) / (1 + m),   t = argmax_k p_k (first index on ties),   m >= 0.

The argmax index carries no gradient: it is an integer index, so gradients flow through ``p``
only (no straight-through estimator, no detach of ``p``). ``m = 0`` returns ``p``.

Derived properties (checked by the test-suite and by ``proofs_check``):

P1  order: p_ε(k) = p_k/(1+m) for k != t and p_ε(t) = (p_t+m)/(1+m); every top-k set of p_ε
    equals that of p.
P2  one-hot error: ‖p_ε − e_t‖_∞ = (1 − p_t)/(1+m) and ‖p_ε − e_t‖₁ = 2(1 − p_t)/(1+m), both
    <= the same with p_t = 1/K.
P3  ranges: non-argmax coordinates in [0, 1/(1+m)], coordinate t in [(1/K + m)/(1+m), 1].
P4  with a clamp c inside the losses, −log max(p_ε(y), c) is constant (= −log c) for y != t
    once p_y < (1+m) c.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory.validation import CLAMP, check_probs
from theory.xp import ArrayNamespace, is_symbolic, namespace_of

__all__ = ["PAPER_CLAMP", "eps_softmax", "one_hot_error"]

#: The clamp c of the ε-losses: p_ε is clamped from below at c before any log is taken. 1e-8 is the
#: reference code's one global constant (PAPER.md §3, as corrected), the default of every loss with
#: a clamp parameter and the clamp the checks wrap a user's loss with; the package states it here only.
PAPER_CLAMP = 1e-8


def _as_array(p: Any) -> Any:
    """Accept lists/tuples/sympy matrices as well as arrays and tensors."""
    if type(p).__module__.startswith("sympy"):  # sympy Matrix → flat object array
        return np.array(list(p), dtype=object)
    if hasattr(p, "shape"):  # numpy arrays and torch tensors pass through
        return p
    return np.asarray(p)


def eps_softmax(
    p: Any,
    m: Any,
    *,
    clamp: float | None = None,
    t: Any = None,
    xp: ArrayNamespace | None = None,
    validate: bool = True,
) -> Any:
    """Mix probabilities with the one-hot vector of their own argmax.

    Parameters
    ----------
    p : array (..., K)
        Rows on the probability simplex (numpy array, torch tensor, or an object array / list /
        sympy Matrix of sympy expressions for a single symbolic point).
    m : float >= 0 (or a sympy expression)
        Mixing weight; ε = 1/(1+m) is the one-hot error scale (P2).
    clamp : float in [0, 1), optional
        If given, the result is clamped from below at this constant, as the ε-losses do before
        taking logs (:data:`PAPER_CLAMP`, the paper's c = 1e-8). ``None`` returns the unclamped p_ε.
    t : int or integer array (...), optional
        The argmax index. Computed from ``p`` when omitted; required for symbolic ``p`` whose
        ordering sympy cannot decide. With ``validate``, a stated ``t`` must be an integer in
        [0, K) (one for every row, or one per row) that indexes a largest entry of its row.
    xp : ArrayNamespace, optional
        Force a namespace; inferred from ``p`` otherwise.
    validate : bool
        Check that numeric inputs lie on the simplex (shape, finiteness, sign, row sums), numpy and
        torch alike.

    Returns
    -------
    array (..., K) in the namespace of ``p``.
    """
    p = _as_array(p)
    if xp is None:
        xp = namespace_of(p)
    if validate:
        p = xp.check_probs(p)
    m = xp.check_scalar(m, "m")
    if clamp is not None and not is_symbolic(clamp):
        clamp = float(CLAMP.check(clamp, "clamp"))
    if t is not None and validate:
        t = xp.check_argmax(t, p)
    xp = xp.with_argmax(t)  # a symbolic point needs its argmax stated; numeric ones compute it
    if t is None:
        t = xp.argmax(p, axis=-1)
    out = (p + m * xp.one_hot(t, like=p, axis=-1)) / (1 + m)
    if clamp is not None:
        out = xp.maximum(out, clamp)
    return out


def one_hot_error(p: Any, m: float, *, norm: str = "l1") -> np.ndarray:
    """‖p_ε − e_t‖ per row for ``norm`` in {"l1", "linf"} (numpy), computed directly."""
    p = check_probs(p)
    pe = eps_softmax(p, m, validate=False)
    diff = pe - np.eye(p.shape[-1])[np.argmax(p, axis=-1)]
    if norm == "l1":
        return np.abs(diff).sum(axis=-1)
    if norm == "linf":
        return np.abs(diff).max(axis=-1)
    raise ValueError(f"norm must be 'l1' or 'linf', got {norm!r}")
