"""How hard the numeric parts of a check search, and the random streams they draw from.

Every random choice of a check (sampled points, posteriors, problems, search starts) comes from
:meth:`Budget.rng` with a *key* naming what is drawn, e.g. ``budget.rng("theorem_b", K, m)``. The
stream is a function of the budget's seed and the key only: two checks that ask the same
question with the same key see the same numbers (so a claim and a loss check about the same
loss agree by construction), and different keys never share a stream (no hand-made seed salts,
no collisions between ``("a", 11)`` and ``("a1", 1)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory.streams import derived_seed, key_words, seed_word, stream

__all__ = ["BUDGETS", "Budget", "Size", "key_words"]

BUDGETS = ("default", "thorough")


@dataclass(frozen=True)
class Size:
    """How much of something a search does at each budget: a count, a grid or a tuple of K. Sizes are
    module-level constants named for what they count, so that every budget-dependent number is
    written once, beside its meaning, and a reader sees what ``"thorough"`` buys; a check reads one
    with :meth:`Budget.size`."""

    default: Any
    thorough: Any


@dataclass(frozen=True)
class Budget:
    """The size of the numeric searches (``"default"`` or ``"thorough"``), the seed every random
    stream derives from, and an optional progress callback ``progress(label, done, total)``."""

    name: str = "default"
    seed: int = 0
    progress: Callable[[str, int, int], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.name not in BUDGETS:
            raise ValueError(f"budget must be one of {BUDGETS}, got {self.name!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def thorough(self) -> bool:
        return self.name == "thorough"

    def size(self, size: Size) -> Any:
        """The value of ``size`` at this budget."""
        if not isinstance(size, Size):
            raise TypeError(f"size must be a theory.verify.Size, got {type(size).__name__}")
        return self.pick(size.default, size.thorough)

    def pick(self, default: Any, thorough: Any) -> Any:
        """``default`` or ``thorough`` by the budget's name (the package itself names its sizes: :class:`Size`)."""
        return thorough if self.thorough else default

    def rng(self, *key: Any) -> np.random.Generator:
        """The random stream named by ``key`` (see the module docstring)."""
        if not key:
            raise ValueError("a random stream needs a key naming what it draws, e.g. rng('theorem_b', K)")
        return stream(int(self.seed), *key)

    def seed_for(self, *key: Any) -> int:
        """A non-negative integer seed (below 2⁶³) for APIs that take one, derived like :meth:`rng`."""
        return seed_word(int(self.seed), *key)

    def reported_seed(self, *key: Any) -> int:
        """:meth:`seed_for` below :data:`theory.streams.REPORTED_SEED_BOUND`, for a call a report prints
        (:func:`theory.streams.derived_seed` of the budget's seed)."""
        return derived_seed(int(self.seed), *key)

    def tick(self, label: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(label, done, total)
