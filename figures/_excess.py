"""Measured excess against m beside Theorem B's bound: one drawing for every source of
:class:`empirical.records.ExcessPoint` (CIFAR pairs of :func:`empirical.risk.paired_excess`,
finite-X runs of :mod:`empirical.exact`), so both figures show the same quantities the same way."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["excess_against_m"]


def excess_against_m(ax, points: Sequence, key: Callable[[object], str], *, colour: Callable[[str], str] | None = None,
                     style: Callable[[str], str] | None = None, m_floor: float = 0.1) -> dict:
    """Per group ``key(point)``: the mean ± sample std (ddof = 1; none for one run) of the excess
    over the points at each m, the bound's mean (a dashed line, squares) and, where the points
    know it, the population minimisers' excess (a thin dotted line). m = 0 or no m is drawn at
    ``m_floor`` on the log axis. Returns the plotted numbers per group."""
    from empirical.table import Cell

    groups: dict[str, list] = defaultdict(list)
    for p in points:
        groups[key(p)].append(p)
    data = {}
    for i, (label, sel) in enumerate(sorted(groups.items())):
        by_m = defaultdict(list)
        for p in sel:
            by_m[p.m if p.m is not None else 0.0].append(p)
        ms = sorted(by_m)
        x = np.maximum(ms, m_floor)
        cells = [Cell(tuple(p.excess for p in by_m[m])) for m in ms]
        bounds = [by_m[m][0].bound for m in ms]
        bound = [np.nan if b is None else Cell(tuple(p.bound for p in by_m[m])).mean for m, b in zip(ms, bounds)]
        population = [by_m[m][0].population_excess for m in ms]
        data[label] = {"m": ms, "excess_mean": [c.mean for c in cells], "excess_std": [c.std for c in cells],
                       "bound_mean": bound, "population": population, "n": [c.n for c in cells]}
        c = colour(label) if colour else f"C{i}"
        ls = style(label) if style else "-"
        ax.errorbar(x, data[label]["excess_mean"], yerr=np.nan_to_num(data[label]["excess_std"]), fmt="o" + ls,
                    color=c, ms=3.5, capsize=2, label=f"{label}: measured")
        if any(np.isfinite(bound)):
            ax.plot(x, bound, "s--", color=c, ms=3, mfc="none", lw=1, label=f"{label}: Theorem B's bound")
        if all(v is not None for v in population):
            ax.plot(x, population, ":", color=c, lw=1.2, label=f"{label}: population minimisers")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)  # a measured excess can be negative
    return data
