"""Registration of the paper's claims in the one engine (:mod:`theory.verify.registry`, target
"paper"), in the order the paper presents them."""

from __future__ import annotations

from collections.abc import Callable

from theory.verify import Check, Method, Origin, Target, Tier, Verdict, registry
from theory.verify.runner import Context

__all__ = ["all_claims", "claim", "get", "ids"]


def claim(id: str, title: str, statement: str, *, origin: Origin, methods: tuple[str, ...], expect: Verdict,
          finding: str = "", reference: str = "ε-softmax paper (NeurIPS 2024), PAPER.md", seconds: float = 1.0):
    """Register ``fn(ctx) -> Outcome`` as the paper claim ``id``; ``expect`` is the verdict the
    test-suite and ``python -m proofs_check`` expect (a claim expected to be refuted states its
    ``finding``); ``seconds`` its rough cost at the default budget, for scheduling."""

    def decorate(fn: Callable[[Context], object]):
        registry.register(Check(id, Target.PAPER, Tier.CLAIM, title, statement, origin, reference,
                                tuple(Method(m) for m in methods), fn, expect=expect, finding=finding,
                                seconds=seconds))
        return fn

    return decorate


def get(claim_id: str) -> Check:
    """The claim with this id, or its unique prefix match (``"theorem_b"`` fails if ambiguous)."""
    return registry.get(claim_id, Target.PAPER)


def ids() -> list[str]:
    return registry.ids(Target.PAPER)


def all_claims() -> list[Check]:
    return [get(i) for i in ids()]
