"""proofs_check: the paper's claims as a registry of checks with evidence.

The claim registry is built on :mod:`theory` (issue 4); this package imports numpy, scipy and
sympy only.
"""
