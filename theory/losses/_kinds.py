"""What a loss is a function of, and the structure the conditional-risk minimisers exploit.

Small string enums: a user may still write ``input="logits"`` or ``structure="pointwise"`` (every
entry point converts with :meth:`of`, which names the argument and its allowed values on a bad
one), while the package compares members, never strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["Curvature", "Input", "Structure"]


def _member(cls: type[StrEnum], value: Any, what: str, *, or_none: bool = False) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = " / ".join(repr(m.value) for m in cls) + (" or None" if or_none else "")
        raise ValueError(f"{what} must be {allowed}, got {value!r}") from None


class Input(StrEnum):
    """What a loss is a function of."""

    PROBS = "probs"  # of p = softmax(z) only
    LOGITS = "logits"  # of the logits themselves (LDR-KL, CE+LC, a user's logit loss)

    @classmethod
    def of(cls, value: Any) -> Input:
        return _member(cls, value, "input")

    @property
    def symbol(self) -> str:
        """How reports name a point of this input: ``p`` for probabilities, ``logits``."""
        return "logits" if self is Input.LOGITS else "p"


class Structure(StrEnum):
    """How L(p, y) depends on p (see :mod:`theory.losses._core`); the minimisers use it to pick
    exact methods."""

    POINTWISE = "pointwise"  # φ(p_y)
    ARGMAX_POINTWISE = "argmax_pointwise"  # φ_top(p_y) if y = argmax p else φ_other(p_y)
    NORMALISED = "normalised"  # a(p_y) / Σ_k a(p_k)
    GENERAL = "general"  # anything else

    @classmethod
    def of(cls, value: Any) -> Structure:
        return _member(cls, value, "structure")

    @property
    def rank(self) -> int:
        """Less structured is higher: the structure of a sum is that of its highest-ranked term."""
        return _RANK[self]


_RANK = {Structure.POINTWISE: 0, Structure.ARGMAX_POINTWISE: 1, Structure.NORMALISED: 2, Structure.GENERAL: 3}


class Curvature(StrEnum):
    """The curvature of φ for a pointwise loss L(p, y) = φ(p_y)."""

    LINEAR = "linear"
    CONVEX = "convex"
    CONCAVE = "concave"

    @classmethod
    def of(cls, value: Any) -> Curvature | None:
        """None stays None (curvature unknown)."""
        return None if value is None else _member(cls, value, "curvature", or_none=True)
