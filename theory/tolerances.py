"""The tolerances that several parts of :mod:`theory` share, each named once with what it means.

A tolerance that only one module uses is named at the top of that module (``theory.consistency``,
``theory.checks.*``, ``theory.minimise._dual``, …); the ones below recur across modules with one
meaning, so they live here. All are relative to ``max(1, |v|)`` or ``1 + |v|`` of the value ``v``
they are compared with, as written at each use, unless said otherwise. Changing one changes
verdicts: ``tests/test_behaviour_unchanged.py`` compares every report with a reference commit's.
"""

from __future__ import annotations

__all__ = ["AGREE_ATOL", "AGREE_RTOL", "COUNT_SLACK", "LBFGS_FTOL", "LBFGS_GTOL", "MONOTONE_REL", "PROB_ATOL", "ROUNDING_REL", "ROW_SUM_ATOL",
           "SAME_VALUE_REL", "START_LOG_FLOOR", "TIE_REL", "TINY"]

#: two evaluations of one loss value (in a batch and alone, batched by vmap and looped, called twice)
#: agree to AGREE_RTOL (relative) or AGREE_ATOL (absolute, for values at or near 0)
AGREE_RTOL, AGREE_ATOL = 1e-9, 1e-12
#: two entries of a probability vector are tied when the smaller is at least (1 − TIE_REL) times the
#: larger: well above float64 rounding of a polished coordinate (~1e-13), well below the 1e-6 relative
#: gaps by which sampled near-ties are kept apart
TIE_REL = 1e-9
#: two risk values within SAME_VALUE_REL (relative) are one minimum: what a float64 search resolves
#: (its stopping rule is a tenth of it), so a smaller difference is not evidence of a better point
SAME_VALUE_REL = 1e-9
#: rounding level of a value: a few ulps (relative). A candidate replaces the incumbent only when lower
#: by more than this, so that rounding never swaps two points of equal value; a Newton step or a
#: bracket below it has settled
ROUNDING_REL = 1e-15
#: a sequence meant to be non-increasing (a value along a ray, a lower envelope) may rise by this
#: much (relative) from rounding alone before it is judged to rise
MONOTONE_REL = 1e-12
#: a positive floor under a logarithm or a division: far above the subnormals, below any value met
TINY = 1e-300
#: floor(n·rate + COUNT_SLACK): a count meant to be an exact product (0.3 · 10 = 2.9999999999999996
#: in float64) is not rounded down by one
COUNT_SLACK = 1e-9
#: the rows of a transition matrix must sum to 1 within this (absolute)
ROW_SUM_ATOL = 1e-9
#: a probability vector may leave the simplex by this much (absolute, per entry; its sum by
#: PROB_ATOL·K) before it is refused: float32 softmax outputs stay well inside it
PROB_ATOL = 1e-6
#: scipy's L-BFGS-B stopping rule for the local searches (theory.minimise, theory.linear): stop when
#: the value stalls at rounding level or the projected gradient is this small
LBFGS_FTOL = 1e-15
LBFGS_GTOL = 1e-12
#: a search started at log p (a posterior, a tabular minimiser) floors p here: a vertex has zeros
START_LOG_FLOOR = 1e-12
#: a re-check's second search over logits runs in a box this many times wider than the first: a
#: minimiser held at the first box's bound moves when the infimum lies beyond it (consistency's ties,
#: the excess re-check of the noise checks)
BOX_WIDENING = 8.0
#: an excess between minimisers found over logits is confirmed only when the wider box reproduces it
#: to this, relative: an excess that moves with the box belongs to the box, not to the loss
BOX_STABLE_REL = 0.01
