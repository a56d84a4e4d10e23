"""The loss under test: a user's callable, a registered loss or a :class:`~theory.losses.Loss`.

A plain callable ``loss(x, y)`` (numpy or torch; ``x`` probabilities (n, K) or logits, ``y``
integer labels (n,), one value per example returned) is adapted into a
:class:`~theory.losses.Loss` (:class:`CallableLoss`), so the library's minimisers, finite
problems and ε-softmax wrapper apply to it unchanged. Every call goes through
:meth:`CallableLoss.evaluate`, which turns an exception or a malformed output of the user's code
into a :class:`LossEvaluationError` naming the input that triggered it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory import losses
from theory._validation import check_num_classes, describe
from theory.losses import Loss

__all__ = ["CallableLoss", "LossEvaluationError", "Subject", "as_subject", "fmt_point"]

INPUTS = ("probs", "logits")
BACKENDS = ("auto", "numpy", "torch")
MAX_LOCATE = 4096  # rows evaluated one at a time to find the input that made a batch call raise


def fmt_point(x: Any, digits: int = 4) -> str:
    """A short, exact-looking rendering of a point: [1, 0, 0] or [0.5, 0.25, 0.25]."""
    x = np.asarray(x, dtype=np.float64).ravel()
    body = ", ".join(f"{v:.{digits}g}" for v in x[:12])
    return f"[{body}{', …' if x.size > 12 else ''}]"


class LossEvaluationError(Exception):
    """The user's loss raised or returned something unusable; the message names the input."""

    def __init__(self, message: str, *, x: np.ndarray | None = None, y: Any = None, cause: str = "",
                 batch: tuple[np.ndarray, np.ndarray] | None = None):
        super().__init__(message)
        self.x, self.y, self.cause, self.batch = x, y, cause, batch


def _to_numpy(out: Any) -> np.ndarray:
    if hasattr(out, "detach") and hasattr(out, "cpu"):  # a torch tensor
        out = out.detach().cpu().double().numpy()
    arr = np.asarray(out)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"returned {describe(out)}, expected an array of numbers")
    if np.iscomplexobj(arr):
        raise TypeError(f"returned complex values ({arr.dtype}), expected real numbers")
    return arr.astype(np.float64)


@dataclass(frozen=True, repr=False)
class CallableLoss(Loss):
    """A user's ``fn(x, y) -> (n,)`` as a :class:`~theory.losses.Loss` of structure "general".

    ``backend`` is "numpy" (called with float64 arrays) or "torch" (float64 tensors on the CPU).
    Only the numpy namespace is available: a plain callable has no torch-autograd or sympy path
    through the library (it may use torch internally).
    """

    fn: Any = None
    backend: str = "numpy"

    @property
    def structure(self) -> str:
        return "general"

    def value(self, xp, pred, y):
        if xp.name != "numpy":
            raise NotImplementedError(f"{self.name} is a plain callable: it is evaluated on numpy arrays only, "
                                      f"not through the {xp.name} namespace")
        x = pred.z if self.input == "logits" else pred.p
        K = x.shape[-1]
        batch = x.shape[:-1]
        y = np.broadcast_to(np.asarray(y), batch).reshape(-1)
        return self.evaluate(np.ascontiguousarray(x.reshape(-1, K)), y).reshape(batch)

    def _call(self, x: np.ndarray, y: np.ndarray) -> Any:
        with np.errstate(all="ignore"):  # log(0) on a face is the loss's business; the checks judge the values
            return self._call_backend(x, y)

    def _call_backend(self, x: np.ndarray, y: np.ndarray) -> Any:
        if self.backend == "torch":
            import torch

            return self.fn(torch.from_numpy(np.array(x, dtype=np.float64)), torch.from_numpy(np.array(y, dtype=np.int64)))
        return self.fn(np.array(x, dtype=np.float64), np.array(y, dtype=np.int64))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Values (n,) of the user's loss at rows ``x`` (n, K) with labels ``y`` (n,)."""
        what = "logits" if self.input == "logits" else "p"
        try:
            out = self._call(x, y)
        except Exception as err:  # the user's code raised: find the input responsible
            located = self._locate(x, y, err)
            located.batch = (x, y)
            raise located from None
        try:
            arr = _to_numpy(out)
        except TypeError as err:
            raise LossEvaluationError(f"{self.name} {err} on a batch of {len(x)} examples "
                                      f"(first: {what}={fmt_point(x[0])}, y={int(y[0])})", x=x[0], y=int(y[0]),
                                      cause=str(err), batch=(x, y)) from None
        if arr.shape != (len(x),):
            raise LossEvaluationError(
                f"{self.name} returned shape {arr.shape} for a batch of {len(x)} examples with K={x.shape[-1]}; "
                f"expected one value per example, shape ({len(x)},) (no reduction, no per-class matrix)",
                x=x[0], y=int(y[0]), cause=f"shape {arr.shape}", batch=(x, y))
        return arr

    def _locate(self, x: np.ndarray, y: np.ndarray, err: Exception) -> LossEvaluationError:
        what = "logits" if self.input == "logits" else "p"
        cause = f"{type(err).__name__}: {err}"
        for i in range(min(len(x), MAX_LOCATE)):
            try:
                self._call(x[i:i + 1], y[i:i + 1])
            except Exception as single:
                return LossEvaluationError(
                    f"{self.name} raised {type(single).__name__}: {single} at {what}={fmt_point(x[i])}, y={int(y[i])}",
                    x=x[i], y=int(y[i]), cause=f"{type(single).__name__}: {single}")
        return LossEvaluationError(
            f"{self.name} raised {cause} on a batch of {len(x)} examples but on none of the first "
            f"{min(len(x), MAX_LOCATE)} alone (first: {what}={fmt_point(x[0])}, y={int(y[0])})",
            x=x[0], y=int(y[0]), cause=cause)


@dataclass(frozen=True)
class Subject:
    """What is checked: the loss as a library :class:`Loss` and how it was given.

    ``native`` is True for library losses (they have a sympy path, so witnesses are re-checked at
    50 digits and some properties can be certified); ``spec`` is how to rebuild it in a
    reproduce line; ``backend_note`` records how the backend was chosen.
    """

    name: str
    loss: Loss
    K: int
    native: bool
    spec: str
    backend: str = "numpy"
    backend_note: str = ""
    probe_error: LossEvaluationError | None = field(default=None, compare=False)

    @property
    def input(self) -> str:
        return self.loss.input

    def values(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """L(x_i, y_i) for rows x (n, K) (probabilities, or logits for logit losses); raises
        :class:`LossEvaluationError` naming the input when the loss raises or misbehaves."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if isinstance(self.loss, CallableLoss):
            return self.loss.evaluate(x, y)
        try:
            with np.errstate(all="ignore"):
                if self.input == "logits":
                    return self.loss.from_logits(x, y, validate=False)
                return self.loss(x, y, validate=False)
        except LossEvaluationError:  # a wrapped user callable (e.g. under ε-softmax) already named the input
            raise
        except Exception as err:  # a library loss raising at an input is reported like a user's
            raise LossEvaluationError(f"{self.name} raised {type(err).__name__}: {err} on a batch of {len(x)} "
                                      f"examples (first: {fmt_point(x[0])}, y={int(y[0])})",
                                      x=x[0], y=int(y[0]), cause=str(err), batch=(x, y)) from None

    def at(self, P: np.ndarray, y: np.ndarray) -> np.ndarray:
        """L at simplex points ``P`` (n, K): probabilities as they are, or their logits log p
        (clipped at log 1e-13 ≈ −30, the box of the logit minimiser) for logit losses."""
        return self.values(self.inputs_of(P), y)

    def inputs_of(self, P: np.ndarray) -> np.ndarray:
        P = np.asarray(P, dtype=np.float64)
        return np.log(np.clip(P, 1e-13, None)) if self.input == "logits" else P

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


def _name_of(fn: Any) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return f"{module}:{name}" if module and module not in ("__main__", "builtins") else name


def as_subject(loss: Any, *, num_classes: Any, input: str | None = "probs", backend: str = "auto",
               name: str | None = None) -> Subject:
    """Validate the arguments of :func:`theory.checks.check_loss` and build the :class:`Subject`."""
    K = check_num_classes(num_classes, "num_classes")
    if input is not None and input not in INPUTS:
        raise ValueError(f"input must be one of {INPUTS} (what the loss receives), got {input!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string, got {describe(name)}")
    if isinstance(loss, str):
        spec = f"losses.get({loss!r})"
        loss = losses.get(loss)  # KeyError lists the registered names
    else:
        spec = None
    if isinstance(loss, Loss):
        if input is not None and input != loss.input:
            raise ValueError(f"{loss.name} is a library loss defined on {loss.input}; got input={input!r} "
                             "(leave input unset for library losses)")
        if isinstance(loss, CallableLoss):
            return Subject(name or loss.name, loss, K, False, loss.name, loss.backend)
        return Subject(name or loss.name, loss, K, True, spec or repr(loss), "theory")
    if isinstance(loss, type) or not callable(loss):
        raise TypeError(f"check_loss needs a loss: a callable loss(x, y) returning one value per example, a "
                        f"theory.losses.Loss or a registered loss name; got {describe(loss)}")
    _check_signature(loss)
    input = input or "probs"
    label = name or _name_of(loss)
    backends = ("numpy", "torch") if backend == "auto" else (backend,)
    errors: list[str] = []
    chosen, probe_error = backends[0], None
    x, y = _probe(K, input)
    for b in backends:
        if b == "torch" and not _torch_available():
            errors.append("torch: not installed")
            continue
        adapted = CallableLoss(name=label, params={}, input=input, fn=loss, backend=b)
        try:
            adapted.evaluate(x, y)
        except LossEvaluationError as err:
            errors.append(f"{b}: {err.cause or err}")
            probe_error = probe_error or err
            continue
        chosen, probe_error = b, None
        break
    note = (f"called with {chosen} float64 arrays" if not errors else
            f"called with {chosen} float64 arrays ({'; '.join(errors)})")
    adapted = CallableLoss(name=label, params={}, input=input, fn=loss, backend=chosen)
    return Subject(label, adapted, K, False, label, chosen, note, probe_error)


def _check_signature(fn: Any) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    try:
        sig.bind(np.zeros((1, 2)), np.zeros(1, dtype=np.int64))
    except TypeError as err:
        raise TypeError(f"the loss must accept two positional arguments loss(x, y); {_name_of(fn)}{sig} "
                        f"does not ({err})") from None


def _probe(K: int, input: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(K), size=4)
    x = np.log(p) if input == "logits" else p
    return x, np.arange(4) % K


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
