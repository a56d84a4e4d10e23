"""The domains of the registered losses' parameters: declared once, with the loss, and checked
wherever a loss is built (:meth:`theory.losses.LossSpec.build`), so that a training run, a loss
check and a claim all refuse the same values with the same message."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from theory._validation import describe

__all__ = ["Interval", "OneOf", "NON_NEGATIVE", "POSITIVE", "CLAMP", "WEIGHT"]


def _fmt(x: float) -> str:
    return "∞" if x == math.inf else "−∞" if x == -math.inf else f"{x:g}"


@dataclass(frozen=True)
class Interval:
    """A finite real number in an interval; ``lo_open``/``hi_open`` exclude the ends."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def __str__(self) -> str:
        left = "(" if self.lo_open or self.lo == -math.inf else "["
        right = ")" if self.hi_open or self.hi == math.inf else "]"
        return f"{left}{_fmt(self.lo)}, {_fmt(self.hi)}{right}"

    def contains(self, v: float) -> bool:
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return math.isfinite(v) and above and below

    def check(self, value: Any, what: str) -> Any:
        """``value`` itself when it lies in the interval; else TypeError / ValueError naming it."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{what} must be a real number in {self}, got {describe(value)}")
        if not self.contains(float(value)):
            raise ValueError(f"{what} must be a finite real number in {self}, got {value!r}")
        return value


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


NON_NEGATIVE = Interval(0.0)
POSITIVE = Interval(0.0, lo_open=True)
CLAMP = Interval(0.0, 1.0, hi_open=True)  # a floor on probabilities before a log or a power
WEIGHT = NON_NEGATIVE  # α, β of a combination
