"""proofs_check: the paper's claims as checks of the one engine (:mod:`theory.verify`), each
verdict with its evidence.

>>> from proofs_check import claims
>>> claims.ids()                                   # every claim, in the paper's order
>>> r = claims.get("theorem_b.lipschitz_eps").run()
>>> r.verdict, r.verdict_text, r.evidence          # the verdict states what it covers
>>> r.data["m_dependence"]                         # measured curves are kept for figures

``python -m proofs_check`` prints the report (``--json PATH``, ``--claim ID``, ``--thorough``).
Verdicts are four-valued (:class:`theory.verify.Verdict`): proved (every step computed or cited),
verified, not refuted (search, exact finite problems or argued steps, recorded), refuted (a
witness whose re-check confirmed it), inconclusive. This package imports numpy, scipy, sympy and
hypothesis only.
"""

from proofs_check.report import as_expected, render, run_all
from theory.verify import Budget, Evidence, Outcome, Result, Verdict, Witness

__all__ = ["Budget", "Evidence", "Outcome", "Result", "Verdict", "Witness", "as_expected", "render", "run_all"]
