"""Calling a user's code with a time limit, and the error every misbehaving call becomes.

A user's code reaches the library two ways: a plain function adapted by
:func:`theory.losses.from_callable` (:class:`~theory.losses.CallableLoss`, every call guarded), and a
formula registered with :func:`theory.losses.register` (an :class:`~theory.losses.Atom` whose
function lives outside this package; :func:`with_time_limit` gives such atoms the checks' limit).
Both stop a call that does not return within its limit with :class:`LossTimeout`, raised inside the
call by ``SIGALRM``, and report it as a :class:`LossEvaluationError` naming the input.

The limit is enforced in the main thread (where signals are delivered); limits nest (an inner
limit never outlives, nor cancels, an outer one). A C extension that never returns to Python
cannot be interrupted.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["LossEvaluationError", "LossTimeout", "enforceable", "time_limit"]

#: an enclosing limit that is spent still gets a timer of this many seconds (setitimer(0) would disarm it)
_SPENT = 1e-6


class LossEvaluationError(Exception):
    """The user's loss raised or returned something unusable; the message names the input."""

    def __init__(self, message: str, *, x: np.ndarray | None = None, y: Any = None, cause: str = "",
                 batch: tuple[np.ndarray, np.ndarray] | None = None, timed_out: bool = False):
        super().__init__(message)
        self.x, self.y, self.cause, self.batch, self.timed_out = x, y, cause, batch, timed_out


class LossTimeout(BaseException):
    """Raised inside the user's function when its time limit expires (a BaseException, so that
    an ``except Exception`` in the user's code does not swallow it)."""


def enforceable() -> bool:
    """Whether a time limit can be enforced here: signals exist and this is the main thread."""
    return hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float | None):
    """Raise :class:`LossTimeout` in the body once ``seconds`` have passed (None: no limit). Inside
    another limit, the body gets the smaller of the two, and the outer limit keeps running."""
    if seconds is None or seconds <= 0 or not enforceable():
        yield
        return
    outer, _ = signal.getitimer(signal.ITIMER_REAL)  # seconds left of an enclosing limit (0: none)
    limit = min(seconds, outer) if outer > 0 else seconds

    def expire(signum, frame):
        raise LossTimeout(f"did not return within {limit:g} s")

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:  # the enclosing limit goes on with what is left of it (at once when it is spent)
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), _SPENT))
