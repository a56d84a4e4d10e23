"""Every report the package publishes, as JSON, for one fixed budget and seed: the claims report
and check_loss reports on subjects that take each path of the engine (a pointwise loss, a clamped
one, an ε-loss, a normalised sum, a logit loss, a user's numpy function, a user's mean-reduced
torch module).

    python tests/report_fingerprint.py OUT.json

Run with ``PYTHONPATH`` set to a tree of this repository, it writes that tree's reports; run on two
trees (``tests/test_behaviour_unchanged.py``: the current one and a reference commit), the outputs
must be equal field for field but for the seconds things took. It uses only the public API both
trees have (``proofs_check.claims.run``, ``theory.checks.check_loss``, ``to_dict``).
"""

from __future__ import annotations

import json
import sys

import numpy as np

K = 3
LIBRARY = ("mae", "gce", "ce_eps+mae", "nce+rce", "ce_lc", "js")


def user_loss(p, y):
    """A user's loss of probabilities, as the README writes it."""
    return (1 - p[np.arange(len(y)), y]) ** 1.5


def user_module():
    """A repository's loss module: logits in, the batch mean out, no reduction option."""
    import torch

    class PolyMean(torch.nn.Module):
        def forward(self, pred, labels):
            p = torch.softmax(pred, dim=1).gather(1, labels[:, None])[:, 0]
            return (-torch.log(p) + (1 - p)).mean()

    return PolyMean()


def reports() -> dict:
    from proofs_check import claims
    from theory.checks import check_loss

    out = {"claims": [r.to_dict() for r in claims.run(budget="default", seed=0)], "losses": {}}
    for name in LIBRARY:
        out["losses"][name] = check_loss(name, num_classes=K, seed=0).to_dict()
    out["losses"]["user (1 - p_y)^1.5"] = check_loss(user_loss, input="probs", num_classes=K, seed=0,
                                                      name="user_loss").to_dict()
    try:
        module = user_module()
    except ImportError:  # theory without torch: the module's report is left out, in both trees alike
        return out
    out["losses"]["module PolyMean"] = check_loss(module, input="logits", num_classes=K, seed=0,
                                                  name="PolyMean").to_dict()
    return out


if __name__ == "__main__":
    with open(sys.argv[1], "w") as fh:
        json.dump(reports(), fh, sort_keys=True, allow_nan=True)
