"""A loss as a researcher writes it: exact per-example values from a loss that reduces its batch.

The losses of the field's public code are ``torch.nn.Module``s (or functions) on logits and
integer labels that return the batch **mean**, sometimes the sum. The checks need one value per
example. :func:`per_example` finds the way that is exact for the loss it is given, in this order
(:class:`Route`):

1. the loss returns one value per example already: it is used as given;
2. it has a ``reduction`` attribute (``torch.nn.CrossEntropyLoss``'s convention): set to "none"
   on a copy of it;
3. its call takes a ``reduction`` argument: called with ``reduction="none"``;
4. otherwise one example at a time. A batch of one has the same mean and sum, so the value of
   each example alone is exact for either reduction. Batched with ``torch.func.vmap`` where the
   loss allows it (and where its values equal a plain loop's at the probe), else a Python loop.

Routes 2 and 3 are taken only when the loss's own scalar equals the mean or the sum of the values
they give, so an attribute that is called ``reduction`` but means something else is not trusted.
For every scalar loss the reduction (:class:`Reduction`) is read off batches of two sizes (2 and
5): a mean and a sum differ there by the batch size. A scalar that is neither depends on the
batch beyond a reduction (batch statistics, a term over several examples, a class-weighted mean):
:class:`LossAdaptationError`, never a verdict.

An ``nn.Module`` is copied (the caller's object is never changed), put in eval mode, moved to the
CPU and cast to float64; a module whose tensors cannot be moved there (the ``meta`` device), a
loss that returns its values on another device than its input's, or one that sends tensors to
CUDA is refused with a :class:`LossAdaptationError` saying what was seen. A loss whose
attributes, buffers or parameters change when it is called keeps state between calls: that is
reported (:attr:`Adaptation.stateful`) and every later call starts from the state it was given,
so the checks see one fixed function.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from theory.tolerances import AGREE_ATOL, AGREE_RTOL

__all__ = ["Adaptation", "LossAdaptationError", "PerExample", "Reduction", "Route", "is_module", "per_example"]

#: the two batch sizes on which a scalar reduction is told apart (a mean and a sum differ by the size)
PROBE_SIZES = (2, 5)
#: a probe value agrees with a mean or a sum to this many units of its dtype's rounding, per example
AGREE_ULPS = 64


class LossAdaptationError(ValueError):
    """The loss cannot be scored one example at a time as it is written (it depends on the batch
    beyond a reduction, or on a device the checks cannot use); the message says what was seen."""


class Route(str, Enum):
    """How the per-example values are obtained (see the module docstring)."""

    AS_GIVEN = "as given (one value per example)"
    REDUCTION_ATTRIBUTE = "reduction='none' set on a copy of the loss"
    REDUCTION_ARGUMENT = "called with reduction='none'"
    VMAP = "one example at a time, batched with torch.func.vmap"
    LOOP = "one example at a time, in a loop"


class Reduction(str, Enum):
    """What the loss does with its batch, as measured on batches of two sizes."""

    NONE = "none"
    MEAN = "mean"
    SUM = "sum"
    MEAN_OR_SUM = "mean or sum (every probed value is 0)"


@dataclass(frozen=True)
class Adaptation:
    """How a user's loss was made per-example: the route, the reduction it applies, what was done
    to a module, the state it keeps between calls and anything else worth knowing."""

    route: Route
    reduction: Reduction
    module: str = ""
    stateful: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def adapted(self) -> bool:
        return self.route is not Route.AS_GIVEN

    def describe(self) -> str:
        """One sentence for a report's header."""
        if self.route is Route.AS_GIVEN:
            text = "per-example values as returned"
        else:
            text = f"the loss returns the batch {self.reduction.value}; per-example values {self.route.value}"
        if self.module:
            text += f"; {self.module}"
        if self.stateful:
            text += (f"; it keeps state between calls ({', '.join(self.stateful)} changed when it was called): "
                     "every call starts from the state it was given")
        return text + "".join(f"; {n}" for n in self.notes)

    def to_dict(self) -> dict[str, Any]:
        return {"route": self.route.value, "reduction": self.reduction.value, "module": self.module,
                "stateful": list(self.stateful), "notes": list(self.notes), "description": self.describe()}


# ----------------------------------------------------------------------------------------------
# State a loss keeps between calls


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _same(a: Any, b: Any) -> bool:
    if _is_tensor(a) or _is_tensor(b):
        if not (_is_tensor(a) and _is_tensor(b)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        import torch

        return bool(torch.equal(a.detach().cpu(), b.detach().cpu()))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b, equal_nan=True)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001  (an object without a usable ==: compare what it shows)
        return repr(a) == repr(b)


class _State:
    """The attributes, buffers and parameters of a callable object and its submodules: captured
    once, compared after a call, and restored before every later call where a call changed them."""

    def __init__(self, obj: Any):
        self.obj = obj
        self.snapshot = self._capture()
        self.changed: list[tuple[str, str, str]] = []

    def _owners(self):
        if hasattr(self.obj, "named_modules"):
            yield from self.obj.named_modules()
        elif hasattr(self.obj, "__dict__") and not inspect.isfunction(self.obj) and not inspect.ismethod(self.obj):
            yield "", self.obj

    def _capture(self) -> dict[tuple[str, str, str], Any]:
        internals = _module_internals()
        snap: dict[tuple[str, str, str], Any] = {}
        for prefix, owner in self._owners():
            for kind in ("_buffers", "_parameters"):
                for key, t in (vars(owner).get(kind) or {}).items():
                    if t is not None:
                        snap[(prefix, kind, key)] = t.detach().clone()
            for key, value in vars(owner).items():
                if key in internals or (callable(value) and not _is_tensor(value)):
                    continue
                try:
                    snap[(prefix, "attr", key)] = copy.deepcopy(value)
                except Exception:  # noqa: BLE001  (an attribute that cannot be copied is not tracked)
                    continue
        return snap

    def _owner(self, prefix: str) -> Any:
        return self.obj.get_submodule(prefix) if prefix else self.obj

    def _current(self, where: tuple[str, str, str]) -> Any:
        prefix, kind, key = where
        owner = self._owner(prefix)
        return vars(owner).get(kind, {}).get(key) if kind != "attr" else vars(owner).get(key, _MISSING)

    def track(self) -> None:
        """Compare with the snapshot and remember what a call changed."""
        for where, value in self.snapshot.items():
            if where not in self.changed and not _same(self._current(where), value):
                self.changed.append(where)

    def restore(self) -> None:
        for where in self.changed:
            prefix, kind, key = where
            owner, value = self._owner(prefix), self.snapshot[where]
            if kind == "attr":
                setattr(owner, key, copy.deepcopy(value))
            else:
                import torch

                with torch.no_grad():
                    current = vars(owner)[kind].get(key)
                    if current is not None and current.shape == value.shape and current.dtype == value.dtype:
                        current.copy_(value)
                    else:
                        vars(owner)[kind][key] = value.clone()

    def names(self) -> tuple[str, ...]:
        return tuple(f"{prefix + '.' if prefix else ''}{key}" for prefix, _, key in self.changed)


_MISSING = object()
_INTERNALS: frozenset[str] | None = None


def _module_internals() -> frozenset[str]:
    """The attributes every ``nn.Module`` has (hooks, registries, the training flag): not state."""
    global _INTERNALS
    if _INTERNALS is None:
        try:
            import torch

            names = set(vars(torch.nn.Module()))
        except ImportError:
            names = set()
        _INTERNALS = frozenset(names | {"training"})
    return _INTERNALS


# ----------------------------------------------------------------------------------------------
# The adapter


class PerExample:
    """``fn(x, y) -> (n,)`` for a user's loss ``target``, by the :class:`Route` :func:`per_example` chose.

    Inputs are what the loss takes (numpy arrays, or torch tensors for the torch backend); the
    values keep autograd on the torch backend (``vmap`` and the loop are differentiable).
    """

    def __init__(self, target: Any, route: Route, backend: str, state: _State | None = None):
        self.target, self.route, self.backend, self.state = target, route, backend, state

    def call(self, x: Any, y: Any) -> Any:
        """One call of the loss as the route calls it (``reduction="none"`` passed where it is an argument)."""
        if self.route is Route.REDUCTION_ARGUMENT:
            return self.target(x, y, reduction="none")
        return self.target(x, y)

    def cast(self, dtype: Any) -> PerExample:
        """The same adapter on a copy of a module cast to ``dtype`` (a function is dtype-agnostic: itself)."""
        if not is_module(self.target):
            return self
        copied = copy.deepcopy(self.target).to(dtype)
        state = None
        if self.state is not None:
            state = _State(copied)
            state.changed = list(self.state.changed)
        return PerExample(copied, self.route, self.backend, state)

    def __call__(self, x: Any, y: Any) -> Any:
        if self.state is not None and self.state.changed:
            self.state.restore()
        if self.route in (Route.AS_GIVEN, Route.REDUCTION_ATTRIBUTE, Route.REDUCTION_ARGUMENT):
            return self.call(x, y)
        if self.route is Route.VMAP:
            from torch.func import vmap

            return vmap(self._one)(x, y)
        return self._loop(x, y)

    def _one(self, a: Any, b: Any) -> Any:
        return self.call(a[None], b[None]).reshape(())

    def _loop(self, x: Any, y: Any) -> Any:
        values = []
        for i in range(len(x)):
            if self.state is not None and self.state.changed and i:
                self.state.restore()
            out = self.call(x[i:i + 1], y[i:i + 1])
            values.append(out.reshape(()) if self.backend == "torch" else np.asarray(out, dtype=np.float64).reshape(()))
        if self.backend == "torch":
            import torch

            return torch.stack(values) if values else torch.zeros(0, dtype=x.dtype)
        return np.array(values, dtype=np.float64)


def is_module(obj: Any) -> bool:
    """A ``torch.nn.Module``, decided without importing torch."""
    return any(c.__module__ == "torch.nn.modules.module" and c.__name__ == "Module" for c in type(obj).__mro__)


_CUDA_ERROR = re.compile(r"CUDA|NVIDIA driver")  # what torch says when a CPU-only build is asked for a GPU


def device_advice(what: str) -> str:
    return (f"{what}; the checks run on the CPU in float64, so the loss must build its tensors on its input's device "
            "(e.g. torch.zeros(..., device=logits.device), not .cuda() or device='cuda')")


def prepare_module(module: Any, name: str) -> tuple[Any, str]:
    """A copy of ``module`` in eval mode on the CPU in float64, and what was done to it."""
    try:
        prepared = copy.deepcopy(module)
    except Exception as err:  # noqa: BLE001
        raise LossAdaptationError(f"{name} cannot be copied ({type(err).__name__}: {err}); the checks copy a module "
                                  "so that putting it in eval mode and float64 never changes the caller's object") from None
    tensors = [*prepared.parameters(), *prepared.buffers()]
    devices = sorted({str(t.device) for t in tensors})
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in tensors if t.is_floating_point()})
    if "meta" in {t.device.type for t in tensors}:
        raise LossAdaptationError(f"{name} has parameters or buffers on the meta device (shapes without data), which "
                                  "cannot be moved to the CPU where the checks run in float64; materialise them first "
                                  "(e.g. module.to_empty(device='cpu'), then initialise them)")
    was_training = bool(getattr(module, "training", False))
    import torch

    prepared = prepared.to(device="cpu", dtype=torch.float64).eval()
    n_params = sum(1 for _ in prepared.parameters())
    n_buffers = sum(1 for _ in prepared.buffers())
    what = [f"{n_params} parameter tensor(s)" if n_params else "", f"{n_buffers} buffer(s)" if n_buffers else ""]
    text = "nn.Module copied, in eval mode on the CPU in float64"
    held = ", ".join(w for w in what if w)
    was = [w for w in ("it was in training mode" if was_training else "",
                       f"its tensors were on {', '.join(devices)}" if devices and devices != ["cpu"] else "",
                       f"its floating tensors were {', '.join(dtypes)}" if dtypes and dtypes != ["float64"] else "") if w]
    if held or was:
        text += " (" + "; ".join(([held] if held else []) + was) + ")"
    return prepared, text


def _reduction_parameter(fn: Any) -> bool:
    target = fn.forward if is_module(fn) else fn
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    return "reduction" in params


def per_example(fn: Any, *, name: str, backend: str, probe: Callable[[int], tuple[np.ndarray, np.ndarray]],
                call: Callable[[Callable[..., Any], np.ndarray, np.ndarray], Any]) -> tuple[PerExample, Adaptation]:
    """Choose the route for ``fn`` and return the adapter with its :class:`Adaptation`.

    ``probe(n)`` gives n probe inputs and labels (numpy); ``call(f, x, y)`` calls ``f`` the way
    the caller calls the loss (its backend and time limit) and returns the raw output, or raises
    :class:`~theory.losses.LossEvaluationError`. Such an error at the first call (the loss fails
    at the probe) propagates; one that says the loss needs another device becomes a
    :class:`LossAdaptationError`; one on a later route makes the next route be tried.
    """
    module = ""
    target = fn
    if is_module(fn):
        if backend != "torch":
            raise LossAdaptationError(f"{name} is a torch.nn.Module; it is checked with the torch backend")
        target, module = prepare_module(fn, name)
    state = _State(target) if not (inspect.isfunction(target) or inspect.ismethod(target)) else None
    notes: list[str] = []

    def tracked(f: Callable[..., Any], st: _State | None = state) -> Callable[..., Any]:
        """``f`` called from the state the loss was given, noting what the call changed, and back to that state."""
        def run(x, y):
            if st is not None:
                st.restore()
            try:
                return call(f, x, y)
            finally:
                if st is not None:
                    st.track()
                    st.restore()
        return run

    x5, y5 = probe(max(PROBE_SIZES))
    first = _output(tracked(target), x5, y5, name, notes, backend)
    shape = tuple(getattr(first, "shape", np.shape(first)))
    stateful = state.names() if state is not None else ()
    if shape == (len(x5),) or int(np.prod(shape, dtype=np.int64)) != 1:  # per example, or a shape the checks refuse
        return PerExample(target, Route.AS_GIVEN, backend, state), Adaptation(
            Route.AS_GIVEN, Reduction.NONE, module, stateful, tuple(notes))

    batches = [(x5[:n], y5[:n]) for n in PROBE_SIZES]
    scalar = tracked(target)

    def scalars() -> list[float]:
        return [_scalar(_output(scalar, x, y, name, [])) for x, y in batches]

    totals = scalars()
    tried: list[str] = []
    for route, candidate in _none_routes(target):
        own = state if candidate is target or state is None else _State(candidate)  # a copy has its own state
        if own is not None and own is not state:
            own.changed = list(state.changed)
        values_of = tracked(PerExample(candidate, route, backend).call, own)
        try:
            values = [_values(_output(values_of, x, y, name, []), len(x)) for x, y in batches]
        except LossAdaptationError:
            raise
        except (_evaluation_error(), ValueError) as err:  # the loss refused reduction='none': the next route
            if getattr(err, "timed_out", False):
                raise
            tried.append(f"{route.value} failed ({getattr(err, 'cause', '') or err})")
            continue
        reduction = _reduction(totals, values, first)
        if reduction is not None:
            adapter = PerExample(candidate, route, backend, own)
            return adapter, Adaptation(route, reduction, module, own.names() if own else (), tuple(notes))
        tried.append(f"{route.value} gave values whose mean and sum both differ from the loss's own scalar")

    adapter, route_notes = _one_at_a_time(target, backend, state, batches, tracked, name)
    values = [_values(_output(tracked(adapter), x, y, name, []), len(x)) for x, y in batches]
    reduction = _reduction(totals, values, first)
    if reduction is None:
        (xa, _), (xb, _) = batches
        raise LossAdaptationError(
            f"{name} returns one number for a batch, but it is neither the mean nor the sum of its values on the "
            f"examples alone: on a batch of {len(xa)} it gives {totals[0]:.9g} (alone: mean {np.mean(values[0]):.9g}, "
            f"sum {np.sum(values[0]):.9g}), on a batch of {len(xb)} {totals[1]:.9g} (mean {np.mean(values[1]):.9g}, sum "
            f"{np.sum(values[1]):.9g}). Its value depends on the batch beyond a reduction (batch statistics, a term over "
            "several examples, or a class-weighted mean such as CrossEntropyLoss(weight=...) with reduction='mean'), so "
            "it has no per-example values to check; give it reduction='none' or 'sum', or check the per-example part")
    notes += tried + route_notes
    return adapter, Adaptation(adapter.route, reduction, module, state.names() if state else (), tuple(notes))


def _none_routes(target: Any):
    """(route, loss) pairs giving reduction='none' values, as the loss offers them."""
    if isinstance(getattr(target, "reduction", None), str):
        try:
            copied = copy.deepcopy(target)
            copied.reduction = "none"
        except Exception:  # noqa: BLE001  (cannot copy or set: not this route)
            copied = None
        if copied is not None:
            yield Route.REDUCTION_ATTRIBUTE, copied
    if _reduction_parameter(target):
        yield Route.REDUCTION_ARGUMENT, target


def _one_at_a_time(target, backend, state, batches, tracked, name) -> tuple[PerExample, list[str]]:
    loop = PerExample(target, Route.LOOP, backend, state)
    if backend != "torch":
        return loop, []
    x, y = batches[-1]
    vm = PerExample(target, Route.VMAP, backend, state)
    try:
        batched = _values(_output(tracked(vm), x, y, name, []), len(x))
    except LossAdaptationError:
        raise
    except (_evaluation_error(), ValueError) as err:  # vmap refused the loss: the loop is exact too
        if getattr(err, "timed_out", False):
            raise
        why = (str(getattr(err, "cause", "") or err).strip().splitlines() or [""])[0]
        return loop, [f"torch.func.vmap could not batch it ({why[:160]}), so a loop"]
    looped = _values(_output(tracked(loop), x, y, name, []), len(x))
    if not np.allclose(batched, looped, rtol=AGREE_RTOL, atol=AGREE_ATOL, equal_nan=True):
        return loop, ["torch.func.vmap's values differed from a loop's at the probe, so a loop"]
    return vm, []


def _output(run: Callable[..., Any], x: np.ndarray, y: np.ndarray, name: str, notes: list[str],
            backend: str = "torch") -> Any:
    """The raw output of one call; device problems of a torch loss become a :class:`LossAdaptationError`
    (on the numpy backend a torch loss fails on numpy arrays, which is the next backend's business)."""
    try:
        out = run(x, y)
    except _evaluation_error() as err:  # the loss raised: a device error is refused, anything else is the caller's
        text = err.cause or str(err)
        if backend == "torch" and (_CUDA_ERROR.search(text) or "meta tensor" in text or "same device" in text):
            raise LossAdaptationError(device_advice(f"{name} raised {text.strip()[:200]} on CPU float64 input")) from None
        raise
    if _is_tensor(out):
        if out.device.type != "cpu":
            raise LossAdaptationError(device_advice(f"{name} returned its value on device {out.device} for input on "
                                                    "the CPU: it moves its input or builds tensors on a fixed device"))
        if out.is_floating_point() and out.dtype != _float64() and not any("returned" in n for n in notes):
            notes.append(f"it returned {str(out.dtype).removeprefix('torch.')} for float64 input, so its values "
                         "carry that precision's rounding")
    return out


def _evaluation_error() -> type[Exception]:
    from theory.losses._callable import LossEvaluationError  # (that module imports this one)

    return LossEvaluationError


def _float64():
    import torch

    return torch.float64


def _as_array(out: Any) -> np.ndarray:
    if _is_tensor(out):
        return out.detach().cpu().double().numpy()
    return np.asarray(out, dtype=np.float64)


def _scalar(out: Any) -> float:
    return float(_as_array(out).reshape(-1)[0])


def _values(out: Any, n: int) -> np.ndarray:
    arr = _as_array(out)
    if arr.shape != (n,):
        raise ValueError(f"gave shape {arr.shape} for a batch of {n}, expected ({n},)")
    return arr


def _reduction(totals: list[float], values: list[np.ndarray], first: Any) -> Reduction | None:
    """MEAN / SUM / MEAN_OR_SUM when the scalars agree with one of them on every probe batch."""
    eps = _eps_of(first)

    def close(a: float, b: float, n: int) -> bool:
        return bool(np.isfinite(a) and np.isfinite(b) and abs(a - b) <= AGREE_ULPS * n * eps * (1 + abs(a) + abs(b)))

    mean = all(close(s, float(np.mean(v)), len(v)) for s, v in zip(totals, values))
    total = all(close(s, float(np.sum(v)), len(v)) for s, v in zip(totals, values))
    if mean and total:
        return Reduction.MEAN_OR_SUM
    return Reduction.MEAN if mean else Reduction.SUM if total else None


def _eps_of(out: Any) -> float:
    if _is_tensor(out) and out.is_floating_point():
        import torch

        return float(torch.finfo(out.dtype).eps)
    arr = np.asarray(out)
    return float(np.finfo(arr.dtype).eps) if np.issubdtype(arr.dtype, np.floating) else float(np.finfo(np.float64).eps)
