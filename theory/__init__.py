"""theory: the mathematics of ε-softmax and robust losses under label noise, as code.

Imports numpy, scipy and sympy only; torch is imported lazily by the torch backend.
``theory.checks.check_loss`` checks a user's loss for the robustness properties, with evidence.
"""

from theory import finite, losses, noise
from theory.softmax import eps_softmax, one_hot_error

__version__ = "0.1.0"
__all__ = ["eps_softmax", "finite", "losses", "noise", "one_hot_error"]
