"""Label-noise models with exact, stated conventions (PAPER.md §4).

Convention throughout: a transition matrix ``T`` is **row-stochastic**,
``T[i, j] = P(noisy = j | clean = i)``. cleanlab's ``noise_matrix`` is the transpose
(``noise_matrix[j, i] = P(given = j | true = i)``, columns sum to 1); convert explicitly with
:func:`to_cleanlab` / :func:`from_cleanlab`.

Samplers take ``seed`` (an int, including 0, or a ``numpy.random.Generator``) and never touch
global random state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory.streams import generator
from theory.tolerances import COUNT_SLACK, ROW_SUM_ATOL
from theory.validation import check_labels, check_num_classes, check_rate, check_transition, describe

__all__ = [
    "CIFAR10_PAIRS",
    "ToleranceReport",
    "actual_rate",
    "cifar100_blocks",
    "cifar10_asymmetric",
    "empirical_transition",
    "flip_pairs",
    "from_cleanlab",
    "pairs",
    "sample",
    "symmetric",
    "to_cleanlab",
    "tolerance",
]

#: CIFAR-10 asymmetric pairs (source → target): truck→automobile, bird→airplane, cat→dog,
#: dog→cat, deer→horse.
CIFAR10_PAIRS: tuple[tuple[int, int], ...] = ((9, 1), (2, 0), (3, 5), (5, 3), (4, 7))
#: two entries of a transition matrix within ENTRY_ATOL (absolute) are equal, for :func:`tolerance`'s
#: conditions (T_ik < T_ii) and its symmetric test
ENTRY_ATOL = 1e-12


# ----------------------------------------------------------------------------------------------
# Transition matrices


def symmetric(K: int, rate: float, *, include_true: bool = False) -> np.ndarray:
    """Symmetric noise: T_yy = 1 − η, T_yk = η/(K−1) (the flip never keeps the true class).

    With ``include_true=True`` the other convention: the new label is drawn uniformly from all K
    classes with probability η, so T_yy = 1 − η + η/K and the actual flip rate is η(K−1)/K.
    """
    K = check_num_classes(K)
    rate = check_rate(rate)
    if include_true:
        return (1 - rate) * np.eye(K) + rate / K
    return (1 - rate) * np.eye(K) + rate / (K - 1) * (1 - np.eye(K))


def _check_mapping(mapping: Any) -> list[tuple[int, int]]:
    """Pairs (source, target) of class indices (a sequence of pairs, or a {source: target} mapping): at
    least one, each two integers."""
    if isinstance(mapping, Mapping):
        mapping = list(mapping.items())
    try:
        out = [(i, j) for i, j in mapping]
    except (TypeError, ValueError):
        raise TypeError(f"mapping must be a sequence of (source, target) class pairs, got {describe(mapping)}") from None
    if not out:
        raise ValueError("mapping must hold at least one (source, target) class pair, got none")
    for i, j in out:
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in (i, j)):
            raise TypeError(f"mapping's pairs must hold integer class indices, got ({i!r}, {j!r})")
    return [(int(i), int(j)) for i, j in out]


def pairs(K: int, rate: float, mapping: Sequence[tuple[int, int]]) -> np.ndarray:
    """Pair flips: class ``i`` goes to ``j`` with probability η for each (i, j) in ``mapping``."""
    K = check_num_classes(K)
    rate = check_rate(rate)
    mapping = _check_mapping(mapping)
    T = np.eye(K)
    sources = set()
    for i, j in mapping:
        if not (0 <= i < K and 0 <= j < K) or i == j:
            raise ValueError(f"pair ({i}, {j}) must name two different classes in [0, {K - 1}]")
        if i in sources:
            raise ValueError(f"class {i} is the source of two pairs; each class flips to one target")
        sources.add(i)
        T[i, i] = 1 - rate
        T[i, j] = rate
    return T


def cifar10_asymmetric(rate: float) -> np.ndarray:
    """CIFAR-10 asymmetric noise (:data:`CIFAR10_PAIRS`) drawn from the original class members."""
    return pairs(10, rate, CIFAR10_PAIRS)


def cifar100_blocks(rate: float, *, K: int = 100, block: int = 5) -> np.ndarray:
    """CIFAR-100 asymmetric noise: index blocks {5b..5b+4}, j → j+1 cyclically inside a block.

    These are blocks of consecutive indices, not the real CIFAR-100 superclasses (kept as the
    reference code defines them).
    """
    K = check_num_classes(K)
    if K % block:
        raise ValueError(f"K must be a multiple of the block size {block}, got K={K}")
    mapping = [(b + i, b + (i + 1) % block) for b in range(0, K, block) for i in range(block)]
    return pairs(K, rate, mapping)


# ----------------------------------------------------------------------------------------------
# Sampling


def _exact_counts(n: int, row: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
    """Counts per target for ``n`` members of class ``i``: ⌊n(1 − T_ii)⌋ flips, shared among the
    other classes in proportion to T_ij, remainders given at random in proportion to their
    fractional parts."""
    counts = np.zeros(row.shape[0], dtype=np.int64)
    off = row.copy()
    off[i] = 0.0
    leave = off.sum()
    n_flip = int(np.floor(n * leave + COUNT_SLACK))
    if n_flip == 0:
        counts[i] = n
        return counts
    share = n_flip * off / leave
    counts[:] = np.floor(share + COUNT_SLACK).astype(np.int64)
    rest = n_flip - counts.sum()
    if rest > 0:
        frac = share - counts
        frac[i] = 0.0
        extra = rng.choice(row.shape[0], size=rest, replace=False, p=frac / frac.sum())
        counts[extra] += 1
    counts[i] = n - n_flip
    return counts


def sample(y, T, *, seed, exact: bool = True) -> np.ndarray:
    """Draw noisy labels from clean labels ``y`` (N,) under transition matrix ``T``.

    Parameters
    ----------
    y : int array (N,)
        Clean labels in [0, K).
    T : array (K, K)
        Row-stochastic, ``T[i, j] = P(noisy = j | clean = i)``.
    seed : int or numpy Generator
    exact : bool
        ``True`` (the paper's convention): in each class of n members exactly ⌊n(1 − T_ii)⌋ are
        flipped, chosen uniformly among the *original* members, and the flips are shared among
        targets in proportion to T_ij (largest-remainder, random tie-break). ``False``: each label
        independently, ỹ ~ T[y, :].

    Returns
    -------
    int64 array (N,) of noisy labels; ``y`` is not modified.
    """
    T = check_transition(T)
    K = T.shape[0]
    y = check_labels(y, K)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    rng = generator(seed)
    noisy = y.copy()
    if not exact:
        cdf = np.cumsum(T, axis=1)
        cdf[:, -1] = 1.0
        u = rng.random(y.shape[0])
        return (u[:, None] >= cdf[y]).sum(axis=1).astype(np.int64)
    for i in range(K):
        members = np.flatnonzero(y == i)
        if members.size == 0:
            continue
        counts = _exact_counts(members.size, T[i], i, rng)
        targets = np.repeat(np.arange(K), counts)
        noisy[rng.permutation(members)] = targets[np.argsort(targets == i, kind="stable")]
    return noisy


def flip_pairs(y, mapping: Sequence[tuple[int, int]], rate: float, *, seed,
               reference_sequential: bool = False) -> np.ndarray:
    """Pair-flip noise with exact counts.

    ``reference_sequential=False`` (correct): each source class flips ⌊η n⌋ of its *original*
    members, the same as ``sample(y, pairs(K, rate, mapping), exact=True)``.

    ``reference_sequential=True`` reproduces the reference code's defect, for comparison only:
    pairs are applied one after another on the *current* labels, so a later pair (dog→cat) also
    draws labels that an earlier pair (cat→dog) already flipped. On balanced CIFAR-10 at η = 0.4
    this gives an overall rate of 18.4 % with cat at 24 %.
    """
    y = np.asarray(y)
    mapping = _check_mapping(mapping)
    K = 1 + max(max(i, j) for i, j in mapping)
    if y.size and np.issubdtype(y.dtype, np.integer):
        K = max(K, int(y.max()) + 1)
    y = check_labels(y, K)
    if not reference_sequential:
        return sample(y, pairs(K, rate, mapping), seed=seed, exact=True)
    rate = check_rate(rate)
    rng = generator(seed)
    current = y.copy()
    for i, j in mapping:
        members = np.flatnonzero(current == i)
        n_flip = int(np.floor(rate * members.size + COUNT_SLACK))
        current[rng.choice(members, size=n_flip, replace=False)] = j
    return current


# ----------------------------------------------------------------------------------------------
# Conditions and measurements


@dataclass(frozen=True)
class ToleranceReport:
    """Which classical noise-tolerance conditions a transition matrix satisfies.

    ``symmetric_rate`` is η when T is symmetric noise (else None); ``symmetric_ok`` is
    η < (K−1)/K. ``dominant_ok`` is 1 − η_y > η_yk for all k ≠ y (T_yy > T_yk), with the
    violating (y, k) pairs listed.
    """

    K: int
    symmetric_rate: float | None
    symmetric_ok: bool | None
    dominant_ok: bool
    violations: tuple[tuple[int, int], ...]


def tolerance(T, *, atol: float = ENTRY_ATOL) -> ToleranceReport:
    """Check the tolerance conditions of PAPER.md §1 on a transition matrix."""
    T = check_transition(T)
    K = T.shape[0]
    eta = 1 - float(T[0, 0])
    is_sym = np.allclose(T, symmetric(K, eta), atol=ENTRY_ATOL) if eta < 1 else False
    diag = np.diag(T)[:, None]
    bad = (T >= diag - atol) & ~np.eye(K, dtype=bool)
    violations = tuple((int(i), int(k)) for i, k in np.argwhere(bad))
    return ToleranceReport(
        K=K,
        symmetric_rate=eta if is_sym else None,
        symmetric_ok=(eta < (K - 1) / K) if is_sym else None,
        dominant_ok=not violations,
        violations=violations,
    )


def empirical_transition(y_clean, y_noisy, K: int | None = None) -> np.ndarray:
    """Row-normalised counts ``T̂[i, j] = #{clean = i, noisy = j} / #{clean = i}``.

    Rows of classes absent from ``y_clean`` are NaN (no evidence either way).
    """
    y_clean = np.asarray(y_clean)
    if K is None:
        K = int(max(np.max(y_clean), np.max(y_noisy))) + 1 if y_clean.size else 2
    K = check_num_classes(K)
    y_clean = check_labels(y_clean, K, name="y_clean")
    y_noisy = check_labels(y_noisy, K, shape=y_clean.shape, name="y_noisy")
    counts = np.zeros((K, K), dtype=np.float64)
    np.add.at(counts, (y_clean, y_noisy), 1.0)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), np.nan)


def actual_rate(y_clean, y_noisy) -> float:
    """Fraction of labels that differ."""
    y_clean, y_noisy = np.asarray(y_clean), np.asarray(y_noisy)
    if y_clean.shape != y_noisy.shape:
        raise ValueError(f"label arrays must have the same shape, got {y_clean.shape} and {y_noisy.shape}")
    return float(np.mean(y_clean != y_noisy)) if y_clean.size else 0.0


def to_cleanlab(T) -> np.ndarray:
    """Row-stochastic T → cleanlab's column-stochastic ``noise_matrix`` (the transpose)."""
    return check_transition(T).T.copy()


def from_cleanlab(noise_matrix) -> np.ndarray:
    """cleanlab's ``noise_matrix[given, true]`` (columns sum to 1) → row-stochastic T."""
    N = np.asarray(noise_matrix, dtype=np.float64)
    if N.ndim == 2 and N.shape[0] == N.shape[1]:
        sums = N.sum(axis=0)
        if not np.allclose(sums, 1.0, atol=ROW_SUM_ATOL):
            j = int(np.argmax(np.abs(sums - 1.0)))
            raise ValueError(
                "cleanlab noise_matrix must be column-stochastic (noise_matrix[i][j] = "
                f"P(given=i | true=j)), got column {j} summing to {sums[j]:.9g}"
            )
    return check_transition(N.T, name="noise_matrix.T")
