"""The registry of the paper's claims: ``ids()``, ``get(id)``, ``all_claims()``, ``run(...)``.

>>> from proofs_check import claims
>>> result = claims.get("eps_softmax.one_hot_error").run()
>>> result.verdict_text, result.evidence[0].data

Claims live in one module per part of the paper; importing this package registers them all in
:mod:`theory.verify.registry` (target "paper"). Each result keeps its measured curves and typed
rows in ``result.data`` so figures and users can reuse them.
"""

from __future__ import annotations

import importlib

from proofs_check.claims._registry import all_claims, claim, get, ids
from theory.verify import Budget, Result

# importing a module registers its claims; this order is the paper's (and the report's)
for _module in ("softmax", "identities", "bounded_sum", "gradients", "symmetric_noise", "linear_class",
                "asymmetric_noise", "consistency"):
    importlib.import_module(f"proofs_check.claims.{_module}")

__all__ = ["all_claims", "claim", "get", "ids", "run"]


def run(selected: list[str] | None = None, *, budget: Budget | str = "default", seed: int = 0) -> list[Result]:
    """Run the selected claims (all by default) in this process, in registry order."""
    chosen = [get(i) for i in selected] if selected else all_claims()
    return [c.run(budget, seed=seed) for c in chosen]
