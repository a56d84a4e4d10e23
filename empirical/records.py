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

__all__ = ["RUN_SCHEMA", "SCHEMA", "BoundNote", "Epoch", "ExcessPoint", "Final", "Identity", "InvalidResult",
           "RecordError", "Risk", "RunResult", "Side"]

SCHEMA = 2  # 2: population_error beside population_excess


class RecordError(ValueError):
    """A JSON object that is not a record of this schema; the message says what is wrong."""


@dataclass(frozen=True)
class ExcessPoint:
    """R(f_η) − R(f_0) of one noisy run against its clean twin, with Theorem B's bound.

    ``source``: "finite X (exact risks)" (``exact``: risks are exact sums over X) or the dataset
    ("cifar10": risks on its test set). ``excess`` / ``zero_one_excess``: clean L-risk and 0-1
    risk (1 − accuracy) lost to the noise. ``population_excess``: the same for the population
    risk minimisers within the model's class, where it is known (finite-X runs), else None, with
    ``population_error`` a bound on how far below the true (non-negative) excess it may lie: the
    clean minimiser's stated error and rounding (a value in [−error, 0) is that error, not a finding).
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
    population_error: float | None
    population_zero_one_excess: float | None
    bound: float | None
    bound_covers: str
    noisy_run: str
    clean_run: str

    def to_dict(self) -> dict[str, Any]:
        from theory.verify.io import jsonable

        return {**jsonable(asdict(self)), "schema": SCHEMA}  # non-finite floats as "inf", "-inf", "nan"

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
        for f in fields(cls):  # a number field may hold a non-finite float as written: "inf", "-inf", "nan"
            v = data[f.name]
            values[f.name] = _number(v) if "float" in str(f.type) and isinstance(v, str) and _number(v) is not None \
                else v
        for name in ("excess", "eta"):
            if not isinstance(values[name], (int, float)) or isinstance(values[name], bool):
                raise RecordError(f"an excess point's {name} must be a number, got {values[name]!r}")
        return cls(**values)


# ----------------------------------------------------------------------------------------------
# One CIFAR-style run (empirical.run): the result file, typed


RUN_SCHEMA = 1  # the version of a run's result file (empirical.run writes it)


class InvalidResult(ValueError):
    """A file that claims to be a finished result (this schema, a final status) but does not
    hold one; the message names the file and what is wrong with it."""


def _number(value: Any) -> float | None:
    """A JSON number, or a non-finite float as written ("inf", "-inf", "nan"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("inf", "-inf", "nan"):
        return float(value)
    return None


class _Reader:
    """Collects what is wrong with a JSON object while reading typed fields out of it."""

    def __init__(self):
        self.problems: list[str] = []

    def optional_object(self, data: Any, where: str) -> dict | None:
        """``data`` when it is an object; None when it is null, or (noted as a problem) anything else."""
        if data is not None and not isinstance(data, dict):
            self.problems.append(f"{where} must be an object or null, got {type(data).__name__}")
        return data if isinstance(data, dict) else None

    def number(self, data: dict, key: str, where: str, *, optional: bool = False, lo: float | None = None,
               hi: float | None = None) -> float | None:
        value = data.get(key) if isinstance(data, dict) else None
        if value is None and optional:
            return None
        x = _number(value)
        if x is None or (lo is not None and not (x >= lo or math.isnan(x))) or (
                hi is not None and not (x <= hi or math.isnan(x))):
            span = "" if lo is None else f" in [{lo:g}, {hi:g}]" if hi is not None else f" >= {lo:g}"
            self.problems.append(f"{where}{key} must be a number{span}, got {value!r}")
            return math.nan
        return x

    def integer(self, data: dict, key: str, where: str, *, optional: bool = False) -> int | None:
        value = data.get(key) if isinstance(data, dict) else None
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"{where}{key} must be an integer, got {value!r}")
            return 0
        return value


@dataclass(frozen=True)
class Side:
    """Risks measured on one side (training or test images) of a trained network."""

    clean_risk: float
    clean_acc: float
    sum_min: float
    sum_max: float
    sum_mean: float
    noisy_risk: float | None = None
    noisy_acc: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or not k.startswith("noisy")}

    @classmethod
    def read(cls, data: Any, where: str, r: _Reader) -> Side:
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict):
            r.problems.append(f"{where} must be an object, got {type(data).__name__}")
            return cls(*[math.nan] * 5)
        return cls(**{n: r.number(data, n, where + ".", optional=n.startswith("noisy")) for n in names})


@dataclass(frozen=True)
class BoundNote:
    """Theorem B's bound for a run from its observed sum range (None where there is none, with why)."""

    theorem_b: float | None
    eta: float
    why: str | None


@dataclass(frozen=True)
class Identity:
    """The symmetric-noise risk identity on the training images: the noisy risk it predicts from the
    clean risk and the mean of Σ_k L, beside the noisy risk measured."""

    predicted_noisy_risk: float
    measured_noisy_risk: float

    @classmethod
    def read(cls, data: Any, r: _Reader) -> Identity | None:
        data = r.optional_object(data, "risk.identity")
        if data is None:
            return None
        return cls(*(r.number(data, f.name, "risk.identity.") for f in fields(cls)))


@dataclass(frozen=True)
class Risk:
    """:func:`empirical.risk.measure` of one trained network, typed."""

    K: int
    train: Side
    test: Side
    c1: float
    c2: float
    bound: BoundNote
    identity: Identity | None = None  # symmetric noise only

    def to_dict(self) -> dict[str, Any]:
        out = {"K": self.K, "train": self.train.to_dict(), "test": self.test.to_dict(), "c1": self.c1, "c2": self.c2,
               "bound": asdict(self.bound)}
        if self.identity is not None:
            out["identity"] = asdict(self.identity)
        return out

    @classmethod
    def read(cls, data: Any, r: _Reader) -> Risk | None:
        data = r.optional_object(data, "'risk'")
        if data is None:
            return None
        b = data.get("bound") if isinstance(data.get("bound"), dict) else {}
        why = b.get("why")
        return cls(K=r.integer(data, "K", "risk."), train=Side.read(data.get("train"), "risk.train", r),
                   test=Side.read(data.get("test"), "risk.test", r), c1=r.number(data, "c1", "risk."),
                   c2=r.number(data, "c2", "risk."),
                   bound=BoundNote(r.number(b, "theorem_b", "risk.bound.", optional=True),
                                   r.number(b, "eta", "risk.bound."), why if isinstance(why, str) else None),
                   identity=Identity.read(data.get("identity"), r))


@dataclass(frozen=True)
class Epoch:
    """One epoch of a run's history."""

    epoch: int
    lr: float
    train_loss: float
    train_acc_noisy: float
    train_acc_clean: float
    test_acc: float
    train_seconds: float
    seconds: float

    @classmethod
    def read(cls, data: Any, i: int, r: _Reader) -> Epoch:
        where = f"history[{i}]."
        if not isinstance(data, dict):
            r.problems.append(f"history[{i}] must be an object, got {type(data).__name__}")
            return cls(i + 1, *[math.nan] * 7)
        return cls(r.integer(data, "epoch", where), *(r.number(data, f.name, where) for f in fields(cls)[1:]))


@dataclass(frozen=True)
class Final:
    """Last and best test accuracy (NaN: a run that diverged before its first evaluation)."""

    test_acc_last: float
    test_acc_best: float
    best_epoch: int | None
    epochs_run: int


@dataclass(frozen=True)
class RunResult:
    """A run's result file, typed: what :func:`empirical.run.run_one` returns and writes, and
    what :func:`empirical.run.load_results` gives tables and figures. ``config`` is the resolved
    :class:`~empirical.config.RunConfig`; ``seeds``, ``data``, ``model``, ``provenance`` and
    ``timings`` are descriptive metadata (no reader computes with their strings)."""

    id: str
    status: str
    stop_reason: str | None
    config: Any  # empirical.config.RunConfig (imported lazily: records stay light)
    seeds: dict
    data: dict
    model: dict
    provenance: dict
    timings: dict
    final: Final
    history: tuple[Epoch, ...]
    risk: Risk | None
    warnings: tuple[str, ...] = ()
    schema: int = RUN_SCHEMA

    @property
    def num_classes(self) -> int:
        return int(self.data["num_classes"])

    @property
    def n_train(self) -> int:
        return int(self.data["n_train"])

    def to_dict(self) -> dict[str, Any]:
        out = {"schema": self.schema, "id": self.id, "status": self.status, "stop_reason": self.stop_reason,
               "config": self.config.to_dict()}
        for name in ("seeds", "data", "model", "provenance", "timings"):
            out[name] = getattr(self, name)
        out["final"] = asdict(self.final)
        out["history"] = [asdict(e) for e in self.history]
        out["risk"] = None if self.risk is None else self.risk.to_dict()
        out["warnings"] = list(self.warnings)
        return out

    @classmethod
    def from_dict(cls, data: Any, path: Any) -> RunResult:
        """The result in ``data``, read from ``path``, when it is one: every field has its type,
        the file is named after the run id, and the id is the one of the stored config (so a
        copied, renamed or edited file is not taken for a run). Raises :class:`InvalidResult`."""
        from pathlib import Path

        from empirical.config import RunConfig

        path = Path(path)
        r = _Reader()
        if not isinstance(data, dict):
            raise InvalidResult(f"{path} is not a valid result: it holds a {type(data).__name__}, not an object")
        kinds = {"id": str, "config": dict, "final": dict, "history": list, "data": dict, "seeds": dict,
                 "provenance": dict, "timings": dict, "model": dict}
        for key, kind in kinds.items():
            if not isinstance(data.get(key), kind):
                r.problems.append(f"{key!r} must be a {kind.__name__}, got {type(data.get(key)).__name__}")
        if r.problems:
            raise InvalidResult(f"{path} is not a valid result: " + "; ".join(r.problems))
        f = data["final"]
        final = Final(r.number(f, "test_acc_last", "final.", lo=0.0, hi=1.0),
                      r.number(f, "test_acc_best", "final.", lo=0.0, hi=1.0),
                      r.integer(f, "best_epoch", "final.", optional=True), r.integer(f, "epochs_run", "final."))
        history = tuple(Epoch.read(e, i, r) for i, e in enumerate(data["history"]))
        risk = Risk.read(data.get("risk"), r)
        if not isinstance(data["data"].get("num_classes"), int):
            r.problems.append(f"data.num_classes must be an integer, got {data['data'].get('num_classes')!r}")
        config = None
        if path.stem != data["id"]:
            r.problems.append(f"the file is named {path.name!r} but holds run {data['id']!r} (a copy?)")
        else:
            try:
                config = RunConfig.from_dict(data["config"])
                expected = config.run_id
            except (TypeError, ValueError, KeyError) as err:
                r.problems.append(f"its config is not a run config ({err})")
            else:
                if expected != data["id"]:
                    r.problems.append(f"its config has run id {expected!r}, not {data['id']!r} (an edited file?)")
        warnings = data.get("warnings", [])
        if not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
            r.problems.append(f"'warnings' must be a list of strings, got {warnings!r}")
            warnings = []
        if r.problems:
            raise InvalidResult(f"{path} is not a valid result: " + "; ".join(r.problems))
        return cls(id=data["id"], status=data.get("status"), stop_reason=data.get("stop_reason"), config=config,
                   seeds=data["seeds"], data=data["data"], model=data["model"], provenance=data["provenance"],
                   timings=data["timings"], final=final, history=history, risk=risk, warnings=tuple(warnings),
                   schema=data.get("schema", RUN_SCHEMA))
