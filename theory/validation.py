"""Validation at the boundary: every message says what was expected and what was seen."""

from __future__ import annotations

import math
import numbers
import reprlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory.tolerances import PROB_ATOL, ROW_SUM_ATOL

__all__ = [
    "CLAMP",
    "NON_NEGATIVE",
    "Interval",
    "check_argmax_index",
    "check_labels",
    "check_num_classes",
    "check_probs",
    "check_rate",
    "check_seed",
    "check_transition",
    "describe",
]


_SHORT = reprlib.Repr()  # a few items, two levels (set as attributes: keywords need Python 3.12)
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxlong, _SHORT.maxother = 2, 40, 40, 40
_SHORT.maxtuple = _SHORT.maxlist = _SHORT.maxarray = _SHORT.maxset = _SHORT.maxfrozenset = _SHORT.maxdeque = 6
_SHORT.maxdict = 4


def describe(x: Any) -> str:
    """A short description of a value for error messages: its type, its shape and dtype or its
    length, and the start of its repr. The repr is bounded (``reprlib``: a few items, two levels),
    so a value read from a file (a nested list of 10⁹ elements in a few hundred bytes of pickle)
    is described without being expanded."""
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    try:
        text = _SHORT.repr(x)
    except Exception:  # noqa: BLE001 - e.g. an int beyond the digits str() allows; the type still says enough
        text = "…"
    sized = isinstance(x, (list, tuple, dict, set, frozenset))
    size = f" of {len(x)} item{'' if len(x) == 1 else 's'}" if sized else ""
    return f"{type(x).__name__}{size} {text[:60]}{'…' if len(text) > 60 else ''}"


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


NON_NEGATIVE = Interval(0.0)
CLAMP = Interval(0.0, 1.0, hi_open=True)  # a floor on probabilities before a log or a power


def check_num_classes(K: Any, name: str = "K") -> int:
    if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 2:
        raise ValueError(f"{name} must be an integer number of classes >= 2, got {K!r}")
    return int(K)


def check_seed(seed: Any, name: str = "seed", *, generator: bool = False) -> Any:
    """A seed: a non-negative integer (0 is valid), or with ``generator`` a numpy Generator as well."""
    if generator and isinstance(seed, np.random.Generator):
        return seed
    kinds = "a non-negative integer or a numpy Generator" if generator else "a non-negative integer"
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be {kinds} (0 is valid), got {describe(seed)}")
    if seed < 0:
        raise ValueError(f"{name} must be {kinds} (0 is valid), got {describe(seed)}")
    return int(seed)


def check_rate(rate: Any, name: str = "rate") -> float:
    """A noise rate in [0, 1)."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1), got {describe(rate)}")
    r = float(rate)
    if not (0.0 <= r < 1.0):  # also rejects NaN
        raise ValueError(f"{name} must lie in [0, 1), got {rate!r}")
    return r


def check_argmax_index(t: Any, p: np.ndarray | None, K: int, batch: tuple[int, ...], name: str = "t") -> np.ndarray:
    """An integer index (or array of them, of the batch shape ``batch`` or a scalar for every
    row) in [0, K) that picks a largest entry of its row of ``p`` (numeric p; None: symbolic)."""
    arr = np.asarray(t)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer argmax index (or an array of them), got {describe(t)}")
    if arr.shape not in ((), tuple(batch)):
        raise ValueError(f"{name} must be a scalar or have the batch shape {tuple(batch)} of p, got shape {arr.shape}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= K:
            raise ValueError(f"{name} must index a class in [0, {K - 1}], got {lo if lo < 0 else hi}")
    if p is not None and p.size:
        at_t = np.take_along_axis(p, np.broadcast_to(arr, batch)[..., None], axis=-1)[..., 0]
        below = at_t < p.max(axis=-1)
        if below.any():
            idx = tuple(int(i) for i in np.argwhere(below)[0]) if below.ndim else ()
            raise ValueError(
                f"{name} must index a largest entry of its row of p (the argmax), got {name}="
                f"{int(np.broadcast_to(arr, batch)[idx])} where p is {float(at_t[idx]):.6g} < max "
                f"{float(p.max(axis=-1)[idx]):.6g} (row {idx})"
            )
    return arr.astype(np.int64, copy=False)


def check_probs(p: Any, name: str = "p", *, atol: float = PROB_ATOL) -> np.ndarray:
    """Rows on the probability simplex: shape (..., K) with K >= 2, finite, >= 0, sum 1."""
    arr = np.asarray(p)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array of probabilities, got {describe(p)}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim < 1 or arr.shape[-1] < 2:
        raise ValueError(
            f"{name} must have shape (..., K) with K >= 2 classes on the last axis, "
            f"got shape {arr.shape}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite, got {arr[idx]} at index {idx}")
    neg = arr < -atol
    if neg.any():
        idx = tuple(int(i) for i in np.argwhere(neg)[0])
        raise ValueError(f"{name} must be >= 0 (probabilities), got {arr[idx]:.3g} at index {idx}")
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > atol * arr.shape[-1]
    if off.any():
        idx = tuple(int(i) for i in np.argwhere(off)[0])
        raise ValueError(
            f"{name} rows must sum to 1 (within {atol:g} per class), "
            f"got row {idx} summing to {sums[idx]:.9g}"
        )
    return arr


def check_labels(y: Any, K: int, *, shape: tuple[int, ...] | None = None, name: str = "y") -> np.ndarray:
    """Integer class labels in [0, K), of the given batch shape when one is given."""
    arr = np.asarray(y)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class labels, got {describe(y)}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} to match the predictions, got {arr.shape}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= K:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} labels must lie in [0, {K - 1}] for K={K} classes, got {bad}")
    return arr.astype(np.int64, copy=False)


def check_transition(T: Any, name: str = "T", *, atol: float = ROW_SUM_ATOL) -> np.ndarray:
    """A row-stochastic K×K matrix: T[i, j] = P(noisy = j | clean = i)."""
    arr = np.asarray(T)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a numeric K×K matrix, got {describe(T)}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
        raise ValueError(f"{name} must be a square K×K matrix with K >= 2, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, got {arr[idx]} at {idx}")
    if (arr < -atol).any():
        idx = tuple(int(i) for i in np.argwhere(arr < -atol)[0])
        raise ValueError(f"{name} entries must be >= 0, got {arr[idx]:.3g} at {idx}")
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > atol * arr.shape[0]
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(
            f"{name} must be row-stochastic (T[i, j] = P(noisy=j | clean=i), rows sum to 1), "
            f"got row {i} summing to {sums[i]:.9g}"
        )
    return np.clip(arr, 0.0, None)
