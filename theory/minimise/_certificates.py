"""How a minimum was found (:class:`Solver`), and the evidence each method leaves behind: one small
record per method.

:attr:`theory.minimise.Minimum.certificate` is one of these, chosen by :class:`~theory.minimise.Solver`:

======================  =====================
``Minimum.method``      ``Minimum.certificate``
======================  =====================
CLOSED_FORM             :class:`ClosedForm`
VERTICES                :class:`VertexValues`
KKT                     :class:`KKTBisection`
REGIONS                 :class:`RegionEnumeration` (with its :class:`Patterns` and :class:`Polish`)
BOUNDARY                :class:`BoundaryLimits`
MULTISTART              :class:`StartsSearch`
LOGITS                  :class:`LogitStarts`
======================  =====================

Every certificate has ``lower_bound``: a certified lower bound (n,) of inf C_q per row, or None where
the method has none of its own (a closed form and a vertex enumeration are exact by their
argument, a search has none unless the loss is a sum of exactly solvable terms). Arrays whose
first axis is the row of q are sliced with the minimum (:meth:`Rows.take`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any

import numpy as np

__all__ = ["BoundaryLimits", "Certificate", "ClosedForm", "KKTBisection", "LogitStarts", "Patterns", "Polish",
           "RegionEnumeration", "Rows", "Solver", "StartsSearch", "VertexValues"]


class Solver(str, Enum):
    """How a minimum was found (the values are the display names)."""

    CLOSED_FORM = "closed form"
    VERTICES = "vertex enumeration"
    KKT = "KKT bisection (convex separable)"
    REGIONS = "region enumeration"
    BOUNDARY = "boundary enumeration"
    MULTISTART = "multi-start simplex descent"
    LOGITS = "multi-start L-BFGS-B over logits"

    @property
    def certifies(self) -> bool:
        """Whether the method itself establishes global optimality (up to its stated error)."""
        return self not in (Solver.MULTISTART, Solver.LOGITS)


EXACT_DERIVATIVES = "sympy (exact)"
NUMERIC_DERIVATIVES = "central differences"


def derivatives_note(exact: bool) -> str:
    """How a method's derivatives of φ were taken: from the loss's sympy path or numerically."""
    return EXACT_DERIVATIVES if exact else NUMERIC_DERIVATIVES


@dataclass(frozen=True, kw_only=True)
class Rows:
    """A record whose arrays with a first axis of length n hold one entry per row of q."""

    def take(self, idx: Any, n: int) -> Rows:
        """The record for rows ``idx`` (an index array, a slice or one row) of the ``n`` minimised:
        every array with a first axis of length ``n``, and every nested record, sliced alike."""
        changes = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Rows):
                changes[f.name] = v.take(idx, n)
            elif isinstance(v, np.ndarray) and v.ndim and v.shape[0] == n:
                changes[f.name] = v[idx]
        return replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class Certificate(Rows):
    """Base of the certificates: ``lower_bound`` (see the module docstring) and row slicing."""

    lower_bound: np.ndarray | None = None


@dataclass(frozen=True, kw_only=True)
class ClosedForm(Certificate):
    """The loss's own Bayes rule (CE, MSE: p* = q; RCE): exact by the loss's derivation."""


@dataclass(frozen=True, kw_only=True)
class VertexValues(Certificate):
    """C_q at every vertex of the simplex, (n, K): a concave C_q is least at one of them."""

    vertex_values: np.ndarray


@dataclass(frozen=True, kw_only=True)
class KKTBisection(Certificate):
    """The KKT multiplier of a convex separable C_q, found by bisection on log μ."""

    log_multiplier: np.ndarray  # (n,) log μ
    sum_residual: np.ndarray  # (n,) Σ_k p_k − 1 before the final normalisation
    derivatives: str  # EXACT_DERIVATIVES or NUMERIC_DERIVATIVES


@dataclass(frozen=True, kw_only=True)
class Patterns(Rows):
    """The argmax-region and piece patterns whose convex sub-problems the region enumeration
    solves (:func:`theory.minimise._regions.region_candidates`), C of them per row."""

    count: int  # C: patterns per row, region by region
    grid: int  # points of the grid each pattern's multiplier is solved on
    max_projection: float  # the largest mass put back onto the simplex after the multiplier solve
    breaks_top: tuple[float, ...]  # the convex pieces of φ_top and φ_other
    breaks_other: tuple[float, ...]
    top: np.ndarray  # (n, C) each pattern's argmax class
    top_piece: np.ndarray  # (n, C) the piece of φ_top the top coordinate lies in
    pieces: np.ndarray  # (n, C, K) each coordinate's piece of φ_other; −1 for the top


@dataclass(frozen=True, kw_only=True)
class Polish(Rows):
    """The KKT polish of grid solutions on their piece pattern (:func:`theory.minimise._polish.polish`)."""

    polished: np.ndarray  # (n,) whether the row was improved
    residual: float  # the largest |Σ p − 1| of the polished rows' multiplier solve
    derivatives: str

    @property
    def rows(self) -> int:
        return int(self.polished.sum())


@dataclass(frozen=True, kw_only=True)
class RegionEnumeration(Certificate):
    """Every argmax region and monotone piece pattern, solved as a convex sub-problem."""

    patterns: Patterns
    polish: Polish
    polish_gain: np.ndarray  # (n,) value before the polish − value after it
    region_values: np.ndarray  # (n, K) the least value found in each argmax region
    region_points: np.ndarray  # (n, K, K) where
    region_lower_bounds: np.ndarray  # (n, K) the certified lower bound of each region's infimum
    near_optimal: list[tuple[int, np.ndarray]]  # (row, other candidates as good as the best)
    derivatives: str


@dataclass(frozen=True, kw_only=True)
class BoundaryLimits(Certificate):
    """Boundary limits of α·N + rest against the lower bound α·min q + inf rest (normalised N)."""

    gap: np.ndarray | None  # (n,) value − lower_bound, None where the rest has no exact minimiser
    zero_coordinate: np.ndarray  # (n,) the coordinate sent to 0 at the best limit; −1 for an interior point
    rest_method: Solver | None  # how inf rest was found; None for a loss that is N alone
    interior_searched: int  # rows whose gap was worth an interior search


@dataclass(frozen=True, kw_only=True)
class StartsSearch(Certificate):
    """A multi-start search over the simplex (not certified). ``lower_bound`` and ``gap`` are set
    where the loss is a weighted sum of exactly solvable terms (Σ_i w_i inf C_q^(i) ≤ C_q)."""

    starts: int
    starts_at_best: np.ndarray  # (n,) starts that reached the best value
    seed: int
    n_random: int
    iterations: int
    gap: np.ndarray | None = None
    regions_refused: str | None = None  # why region enumeration, the loss's default, did not apply


@dataclass(frozen=True, kw_only=True)
class LogitStarts(Certificate):
    """A multi-start L-BFGS-B search over logits in the box [−box, box]^K (not certified)."""

    box: float
    starts: int
    seed: int
