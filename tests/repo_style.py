"""A catalogue loss as a repository writes it: an ``nn.Module`` on logits returning the batch mean, with
no reduction option; and what :func:`theory.checks.check_loss` says of it, as plain data, so that
``tests/test_catalogue.py`` can check many of them in worker processes (spawned workers import this
module by name: it is on the test path)."""

from __future__ import annotations

from dataclasses import dataclass

from theory import losses


def repo_style(name: str):
    """The registered loss ``name`` wrapped as a repository's module (torch required)."""
    import torch

    class RepoStyle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.criterion = losses.get(name).torch(reduction="mean", validate=False)
            del self.criterion.reduction  # no reduction option, as the public code has none: vmap

        def forward(self, pred, labels):
            return self.criterion.loss.torch_value(pred, labels).mean()

    return RepoStyle()


@dataclass(frozen=True)
class ModuleReport:
    """check_loss of a repo-style module: how it was made per-example, and each check's status and message."""

    route: str
    status: dict[str, str]
    message: dict[str, str]


def check_module(name: str, K: int, expected_failures: dict[str, str] | None,
                 checks: list[str] | None = None) -> ModuleReport:
    from theory.checks import check_loss

    report = check_loss(repo_style(name), input="logits", num_classes=K, expected_failures=expected_failures,
                        checks=checks)
    return ModuleReport(report["check_output"].data["adaptation"].route.value,
                        {r.check: r.status.value for r in report.results}, {r.check: r.message for r in report.results})
