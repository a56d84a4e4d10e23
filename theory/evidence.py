"""Verdicts and their evidence: the data model shared by proofs_check and theory.checks.

Three verdicts (DESIGN.md §3):

``proved``                 with a certificate (a sympy expression that simplified to exactly 0,
                           or a closed form with its assumptions);
``verified, not refuted``  the numeric search and/or exact finite problems found no
                           counterexample within the recorded budget and seed;
``refuted``                with a witness that was re-checked in exact or high-precision
                           arithmetic (or, for a black-box loss, re-evaluated with a margin).

:func:`decide` turns evidence into a verdict by these rules, and the report types of
:mod:`proofs_check` and :mod:`theory.checks` enforce them when they are built.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Budget", "Evidence", "Outcome", "Verdict", "Witness", "decide", "jsonable", "short", "summarise", "write_json"]


class Verdict(str, Enum):
    PROVED = "proved"
    NOT_REFUTED = "verified, not refuted"
    REFUTED = "refuted"


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence.

    ``kind`` is "certificate" (a symbolic proof: what simplified to 0 and under which
    assumptions), "tightness" (how close the observed values come to a bound), "search" (what
    was searched, with which budget and seed, and the worst case seen) or "measurement" (a
    measured curve or table kept in ``data``).
    """

    kind: str
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        kinds = ("certificate", "tightness", "search", "measurement")
        if self.kind not in kinds:
            raise ValueError(f"evidence kind must be one of {kinds}, got {self.kind!r}")


@dataclass(frozen=True)
class Witness:
    """A counterexample: the inputs, what was observed and what the claim expected.

    ``recheck`` says how the witness was confirmed independently of the search (exact rational
    arithmetic or an mpmath evaluation at ``digits`` significant digits) and ``rechecked`` whether
    that confirmation succeeded. Only a re-checked witness refutes a claim.
    """

    inputs: Mapping[str, Any]
    observed: str
    expected: str
    recheck: str
    rechecked: bool


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; :meth:`Claim.run` adds identity, budget and timing."""

    verdict: Verdict
    evidence: tuple[Evidence, ...] = ()
    witness: Witness | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Budget:
    """How hard numeric checks search. ``pick(default, thorough)`` selects a size by name.

    ``progress`` is called as ``progress(label, done, total)`` by long sweeps (label: the claim
    or check that is running).
    """

    name: str = "default"
    seed: int = 0
    progress: Callable[[str, int, int], None] | None = None

    def __post_init__(self):
        if self.name not in ("default", "thorough"):
            raise ValueError(f"budget must be 'default' or 'thorough', got {self.name!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def thorough(self) -> bool:
        return self.name == "thorough"

    def pick(self, default: Any, thorough: Any) -> Any:
        return thorough if self.thorough else default

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([int(self.seed), int(salt)])

    def tick(self, label: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(label, done, total)




def decide(evidence: list[Evidence], witness: Witness | None = None, *, data: Mapping[str, Any] | None = None,
           note: str = "") -> Outcome:
    """REFUTED with a re-checked witness, PROVED with a certificate, else NOT_REFUTED.

    A float-level violation that the re-check does not confirm is kept as evidence (a rounding
    artefact of the float path, not a counterexample) and does not refute.
    """
    if witness is not None and witness.rechecked:
        verdict = Verdict.REFUTED
    elif any(e.kind == "certificate" for e in evidence):
        verdict = Verdict.PROVED
    else:
        verdict = Verdict.NOT_REFUTED
    if witness is not None and not witness.rechecked:
        evidence = [*evidence, Evidence("search", f"violation not confirmed by the re-check: {witness.observed}",
                                        {"inputs": dict(witness.inputs), "recheck": witness.recheck})]
        witness = None
    return Outcome(verdict, tuple(evidence), witness, dict(data or {}), note)


def summarise(evidence: tuple[Evidence, ...], witness: Witness | None) -> str:
    """One line: the witness when there is one, otherwise the two strongest pieces of evidence."""
    if witness is not None:
        return f"witness {short(witness.inputs)}: {witness.observed} (re-checked: {witness.recheck})"
    order = {"certificate": 0, "tightness": 1, "search": 2, "measurement": 3}
    return "; ".join(e.summary for e in sorted(evidence, key=lambda e: order[e.kind])[:2])


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``jsonable(payload)`` to ``path`` atomically (a temporary file in the same folder,
    then a rename), creating the folder; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(jsonable(payload), fh, indent=1)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return target


def short(inputs: Mapping[str, Any]) -> str:
    parts = []
    for k, v in inputs.items():
        if isinstance(v, (list, tuple, np.ndarray)):
            v = "[" + ", ".join(_fmt(x) for x in np.asarray(v, dtype=object).ravel()[:6]) + "]"
        else:
            v = _fmt(v)
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.4g}"
    return str(x)


def jsonable(x: Any) -> Any:
    """Convert numpy, sympy, enums and infinities into plain JSON values."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, Enum):
        return x.value
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")
    if x is None or isinstance(x, str):
        return x
    return str(x)
