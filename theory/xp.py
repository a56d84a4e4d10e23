"""Array namespaces: the one interface every loss and ε-softmax is written against.

Each loss is written once, as a function of a namespace ``xp`` and arrays from it. The interface
is :class:`ArrayNamespace`: every operation a loss may use, with the axis it acts on given
explicitly (classes are on ``axis=-1`` throughout the library, and every call says so). Three
implementations:

``numpy``
    ``float64`` arrays.
``torch``
    tensors on any device, autograd-aware; ``detach`` is a real stop-gradient. Imported lazily.
``sympy``
    numpy *object* arrays whose entries are sympy expressions. numpy supplies indexing,
    broadcasting and arithmetic; this namespace supplies the elementary functions. ``detach`` is
    the identity (sympy expressions are values; stop-gradient only matters to autograd), and the
    argmax index of a symbolic point must be given explicitly (:meth:`ArrayNamespace.with_argmax`).

Nothing outside this module asks which namespace it has: what differs between backends
(validation, constants, argmax of a symbolic point, calling a user's plain function) is a
method here. ``tests/test_namespaces.py`` runs every method, and user-registered losses, through
all three.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from theory.tolerances import PROB_ATOL

__all__ = ["NUMPY", "TORCH_MIN", "ArrayNamespace", "is_symbolic", "namespace_of", "require_torch", "sympy_namespace",
           "torch_namespace", "torch_threads", "torch_version_problem"]

#: the oldest torch the package works with (torch.func, torch.compile, CPU autocast in bfloat16 and float16);
#: the lower bound of the ``torch`` extra (tests/test_project_files.py holds the two equal). No upper
#: bound is checked at run time: the extra's ``<2.14`` keeps CI on this sandbox's CPU build, and a newer
#: torch already installed is used as it is (install without the extra: ``pip install -e '.[dev]'``)
TORCH_MIN = (2, 2)


def torch_version_problem(version: str) -> str | None:
    """Why the torch ``version`` (``torch.__version__``, e.g. "2.13.0+cpu") cannot be used, or None."""
    import re

    minimum = ".".join(map(str, TORCH_MIN))
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        return f"cannot read torch's version {version!r} (expected MAJOR.MINOR..., at least {minimum})"
    if (int(match[1]), int(match[2])) < TORCH_MIN:
        return f"this package needs torch >= {minimum}, found {version}; upgrade it: pip install 'torch>={minimum}'"
    return None


def require_torch():
    """The torch module, or an ImportError that says how to install it (theory and proofs_check
    import without torch; what needs it imports it through here, lazily) or that it is too old."""
    try:
        import torch
    except ImportError as err:  # pragma: no cover - exercised only without torch
        raise ImportError(
            "this feature needs PyTorch, which is not installed; install the project's torch "
            "extra: pip install -e '.[torch]'  (it pins torch>=2.2,<2.14; a newer torch you install "
            "yourself is used as it is)"
        ) from err
    problem = torch_version_problem(torch.__version__)
    if problem is not None:
        raise ImportError(problem)
    return torch


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Within this context torch runs its CPU operations on ``n`` intra-op threads; the number it had is
    restored on leaving. Nothing happens when torch has not been imported (a loss of numpy arrays need
    not pay for importing it; a torch loss has imported it). The setting is the process's: another
    thread using torch meanwhile runs on ``n`` too."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _is_torch_tensor(x: Any) -> bool:
    # Decide without importing torch: theory must import without it.
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


class ArrayNamespace(ABC):
    """The operations a loss is written with. ``axis`` is always explicit."""

    name: str = ""

    # -- values at the boundary ---------------------------------------------------------------
    @abstractmethod
    def const(self, value: Any) -> Any:
        """A scalar parameter as this namespace wants it (exact rationals for sympy)."""

    @abstractmethod
    def asarray(self, values: Any, like: Any) -> Any:
        """A constant vector (e.g. class weights) as an array matching ``like``'s kind and device."""

    @abstractmethod
    def check_probs(self, p: Any) -> Any:
        """Validate rows on the simplex (a no-op where values are symbolic) and return them."""

    @abstractmethod
    def check_scalar(self, value: Any, name: str) -> Any:
        """A finite number ≥ 0 (a symbol is accepted by sympy: its sign is the caller's assumption)."""

    @abstractmethod
    def with_argmax(self, t: int | None) -> ArrayNamespace:
        """This namespace with the argmax of symbolic points fixed to ``t`` (others: themselves)."""

    @abstractmethod
    def check_argmax(self, t: Any, p: Any) -> Any:
        """A stated argmax of ``p`` (..., K), checked and in this namespace's kind: integers in
        [0, K), one for every row or one per row, each indexing a largest entry of its row where
        ``p`` is numeric (a symbolic point's order is taken as stated)."""

    @abstractmethod
    def call_plain(self, loss: Any, x: Any, y: Any) -> Any:
        """Evaluate a user's plain function (:class:`theory.losses.CallableLoss`) on this backend."""

    # -- elementwise --------------------------------------------------------------------------
    @abstractmethod
    def log(self, x): ...

    @abstractmethod
    def exp(self, x): ...

    @abstractmethod
    def maximum(self, x, c):
        """``max(x, c)`` elementwise with a scalar ``c`` (a clamp from below)."""

    @abstractmethod
    def softplus(self, x): ...

    @abstractmethod
    def where(self, cond, a, b): ...

    @abstractmethod
    def detach(self, x):
        """Stop-gradient: value unchanged, no gradient flows (identity outside torch)."""

    # -- along an axis ------------------------------------------------------------------------
    @abstractmethod
    def take(self, p, y, axis: int):
        """``p[..., y]`` per example along ``axis``: ``p`` (..., K), ``y`` (...) integer → (...)."""

    @abstractmethod
    def sum(self, x, axis: int): ...

    @abstractmethod
    def mean(self, x, axis: int): ...

    @abstractmethod
    def norm(self, x, axis: int): ...

    @abstractmethod
    def amax(self, x, axis: int):
        """The largest entry along ``axis`` (a value, with its gradient; ties share it as torch's amax does)."""

    @abstractmethod
    def argmax(self, p, axis: int):
        """First index of the largest entry along ``axis`` (an index: it carries no gradient)."""

    @abstractmethod
    def one_hot(self, idx, like, axis: int):
        """One-hot rows of ``idx`` with the dtype and class count of ``like`` along ``axis``."""

    @abstractmethod
    def logsumexp(self, x, axis: int): ...

    @abstractmethod
    def softmax(self, z, axis: int): ...

    @abstractmethod
    def log_softmax(self, z, axis: int): ...

    @abstractmethod
    def expand(self, x, axis: int):
        """Insert an axis of length one at ``axis`` (for broadcasting against (..., K))."""

    def log_one_minus(self, p, logp, axis: int):
        """log(1 − p_k) for probabilities ``p`` (..., K) with logs ``logp``, without cancellation: for a
        class holding more than half the mass, the log of the other classes' mass (1 − p_k as a difference
        loses every digit near p_k = 1 in float32); for the others 1 − p_k ≥ 1/2 is exact enough (the
        floor 1/2 only keeps the unused branch finite, so its gradient is 0, not NaN)."""
        _check_axis(axis)
        dominant = p > 0.5
        log_rest = self.expand(self.logsumexp(self.where(dominant, logp - np.inf, logp), axis=-1), axis=-1)
        return self.where(dominant, log_rest + 0 * logp, self.log(self.maximum(1 - p, 0.5)))

    def __repr__(self) -> str:
        return f"<namespace {self.name}>"


def _check_axis(axis: int) -> None:
    if axis != -1:  # the library keeps classes on the last axis; another axis would be a bug
        raise ValueError(f"the class axis is -1 throughout theory.losses, got axis={axis!r}")


class _NumpyNamespace(ArrayNamespace):
    name = "numpy"

    def const(self, value):
        return value

    def asarray(self, values, like):
        return np.asarray(values, dtype=np.float64)

    def check_probs(self, p):
        from theory.validation import check_probs

        return check_probs(p)

    def check_scalar(self, value, name):
        from theory.validation import NON_NEGATIVE

        return float(NON_NEGATIVE.check(value, name))

    def with_argmax(self, t):
        return self

    def check_argmax(self, t, p):
        from theory.validation import check_argmax_index

        return check_argmax_index(t, np.asarray(p), int(p.shape[-1]), tuple(int(n) for n in p.shape[:-1]))

    def call_plain(self, loss, x, y):
        K = x.shape[-1]
        batch = x.shape[:-1]
        y = np.broadcast_to(np.asarray(y), batch).reshape(-1)
        return loss.evaluate(np.ascontiguousarray(np.reshape(x, (-1, K))), y).reshape(batch)

    def log(self, x):
        return np.log(x)

    def exp(self, x):
        return np.exp(x)

    def maximum(self, x, c):
        return np.maximum(x, c)

    def softplus(self, x):
        return np.logaddexp(0.0, x)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def detach(self, x):
        return x

    def take(self, p, y, axis):
        _check_axis(axis)
        return np.take_along_axis(p, np.asarray(y)[..., None], axis=-1)[..., 0]

    def sum(self, x, axis):
        return np.sum(x, axis=axis)

    def mean(self, x, axis):
        return np.mean(x, axis=axis)

    def norm(self, x, axis):
        return np.sqrt(np.sum(x * x, axis=axis))

    def amax(self, x, axis):
        return np.max(x, axis=axis)

    def argmax(self, p, axis):
        return np.argmax(p, axis=axis)

    def one_hot(self, idx, like, axis):
        _check_axis(axis)
        return (np.asarray(idx)[..., None] == np.arange(like.shape[-1])).astype(like.dtype)

    def logsumexp(self, x, axis):
        top = np.max(x, axis=axis, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        return np.log(np.sum(np.exp(x - top), axis=axis)) + np.squeeze(top, axis=axis)

    def softmax(self, z, axis):
        e = np.exp(z - np.max(z, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    def log_softmax(self, z, axis):
        return z - np.expand_dims(self.logsumexp(z, axis), axis)

    def expand(self, x, axis):
        return np.expand_dims(x, axis)


NUMPY = _NumpyNamespace()


class _SympyNamespace(_NumpyNamespace):
    """Object arrays of sympy expressions. ``t`` fixes the argmax of symbolic points."""

    name = "sympy"

    def __init__(self, t: int | None = None):
        import sympy

        self._sp = sympy
        self.t = t
        self._log = np.frompyfunc(sympy.log, 1, 1)
        self._exp = np.frompyfunc(sympy.exp, 1, 1)

    def const(self, value):
        sp = self._sp
        if isinstance(value, sp.Basic) or isinstance(value, (bool, np.bool_)):
            return value
        if isinstance(value, (int, np.integer)):
            return sp.Integer(int(value))
        if isinstance(value, (float, np.floating)):
            # Exact decimal reading: 1e-8 -> 1/100000000, 0.7 -> 7/10.
            return sp.Rational(repr(float(value)))
        return value

    def asarray(self, values, like):
        return np.array([self.const(float(v)) for v in np.ravel(values)], dtype=object).reshape(np.shape(values))

    def check_probs(self, p):
        return np.asarray(p, dtype=object) if not isinstance(p, np.ndarray) else p

    def check_scalar(self, value, name):
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            from theory.validation import NON_NEGATIVE

            NON_NEGATIVE.check(value, name)
        return self.const(value)

    def with_argmax(self, t):
        return self if t is None or t == self.t else _SympyNamespace(int(t))

    def check_argmax(self, t, p):
        from theory.validation import check_argmax_index

        return int(check_argmax_index(t, None, int(p.shape[-1]), ()))

    def call_plain(self, loss, x, y):
        raise NotImplementedError(f"{loss.name} is a plain callable: it has no symbolic form, so it is evaluated in "
                                  "float64 only")

    def log(self, x):
        return self._log(x)

    def exp(self, x):
        return self._exp(x)

    def maximum(self, x, c):
        c = self.const(c)
        return np.frompyfunc(lambda a: self._sp.Max(a, c), 1, 1)(x)

    def softplus(self, x):
        return self._log(1 + self._exp(x))

    def where(self, cond, a, b):
        try:
            cond = np.vectorize(bool, otypes=[bool])(np.asarray(cond, dtype=object))
        except TypeError as err:
            raise TypeError(
                "sympy namespace: a branch condition must be decidable; a symbolic comparison "
                "cannot choose a branch (evaluate this loss at concrete values)"
            ) from err
        return np.where(cond, a, b)

    def expand(self, x, axis):
        return np.expand_dims(np.asarray(x, dtype=object), axis)

    def mean(self, x, axis):
        return np.sum(x, axis=axis) / self._sp.Integer(x.shape[axis])

    def norm(self, x, axis):
        return np.frompyfunc(self._sp.sqrt, 1, 1)(np.sum(x * x, axis=axis))

    def amax(self, x, axis):
        x = np.asarray(x, dtype=object)
        return np.apply_along_axis(lambda row: self._sp.Max(*row), axis, x) if x.ndim > 1 else self._sp.Max(*x)

    def argmax(self, p, axis):
        if self.t is not None:
            return np.full(np.delete(np.shape(p), axis), self.t, dtype=np.int64)
        try:
            return np.argmax(np.vectorize(float, otypes=[float])(p), axis=axis)
        except TypeError as err:
            raise ValueError(
                "argmax of a symbolic probability vector is undetermined; pass the argmax "
                "index explicitly (t=...) to state which region of the simplex is meant"
            ) from err

    def one_hot(self, idx, like, axis):
        _check_axis(axis)
        hot = np.asarray(idx)[..., None] == np.arange(like.shape[-1])
        return np.where(hot, self._sp.Integer(1), self._sp.Integer(0)).astype(object)

    def logsumexp(self, x, axis):
        return self._log(np.sum(self._exp(x), axis=axis))

    def log_one_minus(self, p, logp, axis):
        _check_axis(axis)  # exact arithmetic has no cancellation to avoid
        return self._log(1 - p)

    def softmax(self, z, axis):
        e = self._exp(z)
        return e / self.expand(np.sum(e, axis=axis), axis)

    def log_softmax(self, z, axis):
        return z - self.expand(self.logsumexp(z, axis), axis)


def sympy_namespace(t: int | None = None) -> ArrayNamespace:
    """The sympy namespace; ``t`` is the argmax index assumed for symbolic points."""
    return _SympyNamespace(t)


class _TorchNamespace(ArrayNamespace):
    name = "torch"

    def __init__(self):
        self._torch = require_torch()

    def const(self, value):
        return value

    def asarray(self, values, like):
        return self._torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=like.dtype, device=like.device)

    def check_probs(self, p):
        torch = self._torch
        if not torch.is_tensor(p) or not p.is_floating_point():
            raise TypeError(f"p must be a floating-point tensor of probabilities, got {type(p).__name__}")
        if p.ndim < 1 or p.shape[-1] < 2:
            raise ValueError(f"p must have shape (..., K) with K >= 2, got {tuple(p.shape)}")
        with torch.no_grad():
            if not bool(torch.isfinite(p).all()):
                raise ValueError("p must be finite, got NaN or inf")
            if bool((p < -PROB_ATOL).any()):
                raise ValueError(f"p must be >= 0 (probabilities), got {float(p.min()):.3g}")
            off = (p.sum(-1) - 1).abs().max()
            if float(off) > PROB_ATOL * p.shape[-1]:
                raise ValueError(f"p rows must sum to 1, got a row off by {float(off):.3g}")
        return p

    def check_scalar(self, value, name):
        from theory.validation import NON_NEGATIVE

        return float(NON_NEGATIVE.check(value, name))

    def with_argmax(self, t):
        return self

    def check_argmax(self, t, p):
        from theory.validation import check_argmax_index

        torch = self._torch
        K, batch = int(p.shape[-1]), tuple(int(n) for n in p.shape[:-1])
        if not torch.is_tensor(t):
            t = torch.as_tensor(check_argmax_index(t, None, K, batch), device=p.device)
        elif t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(f"t must be an integer argmax index (or a tensor of them), got a tensor of dtype {t.dtype}")
        check_argmax_index(t.detach().cpu().numpy(), p.detach().cpu().numpy(), K, batch)
        return t

    def call_plain(self, loss, x, y):
        if loss.backend != "torch":
            raise NotImplementedError(f"{loss.name} is a numpy function; it cannot give torch gradients. Write it with "
                                      "torch operations and adapt it with backend='torch'")
        return loss.fn(x, y)

    def log(self, x):
        return self._torch.log(x)

    def exp(self, x):
        return self._torch.exp(x)

    def maximum(self, x, c):
        return self._torch.clamp(x, min=c)

    def softplus(self, x):
        return self._torch.nn.functional.softplus(x)

    def where(self, cond, a, b):
        return self._torch.where(cond, a, b)

    def detach(self, x):
        return x.detach()

    def take(self, p, y, axis):
        _check_axis(axis)
        return self._torch.gather(p, -1, y.long().unsqueeze(-1)).squeeze(-1)

    def sum(self, x, axis):
        return x.sum(dim=axis)

    def mean(self, x, axis):
        return x.mean(dim=axis)

    def norm(self, x, axis):
        return self._torch.linalg.vector_norm(x, dim=axis)

    def amax(self, x, axis):
        return x.amax(dim=axis)

    def argmax(self, p, axis):
        # Tensor.argmax returns the first maximal index, as numpy does
        return p.detach().argmax(dim=axis)

    def one_hot(self, idx, like, axis):
        _check_axis(axis)
        # a comparison, not F.one_hot: on CUDA that checks the indices' range on the host, a
        # synchronisation in every step of an ε-loss (the indices are argmaxes: always in range)
        classes = self._torch.arange(like.shape[-1], device=idx.device)
        return (idx.long()[..., None] == classes).to(like.dtype)

    def logsumexp(self, x, axis):
        return self._torch.logsumexp(x, dim=axis)

    def softmax(self, z, axis):
        return self._torch.softmax(z, dim=axis)

    def log_softmax(self, z, axis):
        return self._torch.log_softmax(z, dim=axis)

    def expand(self, x, axis):
        return x.unsqueeze(axis)


_TORCH: ArrayNamespace | None = None


def torch_namespace() -> ArrayNamespace:
    """The torch namespace (imports torch; raises ImportError with install advice)."""
    global _TORCH
    if _TORCH is None:
        _TORCH = _TorchNamespace()
    return _TORCH


def is_symbolic(x: Any) -> bool:
    """Whether ``x`` is a sympy value or a numpy object array of them."""
    if isinstance(x, np.ndarray):
        if x.dtype != object or x.size == 0:
            return False
        first = x.flat[0]
    else:
        first = x
    return type(first).__module__.startswith("sympy")


def namespace_of(x: Any, *, t: int | None = None) -> ArrayNamespace:
    """The namespace an array belongs to: torch tensor, sympy object array, else numpy."""
    if _is_torch_tensor(x):
        return torch_namespace()
    if is_symbolic(x) or type(x).__module__.startswith("sympy"):
        return sympy_namespace(t)
    return NUMPY


