"""Typed records that cross from the empirical runs to tables and figures (no dicts parsed by string).

:class:`ExcessPoint` is one measured excess risk under symmetric noise beside Theorem B's bound:
a noisy run against its clean-label twin, from training on a distribution over a finite X
(exact risks, :mod:`empirical.exact`) or from CIFAR runs (risks on the test set,
:func:`empirical.risk.paired_excess`). The bound-versus-measured figure and the risk table read
these and nothing else, so they show the same bound for the same runs.

``SCHEMA`` is the version of the records' JSON form; :meth:`ExcessPoint.from_dict` refuses
another version and says which it got.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["SCHEMA", "ExcessPoint", "RecordError"]

SCHEMA = 1


class RecordError(ValueError):
    """A JSON object that is not a record of this schema; the message says what is wrong."""


@dataclass(frozen=True)
class ExcessPoint:
    """R(f_η) − R(f_0) of one noisy run against its clean twin, with Theorem B's bound.

    ``source``: "finite X (exact risks)" (``exact``: risks are exact sums over X) or the dataset
    ("cifar10": risks on its test set). ``excess`` / ``zero_one_excess``: clean L-risk and 0-1
    risk (1 − accuracy) lost to the noise. ``population_excess``: the same for the population
    risk minimisers within the model's class, where it is known (finite-X runs), else None.
    ``bound``: Theorem B's η(C₂ − C₁)/((K−1) − Kη), None where there is none; ``bound_covers``
    says what it covers (whose minimisers, which noise, which [C₁, C₂]). ``protocol``: how the
    model was trained (steps or epochs, batch, learning rate).
    """

    source: str
    task: str
    model: str
    method: str
    label: str
    m: float | None
    eta: float
    seed: int
    n_train: int
    protocol: str
    exact: bool
    excess: float
    zero_one_excess: float | None
    population_excess: float | None
    population_zero_one_excess: float | None
    bound: float | None
    bound_covers: str
    noisy_run: str
    clean_run: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["schema"] = SCHEMA
        for k, v in out.items():  # JSON has no inf / nan
            if isinstance(v, float) and not math.isfinite(v):
                out[k] = repr(v)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ExcessPoint:
        if not isinstance(data, dict):
            raise RecordError(f"an excess point must be a JSON object, got {type(data).__name__}")
        if data.get("schema") != SCHEMA:
            raise RecordError(f"an excess point of schema {SCHEMA} was expected, got schema {data.get('schema')!r}")
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data))
        if missing:
            raise RecordError(f"an excess point needs the fields {missing}, which are missing")
        values = {}
        for f in fields(cls):
            v = data[f.name]
            if isinstance(v, str) and v in ("inf", "-inf", "nan") and f.name not in ("source", "task", "label"):
                v = float(v)
            values[f.name] = v
        for name in ("excess", "eta"):
            if not isinstance(values[name], (int, float)) or isinstance(values[name], bool):
                raise RecordError(f"an excess point's {name} must be a number, got {values[name]!r}")
        return cls(**values)
