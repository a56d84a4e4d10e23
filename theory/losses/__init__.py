"""Every loss of the paper, written once, evaluated from numpy, torch and sympy.

>>> from theory import losses
>>> L = losses.get("ce_eps+mae", alpha=0.01, beta=5, m=1e5)
>>> L(p, y)                # numpy per-example values on probabilities (..., K)
>>> L.torch()              # torch criterion on logits
>>> L.sympy(K=3, t=0)      # symbolic values for y = 0..2, assuming argmax p = 0
>>> losses.paper_defaults("cifar10", "symmetric", 0.8, "ce_eps+mae")

``losses.names()`` lists the registry, ``losses.spec(name)`` documents an entry (formula,
defaults, source, conventions), and ``losses.register`` adds a user's own loss.
"""

from theory.losses import _catalogue, _definitions  # noqa: F401  (fill the registry: the paper's, then the literature's)
from theory.losses._callable import DEFAULT_TIME_LIMIT, CallableLoss, LossEvaluationError, from_callable, probe_inputs
from theory.losses._core import Atom, Loss, Named, Pred, WeightedSum, with_eps_softmax, with_time_limit
from theory.losses._guard import enforceable as time_limit_enforceable
from theory.losses._kinds import Curvature, Input, Structure
from theory.losses._paper_tables import paper_defaults, paper_table_rows
from theory.losses._per_example import Adaptation, LossAdaptationError, Reduction, Route, is_module
from theory.losses._registry import LossSpec, get, names, pointwise, register, register_composite, spec

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "Adaptation",
    "Atom",
    "CallableLoss",
    "Curvature",
    "Input",
    "LossAdaptationError",
    "Reduction",
    "Route",
    "Structure",
    "LossEvaluationError",
    "from_callable",
    "Loss",
    "LossSpec",
    "Named",
    "Pred",
    "WeightedSum",
    "get",
    "is_module",
    "names",
    "paper_defaults",
    "paper_table_rows",
    "pointwise",
    "probe_inputs",
    "register",
    "register_composite",
    "spec",
    "time_limit_enforceable",
    "with_eps_softmax",
    "with_time_limit",
]
