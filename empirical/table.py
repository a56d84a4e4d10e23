"""Tables from a results folder: mean ± std over seeds, never one run.

:func:`accuracy_table` gives last-epoch clean test accuracy (the paper's metric) per method ×
noise setting; :func:`risk_table` gives the measured risks, the observed sum range, Theorem B's
bound and the paired excess clean risk. Cells hold the mean, the sample standard deviation
(ddof = 1; 0 for a single run) and the number of seeds, so a reader sees how many runs stand
behind each number. A method whose hyper-parameters differ inside one noise setting (an m sweep)
gets one row per value, labelled with the parameters that vary.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from empirical.records import RunResult
from empirical.risk import paired_excess

__all__ = ["Cell", "Table", "accuracy_table", "risk_table"]


@dataclass(frozen=True)
class Cell:
    """Mean ± std over ``n`` runs (``values`` kept for re-analysis)."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        """The sample standard deviation; NaN for one run, where there is none."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else math.nan

    def format(self, scale: float = 1.0, digits: int = 2) -> str:
        if not self.values:
            return "–"
        spread = f"{self.std * scale:.{digits}f}" if self.n > 1 else "–"  # never "± 0.00" for one run
        return f"{self.mean * scale:.{digits}f} ± {spread} (n={self.n})"

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std if self.n > 1 else None, "n": self.n, "values": list(self.values)}


@dataclass
class Table:
    """``cells[(row, column)][metric]`` with ordered ``rows`` and ``columns``."""

    title: str
    rows: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], dict[str, Cell]] = field(default_factory=dict)

    def spread_caption(self, metric: str) -> str:
        """What a cell of ``metric`` shows: "mean ± sample std over seeds" only where some cell
        has more than one run."""
        if any(c.get(metric, Cell(())).n > 1 for c in self.cells.values()):
            return "mean ± sample std over seeds (n = number of seeds; – where n = 1)"
        return "one seed per cell (n = 1: no std)"

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "rows": self.rows, "columns": self.columns,
                "cells": [{"row": r, "column": c, **{k: v.to_dict() for k, v in m.items()}}
                          for (r, c), m in self.cells.items()]}

    def markdown(self, metric: str, *, scale: float = 1.0, digits: int = 2) -> str:
        lines = [f"| {self.title} | " + " | ".join(self.columns) + " |",
                 "|---" * (len(self.columns) + 1) + "|"]
        for r in self.rows:
            cells = [self.cells.get((r, c), {}).get(metric, Cell(())).format(scale, digits) for c in self.columns]
            lines.append(f"| {r} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _noise_order(noise: str) -> tuple:
    kind, _, rest = noise.partition(":")
    order = ("clean", "symmetric", "asymmetric", "instance", "human")
    return (order.index(kind) if kind in order else len(order), rest)


def _labels(results: list[RunResult]) -> dict[str, str]:
    """Row label per run id: dataset, method and the hyper-parameters that vary within a setting."""
    by_setting: dict[tuple, set] = defaultdict(set)
    for r in results:
        c = r.config
        by_setting[(c.dataset, c.method, c.noise)].add(tuple(sorted(c.params, key=str)))
    varying: dict[tuple, set] = defaultdict(set)
    for (dataset, method, _), variants in by_setting.items():
        dicts = [dict(v) for v in variants]
        for key in {k for d in dicts for k in d}:
            if len({repr(d.get(key)) for d in dicts}) > 1:
                varying[(dataset, method)].add(key)
    labels = {}
    for r in results:
        c, params = r.config, dict(r.config.params)
        keys = sorted(varying[(c.dataset, c.method)])
        extra = " ".join(f"{k}={params.get(k):g}" if isinstance(params.get(k), (int, float))
                         else f"{k}={params.get(k)}" for k in keys)
        labels[r.id] = f"{c.dataset} {c.method}" + (f" {extra}" if extra else "")
    return labels


def _collect(results: list[RunResult], title: str, metrics: dict[str, Any]) -> Table:
    labels = _labels(results)
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        key = (labels[r.id], r.config.noise)
        for name, get in metrics.items():
            v = get(r)
            if v is not None and not math.isnan(float(v)):  # "nan": a run that diverged before any value
                values[key][name].append(float(v))
    table = Table(title)
    table.rows = sorted({k[0] for k in values})
    table.columns = sorted({k[1] for k in values}, key=_noise_order)
    table.cells = {k: {m: Cell(tuple(v)) for m, v in ms.items()} for k, ms in values.items()}
    return table


def accuracy_table(results: Iterable[RunResult]) -> Table:
    """Last-epoch (``test_acc_last``) and best (``test_acc_best``) clean test accuracy per method
    × noise. Diverged runs count as what they are: their last recorded accuracy; one that
    diverged before its first evaluation has none, and is not in the cell's n."""
    results = list(results)
    return _collect(results, "method", {
        "test_acc_last": lambda r: r.final.test_acc_last,
        "test_acc_best": lambda r: r.final.test_acc_best,
    })


def risk_table(results: Iterable[RunResult]) -> Table:
    """Measured clean/noisy training risk and observed C₁/C₂ per method × noise (finished runs
    with risk measurements), and for each symmetric-noise run with a clean-label twin the
    measured excess clean test risk beside Theorem B's bound. Excess and bound both come from
    :func:`empirical.risk.paired_excess`, the one place the figure ``risk_vs_bound`` takes them
    from too: the bound is computed from the observed sum range of the noisy run and its twin
    together, so table and figure print the same number."""
    results = [r for r in results if r.risk is not None]
    pairs = {p.noisy_run: p for p in paired_excess(results)}
    return _collect(results, "method", {
        "clean_risk": lambda r: r.risk.train.clean_risk,
        "noisy_risk": lambda r: r.risk.train.noisy_risk,
        "c1": lambda r: r.risk.c1,
        "c2": lambda r: r.risk.c2,
        "excess_test": lambda r: pairs[r.id].excess if r.id in pairs else None,
        "bound": lambda r: pairs[r.id].bound if r.id in pairs else None,
    })
