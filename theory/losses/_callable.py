"""A user's plain function ``loss(x, y)`` as a :class:`~theory.losses.Loss`, called defensively.

:func:`from_callable` adapts ``fn(x, y) -> (n,)`` (numpy or torch; ``x`` probabilities (n, K) or
logits, ``y`` integer labels (n,)) so that the library's minimisers, finite problems and the
ε-softmax wrapper apply to it unchanged. Every call goes through :meth:`CallableLoss.evaluate`,
which turns whatever the user's code does wrong into a :class:`LossEvaluationError` naming the
input that triggered it:

- an exception of any kind, ``sys.exit`` (``SystemExit``) included; only ``KeyboardInterrupt``
  passes through, so Ctrl-C still stops the program;
- a call that does not return within ``time_limit`` seconds (:func:`theory.losses._guard.time_limit`:
  ``SIGALRM``, enforced in the main thread, where the checks run; a C extension that never returns
  to Python cannot be interrupted);
- complex values (refused, never cast: a cast would drop the imaginary part), a wrong shape,
  non-numeric output.

Warnings the function emits are captured and counted (:attr:`CallableLoss.warnings_seen`), not
re-emitted once per call. A numpy function receives read-only views of the caller's arrays (no
copy per call; a function that writes into its input gets an error saying to copy it first).
"""

from __future__ import annotations

import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory.formatting import vector
from theory.losses._core import Loss
from theory.losses._guard import LossEvaluationError, LossTimeout, time_limit
from theory.losses._kinds import Input, Structure
from theory.losses._per_example import Adaptation, PerExample, per_example
from theory.validation import check_num_classes, describe

__all__ = ["CallableLoss", "LossEvaluationError", "LossTimeout", "from_callable"]

BACKENDS = ("numpy", "torch")
MAX_LOCATE = 256  # rows evaluated one at a time to find the input that made a batch call raise
DEFAULT_TIME_LIMIT = 30.0  # seconds per call of the user's function


def _to_numpy(out: Any) -> np.ndarray:
    if hasattr(out, "detach") and hasattr(out, "cpu"):  # a torch tensor
        if getattr(out, "is_complex", lambda: False)():
            raise TypeError(f"returned complex values ({out.dtype}), expected real numbers")
        out = out.detach().cpu().double().numpy()
    arr = np.asarray(out)
    if np.iscomplexobj(arr):
        raise TypeError(f"returned complex values ({arr.dtype}), expected real numbers")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"returned {describe(out)}, expected an array of real numbers")
    return arr.astype(np.float64)


@dataclass(frozen=True, repr=False)
class CallableLoss(Loss):
    """A user's ``fn(x, y) -> (n,)`` as a :class:`~theory.losses.Loss` of general structure.

    ``backend`` is "numpy" (called with float64 arrays) or "torch" (float64 tensors on the CPU
    for the checks; the torch namespace passes its own tensors through, so autograd works when
    the function is written with torch operations). There is no sympy path: re-checks of a plain
    callable are float64 evaluations, and reports say so.
    """

    fn: Any = None
    backend: str = "numpy"
    time_limit: float | None = DEFAULT_TIME_LIMIT
    warnings_seen: Counter = field(default_factory=Counter, compare=False)
    per_example: PerExample | None = field(default=None, compare=False)
    adaptation: Adaptation | None = field(default=None, compare=False)

    @property
    def structure(self) -> Structure:
        return Structure.GENERAL

    def value(self, xp, pred, y):
        return xp.call_plain(self, pred.z if self.input is Input.LOGITS else pred.p, y)

    def torch_call(self, x: Any, y: Any) -> Any:
        """The per-example values on torch tensors, through the adapter when there is one (autograd kept)."""
        return (self.per_example or self.fn)(x, y)

    # -- guarded calls -------------------------------------------------------------------------
    @contextmanager
    def _watched(self):
        """A call of the user's code: within the time limit, numpy's warnings silenced, Python's counted
        (:attr:`warnings_seen`, torch's own batching notices left out) when the call returns."""
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"), time_limit(self.time_limit):
            warnings.simplefilter("always")
            yield
        for w in caught:
            if not _is_torch_internal(w):
                self.warnings_seen[f"{w.category.__name__}: {w.message}"] += 1

    def _call(self, x: np.ndarray, y: np.ndarray, fn: Any = None) -> Any:
        fn = fn if fn is not None else (self.per_example or self.fn)
        with self._watched():
            if self.backend == "torch":
                import torch

                return fn(torch.from_numpy(np.array(x, dtype=np.float64)), torch.from_numpy(np.array(y, dtype=np.int64)))
            # read-only views: no copy per call (loss vectors call once per label), and no write-back
            return fn(_read_only(x, np.float64), _read_only(y, np.int64))

    def call_tensors(self, fn: Any, x: Any, y: Any) -> Any:
        """``fn(x, y)`` on torch tensors as given (any dtype, autograd kept), within the time limit and
        with warnings counted; whatever goes wrong is a :class:`LossEvaluationError` naming the first input."""
        first = x.detach().double().cpu().numpy()[0] if len(x) else None
        label = int(y[0]) if len(y) else None
        what = self.input.symbol
        try:
            with self._watched():
                return fn(x, y)
        except KeyboardInterrupt:
            raise
        except LossTimeout as err:
            raise LossEvaluationError(f"{self.name} {err} on a batch of {len(x)} {x.dtype} examples (first: {what}="
                                      f"{vector(first)}, y={label})", x=first, y=label, cause=str(err),
                                      timed_out=True) from None
        except BaseException as err:  # noqa: BLE001  (the user's code: sys.exit included)
            raise LossEvaluationError(f"{self.name} raised {_describe_error(err)} on a batch of {len(x)} {x.dtype} "
                                      f"examples (first: {what}={vector(first)}, y={label})", x=first, y=label,
                                      cause=_describe_error(err)) from None

    def raw(self, fn: Any, x: np.ndarray, y: np.ndarray) -> Any:
        """``fn``'s output at ``(x, y)`` called as the loss is (backend, time limit, warnings), unconverted;
        whatever goes wrong is a :class:`LossEvaluationError` naming the batch."""
        what = self.input.symbol
        try:
            return self._call(x, y, fn)
        except KeyboardInterrupt:
            raise
        except LossTimeout as err:  # never locate by calling again: each call could hang as long
            raise LossEvaluationError(f"{self.name} {err} on a batch of {len(x)} examples (first: "
                                      f"{what}={vector(x[0])}, y={int(y[0])}); raise time_limit if it is just slow",
                                      x=x[0], y=int(y[0]), cause=str(err), batch=(x, y), timed_out=True) from None
        except BaseException as err:  # noqa: BLE001  (the user's code, sys.exit included: find the input responsible)
            located = self._locate(x, y, err, fn)
            located.batch = (x, y)
            raise located from None

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Values (n,) of the user's loss at rows ``x`` (n, K) with labels ``y`` (n,)."""
        what = self.input.symbol
        out = self.raw(self.per_example or self.fn, x, y)
        try:
            arr = _to_numpy(out)
        except TypeError as err:
            raise LossEvaluationError(f"{self.name} {err} on a batch of {len(x)} examples "
                                      f"(first: {what}={vector(x[0])}, y={int(y[0])})", x=x[0], y=int(y[0]),
                                      cause=str(err), batch=(x, y)) from None
        if arr.shape != (len(x),):
            raise LossEvaluationError(
                f"{self.name} returned shape {arr.shape} for a batch of {len(x)} examples with K={x.shape[-1]}; "
                f"expected one value per example, shape ({len(x)},) (no reduction, no per-class matrix)",
                x=x[0], y=int(y[0]), cause=f"shape {arr.shape}", batch=(x, y))
        return arr

    def _locate(self, x: np.ndarray, y: np.ndarray, err: BaseException, fn: Any = None) -> LossEvaluationError:
        what = self.input.symbol
        cause = _describe_error(err)
        for i in range(min(len(x), MAX_LOCATE)):
            try:
                self._call(x[i:i + 1], y[i:i + 1], fn)
            except KeyboardInterrupt:
                raise
            except LossTimeout as single:
                return LossEvaluationError(f"{self.name} {single} at {what}={vector(x[i])}, y={int(y[i])}",
                                           x=x[i], y=int(y[i]), cause=str(single), timed_out=True)
            except BaseException as single:
                return LossEvaluationError(
                    f"{self.name} raised {_describe_error(single)} at {what}={vector(x[i])}, y={int(y[i])}",
                    x=x[i], y=int(y[i]), cause=_describe_error(single))
        return LossEvaluationError(
            f"{self.name} raised {cause} on a batch of {len(x)} examples but on none of the first "
            f"{min(len(x), MAX_LOCATE)} alone (first: {what}={vector(x[0])}, y={int(y[0])})",
            x=x[0], y=int(y[0]), cause=cause)


def _is_torch_internal(w: warnings.WarningMessage) -> bool:
    """A warning torch raises about its own machinery while batching the loss (vmap's fallback
    for an operation without a batching rule), not one the loss emits."""
    return "batching rule" in str(w.message) and "torch" in (w.filename or "") or "functorch" in (w.filename or "")


def _read_only(a: np.ndarray, dtype) -> np.ndarray:
    view = np.asarray(a, dtype=dtype).view()
    view.flags.writeable = False
    return view


def _describe_error(err: BaseException) -> str:
    if isinstance(err, SystemExit):
        return f"SystemExit({err.code!r}) (the loss called sys.exit)"
    if isinstance(err, ValueError) and "read-only" in str(err):
        return (f"ValueError: {err} (the loss writes into its input arrays, which are read-only views of the "
                "caller's points; work on a copy, e.g. p = p.copy())")
    return f"{type(err).__name__}: {err}"


def from_callable(fn: Any, *, input: Input | str = Input.PROBS, backend: str = "numpy", name: str | None = None,
                  time_limit: float | None = DEFAULT_TIME_LIMIT, num_classes: int | None = None) -> CallableLoss:
    """A plain function ``fn(x, y)`` as a :class:`~theory.losses.Loss` (see the module docstring).

    With ``num_classes``, ``fn`` may be a loss as written for training: an ``nn.Module`` or a
    function that returns the batch mean or sum. It is probed at that K and made per-example the
    exact way (:mod:`theory.losses._per_example`); :attr:`CallableLoss.adaptation` says how. A
    probe at which the loss raises or hangs raises :class:`LossEvaluationError`; a loss that
    depends on the batch beyond a reduction, or on a device other than the CPU, raises
    :class:`~theory.losses.LossAdaptationError`.
    """
    if isinstance(fn, Loss):
        return fn
    if isinstance(fn, type) or not callable(fn):
        raise TypeError(f"expected a callable loss(x, y), got {describe(fn)}")
    input = Input.of(input)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}")
    label = name or getattr(fn, "__name__", None) or type(fn).__name__
    loss = CallableLoss(name=label, params={}, input=input, fn=fn, backend=backend, time_limit=time_limit)
    if num_classes is None:
        return loss
    K = check_num_classes(num_classes, "num_classes")
    adapter, adaptation = per_example(fn, name=label, backend=backend, probe=lambda n: probe_inputs(K, input, n),
                                      call=loss.raw)
    return CallableLoss(name=label, params={}, input=input, fn=fn, backend=backend, time_limit=time_limit,
                        per_example=adapter, adaptation=adaptation)


def probe_inputs(K: int, input: Input, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``n`` interior points (Dirichlet(1), fixed seed) as probabilities or their logs, labels 0, 1, ….
    The first call of a user's loss, so that a loss that fails everywhere is reported at a simple input."""
    p = np.random.default_rng(0).dirichlet(np.ones(K), size=n)
    return (np.log(p) if input is Input.LOGITS else p), np.arange(n) % K
