"""theory.verify: the one verification engine behind every claim of the paper and every check
of a loss.

Modules (all public):

``budget``    :class:`Budget`: search sizes and *keyed* random streams (``budget.rng("theorem_b", K, m)``).
``evidence``  :class:`Verdict`, :class:`Evidence`, typed proof :class:`Step` / :class:`Proof`,
              :class:`Witness` and its :class:`Recheck`, :class:`Outcome` and :func:`decide`: the
              rules that tie a verdict to its evidence, written once.
``certify``   :class:`Certifier`: symbolic proofs with computed, cited and argued steps.
``exact``     exact / 50-digit re-evaluation of the losses (the re-check of witnesses).
``search``    counterexample search on the simplex (sampling, polishing, hypothesis shrinking).
``registry``  :class:`Check` and the one registry of claims (target "paper") and loss checks
              (target "loss").
``runner``    :class:`Context`, :func:`run_check`, :class:`Result` and its :class:`Status`.
``report``    :class:`Report`: many results, as a table, text and JSON.
``parallel``  independent computations in worker processes (:func:`~theory.verify.parallel.in_processes`).

:mod:`proofs_check` registers the paper's claims and runs them, :mod:`theory.checks` the checks on
a loss; both run through this engine, so the same question about the same loss gets the same
answer. The engine imports neither.
"""

from theory.verify.budget import Budget, Size
from theory.verify.certify import Certifier
from theory.verify.evidence import (
    Evidence,
    Kind,
    Outcome,
    Part,
    Proof,
    Recheck,
    Step,
    StepKind,
    Verdict,
    Witness,
    decide,
    short,
)
from theory.verify.io import jsonable, write_json
from theory.verify.registry import Check, Method, Origin, Target, Tier
from theory.verify.report import Report
from theory.verify.runner import Context, Reproduce, Result, Status, run_check

__all__ = [
    "Budget", "Certifier", "Check", "Context", "Evidence", "Kind", "Method", "Origin", "Outcome", "Part", "Proof",
    "Recheck", "Report", "Reproduce", "Result", "Size", "Status", "Step", "StepKind", "Target", "Tier", "Verdict", "Witness",
    "decide", "jsonable", "run_check", "short", "write_json",
]
