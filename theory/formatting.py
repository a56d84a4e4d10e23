"""One rendering of vectors for messages, witnesses and reports."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["clip", "number", "vector"]


def number(x: float) -> str:
    """A number as the reports write it: ``%g`` without exponent padding or sign (1e10, 1e-9, 0.5)."""
    return f"{x:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def clip(text: str, n: int) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``n`` characters with "…" when longer."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def vector(x: Any, *, digits: int = 4, width: int = 12) -> str:
    """``[1, 0, 0]``, or ``[0.5, 0.25, …, 0.1] (100 entries)`` when longer than ``width``: numbers
    with ``digits`` significant digits, anything else (a sympy value, a string) as ``str``. A cut
    vector always ends with an ellipsis, its last entry and its length, so it is never mistaken
    for the whole."""
    flat = np.asarray(x, dtype=object).ravel()

    def one(v: Any) -> str:
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
            return f"{float(v):.{digits}g}"
        return str(v)

    if flat.size <= width:
        return "[" + ", ".join(one(v) for v in flat) + "]"
    head = ", ".join(one(v) for v in flat[: width - 1])
    return f"[{head}, …, {one(flat[-1])}] ({flat.size} entries)"
