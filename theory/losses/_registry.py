"""The loss registry: name → documented factory. Users register their own losses here too."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from theory.losses._core import Atom, Loss
from theory.losses._domains import Interval, OneOf
from theory.losses._kinds import Curvature, Input, Structure

__all__ = ["GROUPS", "LossSpec", "get", "names", "pointwise", "register", "register_composite", "spec"]

GROUPS = ("paper", "literature", "user")


@dataclass(frozen=True)
class LossSpec:
    """Documentation and construction of one registered loss.

    Attributes
    ----------
    name : registry key (lower case; ``-`` and ``ε`` are normalised to ``_`` and ``eps``).
    factory : builds the :class:`Loss` from keyword parameters.
    defaults : every accepted parameter with its default value.
    formula : the per-example formula as implemented.
    source : where the formula and defaults come from.
    conventions : scales, clamps, detached factors and other choices a reader must know.
    domains : the values each parameter may take (:mod:`theory.losses._domains`); a parameter
        without one (a user's loss) is passed through unchecked.
    group : "paper" (the losses of the ε-softmax paper, PAPER.md §3: what its claims cover),
        "literature" (the catalogue of the field's robust losses, :mod:`theory.losses._catalogue`)
        or "user" (registered by a user).
    """

    name: str
    factory: Callable[..., Loss]
    defaults: Mapping[str, Any]
    formula: str
    source: str
    conventions: str = ""
    aliases: tuple[str, ...] = field(default=())
    domains: Mapping[str, Interval | OneOf] = field(default_factory=dict)
    group: str = "user"

    def __post_init__(self):
        if self.group not in GROUPS:
            raise ValueError(f"loss {self.name!r}: group must be one of {GROUPS}, got {self.group!r}")
        undeclared = sorted(set(self.domains) - set(self.defaults))
        if undeclared:
            raise ValueError(f"loss {self.name!r} declares domains for unknown parameter(s) {undeclared}")
        for k, domain in self.domains.items():  # the defaults must lie in their own domains
            domain.check(self.defaults[k], f"the default of loss {self.name!r} parameter {k!r}")

    def check(self, params: Mapping[str, Any]) -> None:
        """TypeError for an unknown parameter or a value of the wrong type, ValueError for a
        value outside its declared domain; each names the loss, the parameter and the value."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            accepted = ", ".join(self.defaults) or "none"
            raise TypeError(f"loss {self.name!r} got unknown parameter(s) {unknown}; accepted: {accepted}")
        for k, value in params.items():
            if k in self.domains:
                self.domains[k].check(value, f"loss {self.name!r} parameter {k!r}")

    def build(self, **params: Any) -> Loss:
        """The loss with ``params`` over the defaults, checked first (see :meth:`check`)."""
        self.check(params)
        return self.factory(**{**self.defaults, **params})


_REGISTRY: dict[str, LossSpec] = {}
_ALIASES: dict[str, str] = {}


def _normalise(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a loss name must be a string, got {type(name).__name__}")
    return name.strip().lower().replace("ε", "eps").replace("-", "_").replace(" ", "")


def _add(spec: LossSpec, *, replace: bool) -> LossSpec:
    key = _normalise(spec.name)
    if not replace and (key in _REGISTRY or key in _ALIASES):
        raise ValueError(f"a loss named {spec.name!r} is already registered; pass replace=True to override")
    _REGISTRY[key] = spec
    for alias in spec.aliases:
        _ALIASES[_normalise(alias)] = key
    return spec


def register(
    name: str,
    fn: Callable[..., Any] | None = None,
    *,
    formula: str,
    source: str = "user",
    conventions: str = "",
    input: Input | str = Input.PROBS,
    structure: Structure | str = Structure.GENERAL,
    curvature: Callable[[Mapping[str, Any]], Curvature | str | None] | Curvature | str | None = None,
    bayes: Callable[..., Any] | None = None,
    breaks: Callable[[Mapping[str, Any]], tuple[float, ...] | None] | None = None,
    aliases: tuple[str, ...] = (),
    replace: bool = False,
    broadcasts: bool = False,
    domains: Mapping[str, Interval | OneOf] | None = None,
    group: str = "user",
):
    """Register a loss written once as ``fn(xp, pred, y, **params)``; usable as a decorator.

    ``fn`` receives a namespace ``xp`` (see :mod:`theory.xp`), a :class:`~theory.losses.Pred`
    (``pred.p``, ``pred.logp``, ``pred.z``) and integer labels ``y``, and returns per-example
    values. Keyword-only parameters with defaults become the loss's parameters.

    ``structure`` (a :class:`~theory.losses.Structure` or its value: "pointwise" /
    "argmax_pointwise" / "normalised" / "general", see :mod:`theory.losses._core`), ``curvature``
    (of φ for pointwise losses, a :class:`~theory.losses.Curvature` or its value: "linear" /
    "convex" / "concave", or a function of the parameters returning one) and ``breaks`` (a
    function of the parameters returning the points between which a pointwise φ is convex, or
    None when it is not piecewise convex) let the conditional-risk minimisers use exact methods; leave them unset when unsure.
    ``broadcasts=True`` declares that ``fn`` broadcasts probabilities (..., 1, K) against labels
    (..., K) (true when it uses only the namespace's elementwise operations and ``take``/``sum``
    along the last axis; see :attr:`theory.losses.Loss.broadcasts`): loss vectors then cost one
    evaluation instead of K. ``domains`` maps parameters to the values they may take
    (:class:`~theory.losses._domains.Interval`, :class:`~theory.losses._domains.OneOf`): every
    build checks them.
    """
    input, structure = Input.of(input), Structure.of(structure)
    if not callable(curvature):
        curvature = Curvature.of(curvature)

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(f):
            raise TypeError(f"register needs a callable loss function, got {type(f).__name__}")
        sig = inspect.signature(f)
        defaults = {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        missing = [k for k, v in defaults.items() if v is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"loss parameters need defaults, {f.__name__} has none for {missing}")
        curve = curvature if callable(curvature) else (lambda _p, c=curvature: c)

        def factory(**params: Any) -> Loss:
            return Atom(
                name=_normalise(name),
                params=params,
                input=input,
                fn=f,
                kind=structure,
                curvature_of=curve,
                bayes=bayes,
                breaks_of=breaks,
                label_broadcast=bool(broadcasts),
            )

        _add(
            LossSpec(name=_normalise(name), factory=factory, defaults=defaults, formula=formula,
                     source=source, conventions=conventions, aliases=aliases, domains=dict(domains or {}),
                     group=group),
            replace=replace,
        )
        return f

    return decorate(fn) if fn is not None else decorate


def pointwise(
    name: str,
    phi: Callable[..., Any],
    *,
    curvature: Curvature | str | None = None,
    breaks: tuple[float, ...] | None = None,
) -> Loss:
    """An unregistered loss L(p, y) = φ(p_y) from ``phi(xp, u)``, u the probability of the label.

    For one-off losses (a Lipschitz ℓ in a lemma, a user's candidate): ``phi`` is written over a
    namespace ``xp`` like every registered loss, so numpy, torch and sympy all work.
    ``curvature`` ("linear" / "convex" / "concave") and ``breaks`` (points between which φ is
    convex) enable the exact conditional-risk minimisers; leave them unset when unsure.
    """
    if not callable(phi):
        raise TypeError(f"phi must be a callable phi(xp, u), got {type(phi).__name__}")
    curvature = Curvature.of(curvature)
    return Atom(
        name=_normalise(name),
        params={},
        input=Input.PROBS,
        fn=lambda xp, pred, y: phi(xp, pred.py(y)),
        kind=Structure.POINTWISE,
        curvature_of=lambda _p: curvature,
        breaks_of=None if breaks is None else (lambda _p: tuple(breaks)),
    )


def register_composite(
    name: str,
    factory: Callable[..., Loss],
    *,
    formula: str,
    source: str,
    conventions: str = "",
    aliases: tuple[str, ...] = (),
    replace: bool = False,
    domains: Mapping[str, Interval | OneOf] | None = None,
    group: str = "user",
) -> LossSpec:
    """Register a loss composed from registered ones; ``factory``'s keyword defaults are its
    parameters, ``domains`` the values they may take (see :func:`register`)."""
    defaults = {
        p.name: p.default
        for p in inspect.signature(factory).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    key = _normalise(name)

    def build(**params: Any) -> Loss:
        return factory(**params).named(key, params)

    return _add(
        LossSpec(name=key, factory=build, defaults=defaults, formula=formula, source=source,
                 conventions=conventions, aliases=aliases, domains=dict(domains or {}), group=group),
        replace=replace,
    )


def spec(name: str) -> LossSpec:
    """The :class:`LossSpec` of a registered loss (raises KeyError listing the known names)."""
    key = _normalise(name)
    key = _ALIASES.get(key, key)
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(f"no loss named {name!r}; registered: {', '.join(names())}") from None


def get(name: str, **params: Any) -> Loss:
    """Build a registered loss with its defaults overridden by ``params``."""
    return spec(name).build(**params)


def names(group: str | None = None) -> list[str]:
    """Registered loss names in registration order, optionally of one group ("paper", "literature", "user")."""
    if group is not None and group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS} or None, got {group!r}")
    return [n for n, s in _REGISTRY.items() if group is None or s.group == group]
