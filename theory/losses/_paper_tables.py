"""The paper's hyper-parameter tables (PAPER.md §3) as data, with a strict lookup.

Keys are (dataset, noise, rate) with rate ``None`` meaning "every rate of that noise type".
A combination the paper does not define raises a ValueError; nothing falls back to a default.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DATASETS", "NOISE_TYPES", "paper_defaults", "paper_table_rows"]

DATASETS = ("cifar10", "cifar100", "webvision", "clothing1m")
NOISE_TYPES = ("clean", "symmetric", "asymmetric", "instance", "human", "real")

_EPS_METHODS = ("ce_eps+mae", "fl_eps+mae")

# (dataset, noise, rate or None) -> (alpha, beta, m); shared by CE_ε+MAE and FL_ε+MAE.
_EPS_TABLE: dict[tuple[str, str, float | None], tuple[float, float, float]] = {
    ("cifar10", "symmetric", None): (0.01, 5.0, 1e5),  # every rate, clean included
    **{("cifar10", "asymmetric", r): (0.02, 5.0, 1e3) for r in (0.1, 0.2, 0.3, 0.4)},
    **{("cifar10", "instance", r): (0.045, 10.0, 1e5) for r in (0.2, 0.4, 0.6)},
    **{
        ("cifar100", noise, r): (a, 1.0, 1e4)
        for noise in ("symmetric", "instance")
        for r, a in ((0.0, 0.1), (0.2, 0.05), (0.4, 0.03), (0.6, 0.00125), (0.8, 0.0075))
        if not (noise == "instance" and r in (0.0, 0.8))
    },
    **{
        ("cifar100", "asymmetric", r): (a, 1.0, 1e2)
        for r, a in ((0.1, 0.015), (0.2, 0.007), (0.3, 0.005), (0.4, 0.004))
    },
    ("webvision", "real", None): (0.015, 0.3, 1e3),
    ("clothing1m", "real", None): (0.012, 0.1, 1e3),
}

# Baselines on CIFAR: method -> {dataset: params}; independent of the noise setting.
_BASELINES: dict[str, dict[str, dict[str, float]]] = {
    "ce": {"cifar10": {}, "cifar100": {}},
    "nlnl": {"cifar10": {}, "cifar100": {}},
    "fl": {"cifar10": {"gamma": 0.5}, "cifar100": {"gamma": 0.5}},
    "gce": {"cifar10": {"q": 0.7}, "cifar100": {"q": 0.7}},
    "sce": {"cifar10": {"alpha": 0.1, "beta": 1.0}, "cifar100": {"alpha": 6.0, "beta": 0.1}},
    "nce+mae": {"cifar10": {"alpha": 1.0, "beta": 1.0}, "cifar100": {"alpha": 10.0, "beta": 0.1}},
    "nce+rce": {"cifar10": {"alpha": 1.0, "beta": 1.0}, "cifar100": {"alpha": 10.0, "beta": 0.1}},
    "nfl+rce": {"cifar10": {"alpha": 1.0, "beta": 1.0}, "cifar100": {"alpha": 10.0, "beta": 0.1}},
    "nce+aul": {
        "cifar10": {"alpha": 1.0, "beta": 4.0, "a": 6.3, "q": 1.5},
        "cifar100": {"alpha": 10.0, "beta": 0.015, "a": 6.0, "q": 3.0},
    },
    "nce+agce": {
        "cifar10": {"alpha": 1.0, "beta": 4.0, "a": 6.0, "q": 1.5},
        "cifar100": {"alpha": 10.0, "beta": 0.1, "a": 1.8, "q": 3.0},
    },
    "nce+ael": {
        "cifar10": {"alpha": 1.0, "beta": 4.0, "a": 5.0},
        "cifar100": {"alpha": 10.0, "beta": 0.1, "a": 1.5},
    },
    "ldr_kl": {"cifar10": {"theta": 0.1, "lam": 10.0}, "cifar100": {"theta": 0.1, "lam": 1.0}},
}


def _logit_clip_delta(dataset: str, noise: str, rate: float) -> float:
    if dataset == "cifar10":
        if noise in ("clean", "symmetric"):
            return 1.0 if rate < 0.5 else 1.5
        return {"asymmetric": 2.5, "human": 2.5, "instance": 2.0}[noise]
    return 2.5 if noise == "asymmetric" else 0.5


def _canonical(method: str) -> str:
    from theory.losses._registry import spec

    return spec(method).name  # raises KeyError naming the registered losses


def paper_defaults(dataset: str, noise: str, rate: float, method: str) -> dict[str, Any]:
    """Hyper-parameters the paper uses for ``method`` on (dataset, noise type, noise rate).

    Parameters
    ----------
    dataset : "cifar10", "cifar100", "webvision" or "clothing1m".
    noise : "clean", "symmetric", "asymmetric", "instance", "human" (CIFAR-N) or "real"
        (WebVision, Clothing1M).
    rate : the nominal noise rate (0 for clean; ignored for "human" and "real").
    method : a registered loss name (e.g. "ce_eps+mae").

    Returns
    -------
    dict of keyword parameters for :func:`theory.losses.get`.

    Raises
    ------
    ValueError
        When the paper's tables do not define this combination.
    """
    method = _canonical(method)
    dataset = str(dataset).lower().replace("-", "")
    noise = str(noise).lower()
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if noise not in NOISE_TYPES:
        raise ValueError(f"noise must be one of {NOISE_TYPES}, got {noise!r}")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 <= rate < 1):
        raise ValueError(f"rate must be a number in [0, 1), got {rate!r}")
    rate = round(float(rate), 6)
    if noise == "clean":
        if rate != 0:
            raise ValueError(f"noise 'clean' needs rate 0, got {rate}")
        noise = "symmetric"  # the paper lists clean as symmetric rate 0

    undefined = ValueError(
        f"the paper defines no hyper-parameters for {method!r} on {dataset} with {noise} noise "
        f"at rate {rate}; see paper_table_rows() for the combinations it does define"
    )
    if method in _EPS_METHODS:
        row = _EPS_TABLE.get((dataset, noise, rate)) or _EPS_TABLE.get((dataset, noise, None))
        if row is None:
            raise undefined
        alpha, beta, m = row
        return {"alpha": alpha, "beta": beta, "m": m}
    if method == "ce+lc" and dataset in ("cifar10", "cifar100"):
        return {"delta": _logit_clip_delta(dataset, noise, rate)}
    by_dataset = _BASELINES.get(method, {})
    if dataset not in by_dataset or noise == "real":
        raise undefined
    return dict(by_dataset[dataset])


def paper_table_rows() -> list[dict[str, Any]]:
    """Every (dataset, noise, rate, method, params) the tables define, for display and tests."""
    rows = []
    for (dataset, noise, rate), (alpha, beta, m) in _EPS_TABLE.items():
        for method in _EPS_METHODS:
            rows.append({"dataset": dataset, "noise": noise, "rate": rate, "method": method,
                         "params": {"alpha": alpha, "beta": beta, "m": m}})
    for method, by_dataset in _BASELINES.items():
        for dataset, params in by_dataset.items():
            rows.append({"dataset": dataset, "noise": None, "rate": None, "method": method,
                         "params": dict(params)})
    for dataset in ("cifar10", "cifar100"):
        for noise, rate in (("symmetric", 0.2), ("symmetric", 0.6), ("asymmetric", 0.4),
                            ("human", 0.0), ("instance", 0.4)):
            rows.append({"dataset": dataset, "noise": noise, "rate": rate, "method": "ce+lc",
                         "params": {"delta": _logit_clip_delta(dataset, noise, rate)}})
    assert all(math.isfinite(v) for r in rows for v in r["params"].values())
    return rows
