"""The loss under test: a user's callable, a registered loss or a :class:`~theory.losses.Loss`."""

from __future__ import annotations

import importlib
import inspect
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory import losses
from theory.formatting import vector
from theory.losses import (
    DEFAULT_TIME_LIMIT,
    Adaptation,
    CallableLoss,
    Input,
    Loss,
    LossEvaluationError,
    from_callable,
    is_module,
    probe_inputs,
    with_time_limit,
)
from theory.validation import check_num_classes, describe

__all__ = ["LossSource", "Subject", "as_subject"]

BACKENDS = ("auto", "numpy", "torch")
#: probabilities handed to a logit loss as logits are clipped here first: log 1e-13 ≈ −30, the bound
#: of the logit minimiser's box
LOG_FLOOR = 1e-13


@dataclass(frozen=True)
class LossSource:
    """How a command line built the loss, for reproduce lines: the shell target (``pkg.mod:Cls
    --init num_classes=10``) and, when it can be imported, the Python that rebuilds it."""

    shell: str
    imports: str = ""
    expr: str = ""


@dataclass(frozen=True)
class Subject:
    """What is checked: the loss as a library :class:`Loss` and how it was given.

    ``native`` is True for library losses (they have a sympy path, so witnesses are re-checked at
    50 digits and some properties can be certified). ``imports`` + ``expr`` rebuild it in a Python
    reproduce line (``expr`` is empty, with ``python_why``, when it cannot be imported) and
    ``shell`` names it on the command line.
    ``backend_note`` says how a callable's backend was chosen (including a fallback to torch).
    """

    name: str
    loss: Loss
    K: int
    native: bool
    imports: str
    expr: str
    shell: str
    backend: str = "numpy"
    backend_note: str = ""
    python_why: str = ""
    probe_error: LossEvaluationError | None = field(default=None, compare=False)
    _cast: dict = field(default_factory=dict, compare=False, repr=False)  # a module's adapter per torch dtype

    @property
    def input(self) -> str:
        return self.loss.input

    @property
    def torch_unavailable(self) -> str | None:
        """Why the loss has no torch computation to check (None when it has one)."""
        if not _torch_available():
            return "torch is not installed"
        if isinstance(self.loss, CallableLoss) and self.loss.backend != "torch":
            return "the loss is called with numpy arrays; the numerics checks test a torch computation"
        if self.probe_error is not None:
            return "the loss failed at the probe"
        return None

    def torch_values(self, z: Any, y: Any, *, autocast: Any = None) -> Any:
        """Per-example values (autograd kept) at torch logits ``z`` (n, K) in their own dtype, as training
        computes them: a loss of probabilities gets ``softmax(z)``, a module a copy cast to ``z``'s dtype;
        ``autocast`` a torch dtype to run under CPU autocast with. Raises :class:`LossEvaluationError`."""
        import torch

        context = torch.autocast("cpu", dtype=autocast) if autocast is not None else nullcontext()
        if not isinstance(self.loss, CallableLoss):
            try:
                with context, np.errstate(all="ignore"):
                    return self.loss.torch_value(z, y)
            except Exception as err:  # noqa: BLE001  (a library loss failing in a dtype is reported like a user's)
                first = z.detach().double().numpy()[0]
                raise LossEvaluationError(f"{self.name} raised {type(err).__name__}: {err} on {z.dtype} logits "
                                          f"(first: {vector(first)}, y={int(y[0])})", x=first, y=int(y[0]),
                                          cause=f"{type(err).__name__}: {err}") from None
        adapter = self.loss.per_example
        fn = self.loss.fn if adapter is None else self._cast.setdefault(z.dtype, adapter.cast(z.dtype))
        x = z if self.input is Input.LOGITS else torch.softmax(z, dim=-1)
        with context:
            return self.loss.call_tensors(fn, x, y)

    @property
    def adaptation(self) -> Adaptation | None:
        """How a user's loss was made per-example (None for library losses)."""
        return self.loss.adaptation if isinstance(self.loss, CallableLoss) else None

    @property
    def warnings_seen(self) -> dict[str, int]:
        return dict(self.loss.warnings_seen) if isinstance(self.loss, CallableLoss) else {}

    def values(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """L(x_i, y_i) for rows x (n, K) (probabilities, or logits for logit losses); raises
        :class:`LossEvaluationError` naming the input when the loss raises or misbehaves."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if isinstance(self.loss, CallableLoss):
            return self.loss.evaluate(x, y)
        try:
            with np.errstate(all="ignore"):
                if self.input is Input.LOGITS:
                    return self.loss.from_logits(x, y, validate=False)
                return self.loss(x, y, validate=False)
        except LossEvaluationError:  # a wrapped user callable (e.g. under ε-softmax) already named the input
            raise
        except Exception as err:  # a library loss raising at an input is reported like a user's
            raise LossEvaluationError(f"{self.name} raised {type(err).__name__}: {err} on a batch of {len(x)} "
                                      f"examples (first: {vector(x[0])}, y={int(y[0])})",
                                      x=x[0], y=int(y[0]), cause=str(err), batch=(x, y)) from None

    def at(self, P: np.ndarray, y: np.ndarray) -> np.ndarray:
        """L at simplex points ``P`` (n, K): probabilities as they are, or their logits log p
        (clipped at log 1e-13 ≈ −30, the box of the logit minimiser) for logit losses."""
        return self.values(self.inputs_of(P), y)

    def inputs_of(self, P: np.ndarray) -> np.ndarray:
        P = np.asarray(P, dtype=np.float64)
        return np.log(np.clip(P, LOG_FLOOR, None)) if self.input is Input.LOGITS else P

    def matrix(self, X: np.ndarray) -> np.ndarray:
        """(n, K): L(x, k) for every input row x (probabilities or logits) and every label k, in
        one call of the loss (rows repeated, point-major, so an error names the first point)."""
        X = np.asarray(X, dtype=np.float64)
        return self.values(np.repeat(X, self.K, axis=0), np.tile(np.arange(self.K), len(X))).reshape(len(X), self.K)

    def loss_matrix(self, P: np.ndarray) -> np.ndarray:
        """(n, K): L(p, k) for every simplex point p (row of P) and every label k."""
        return self.matrix(self.inputs_of(P))

    def sums(self, P: np.ndarray) -> np.ndarray:
        """Σ_k L(p, k) for every row of P (n, K)."""
        return self.loss_matrix(P).sum(axis=1)

    def input_sums(self, X: np.ndarray) -> np.ndarray:
        """Σ_k L(x, k) for every input row (probabilities or logits)."""
        return self.matrix(X).sum(axis=1)


def _import_line(fn: Any) -> tuple[str, str, str]:
    """(import statement, expression, why-not) for a function importable by its module path."""
    if not (inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn) or isinstance(fn, type)):
        cls = type(fn)
        return "", "", (f"an instance of {cls.__module__}.{cls.__qualname__}: a line cannot rebuild it without its "
                        f"constructor's arguments (from a shell: python -m theory.checks {cls.__module__}:"
                        f"{cls.__qualname__} --init NAME=VALUE ...)")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not module or not qualname or "<" in qualname or module in ("__main__", "builtins"):
        return "", "", (f"{getattr(fn, '__name__', fn)!s} is defined in {module or 'no module'}"
                        f"{' inside a function' if qualname and '<' in qualname else ''}: move it to an importable "
                        "module to reproduce from Python")
    top = qualname.split(".")[0]
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001  (only deciding whether a line would run)
        return "", "", f"{module}.{qualname} cannot be imported by that name"
    return f"from {module} import {top}; ", qualname, ""


def _library_line(loss: Loss) -> tuple[str, str]:
    """(Python expression, shell target) rebuilding a library loss, or ("", "") when it was
    composed in code and has no registry name."""
    if loss.name not in losses.names():
        return "", ""
    try:
        same = losses.get(loss.name, **dict(loss.params)) == loss
    except (TypeError, ValueError):
        same = False
    if not same:
        return "", ""
    defaults = losses.spec(loss.name).defaults
    changed = {k: v for k, v in loss.params.items() if defaults.get(k) != v}
    args = "".join(f", {k}={v!r}" for k, v in changed.items())
    shell = loss.name + "".join(f" --param {k}={v!r}" for k, v in changed.items())
    return f"losses.get({loss.name!r}{args})", shell


def as_subject(loss: Any, *, num_classes: Any, input: Input | str | None = Input.PROBS, backend: str = "auto",
               name: str | None = None, time_limit: float | None = DEFAULT_TIME_LIMIT,
               source: LossSource | None = None) -> Subject:
    """Validate the arguments of :func:`theory.checks.check_loss` and build the :class:`Subject`."""
    K = check_num_classes(num_classes, "num_classes")
    input = None if input is None else Input.of(input)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string, got {describe(name)}")
    if source is not None and not isinstance(source, LossSource):
        raise TypeError(f"source must be a theory.checks.LossSource, got {describe(source)}")
    shell_target = source.shell if source is not None else ""
    if isinstance(loss, str):
        loss = losses.get(loss)  # KeyError lists the registered names
    if isinstance(loss, Loss):
        if input is not None and input != loss.input:
            raise ValueError(f"{loss.name} is a library loss defined on {loss.input}; got input={input.value!r} "
                             "(leave input unset for library losses)")
        if isinstance(loss, CallableLoss):
            imp, expr, why = _import_line(loss.fn)
            built = f"losses.from_callable({expr}, input={loss.input.value!r})" if expr else ""
            return Subject(name or loss.name, loss, K, False, f"from theory import losses; {imp}", built,
                           shell_target, loss.backend, python_why=why)
        expr, shell = _library_line(loss)
        why = "" if expr else f"{loss!r} was composed in code; pass the same object to check_loss"
        # a formula the user registered is user code: each evaluation gets the time limit too
        return Subject(name or loss.name, with_time_limit(loss, time_limit), K, True, "from theory import losses; ", expr,
                       shell_target or shell, "theory", python_why=why)
    if isinstance(loss, type):
        raise TypeError(f"check_loss needs a loss, got the class {loss.__module__}.{loss.__qualname__}: pass an "
                        f"instance, e.g. {loss.__qualname__}(...) (from a shell: --init NAME=VALUE builds it)")
    if not callable(loss):
        raise TypeError(f"check_loss needs a loss: a callable loss(x, y) returning one value per example or a batch "
                        f"mean or sum, a torch.nn.Module, a theory.losses.Loss or a registered loss name; got "
                        f"{describe(loss)}")
    _check_signature(loss)
    input = input or Input.PROBS
    imp, expr, why = _import_line(loss)
    if source is not None and source.expr:
        imp, expr, why = source.imports, source.expr, ""
    module = is_module(loss)
    if module and backend == "numpy":
        raise ValueError(f"{describe(loss)} is a torch.nn.Module: the numpy backend cannot call it; use backend='auto' "
                         "or 'torch'")
    label = name or (f"{loss.__module__}:{expr}" if expr else getattr(loss, "__name__", type(loss).__name__))
    backends = ("torch",) if module else ("numpy", "torch") if backend == "auto" else (backend,)
    errors: list[str] = []
    chosen, probe_error, adapted = backends[0], None, None
    x, y = probe_inputs(K, input)
    for b in backends:
        if b == "torch" and not _torch_available():
            errors.append("torch: not installed")
            continue
        try:  # a LossAdaptationError (batch-dependent, another device) is the caller's: it propagates
            candidate = from_callable(loss, input=input, backend=b, name=label, time_limit=time_limit, num_classes=K)
            candidate.evaluate(x, y)
        except LossEvaluationError as err:
            errors.append(f"{b}: {err.cause or err}")
            probe_error = probe_error or err
            if err.timed_out:  # do not spend another time limit on the other backend
                break
            continue
        chosen, probe_error, adapted = b, None, candidate
        break
    how = f"called with {chosen} float64 {'tensors' if chosen == 'torch' else 'arrays'}"
    if module:
        note = f"{how} (a torch.nn.Module)"
    elif probe_error is None and errors:
        note = f"{how}, because the other backend failed ({'; '.join(errors)})"
    elif probe_error is None:
        note = how
    else:
        note = f"no backend worked ({'; '.join(errors)})"
    if adapted is None:
        adapted = from_callable(loss, input=input, backend=chosen, name=label, time_limit=time_limit)
    shell = shell_target or (f"{loss.__module__}:{expr}" if expr and not module else "")
    return Subject(label, adapted, K, False, imp, expr, shell, chosen, note, why, probe_error)


def _check_signature(fn: Any) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    try:
        sig.bind(np.zeros((1, 2)), np.zeros(1, dtype=np.int64))
    except TypeError as err:
        raise TypeError(f"the loss must accept two positional arguments loss(x, y); {getattr(fn, '__name__', fn)}{sig} "
                        f"does not ({err})") from None


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True

