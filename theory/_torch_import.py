"""Lazy torch import with an actionable error (theory and proofs_check import without torch)."""

from __future__ import annotations


def require_torch():
    """Return the torch module, or raise ImportError that says how to install it."""
    try:
        import torch
    except ImportError as err:  # pragma: no cover - exercised only without torch
        raise ImportError(
            "this feature needs PyTorch, which is not installed; install the project's torch "
            "extra: pip install -e '.[torch]'  (it pins torch>=2.2,<2.14)"
        ) from err
    return torch
