"""Measured risk against the paper's bound for a trained network.

For the trained loss L and the network's outputs f(x) on the training and test images (no
augmentation), :func:`measure` computes in float64

- the clean and noisy empirical risks, mean L(f(x), y) and mean L(f(x), ỹ);
- the observed range [C₁, C₂] of Σ_k L(f(x), k) over all those images;
- Theorem B's bound η(C₂ − C₁)/((K−1) − Kη) for symmetric noise (:mod:`theory.excess`), using
  the observed range (the theorem's C₁, C₂ range over all f, so the observed range gives a
  smaller, optimistic value: a measurement, not the theorem's constant);
- the symmetric-noise risk identity R^η = (1 − ηK/(K−1))R + (η/(K−1))·E Σ_k L evaluated on the
  training set, next to the measured noisy risk (equal in expectation over the noise draw).

:func:`paired_excess` pairs a noisy run with the clean-label run of the same config and seed and
reports the measured excess clean risk R(f_η) − R(f_clean) beside the bound. A trained network is
not the risk minimiser the theorem speaks of, so measured excess may exceed the bound or be
negative; the figures show both as they are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import torch

from empirical.records import BoundNote, ExcessPoint, Identity, Risk, Side
from theory.excess import symmetric_noise_bound

__all__ = ["loss_matrix", "measure", "paired_excess"]


@torch.no_grad()
def loss_matrix(loss, logits: torch.Tensor, *, chunk: int = 2048) -> torch.Tensor:
    """``M[i, k] = L(f(x_i), k)`` in float64 for logits (N, K), evaluated ``chunk`` rows at a time."""
    z = logits.double()
    N, K = z.shape
    labels = torch.arange(K, device=z.device)
    rows = []
    for start in range(0, N, chunk):
        block = z[start:start + chunk]
        B = block.shape[0]
        rows.append(loss.torch_value(block.repeat_interleave(K, 0), labels.repeat(B)).reshape(B, K))
    return torch.cat(rows) if rows else z.new_zeros((0, K))


def _side(M: torch.Tensor, logits: torch.Tensor, clean: torch.Tensor, noisy: torch.Tensor | None = None) -> Side:
    """Risk and accuracy against the clean labels (and the noisy ones, when given) and the range of Σ_k L."""
    sums = M.sum(1)
    pred = logits.argmax(1)
    ar = torch.arange(M.shape[0], device=M.device)

    def risk(y):
        return None if y is None else float(M[ar, y].mean())

    def acc(y):
        return None if y is None else float((pred == y).double().mean())

    return Side(clean_risk=risk(clean), clean_acc=acc(clean), sum_min=float(sums.min()), sum_max=float(sums.max()),
                sum_mean=float(sums.mean()), noisy_risk=risk(noisy), noisy_acc=acc(noisy))


def measure(loss, train_logits: torch.Tensor, test_logits: torch.Tensor, *, train_clean: torch.Tensor,
            train_noisy: torch.Tensor, test_y: torch.Tensor, noise_kind: str, noise_rate: float) -> Risk:
    """Risks, the observed [C₁, C₂] and the bound for one trained network (see the module docstring):
    ``train`` (clean and noisy risk and accuracy, sum range), ``test`` (clean risk and accuracy, sum
    range), ``c1``, ``c2``, ``bound`` (value or None, with why) and, for symmetric noise,
    ``identity`` (predicted and measured noisy training risk).
    """
    K = train_logits.shape[1]
    M_train, M_test = loss_matrix(loss, train_logits), loss_matrix(loss, test_logits)
    train = _side(M_train, train_logits, train_clean, train_noisy)
    test = _side(M_test, test_logits, test_y)
    c1, c2 = min(train.sum_min, test.sum_min), max(train.sum_max, test.sum_max)
    identity = None
    if noise_kind == "symmetric":
        eta = noise_rate
        predicted = (1 - eta * K / (K - 1)) * train.clean_risk + eta / (K - 1) * train.sum_mean
        identity = Identity(predicted_noisy_risk=predicted, measured_noisy_risk=train.noisy_risk)
    return Risk(K=K, train=train, test=test, c1=c1, c2=c2, bound=_bound(noise_kind, noise_rate, K, c1, c2),
                identity=identity)


def _bound(kind: str, eta: float, K: int, c1: float, c2: float) -> BoundNote:
    if kind == "clean":
        return BoundNote(theorem_b=0.0, eta=0.0, why="no noise")
    if kind != "symmetric":
        return BoundNote(theorem_b=None, eta=eta, why=f"Theorem B covers symmetric noise only, not {kind}")
    if not math.isfinite(c2 - c1):
        return BoundNote(theorem_b=math.inf, eta=eta, why="the observed sum range is unbounded")
    if eta >= (K - 1) / K:
        return BoundNote(theorem_b=None, eta=eta, why=f"η ≥ (K−1)/K = {(K - 1) / K:.4g}: no bound")
    return BoundNote(theorem_b=symmetric_noise_bound(eta, K, c1, c2), eta=eta, why=None)


def _pair_key(config) -> str:
    """Everything of a resolved config but its noise: two runs pair when these agree."""
    return json.dumps({k: v for k, v in config.to_dict().items() if k != "noise"}, sort_keys=True, default=str)


def bound_covers(source: str) -> str:
    """What the bound of a CIFAR pair covers (one text for the table and the figure)."""
    return ("risk minimisers under symmetric noise, with [C₁, C₂] the observed range of Σ_k L over the noisy run "
            f"and its clean twin on the {source} images (not over all predictors)")


def paired_excess(results: Iterable) -> list[ExcessPoint]:
    """Measured excess clean risk of each symmetric-noise run against its clean-label twin.

    Two runs pair when their resolved configs agree in everything but the noise (same method,
    hyper-parameters, seed, network and protocol). Each :class:`~empirical.records.ExcessPoint`
    holds the run ids, η, m (when the loss has one), the measured excess on the test set (1 −
    accuracy for the 0-1 excess), and Theorem B's bound from the union of both runs' observed sum
    ranges: the one bound the table and the figure print.
    """
    results = [r for r in results if r.status == "finished" and r.risk is not None]
    clean = {_pair_key(r.config): r for r in results if r.config.noise == "clean"}
    points = []
    for r in results:
        spec = r.config.noise_spec
        if spec.kind != "symmetric":
            continue
        twin = clean.get(_pair_key(r.config))
        if twin is None:
            continue
        a, b = r.risk, twin.risk
        c1, c2 = min(a.c1, b.c1), max(a.c2, b.c2)
        cfg = r.config
        points.append(ExcessPoint(
            source=cfg.dataset, task=f"{cfg.dataset} (test set)", model=cfg.model, method=cfg.method,
            label=cfg.method, m=dict(cfg.params).get("m"), eta=spec.rate, seed=cfg.seed, n_train=r.n_train,
            protocol=f"{cfg.epochs} epochs (batch {cfg.batch_size}, lr {cfg.lr:g})", exact=False,
            excess=a.test.clean_risk - b.test.clean_risk, zero_one_excess=b.test.clean_acc - a.test.clean_acc,
            population_excess=None, population_error=None, population_zero_one_excess=None,
            bound=_bound("symmetric", spec.rate, a.K, c1, c2).theorem_b,
            bound_covers=bound_covers("training and test"),
            noisy_run=r.id, clean_run=twin.id))
    return points
