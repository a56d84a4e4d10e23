"""The registry of claims: ``ids()``, ``get(id)``, ``all_claims()``, ``run(...)``.

>>> from proofs_check import claims
>>> result = claims.get("eps_softmax.one_hot_error").run()
>>> result.verdict, result.evidence[0].data

Claims live in one module per part of the paper; importing this package registers them all.
Each :class:`~proofs_check.Result` keeps its measured curves in ``result.data`` so figures and
users can reuse them.
"""

from __future__ import annotations

from proofs_check._core import Budget, Claim, Result
from proofs_check.claims._registry import all_claims, get, ids, register

from proofs_check.claims import (  # noqa: E402,F401  (fill the registry, in the paper's order)
    softmax,
    identities,
    bounded_sum,
    gradients,
    symmetric_noise,
    asymmetric_noise,
    consistency,
)

__all__ = ["Budget", "Claim", "Result", "all_claims", "get", "ids", "register", "run"]


def run(selected: list[str] | None = None, *, budget: Budget | str = "default", seed: int = 0) -> list[Result]:
    """Run the selected claims (all by default) in this process, in registry order."""
    chosen = [get(i) for i in selected] if selected else all_claims()
    return [c.run(budget, seed=seed) for c in chosen]
