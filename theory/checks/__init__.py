"""check_loss: is a new loss robust to label noise? Every answer comes with its evidence.

>>> from theory.checks import check_loss
>>> def my_loss(p, y):                   # numpy or torch; probabilities (n, K), labels (n,)
...     return (1 - p[np.arange(len(y)), y]) ** 1.5
>>> report = check_loss(my_loss, input="probs", num_classes=10)
>>> print(report)                        # one row per check: status, verdict with its scope, evidence
>>> report["check_symmetric"].witness    # fields, not text: a minimal re-checked counterexample
>>> report.to_dict()                     # plain JSON data

In a test suite (scikit-learn's ``parametrize_with_checks`` pattern)::

    from theory.checks import parametrize_with_checks

    @parametrize_with_checks([my_loss], num_classes=10,
                             expected_failures={"check_symmetric": "not symmetric by design"})
    def test_my_loss(loss, check):
        check(loss)

and from a shell: ``python -m theory.checks my_pkg.my_mod:my_loss --input probs -K 10 [--json PATH]``.

The checks (:func:`check_names`, in order) are small functions, one property each, registered in
the one engine of :mod:`theory.verify` (the paper's claims run there too). Contract:
``check_output``, ``check_finite``, ``check_label_dependence``, ``check_input_convention``.
Properties: ``check_bounded_sum``, ``check_symmetric``, ``check_top1_consistent`` (strict order),
``check_prediction_consistent`` (the loss's own prediction), ``check_allk_consistent``,
``check_noise_tolerant_symmetric`` (exactly tolerant: excess 0), ``check_noise_tolerant_within_bound``
(an excess within Theorem B's bound), ``check_noise_tolerant_class_conditional``,
``check_eps_softmax``. Numerics (the torch computation, :mod:`theory.checks.numerics`):
``check_extreme_logits``, ``check_low_precision``, ``check_gradients``. A loss as written for
training (an ``nn.Module`` or function returning the batch mean or sum) is made per-example the
exact way first (:class:`theory.losses.Adaptation`). Verdicts are four-valued (:class:`theory.verify.Verdict`) and state what
they cover (K, notion, domain); a failure always carries a witness whose re-check confirmed it,
and a candidate the re-check could not decide makes the check *inconclusive*, never passed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from theory.checks import consistency, contract, eps, noise, numerics, sums
from theory.checks._framework import LossMemo
from theory.checks._subject import LossSource, Subject, as_subject
from theory.checks.summary import summarise
from theory.losses import (
    DEFAULT_TIME_LIMIT,
    CallableLoss,
    LossAdaptationError,
    LossEvaluationError,
    time_limit_enforceable,
)
from theory.validation import describe
from theory.verify import Budget, Check, Context, Report, Reproduce, Result, Status, Target, Verdict, registry
from theory.xp import torch_threads

#: every check on a loss, in the order they run; a check may require only checks listed before it
CHECKS: tuple[Check, ...] = (
    # contract: the loss is well formed (every other check comes after all of them)
    contract.check_output, contract.check_finite, contract.check_label_dependence, contract.check_input_convention,
    # properties: robustness under label noise
    sums.check_bounded_sum, sums.check_symmetric,
    consistency.check_top1_consistent, consistency.check_prediction_consistent, consistency.check_allk_consistent,
    noise.check_noise_tolerant_symmetric, noise.check_noise_tolerant_within_bound,
    noise.check_noise_tolerant_class_conditional,
    eps.check_eps_softmax,
    # numerics: the torch computation
    numerics.check_extreme_logits, numerics.check_low_precision, numerics.check_gradients,
)
for _check in CHECKS:
    registry.register(_check)

__all__ = ["CHECKS", "CallableLoss", "LossAdaptationError", "LossCheckError", "LossCheckWarning", "LossEvaluationError", "LossReport", "LossSource", "Result",
           "Status", "Verdict", "check_loss", "check_names", "describe_checks", "generate_checks",
           "parametrize_with_checks"]

ON_FAIL = ("raise", "warn", None)
#: torch's intra-op threads while checks run. The checks evaluate a loss on many small tensors (thousands of
#: rows × K), where a thread pool costs more than it gives: on 2 cores a repo-style module's check_loss
#: takes 13–15 s on one thread against 56–58 s on two, with the same report (benchmarks/bench_torch_threads.py)
TORCH_THREADS = 1
LossReport = Report


class LossCheckError(AssertionError):
    """Raised by ``on_fail="raise"`` and by the pytest helper for a failed check."""


class LossCheckWarning(UserWarning):
    """Emitted by ``on_fail="warn"`` for every failed or inconclusive check."""


def check_names() -> list[str]:
    """Every loss check, in the order they run."""
    return registry.ids(Target.LOSS)


def _spec(name: str) -> Check:
    if name not in check_names():
        raise ValueError(f"no check named {name!r}; known checks: {', '.join(check_names())}")
    return registry.get(name, Target.LOSS)


def describe_checks() -> list[dict[str, Any]]:
    """Every check: name, tier, statement, reference, ``requires`` (must pass) and ``after`` (must
    pass or be declared expected failures), for documentation and ``--list``."""
    out = []
    for name in check_names():
        spec = _spec(name)
        after = (["all contract checks"] if spec.tier.value in ("property", "numerics") else []) + list(spec.after)
        out.append({"name": name, "tier": spec.tier.value, "statement": spec.statement, "source": spec.reference,
                    "methods": [m.value for m in spec.methods], "requires": list(spec.requires), "after": after})
    return out


def _reproducer(subject: Subject, budget: Budget, expected: Mapping[str, str]) -> Callable[[Check], Reproduce]:
    def reproduce(check: Check) -> Reproduce:
        opts = f"num_classes={subject.K}, checks=[{check.id!r}], budget={budget.name!r}, seed={budget.seed}"
        xfail = {k: v for k, v in expected.items() if k != check.id}
        if xfail:
            opts += f", expected_failures={xfail!r}"
        python = ""
        if subject.expr:
            callable_input = "" if subject.native else f"input={subject.input.value!r}, "
            python = (f"from theory.checks import check_loss; {subject.imports}check_loss({subject.expr}, "
                      f"{callable_input}{opts})")
        shell = ""
        if subject.shell:
            shell = (f"python -m theory.checks {subject.shell} -K {subject.K} --check {check.id} --seed {budget.seed}"
                     + (" --thorough" if budget.thorough else "")
                     + ("" if subject.native else f" --input {subject.input}")
                     + "".join(f" --expect-fail '{k}={v}'" for k, v in xfail.items()))
        return Reproduce(python, shell, subject.python_why)
    return reproduce


def _context(loss: Any, *, num_classes: Any, input: str | None, budget: str | Budget, seed: Any,
             expected_failures: Mapping[str, str] | None, backend: str, name: str | None,
             time_limit: float | None = DEFAULT_TIME_LIMIT, source: LossSource | None = None) -> Context:
    subject = as_subject(loss, num_classes=num_classes, input=input, backend=backend, name=name, time_limit=time_limit,
                         source=source)
    if isinstance(budget, str):
        budget = Budget(budget, seed)  # validates the name and the seed
    elif not isinstance(budget, Budget):
        raise TypeError(f"budget must be 'default', 'thorough' or a theory.verify.Budget, got {describe(budget)}")
    expected = dict(expected_failures or {})
    for check, reason in expected.items():
        _spec(check)  # ValueError naming the known checks
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"expected_failures[{check!r}] must be a non-empty reason string, got {reason!r}")
    return Context(subject, budget=budget, expected=expected, reproduce=_reproducer(subject, budget, expected),
                   subject_name=subject.name, K=subject.K, memo=LossMemo())


def generate_checks(loss: Any, *, num_classes: int = 10, input: str | None = None, budget: str | Budget = "default",
                    seed: int = 0, expected_failures: Mapping[str, str] | None = None, checks: Iterable[str] | None = None,
                    backend: str = "auto", name: str | None = None,
                    time_limit: float | None = DEFAULT_TIME_LIMIT) -> Iterator[tuple[str, Callable[[], Result]]]:
    """Yield ``(check_name, run)`` for every selected check; ``run()`` returns its :class:`Result`.

    The checks of one loss share a context, so requirements run once. Arguments as for :func:`check_loss`.
    """
    with torch_threads(TORCH_THREADS):
        ctx = _context(loss, num_classes=num_classes, input=input, budget=budget, seed=seed,
                       expected_failures=expected_failures, backend=backend, name=name, time_limit=time_limit)
    for check in _selected(checks):
        yield check, partial(_result, ctx, check)


def _result(ctx: Context, check: str) -> Result:
    with torch_threads(TORCH_THREADS):
        return ctx.result(check)


def _selected(checks: Iterable[str] | None) -> list[str]:
    if checks is None:
        return check_names()
    if isinstance(checks, str):
        checks = [checks]
    chosen = list(checks)
    for c in chosen:
        _spec(c)
    return chosen


def check_loss(loss: Any, *, num_classes: int = 10, input: str | None = None, on_fail: str | None = None,
               budget: str | Budget = "default", seed: int = 0, expected_failures: Mapping[str, str] | None = None,
               checks: Iterable[str] | None = None, backend: str = "auto", name: str | None = None,
               time_limit: float | None = DEFAULT_TIME_LIMIT, source: LossSource | None = None) -> Report:
    """Run the robustness checks on a loss and return a :class:`~theory.verify.Report`.

    Parameters
    ----------
    loss : a callable ``loss(x, y)`` (x: probabilities (n, K) on the simplex, or logits (n, K)
        when ``input="logits"``; y: integer labels (n,)), numpy or torch, returning one value per
        example or, as written for training, the batch mean or sum; a ``torch.nn.Module``
        (copied, then run in eval mode on the CPU in float64); a :class:`theory.losses.Loss`; or a
        registered loss name such as ``"gce"``. A reducing loss is made per-example the exact way
        (its ``reduction`` set to "none", or one example at a time) and the report's header says
        which (:class:`theory.losses.Adaptation`); one whose batch value is neither a mean nor a
        sum of per-example values, or that needs a device other than the CPU, raises
        :class:`~theory.losses.LossAdaptationError` (a ValueError) before any check runs.
    num_classes : K, the number of classes every check uses; verdicts state the K they cover.
    input : "probs" or "logits" for a callable (default "probs"); library losses know their own.
    on_fail : None (return the report), "warn" (a :class:`LossCheckWarning` per failed or
        inconclusive check) or "raise" (:class:`LossCheckError` at the first unexpected failure).
    budget : "default" or "thorough" (larger samples and grids), or a :class:`theory.verify.Budget`.
    seed : non-negative int; every sample, problem and search derives from it (keyed streams).
    expected_failures : {check_name: reason}: reported as expected failures (not hidden); a
        declared contract failure also lets the property checks run.
    checks : the names to run (their requirements run too); default all.
    backend : "auto" (numpy; torch when the numpy call fails, and the report says so), "numpy" or "torch".
    name : the loss's name in messages (default: its module and qualified name).
    time_limit : seconds one call of a callable may take before it counts as hanging (None: no limit).
    source : how a command line built the loss (:class:`LossSource`), for runnable reproduce lines.

    While it runs, torch computes on :data:`TORCH_THREADS` intra-op threads (the tensors are small);
    the number you had is restored when it returns or raises.
    """
    if on_fail not in ON_FAIL:
        raise ValueError(f"on_fail must be one of {ON_FAIL}, got {on_fail!r}")
    with torch_threads(TORCH_THREADS):
        ctx = _context(loss, num_classes=num_classes, input=input, budget=budget, seed=seed,
                       expected_failures=expected_failures, backend=backend, name=name, time_limit=time_limit,
                       source=source)
    warned: set[str] = set()
    selected = _selected(checks)
    for i, check in enumerate(selected):
        ctx.budget.tick(f"check_loss: {check}", i, len(selected))
        _result(ctx, check)
        for result in _in_order(ctx):  # the check and the requirements it ran
            if result.status in (Status.FAILED, Status.ERROR) and on_fail == "raise":
                raise LossCheckError(f"{result.message}. Reproduce: {_line(result)}")
            if result.status in (Status.FAILED, Status.INCONCLUSIVE) and on_fail == "warn" \
                    and result.check not in warned:
                warned.add(result.check)
                warnings.warn(f"{result.check} ({result.status.value}): {result.message}", LossCheckWarning,
                              stacklevel=2)
    ctx.budget.tick("check_loss: done", len(selected), len(selected))
    s: Subject = ctx.subject
    header = (f"check_loss: {s.name} (K={s.K}, input={s.input}, {s.backend_note or 'backend ' + s.backend}), "
              f"budget {ctx.budget.name}, seed {ctx.budget.seed}")
    if s.adaptation is not None:
        header += f"\n  {s.adaptation.describe()}"
    user_code = isinstance(s.loss, CallableLoss) or any(getattr(part, "time_limit", None) is not None
                                                         for part in s.loss.walk())
    if user_code and time_limit is not None and not time_limit_enforceable():
        header += ("\n  the per-call time limit is not enforced: check_loss runs outside the main thread, and only the "
                   "main thread receives the signal that stops a call")
    results = tuple(_in_order(ctx))
    return Report(s.name, results, ctx.budget.name, ctx.budget.seed, header,
                  summarise({r.check: r for r in results}, s.K, m=_eps_m(s)))


def _eps_m(subject: Subject) -> float | None:
    """The m of a library loss that already wraps ε-softmax (a parameter ``m`` of it or of a part)."""
    if isinstance(subject.loss, CallableLoss):
        return None
    for part in subject.loss.walk():
        m = getattr(part, "params", {}).get("m")
        if m is not None:
            return float(m)
    return None


def _in_order(ctx: Context) -> list[Result]:
    return [ctx.results[n] for n in check_names() if n in ctx.results]


def _line(result: Result) -> str:
    r = result.reproduce
    if r is None:
        return ""
    return r.python or r.shell or r.why


def parametrize_with_checks(losses: Iterable[Any], *, num_classes: int = 10, input: str | None = None,
                            budget: str = "default", seed: int = 0,
                            expected_failures: Mapping[str, str] | Callable[[Any], Mapping[str, str]] | None = None,
                            checks: Iterable[str] | None = None):
    """A ``pytest.mark.parametrize("loss, check", ...)`` over every (loss, check) pair.

    Test ids are ``"<loss>-<check>"`` so ``pytest -k check_symmetric`` selects one check. In the
    test, ``check(loss)`` fails with :class:`LossCheckError` (failed or errored), calls
    ``pytest.xfail`` for a declared expected failure and ``pytest.skip`` for a skipped or
    inconclusive check, with the reason.
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


def _pytest_check(ctx: Context, check: str, loss: Any = None) -> Result:
    import pytest

    result = ctx.result(check)
    if result.status in (Status.FAILED, Status.ERROR):
        raise LossCheckError(f"{result.message}. Reproduce: {_line(result)}")
    if result.status is Status.XFAIL:
        pytest.xfail(f"{result.reason}: {result.message}")
    if result.status is Status.SKIPPED:
        pytest.skip(result.reason)
    if result.status is Status.INCONCLUSIVE:
        pytest.skip(f"inconclusive: {result.message}")
    return result
