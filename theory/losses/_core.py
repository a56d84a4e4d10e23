"""Loss objects: atoms, the ε-softmax wrapper and weighted sums, evaluated from any namespace.

A loss is a function ``value(xp, pred, y)`` returning per-example values, where ``pred`` is a
:class:`Pred` (probabilities, their logs and, when known, the logits) and ``y`` integer labels.
Composite losses are built from atoms with ``+``, scalar ``*`` and :func:`with_eps_softmax`;
there are no combination classes.

Structure (:class:`~theory.losses.Structure`), used by the conditional-risk minimisers in
:mod:`theory.minimise`:

``POINTWISE``
    L(p, y) = φ(p_y): depends on the label's own probability only.
``ARGMAX_POINTWISE``
    L(p, y) = φ_top(p_y) if y = argmax p else φ_other(p_y) (ε-losses, their sums with MAE).
``NORMALISED``
    L(p, y) = a(p_y) / Σ_k a(p_k) with a decreasing, a(1) = 0 and a(0+) = ∞ (NCE, NFL): the
    loss vector (L(p, k))_k ranges over the open simplex.
``GENERAL``
    anything else.

Pointwise and argmax-pointwise losses may also declare :class:`Pieces`: break points in p_y
between which φ_top and φ_other are convex (a clamp makes φ flat below it, so the clamp is a
break). The minimisers use them to enumerate convex sub-problems exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory.formatting import vector
from theory.losses._guard import LossEvaluationError, LossTimeout, time_limit
from theory.losses._kinds import Curvature, Input, Structure
from theory.softmax import PAPER_CLAMP, eps_softmax
from theory.validation import check_labels, check_probs, describe
from theory.xp import NUMPY, ArrayNamespace, sympy_namespace, torch_namespace

__all__ = ["Loss", "Pieces", "Pred", "with_eps_softmax", "with_time_limit"]

#: at most this many (point, label, class) entries are computed at once by a broadcasting loss in
#: :meth:`Loss.vectors` (≈ 128 MB of float64), so that K = 100 with thousands of points stays
#: within a few hundred MB
CHUNK_ENTRIES = 2**24


@dataclass(frozen=True)
class Pieces:
    """Break points in (0, 1) of φ_top and φ_other (L as a function of p_y when y is, or is not,
    the argmax of p): each is convex on every interval between consecutive breaks of [0, 1]."""

    top: tuple[float, ...] = ()
    other: tuple[float, ...] = ()

    @staticmethod
    def _clean(breaks) -> tuple[float, ...]:
        return tuple(sorted({float(b) for b in breaks if 0.0 < b < 1.0}))

    def __post_init__(self):
        object.__setattr__(self, "top", self._clean(self.top))
        object.__setattr__(self, "other", self._clean(self.other))

    def __or__(self, other: Pieces) -> Pieces:
        return Pieces(self.top + other.top, self.other + other.other)


class Pred:
    """A prediction seen by a loss: ``p`` (..., K), lazily ``logp``, and ``z`` when known.

    Built from logits (``Pred.from_logits``) the log-probabilities come from a stable
    log-softmax; built from probabilities, ``logp = log p`` (−inf where p = 0).
    """

    __slots__ = ("xp", "_p", "_logp", "z", "_py")

    def __init__(self, xp: ArrayNamespace, p: Any = None, logp: Any = None, z: Any = None):
        self.xp, self._p, self._logp, self.z = xp, p, logp, z
        self._py = None

    @classmethod
    def from_probs(cls, xp: ArrayNamespace, p: Any) -> Pred:
        return cls(xp, p=p)

    @classmethod
    def from_logits(cls, xp: ArrayNamespace, z: Any) -> Pred:
        return cls(xp, z=z)

    @property
    def p(self) -> Any:
        if self._p is None:
            self._p = self.xp.softmax(self.z, axis=-1)
        return self._p

    @property
    def logp(self) -> Any:
        if self._logp is None:
            if self.z is not None:
                self._logp = self.xp.log_softmax(self.z, axis=-1)
            else:
                with np.errstate(divide="ignore"):
                    self._logp = self.xp.log(self._p)
        return self._logp

    def py(self, y: Any) -> Any:
        """p_y per example, computed once per label array: the terms of a sum share it (one
        gather forward, one scatter backward)."""
        if self._py is None or self._py[0] is not y:
            self._py = (y, self.xp.take(self.p, y, axis=-1))
        return self._py[1]

    @property
    def K(self) -> int:
        return int((self._p if self._p is not None else self.z).shape[-1])


def _half_dtypes() -> tuple[Any, ...]:
    import torch

    return (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class Loss:
    """Base class. Subclasses implement :meth:`value`; users call the object."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    # -- structure ----------------------------------------------------------------------------
    input: Input = Input.PROBS  # PROBS: a function of p; LOGITS: needs the logits themselves

    def __post_init__(self):
        object.__setattr__(self, "input", Input.of(self.input))

    @property
    def structure(self) -> Structure:
        raise NotImplementedError

    @property
    def curvature(self) -> Curvature | None:
        """Curvature of φ for pointwise losses, or None."""
        return None

    @property
    def pieces(self) -> Pieces | None:
        """Convex pieces of φ_top / φ_other (pointwise and argmax-pointwise losses), or None."""
        return None

    def walk(self):
        """This loss and every loss it is built from (wrapped, named, summed), depth first."""
        yield self
        for attr in ("inner", "base"):
            sub = getattr(self, attr, None)
            if isinstance(sub, Loss):
                yield from sub.walk()
        for _, sub in getattr(self, "terms", ()):
            yield from sub.walk()

    @property
    def broadcasts(self) -> bool:
        """Whether ``value`` broadcasts a point against several labels: probabilities of shape
        (..., 1, K) with labels (..., K) give (..., K), every label of each point at once, equal to
        evaluating the point once per label. Loss vectors then cost one evaluation instead of K
        (:func:`theory.minimise.loss_vectors`). False unless declared (a user's function may index
        by the batch)."""
        return False

    def value(self, xp: ArrayNamespace, pred: Pred, y: Any) -> Any:
        raise NotImplementedError

    def vectors(self, x: np.ndarray, *, logits: bool = False) -> np.ndarray:
        """(n, K): L(x_i, k) for every row x_i of ``x`` (n, K) float64 and every label k, unvalidated
        (what minimisers evaluate; :func:`theory.minimise.loss_vectors`). ``x`` holds logits when
        ``logits`` or the loss is defined on logits.

        A loss that broadcasts (:attr:`broadcasts`) sees each point once against all K labels, in
        chunks of rows; any other loss (a user's function) is called once per label on the points
        themselves, so nothing of size K² per point is ever built. Composites override this to
        share work between labels (ε-softmax is computed once, not once per label)."""
        n, K = x.shape
        call = self.from_logits if (logits or self.input is Input.LOGITS) else self
        if not self.broadcasts:
            by_label = np.empty((K, n))  # one contiguous row per label, transposed at the end
            for k in range(K):
                by_label[k] = call(x, np.full(n, k), validate=False)
            return np.ascontiguousarray(by_label.T)
        out = np.empty((n, K))
        rows = max(1, CHUNK_ENTRIES // (K * K))
        for start in range(0, n, rows):
            part = x[start:start + rows]
            out[start:start + rows] = call(part[:, None, :], np.broadcast_to(np.arange(K), (len(part), K)),
                                           validate=False)
        return out

    # -- evaluation ---------------------------------------------------------------------------
    def __call__(self, x: Any, y: Any, *, validate: bool = True) -> np.ndarray:
        """Per-example values on numpy input.

        ``x`` holds probabilities (..., K) for losses of ``Input.PROBS`` and logits for those of
        ``Input.LOGITS`` (LDR-KL, CE+LC); ``y`` integer labels of shape ``x.shape[:-1]``.
        """
        if self.input is Input.LOGITS:
            return self.from_logits(x, y, validate=validate)
        p = check_probs(x) if validate else np.asarray(x, dtype=np.float64)
        y = check_labels(y, p.shape[-1], shape=p.shape[:-1]) if validate else np.asarray(y)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.asarray(self.value(NUMPY, Pred.from_probs(NUMPY, p), y), dtype=np.float64)

    def from_logits(self, z: Any, y: Any, *, validate: bool = True) -> np.ndarray:
        """Per-example values on numpy logits (..., K); probabilities are softmax(z)."""
        z = np.asarray(z, dtype=np.float64) if not isinstance(z, np.ndarray) else z
        if validate:
            if z.ndim < 1 or z.shape[-1] < 2:
                raise ValueError(f"logits must have shape (..., K) with K >= 2, got {z.shape}")
            if not np.all(np.isfinite(z)):
                raise ValueError("logits must be finite, got NaN or inf")
            y = check_labels(y, z.shape[-1], shape=z.shape[:-1])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.asarray(self.value(NUMPY, Pred.from_logits(NUMPY, z), y), dtype=np.float64)

    def torch(self, reduction: str = "mean", *, validate: bool = True):
        """A ``torch.nn.Module`` criterion ``crit(logits, target)``; autograd through ``value``."""
        from theory.losses._torch import make_criterion

        return make_criterion(self, reduction=reduction, validate=validate)

    def torch_value(self, z: Any, y: Any) -> Any:
        """Per-example values from torch logits (no reduction, no validation).

        Half-precision logits (float16, bfloat16) are computed in float32, as torch's autocast runs
        softmax, log_softmax and its own losses: the paper's constants do not survive half precision
        (the clamp 1e-8 rounds to 0 in float16, m = 1e5 overflows it, 1 − p_k loses every digit near
        p_k = 1 in bfloat16). The values come back in float32; gradients reach the half-precision
        logits through the cast. ``theory.checks``'s numerics checks hold the library to this.
        """
        xp = torch_namespace()
        if z.dtype in _half_dtypes():
            z = z.float()
        return self.value(xp, Pred.from_logits(xp, z), y)

    def sympy(self, K: int, *, y: int | None = None, t: int | None = None, symbols: Any = None):
        """Symbolic value(s) in ``p_0..p_{K-1}`` (or ``z_0..`` for logit losses).

        Returns the expression for label ``y``, or a tuple over all labels when ``y`` is None.
        ``t`` is the argmax index assumed for the symbolic point (needed by ε-losses).
        """
        import sympy

        from theory.validation import check_num_classes

        K = check_num_classes(K)
        if symbols is None:
            letter = "z" if self.input is Input.LOGITS else "p"
            assumptions = {"positive": True} if self.input is Input.PROBS else {}
            symbols = sympy.symbols(f"{letter}_0:{K}", real=True, **assumptions)
        x = np.array(list(symbols), dtype=object)
        if x.shape != (K,):
            raise ValueError(f"symbols must be {K} sympy expressions, got shape {x.shape}")
        if t is not None and not (0 <= int(t) < K):
            raise ValueError(f"t must be an argmax index in [0, {K - 1}], got {t}")
        xp = sympy_namespace(None if t is None else int(t))
        pred = Pred.from_logits(xp, x) if self.input is Input.LOGITS else Pred.from_probs(xp, x)
        labels = range(K) if y is None else [int(y)]
        out = []
        for label in labels:
            if not 0 <= label < K:
                raise ValueError(f"y must lie in [0, {K - 1}], got {label}")
            try:
                v = self.value(xp, pred, np.asarray(label))
            except ValueError as err:
                if "argmax" in str(err):
                    raise ValueError(
                        f"{self.name} depends on the argmax of p; pass t=... to L.sympy() to "
                        "choose the region of the simplex"
                    ) from err
                raise
            out.append(sympy.sympify(np.asarray(v, dtype=object).item()))
        return out[0] if y is not None else tuple(out)

    # -- composition --------------------------------------------------------------------------
    def __add__(self, other: Loss) -> Loss:
        if not isinstance(other, Loss):
            return NotImplemented
        return WeightedSum.of([(1.0, self), (1.0, other)])

    def __mul__(self, w: float) -> Loss:
        if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)):
            return NotImplemented
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"a loss weight must be finite and >= 0, got {w!r}")
        return WeightedSum.of([(float(w), self)])

    __rmul__ = __mul__

    def named(self, name: str, params: Mapping[str, Any]) -> Loss:
        """The same loss under a registry name and its user-facing parameters."""
        return Named(name=name, params=dict(params), inner=self, input=self.input)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


@dataclass(frozen=True, repr=False)
class Atom(Loss):
    """A loss written as one formula ``fn(xp, pred, y, **params)``."""

    fn: Callable[..., Any] | None = None
    kind: Structure = Structure.GENERAL
    curvature_of: Callable[[Mapping[str, Any]], Curvature | str | None] | None = None
    bayes: Callable[..., np.ndarray] | None = None  # closed-form conditional-risk minimiser
    breaks_of: Callable[[Mapping[str, Any]], tuple[float, ...] | None] | None = None
    label_broadcast: bool = False  # see Loss.broadcasts
    #: seconds one evaluation may take (None: unlimited); set on a user's formula by with_time_limit
    time_limit: float | None = field(default=None, compare=False)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "kind", Structure.of(self.kind))

    @property
    def structure(self) -> Structure:
        return self.kind

    @property
    def broadcasts(self) -> bool:
        return self.label_broadcast

    @property
    def curvature(self) -> Curvature | None:
        return None if self.curvature_of is None else Curvature.of(self.curvature_of(self.params))

    @property
    def pieces(self) -> Pieces | None:
        if self.kind is not Structure.POINTWISE:
            return None
        if self.curvature in (Curvature.LINEAR, Curvature.CONVEX):
            return Pieces()
        breaks = None if self.breaks_of is None else self.breaks_of(self.params)
        return None if breaks is None else Pieces(breaks, breaks)

    def value(self, xp, pred, y):
        params = {k: xp.const(v) if isinstance(v, (int, float)) else v for k, v in self.params.items()}
        if self.time_limit is None:
            return self.fn(xp, pred, y, **params)
        try:
            with time_limit(self.time_limit):
                return self.fn(xp, pred, y, **params)
        except LossTimeout as err:
            first, label = _first_input(pred, y, self.input)
            raise LossEvaluationError(f"{self.name} {err} on {xp.name} input ({self.input.symbol}={vector(first)}, y={label}, the "
                                      "first of its batch); raise time_limit if it is just slow", x=first, y=label,
                                      cause=str(err), timed_out=True) from None


@dataclass(frozen=True, repr=False)
class EpsWrapped(Loss):
    """``inner`` evaluated at the clamped ε-softmax ``max(p_ε, clamp)`` of the prediction."""

    inner: Loss | None = None

    @property
    def structure(self) -> Structure:
        return Structure.ARGMAX_POINTWISE if self.inner.structure is Structure.POINTWISE else Structure.GENERAL

    @property
    def pieces(self) -> Pieces | None:
        # u ↦ v = (u + m·[top]) / (1 + m) is affine, and ψ(max(v, c)) is flat below v = c: the
        # inner breaks and the clamp map to u = b(1 + m) − m·[top].
        inner = self.inner.pieces if self.inner.structure is Structure.POINTWISE else None
        if inner is None:
            return None
        m, c = self.params["m"], self.params["clamp"]
        breaks = (c, *inner.other) if c > 0 else inner.other
        return Pieces(top=[b * (1 + m) - m for b in breaks], other=[b * (1 + m) for b in breaks])

    @property
    def broadcasts(self) -> bool:
        return self.inner.broadcasts

    def value(self, xp, pred, y):
        # one path for every namespace: the inner loss sees the whole clamped p_ε, so whatever it
        # reads (pred.K, every class) is the same under numpy, torch and sympy
        m, c = self.params["m"], self.params["clamp"]
        pe = eps_softmax(pred.p, m, clamp=c, xp=xp, validate=False)
        return self.inner.value(xp, Pred.from_probs(xp, pe), y)

    def vectors(self, x, *, logits=False):
        if logits:  # (ε-softmax wraps losses of probabilities; logits are softmaxed first)
            return super().vectors(x, logits=True)
        m, c = self.params["m"], self.params["clamp"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            pe = np.asarray(eps_softmax(x, m, clamp=c, xp=NUMPY, validate=False), dtype=np.float64)
        return self.inner.vectors(pe)


@dataclass(frozen=True, repr=False)
class WeightedSum(Loss):
    """Σ_i w_i L_i with non-negative weights."""

    terms: tuple[tuple[float, Loss], ...] = ()

    @classmethod
    def of(cls, terms: list[tuple[float, Loss]]) -> WeightedSum:
        flat: list[tuple[float, Loss]] = []
        for w, loss in terms:
            if isinstance(loss, WeightedSum):
                flat.extend((w * w2, l2) for w2, l2 in loss.terms)
            else:
                flat.append((w, loss))
        inputs = {loss.input for _, loss in flat}
        name = " + ".join(f"{w:g}·{loss.name}" for w, loss in flat)
        return cls(name=name, params={}, terms=tuple(flat), input=Input.LOGITS if Input.LOGITS in inputs else Input.PROBS)

    @property
    def structure(self) -> Structure:
        if len(self.terms) == 1:  # a positive multiple keeps every structure
            return self.terms[0][1].structure
        # a sum is as structured as its least structured term, but a normalised term in a sum of
        # several makes it general (the sum is no longer normalised)
        worst = max((loss.structure for _, loss in self.terms), key=lambda s: s.rank)
        return Structure.GENERAL if worst is Structure.NORMALISED else worst

    @property
    def curvature(self) -> Curvature | None:
        if self.structure is not Structure.POINTWISE:
            return None
        curves = {loss.curvature for w, loss in self.terms if w > 0}
        curves.discard(Curvature.LINEAR)
        if not curves:
            return Curvature.LINEAR
        return curves.pop() if len(curves) == 1 and None not in curves else None

    @property
    def pieces(self) -> Pieces | None:
        if self.structure not in (Structure.POINTWISE, Structure.ARGMAX_POINTWISE):
            return None
        out = Pieces()
        for w, loss in self.terms:
            if w > 0:
                if loss.pieces is None:
                    return None
                out = out | loss.pieces
        return out

    @property
    def broadcasts(self) -> bool:
        return all(loss.broadcasts for _, loss in self.terms)

    def value(self, xp, pred, y):
        total = 0
        for w, loss in self.terms:
            total = total + xp.const(w) * loss.value(xp, pred, y)
        return total

    def vectors(self, x, *, logits=False):
        if logits or self.input is Input.LOGITS or self.broadcasts:
            return super().vectors(x, logits=logits)
        total = 0.0
        with np.errstate(invalid="ignore", over="ignore"):
            for w, loss in self.terms:
                total = total + w * loss.vectors(x)
        return total


@dataclass(frozen=True, repr=False)
class Named(Loss):
    """A registry entry: a composite under its registry name and parameters."""

    inner: Loss | None = None

    @property
    def structure(self) -> Structure:
        return self.inner.structure

    @property
    def curvature(self) -> Curvature | None:
        return self.inner.curvature

    @property
    def pieces(self) -> Pieces | None:
        return self.inner.pieces

    @property
    def broadcasts(self) -> bool:
        return self.inner.broadcasts

    def value(self, xp, pred, y):
        return self.inner.value(xp, pred, y)

    def vectors(self, x, *, logits=False):
        return self.inner.vectors(x, logits=logits)


def with_eps_softmax(loss: Any, m: float, *, clamp: float = PAPER_CLAMP) -> Loss:
    """Wrap any loss of probabilities with ε-softmax: L_ε(p, y) = L(max(p_ε, clamp), y).

    ``loss`` is a :class:`Loss` or a plain function ``fn(p, y)`` of probabilities (adapted with
    :func:`theory.losses.from_callable`). This is the paper's construction in general form; CE_ε
    and FL_ε are this wrapper applied to CE and FL. The clamp is applied before the wrapped loss
    takes any log.
    """
    if not isinstance(loss, Loss):
        if not callable(loss) or isinstance(loss, type):
            raise TypeError(f"with_eps_softmax needs a Loss or a function loss(p, y), got {describe(loss)}")
        from theory.losses._callable import from_callable

        loss = from_callable(loss)
    if loss.input is not Input.PROBS:
        raise ValueError(f"{loss.name} is defined on logits; ε-softmax wraps losses of probabilities")
    from theory.validation import CLAMP, NON_NEGATIVE

    m, clamp = float(NON_NEGATIVE.check(m, "m")), float(CLAMP.check(clamp, "clamp"))
    return EpsWrapped(name=f"{loss.name}_eps", params={"m": m, "clamp": clamp}, inner=loss)


def _first_input(pred: Pred, y: Any, input: Input) -> tuple[Any, Any]:
    """The first example of a batch, as plain numbers where it is numeric (for a message and a witness)."""
    x = pred.z if input is Input.LOGITS else pred.p
    try:
        if hasattr(x, "detach"):
            x = x.detach().cpu().double().numpy()
        row = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])[0]
        label = int(np.asarray(y).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):  # symbolic: the expressions themselves
        return np.asarray(x, dtype=object).reshape(-1)[: np.shape(x)[-1]], y
    return row, label


def with_time_limit(loss: Loss, seconds: float | None) -> Loss:
    """``loss`` with every formula written outside this package (a user's :func:`register`) limited to
    ``seconds`` per evaluation; the library's own formulas are left as they are. The structure (and so
    every method the minimisers choose) is unchanged; equality ignores the limit."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(loss):
        v = getattr(loss, f.name)
        if isinstance(v, Loss):
            changes[f.name] = with_time_limit(v, seconds)
        elif isinstance(v, tuple) and v and all(isinstance(t, tuple) and len(t) == 2 and isinstance(t[1], Loss)
                                                for t in v):
            changes[f.name] = tuple((w, with_time_limit(term, seconds)) for w, term in v)
    if isinstance(loss, Atom) and not _library_code(loss.fn):
        changes["time_limit"] = seconds
    return dataclasses.replace(loss, **changes) if changes else loss


def _library_code(fn: Any) -> bool:
    return (getattr(fn, "__module__", None) or "").split(".")[0] == "theory"
