"""Registration of claims by id, in the order the paper presents them."""

from __future__ import annotations

from proofs_check._core import Claim

_CLAIMS: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    if claim.id in _CLAIMS:
        raise ValueError(f"a claim with id {claim.id!r} is already registered")
    _CLAIMS[claim.id] = claim
    return claim


def get(claim_id: str) -> Claim:
    """The claim with this id, or its unique prefix match (``"theorem_b"`` fails if ambiguous)."""
    if claim_id in _CLAIMS:
        return _CLAIMS[claim_id]
    matches = [c for c in _CLAIMS if c.startswith(claim_id)]
    if len(matches) == 1:
        return _CLAIMS[matches[0]]
    known = ", ".join(_CLAIMS)
    if matches:
        raise KeyError(f"claim id {claim_id!r} is ambiguous: it matches {', '.join(matches)}")
    raise KeyError(f"no claim with id {claim_id!r}; known ids: {known}")


def ids() -> list[str]:
    return list(_CLAIMS)


def all_claims() -> list[Claim]:
    return list(_CLAIMS.values())
