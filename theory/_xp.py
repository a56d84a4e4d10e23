"""Array namespaces: the few operations every loss is written with.

Each loss and ε-softmax is written once, as a function of a namespace ``xp`` and arrays from
that namespace. Three namespaces exist:

``numpy``
    ``float64`` arrays; classes on the last axis.
``torch``
    tensors on any device, autograd-aware; ``detach`` is a real stop-gradient. Imported lazily.
``sympy``
    numpy *object* arrays whose entries are sympy expressions. numpy supplies indexing,
    broadcasting and arithmetic; this namespace supplies the elementary functions. ``detach`` is
    the identity (sympy expressions are values; stop-gradient only matters to autograd), and the
    argmax index of a symbolic point must be given explicitly as ``t``.

Only what the losses need is here; it is not a general array API.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Namespace", "NUMPY", "namespace_of", "sympy_namespace", "torch_namespace"]


def _is_torch_tensor(x: Any) -> bool:
    # Decide without importing torch: theory must import without it.
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


class Namespace:
    """numpy implementation; the other namespaces override what differs."""

    name = "numpy"

    # -- constants and conversion -------------------------------------------------------------
    def const(self, value: Any) -> Any:
        """A scalar parameter as this namespace wants it (exact rationals for sympy)."""
        return value

    # -- elementwise --------------------------------------------------------------------------
    def log(self, x):
        return np.log(x)

    def exp(self, x):
        return np.exp(x)

    def maximum(self, x, c):
        """``max(x, c)`` elementwise with a scalar ``c`` (a clamp from below)."""
        return np.maximum(x, c)

    def softplus(self, x):
        return np.logaddexp(0.0, x)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def detach(self, x):
        """Stop-gradient: value unchanged, no gradient flows (identity outside torch)."""
        return x

    # -- along the class axis (last) ----------------------------------------------------------
    def take(self, p, y):
        """``p[..., y]`` per example: ``p`` (..., K), ``y`` (...) integer → (...)."""
        return np.take_along_axis(p, np.asarray(y)[..., None], axis=-1)[..., 0]

    def sum(self, x):
        return np.sum(x, axis=-1)

    def mean(self, x):
        return np.mean(x, axis=-1)

    def norm(self, x):
        return np.sqrt(np.sum(x * x, axis=-1))

    def argmax(self, p):
        """First index of the largest entry along the last axis."""
        return np.argmax(p, axis=-1)

    def one_hot(self, idx, like):
        """One-hot rows of ``idx`` with the dtype and class count of ``like`` (..., K)."""
        K = like.shape[-1]
        return (np.asarray(idx)[..., None] == np.arange(K)).astype(like.dtype)

    def logsumexp(self, x):
        top = np.max(x, axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        return np.log(np.sum(np.exp(x - top), axis=-1)) + top[..., 0]

    def softmax(self, z):
        e = np.exp(z - np.max(z, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    def log_softmax(self, z):
        return z - self.logsumexp(z)[..., None]

    def expand(self, x):
        """Append a class axis of length one, for broadcasting against (..., K)."""
        return x[..., None]

    def __repr__(self) -> str:
        return f"<namespace {self.name}>"


NUMPY = Namespace()


class _SympyNamespace(Namespace):
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
        if isinstance(value, sp.Basic):
            return value
        if isinstance(value, (bool, np.bool_)):
            return value
        if isinstance(value, (int, np.integer)):
            return sp.Integer(int(value))
        if isinstance(value, (float, np.floating)):
            # Exact decimal reading: 1e-8 -> 1/100000000, 0.7 -> 7/10.
            return sp.Rational(repr(float(value)))
        return value

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

    def expand(self, x):
        return np.asarray(x, dtype=object)[..., None]

    def sum(self, x):
        return np.sum(x, axis=-1)

    def mean(self, x):
        return np.sum(x, axis=-1) / self._sp.Integer(x.shape[-1])

    def norm(self, x):
        return np.frompyfunc(self._sp.sqrt, 1, 1)(np.sum(x * x, axis=-1))

    def argmax(self, p):
        if self.t is not None:
            return np.full(p.shape[:-1], self.t, dtype=np.int64)
        try:
            return np.argmax(np.vectorize(float, otypes=[float])(p), axis=-1)
        except TypeError as err:
            raise ValueError(
                "argmax of a symbolic probability vector is undetermined; pass the argmax "
                "index explicitly (t=...) to state which region of the simplex is meant"
            ) from err

    def one_hot(self, idx, like):
        K = like.shape[-1]
        hot = np.asarray(idx)[..., None] == np.arange(K)
        return np.where(hot, self._sp.Integer(1), self._sp.Integer(0)).astype(object)

    def logsumexp(self, x):
        return self._log(np.sum(self._exp(x), axis=-1))

    def softmax(self, z):
        e = self._exp(z)
        return e / self.expand(np.sum(e, axis=-1))

    def log_softmax(self, z):
        return z - self.expand(self.logsumexp(z))


def sympy_namespace(t: int | None = None) -> Namespace:
    """The sympy namespace; ``t`` is the argmax index assumed for symbolic points."""
    return _SympyNamespace(t)


class _TorchNamespace(Namespace):
    name = "torch"

    def __init__(self):
        from theory._torch_import import require_torch

        self._torch = require_torch()

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

    def take(self, p, y):
        if p.shape[-1] == 1:  # a one-column view (pointwise losses inside ε-softmax): y is 0
            return p[..., 0]
        return self._torch.gather(p, -1, y.long().unsqueeze(-1)).squeeze(-1)

    def sum(self, x):
        return x.sum(dim=-1)

    def mean(self, x):
        return x.mean(dim=-1)

    def norm(self, x):
        return self._torch.linalg.vector_norm(x, dim=-1)

    def argmax(self, p):
        # Tensor.argmax returns the first maximal index, as numpy does; an index carries no
        # gradient.
        return p.detach().argmax(dim=-1)

    def one_hot(self, idx, like):
        K = like.shape[-1]
        return self._torch.nn.functional.one_hot(idx.long(), K).to(like.dtype)

    def logsumexp(self, x):
        return self._torch.logsumexp(x, dim=-1)

    def softmax(self, z):
        return self._torch.softmax(z, dim=-1)

    def log_softmax(self, z):
        return self._torch.log_softmax(z, dim=-1)

    def expand(self, x):
        return x.unsqueeze(-1)


_TORCH: Namespace | None = None


def torch_namespace() -> Namespace:
    """The torch namespace (imports torch; raises ImportError with install advice)."""
    global _TORCH
    if _TORCH is None:
        _TORCH = _TorchNamespace()
    return _TORCH


def _is_symbolic(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        if x.dtype != object or x.size == 0:
            return False
        first = x.flat[0]
    else:
        first = x
    return type(first).__module__.startswith("sympy")


def namespace_of(x: Any, *, t: int | None = None) -> Namespace:
    """The namespace an array belongs to: torch tensor, sympy object array, else numpy."""
    if _is_torch_tensor(x):
        return torch_namespace()
    if _is_symbolic(x) or type(x).__module__.startswith("sympy"):
        return sympy_namespace(t)
    return NUMPY
