"""proofs_check: the paper's claims as a registry of checks, each verdict with its evidence.

>>> from proofs_check import claims
>>> claims.ids()                                  # every claim, in the paper's order
>>> r = claims.get("theorem_b.lipschitz_eps").run()
>>> r.verdict, r.evidence, r.data["m_dependence"]  # measured curves are kept for figures

``python -m proofs_check`` prints the report (``--json PATH``, ``--claim ID``, ``--thorough``).
Verdicts are three-valued (:class:`Verdict`): proved (a certificate), verified, not refuted (the
search recorded), refuted (a witness re-checked in exact or 50-digit arithmetic). This package
imports numpy, scipy, sympy and hypothesis only.
"""

from proofs_check._core import Budget, Claim, Evidence, Outcome, Result, Source, Verdict, Witness
from proofs_check.report import render, run_all

__all__ = ["Budget", "Claim", "Evidence", "Outcome", "Result", "Source", "Verdict", "Witness", "render", "run_all"]
