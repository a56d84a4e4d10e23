"""The domains of the registered losses' parameters: declared once, with the loss, and checked
wherever a loss is built (:meth:`theory.losses.LossSpec.build`), so that a training run, a loss
check and a claim all refuse the same values with the same message. :class:`Interval`,
``NON_NEGATIVE`` and ``CLAMP`` come from :mod:`theory.validation`, which ε-softmax checks its
own m and clamp with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from theory.validation import CLAMP, NON_NEGATIVE, Interval

__all__ = ["Interval", "OneOf", "NON_NEGATIVE", "POSITIVE", "CLAMP", "WEIGHT"]


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    options: tuple[Any, ...]

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, value: Any, what: str) -> Any:
        if value not in self.options:
            raise ValueError(f"{what} must be {self}, got {value!r}")
        return value


POSITIVE = Interval(0.0, lo_open=True)
WEIGHT = NON_NEGATIVE  # α, β of a combination
