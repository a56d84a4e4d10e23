"""The torch criterion: a thin ``nn.Module`` around ``Loss.value`` on logits."""

from __future__ import annotations

from theory.xp import require_torch

_REDUCTIONS = ("mean", "sum", "none")


def make_criterion(loss, *, reduction: str = "mean", validate: bool = True):
    torch = require_torch()
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")

    class LossCriterion(torch.nn.Module):
        """``crit(logits (N, K), target (N,) int) -> loss``; gradients through the loss formula.

        ``validate`` checks shapes, finiteness of the logits and the label range (device syncs
        per call); turn it off in a trainer's hot loop once inputs are known to be right.
        """

        def __init__(self):
            super().__init__()
            self.loss = loss
            self.reduction = reduction
            self.validate = validate

        def forward(self, logits, target):
            if self.validate:
                _check(logits, target)
            values = loss.torch_value(logits, target)
            if self.reduction == "mean":
                return values.mean()
            if self.reduction == "sum":
                return values.sum()
            return values

        def extra_repr(self) -> str:
            return f"{loss!r}, reduction={self.reduction!r}"

    def _check(logits, target):
        if not torch.is_tensor(logits) or not logits.is_floating_point():
            raise TypeError(f"logits must be a floating-point tensor, got {type(logits).__name__}")
        if logits.ndim < 1 or logits.shape[-1] < 2:
            raise ValueError(f"logits must have shape (..., K) with K >= 2, got {tuple(logits.shape)}")
        with torch.no_grad():
            finite = torch.isfinite(logits)
            if not bool(finite.all()):
                idx = tuple(int(i) for i in torch.nonzero(~finite)[0])
                raise ValueError(f"logits must be finite, got {float(logits[idx])} at index {idx}")
        if not torch.is_tensor(target) or target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(f"target must be an integer tensor of class labels, got {getattr(target, 'dtype', type(target))}")
        if tuple(target.shape) != tuple(logits.shape[:-1]):
            raise ValueError(
                f"target must have shape {tuple(logits.shape[:-1])} to match logits "
                f"{tuple(logits.shape)}, got {tuple(target.shape)}"
            )
        if target.numel():
            lo, hi = int(target.min()), int(target.max())
            K = logits.shape[-1]
            if lo < 0 or hi >= K:
                raise ValueError(f"target labels must lie in [0, {K - 1}], got {lo if lo < 0 else hi}")

    return LossCriterion()
