"""The registry of the paper's claims: ``ids()``, ``get(id)``, ``all_claims()``, ``run(...)``.

>>> from proofs_check import claims
>>> result = claims.get("eps_softmax.one_hot_error").run()
>>> result.verdict_text, result.evidence[0].data

Claims live in one module per part of the paper, each declared with :func:`claim`; :data:`CLAIMS`
below lists every one of them, in the paper's order (the report's), and is what gets registered
in :mod:`theory.verify.registry` (target "paper"). Each result keeps its measured curves and typed
rows in ``result.data`` so figures and users can reuse them.
"""

from __future__ import annotations

from proofs_check.claims import (
    asymmetric_noise,
    bounded_sum,
    consistency,
    gradients,
    identities,
    linear_class,
    softmax,
    symmetric_noise,
)
from proofs_check.claims._registry import Claim, all_claims, claim, get, ids, paper_context, register, run_claims
from theory.verify import Budget, Result

__all__ = ["CLAIMS", "Claim", "all_claims", "claim", "get", "ids", "paper_context", "run", "run_claims"]

#: every claim proofs_check verifies, in the paper's order (the report's)
CLAIMS: tuple[Claim, ...] = (
    # ε-softmax itself (PAPER.md §2, P1–P4)
    softmax.check_simplex, softmax.check_order, softmax.check_one_hot, softmax.check_ranges, softmax.check_clamp,
    # identities at m = 0 and MAE's exact symmetry
    identities.check_m_zero, identities.check_mae_symmetric,
    # Lemma A: bounded sums
    bounded_sum.check_lemma_a, bounded_sum.check_band,
    # gradients (§3)
    gradients.check_gradients,
    # symmetric noise: the risk identity and Theorem B
    symmetric_noise.check_identity, symmetric_noise.check_bound, symmetric_noise.check_lipschitz,
    symmetric_noise.check_ce_eps, symmetric_noise.check_unbounded,
    # Theorem B within a restricted class of predictors
    linear_class.check_linear_theorem_b, linear_class.check_moves,
    # class-conditional noise
    asymmetric_noise.check_limit, asymmetric_noise.check_tolerance,
    # All-k consistency
    consistency.check_table, consistency.check_clamp_breaks_order,
)
register(CLAIMS)


def run(selected: list[str] | None = None, *, budget: Budget | str = "default", seed: int = 0) -> list[Result]:
    """Run the selected claims (all by default) in this process, in registry order."""
    chosen = [get(i) for i in selected] if selected else all_claims()
    return [c.run(budget, seed=seed) for c in chosen]
