"""check_loss: is a new loss robust to label noise? Every answer comes with its evidence.

>>> from theory.checks import check_loss
>>> def my_loss(p, y):                   # numpy or torch; probabilities (n, K), labels (n,)
...     return (1 - p[np.arange(len(y)), y]) ** 1.5
>>> report = check_loss(my_loss, input="probs", num_classes=10)
>>> print(report)                        # one row per check: status, verdict, evidence
>>> report["check_symmetric"].witness    # fields, not text: a minimal re-checked counterexample
>>> report.to_dict()                     # plain JSON data

In a test suite (scikit-learn's ``parametrize_with_checks`` pattern)::

    from theory.checks import parametrize_with_checks

    @parametrize_with_checks([my_loss], num_classes=10,
                             expected_failures={"check_symmetric": "not symmetric by design"})
    def test_my_loss(loss, check):
        check(loss)

and from a shell: ``python -m theory.check my_pkg.my_mod:my_loss --input probs -K 10 [--json PATH]``.

The checks (:func:`check_names`, in order) are small functions, one property each, in two
tiers. Contract: ``check_output``, ``check_finite``, ``check_label_dependence``,
``check_input_convention``. Properties: ``check_bounded_sum``, ``check_symmetric``,
``check_top1_consistent``, ``check_allk_consistent``, ``check_noise_tolerant_symmetric``,
``check_noise_tolerant_class_conditional``, ``check_eps_softmax``. Each has a statement, a
source and requirements (:func:`describe_checks`); a check whose requirement failed is skipped
with that reason. Verdicts are three-valued (:class:`theory.evidence.Verdict`); a failure always
carries a witness that was re-checked (50-digit arithmetic through the sympy path for library
losses, a fresh float64 evaluation for plain callables). The seed makes every run reproducible.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from theory._validation import describe
from theory.checks import contract, sums, consistency, noise, eps  # noqa: F401,I001  (registration = run order)
from theory.checks._framework import (
    CheckResult,
    Context,
    LossCheckError,
    LossCheckWarning,
    LossReport,
    Status,
    check_names,
    spec_of,
)
from theory.checks._subject import CallableLoss, LossEvaluationError, as_subject
from theory.evidence import Budget

__all__ = ["CallableLoss", "CheckResult", "LossCheckError", "LossCheckWarning", "LossEvaluationError", "LossReport",
           "Status", "check_loss", "check_names", "describe_checks", "generate_checks", "parametrize_with_checks"]

ON_FAIL = ("raise", "warn", None)


def describe_checks() -> list[dict[str, Any]]:
    """Every check: name, tier, statement, source, ``requires`` (must pass) and ``after`` (must pass
    or be declared expected failures), for documentation and ``--list``."""
    out = []
    for name in check_names():
        spec = spec_of(name)
        after = (["all contract checks"] if spec.tier == "property" else []) + list(spec.after)
        out.append({"name": name, "tier": spec.tier, "statement": spec.statement, "source": spec.source,
                    "requires": list(spec.requires), "after": after})
    return out


def _context(loss: Any, *, num_classes: Any, input: str | None, budget: str | Budget, seed: Any,
             expected_failures: Mapping[str, str] | None, backend: str, name: str | None) -> Context:
    subject = as_subject(loss, num_classes=num_classes, input=input, backend=backend, name=name)
    if isinstance(budget, str):
        budget = Budget(budget, seed)  # validates the name and the seed
    elif not isinstance(budget, Budget):
        raise TypeError(f"budget must be 'default', 'thorough' or a theory.evidence.Budget, got {describe(budget)}")
    expected = dict(expected_failures or {})
    for check, reason in expected.items():
        spec_of(check)  # ValueError naming the known checks
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"expected_failures[{check!r}] must be a non-empty reason string, got {reason!r}")

    def reproduce(check: str) -> str:
        args = [subject.spec, f"num_classes={subject.K}"]
        if not subject.native:
            args.append(f"input={subject.input!r}")
        args += [f"checks=[{check!r}]", f"budget={budget.name!r}", f"seed={budget.seed}"]
        return f"check_loss({', '.join(args)})"

    return Context(subject, budget=budget, expected=expected, reproduce=reproduce)


def generate_checks(loss: Any, *, num_classes: int = 10, input: str | None = None, budget: str | Budget = "default",
                    seed: int = 0, expected_failures: Mapping[str, str] | None = None, checks: Iterable[str] | None = None,
                    backend: str = "auto", name: str | None = None) -> Iterator[tuple[str, Callable[[], CheckResult]]]:
    """Yield ``(check_name, run)`` for every selected check; ``run()`` returns its :class:`CheckResult`.

    The checks of one loss share a context, so requirements run once. Arguments as for :func:`check_loss`.
    """
    ctx = _context(loss, num_classes=num_classes, input=input, budget=budget, seed=seed,
                   expected_failures=expected_failures, backend=backend, name=name)
    for check in _selected(checks):
        yield check, partial(ctx.result, check)


def _selected(checks: Iterable[str] | None) -> list[str]:
    if checks is None:
        return check_names()
    if isinstance(checks, str):
        checks = [checks]
    chosen = list(checks)
    for c in chosen:
        spec_of(c)
    return chosen


def check_loss(loss: Any, *, num_classes: int = 10, input: str | None = None, on_fail: str | None = None,
               budget: str | Budget = "default", seed: int = 0, expected_failures: Mapping[str, str] | None = None,
               checks: Iterable[str] | None = None, backend: str = "auto", name: str | None = None) -> LossReport:
    """Run the robustness checks on a loss and return a :class:`LossReport`.

    Parameters
    ----------
    loss : a callable ``loss(x, y)`` returning one value per example (x: probabilities (n, K) on
        the simplex, or logits (n, K) when ``input="logits"``; y: integer labels (n,)), numpy or
        torch; or a :class:`theory.losses.Loss`; or a registered loss name such as ``"gce"``.
    num_classes : K, the number of classes the loss is checked with (every check uses this K).
    input : "probs" or "logits" for a callable (default "probs"); library losses know their own.
    on_fail : None (return the report), "warn" (a :class:`LossCheckWarning` per failure) or "raise"
        (:class:`LossCheckError` at the first unexpected failure, scikit-learn style).
    budget : "default" (K ≤ 10 in seconds) or "thorough" (larger samples and grids).
    seed : non-negative int; every sample, problem and search derives from it.
    expected_failures : {check_name: reason}: reported as expected failures (not hidden); a
        declared contract failure also lets the property checks run.
    checks : the names to run (their requirements run too); default all.
    backend : "auto" (numpy, then torch if the numpy call raises), "numpy" or "torch".
    name : the loss's name in messages (default: the function's qualified name).
    """
    if on_fail not in ON_FAIL:
        raise ValueError(f"on_fail must be one of {ON_FAIL}, got {on_fail!r}")
    ctx = _context(loss, num_classes=num_classes, input=input, budget=budget, seed=seed,
                   expected_failures=expected_failures, backend=backend, name=name)
    warned: set[str] = set()
    for check in _selected(checks):
        ctx.result(check)
        for result in ctx.results():  # the check and the requirements it ran, in check order
            if result.failed and on_fail == "raise":
                raise LossCheckError(f"{result.message}. Reproduce: {result.reproduce}")
            if result.failed and on_fail == "warn" and result.check not in warned:
                warned.add(result.check)
                warnings.warn(f"{result.check}: {result.message}", LossCheckWarning, stacklevel=2)
    s = ctx.subject
    return LossReport(s.name, s.K, s.input, s.backend, ctx.budget.name, ctx.budget.seed, tuple(ctx.results()))


def parametrize_with_checks(losses: Iterable[Any], *, num_classes: int = 10, input: str | None = None,
                            budget: str = "default", seed: int = 0,
                            expected_failures: Mapping[str, str] | Callable[[Any], Mapping[str, str]] | None = None,
                            checks: Iterable[str] | None = None):
    """A ``pytest.mark.parametrize("loss, check", ...)`` over every (loss, check) pair.

    Test ids are ``"<loss>-<check>"`` so ``pytest -k check_symmetric`` selects one check. In the
    test, ``check(loss)`` fails with :class:`LossCheckError`, calls ``pytest.xfail`` for a
    declared expected failure and ``pytest.skip`` for a skipped check. ``expected_failures`` is
    one mapping for every loss or a function of the loss returning its mapping.
    """
    import pytest

    params = []
    for loss in losses:
        expected = expected_failures(loss) if callable(expected_failures) else expected_failures
        ctx = _context(loss, num_classes=num_classes, input=input, budget=budget, seed=seed,
                       expected_failures=expected, backend="auto", name=None)
        for check in _selected(checks):
            params.append(pytest.param(loss, partial(_pytest_check, ctx, check), id=f"{ctx.subject.name}-{check}"))
    return pytest.mark.parametrize("loss, check", params)


def _pytest_check(ctx: Context, check: str, loss: Any = None) -> CheckResult:
    import pytest

    result = ctx.result(check)
    if result.status is Status.FAILED:
        raise LossCheckError(f"{result.message}. Reproduce: {result.reproduce}")
    if result.status is Status.XFAIL:
        pytest.xfail(f"{result.reason}: {result.message}")
    if result.status is Status.SKIPPED:
        pytest.skip(result.reason)
    return result


