"""Run configurations: the paper's protocols as data, one frozen dataclass per run.

A :class:`RunConfig` names what defines a run's result (dataset, noise, method and its
hyper-parameters, seed, network, optimiser, augmentation, precision). Fields left ``None`` take
the dataset's :data:`PROTOCOLS` entry (PAPER.md §6) and the loss hyper-parameters come from
:func:`theory.losses.paper_defaults`; :meth:`RunConfig.resolved` fills them all in, so a result
file records every number used. Where the paper defines no hyper-parameters for a combination,
resolution fails with a clear message unless the caller passes them explicitly.
Where the data live and which device runs the job are not part of a config (see ``Environment``
in :mod:`empirical.run`): they do not change the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from empirical.data import DATASETS, NoiseSpec
from empirical.loader import Augment
from empirical.models import MODELS
from theory import losses

__all__ = ["PROTOCOLS", "PRECISIONS", "Protocol", "RunConfig"]

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class Protocol:
    """A dataset's training protocol (PAPER.md §6)."""

    model: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    grad_clip: float
    augment: Augment


PROTOCOLS = {
    "cifar10": Protocol("cnn8", 120, 128, 0.01, 0.9, 1e-4, 5.0, Augment(crop_pad=4, flip=True)),
    "cifar100": Protocol("resnet34", 200, 128, 0.1, 0.9, 1e-5, 5.0, Augment(crop_pad=4, flip=True, rotate_deg=20.0)),
    # Not from the paper: a CPU-sized protocol for the synthetic stand-in.
    "synthetic": Protocol("small", 10, 128, 0.05, 0.9, 5e-4, 5.0, Augment(crop_pad=4, flip=True)),
}


def _number(name: str, value: Any, *, integer: bool, above: float, strict: bool = True,
            below: float | None = None) -> None:
    """None (the protocol's value), or a finite number (an integer where ``integer``) above
    ``above`` (strictly where ``strict``) and below ``below``."""
    if value is None:
        return
    kind = "integer" if integer else "number"
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    inside = ok and math.isfinite(value) and (value > above if strict else value >= above) and (
        below is None or value < below)
    if not inside:
        bounds = f"{'>' if strict else '>='} {above:g}" + (f" and < {below:g}" if below is not None else "")
        raise ValueError(f"{name} must be a finite {kind} {bounds}, got {value!r}")


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``None`` fields follow the dataset's protocol (see :meth:`resolved`).

    params : loss hyper-parameters as ``((name, value), ...)`` that override the paper's
        defaults for (dataset, noise, method); required where the paper defines none.
    seed : seeds the network initialisation, the batch order and augmentation, and the label
        noise (the paper uses seeds 123, 124, 125).
    train_per_class : train on the first n images of each class (short runs); None = all.
    precision : "fp32" or "bf16" (autocast for the network; the loss is computed in fp32).
    """

    dataset: str = "synthetic"
    noise: str = "clean"
    method: str = "ce"
    params: tuple[tuple[str, Any], ...] = ()
    seed: int = 123
    model: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    grad_clip: float | None = None
    crop_pad: int | None = None
    flip: bool | None = None
    rotate_deg: float | None = None
    train_per_class: int | None = None
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        object.__setattr__(self, "noise", str(NoiseSpec.parse(self.noise)))
        if isinstance(self.params, dict):
            object.__setattr__(self, "params", tuple(sorted(self.params.items())))
        if self.model is not None and self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("epochs", "batch_size", "train_per_class"):
            _number(name, getattr(self, name), integer=True, above=0)
        for name in ("lr", "grad_clip"):
            _number(name, getattr(self, name), integer=False, above=0)
        _number("weight_decay", self.weight_decay, integer=False, above=0, strict=False)
        _number("momentum", self.momentum, integer=False, above=0, strict=False, below=1)
        _number("crop_pad", self.crop_pad, integer=True, above=0, strict=False)
        _number("rotate_deg", self.rotate_deg, integer=False, above=0, strict=False)
        # an unknown method or parameter, or a value outside its domain: the registry's error
        # names the loss, the parameter and the value
        losses.spec(self.method).check(dict(self.params))

    @property
    def noise_spec(self) -> NoiseSpec:
        return NoiseSpec.parse(self.noise)

    def loss_params(self) -> dict[str, Any]:
        """The method's hyper-parameters: the paper's defaults for this setting, then ``params``.

        For the synthetic dataset (not in the paper) the registry's defaults replace the paper's.
        """
        explicit = dict(self.params)
        if self.dataset == "synthetic":
            return {**losses.spec(self.method).defaults, **explicit}
        kind, rate = self.noise_spec.paper_key
        try:
            base = losses.paper_defaults(self.dataset, kind, rate, self.method)
        except ValueError as err:
            if not explicit:
                raise ValueError(f"{err}. Pass the hyper-parameters explicitly, e.g. --param m=1e3 "
                                 f"(RunConfig(params=...)).") from None
            base = {}
        return {**losses.spec(self.method).defaults, **base, **explicit}

    def build_loss(self) -> losses.Loss:
        return losses.get(self.method, **self.loss_params())

    def resolved(self) -> RunConfig:
        """Every ``None`` replaced by the protocol's value and ``params`` made complete."""
        proto = PROTOCOLS[self.dataset]
        fill = {name: getattr(proto, name) for name in
                ("model", "epochs", "batch_size", "lr", "momentum", "weight_decay", "grad_clip")}
        fill.update(crop_pad=proto.augment.crop_pad, flip=proto.augment.flip, rotate_deg=proto.augment.rotate_deg)
        changes = {k: v for k, v in fill.items() if getattr(self, k) is None}
        params = self.loss_params()
        self.build_loss()  # fails now, not after data loading, on a bad hyper-parameter
        return dataclasses.replace(self, params=tuple(sorted(params.items())), **changes)

    @property
    def augment(self) -> Augment:
        cfg = self.resolved() if self.crop_pad is None or self.flip is None or self.rotate_deg is None else self
        return Augment(crop_pad=cfg.crop_pad, flip=cfg.flip, rotate_deg=cfg.rotate_deg)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["params"] = dict(self.params)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig fields {unknown}; known: {sorted(known)}")
        data = dict(data)
        if isinstance(data.get("params"), dict):
            data["params"] = tuple(sorted(data["params"].items()))
        elif "params" in data:
            data["params"] = tuple(tuple(p) for p in data["params"])
        return cls(**data)

    @property
    def run_id(self) -> str:
        """A readable, unique file stem: setting, method, seed and a hash of the resolved config."""
        cfg = self.resolved()
        digest = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:10]
        stem = f"{cfg.dataset}_{cfg.noise}_{cfg.method}_s{cfg.seed}"
        return re.sub(r"[^A-Za-z0-9_.+-]", "-", stem) + f"_{digest}"
