"""The lines a person reads first in a :func:`theory.checks.check_loss` report: which properties
hold, in which notion and scope, and what to try next.

Every line is built from the results' statuses and data (no text of another line is parsed), and
says what it covers: the K, the noise model and the class of predictors of the checks it sums up.
A property whose check was skipped, inconclusive or erred is said to be so, never counted as holding.
"""

from __future__ import annotations

from collections.abc import Mapping

from theory.checks.noise import FRACTIONS
from theory.formatting import clip
from theory.verify import Result, Status

__all__ = ["NEXT_STEP_SHARE", "summarise"]

#: the ε-softmax suggestion names the smallest m of check_eps_softmax's grid whose Theorem-B bound is
#: at most this share of the loss's own (of the clamped loss's, when the loss's own is infinite)
NEXT_STEP_SHARE = 0.01
#: how much of a failing check's message a summary line quotes
QUOTE = 160

HOLDS = (Status.PASSED, Status.XPASS)
FAILS = (Status.FAILED, Status.XFAIL)


def _state(r: Result | None) -> str:
    if r is None:
        return "not run"
    if r.status in HOLDS:
        return "yes"
    if r.status in FAILS:
        return "no" + (" (an expected failure)" if r.status is Status.XFAIL else "")
    if r.status is Status.INCONCLUSIVE:
        return "undecided"
    if r.status is Status.SKIPPED:
        return f"not run ({clip(r.reason, 80)})"
    return "checker error"


def summarise(results: Mapping[str, Result], K: int, *, m: float | None = None) -> tuple[str, ...]:
    """The summary of one loss's results (``{check: Result}``) at ``K`` classes; ``m`` is the
    ε-softmax parameter of a loss that already wraps it (a larger m is then the step to try)."""
    lines = []
    contract = [r for r in results.values() if r.tier == "contract" and r.status is Status.FAILED]
    if contract:
        lines.append("The loss is not well formed: " + "; ".join(f"{r.check}: {clip(r.message, QUOTE)}"
                                                                for r in contract))
    lines += _noise(results, K)
    lines += _structure(results)
    lines += _numerics(results)
    lines += _next(results, K, m)
    errors = [r.check for r in results.values() if r.status is Status.ERROR]
    if errors:
        lines.append(f"The checker failed on {', '.join(errors)} (a bug in a check, not a verdict on the loss; "
                     "see ERROR below)")
    return tuple(lines)


def _noise(results: Mapping[str, Result], K: int) -> list[str]:
    exact = results.get("check_noise_tolerant_symmetric")
    within = results.get("check_noise_tolerant_within_bound")
    cc = results.get("check_noise_tolerant_class_conditional")
    out = []
    if exact is not None or within is not None:
        rates = ", ".join(f"{f * (K - 1) / K:.3g}" for f in FRACTIONS)
        text = (f"Symmetric noise (K = {K}, tabular predictors, η ∈ {{{rates}}}): exactly tolerant (excess 0): "
                f"{_state(exact)}")
        if exact is not None and exact.outcome is not None and "max_excess" in exact.data:
            text += f" (max excess {exact.data['max_excess']:.3g}, 0-1 excess {exact.data['max_zero_one_excess']:.3g})"
        text += f"; tolerant within Theorem B's bound: {_state(within)}"
        if within is not None and within.status in HOLDS and "worst" in within.data:
            w = within.data["worst"]
            text += (f" (worst excess {w['excess']:.3g} against the bound {w['bound']:.3g} at η = {w['eta']:.3g}, "
                     f"ratio {w['ratio']:.3g})")
        elif within is not None and within.status in FAILS and within.data.get("bound") == float("inf"):
            text += " (Σ_k L is unbounded: the bound is infinite)"
        out.append(text + ".")
    if cc is not None:
        text = (f"Class-conditional noise (K = {K}, diagonally dominant T, deterministic clean labels, tabular "
                f"predictors): exactly tolerant: {_state(cc)}")
        if cc.outcome is not None and "max_excess" in cc.data:
            text += (f" (max excess {cc.data['max_excess']:.3g}; 0-1 excess {cc.data['max_zero_one_excess']:.3g}: "
                     + ("the noisy minimiser predicts the clean label)" if cc.data["max_zero_one_excess"] == 0
                        else "the noisy minimiser's prediction moves)"))
        out.append(text + ".")
    return out


def _structure(results: Mapping[str, Result]) -> list[str]:
    parts = []
    bounded = results.get("check_bounded_sum")
    if bounded is not None:
        data = bounded.data if bounded.outcome is not None else {}
        if "C" in data:
            parts.append(f"Σ_k L = {data['C']:.6g} at every p (symmetric)")
        elif bounded.status in HOLDS and "C1" in data:
            parts.append(f"Σ_k L bounded in [{data['C1']:.6g}, {data['C2']:.6g}]"
                         + ("" if data.get("C1_exact") and data.get("C2_exact") else " (estimated)"))
        elif bounded.status in FAILS:
            parts.append("Σ_k L unbounded (so not symmetric)")
        else:
            parts.append(f"Σ_k L bounded: {_state(bounded)}")
        if "C" not in data and bounded.status not in FAILS:
            parts.append(f"symmetric: {_state(results.get('check_symmetric'))}")
    top1, allk = results.get("check_top1_consistent"), results.get("check_allk_consistent")
    if top1 is not None:
        parts.append("consistency (strict order): " + ("All-k" if allk is not None and allk.status in HOLDS else
                                                       "top-1" if top1.status in HOLDS else _state(top1)))
    own = results.get("check_prediction_consistent")
    if own is not None:
        parts.append(f"its own prediction top-1 consistent: {_state(own)}")
    return ["Structure: " + "; ".join(parts) + "."] if parts else []


def _numerics(results: Mapping[str, Result]) -> list[str]:
    ran = [r for r in results.values() if r.tier == "numerics"]
    if not ran:
        return []
    bad = [r for r in ran if r.status not in HOLDS]
    if not bad:
        return [f"Torch numerics: all {len(ran)} checks hold ({', '.join(r.check for r in ran)})."]
    if all(r.status is Status.SKIPPED for r in ran) and len({r.reason for r in ran}) == 1:
        return [f"Torch numerics: not run ({ran[0].reason})."]
    return ["Torch numerics: " + "; ".join(f"{r.check}: {_state(r)}" + (f" ({clip(r.message, QUOTE)})"
                                                                         if r.status in FAILS else "")
                                           for r in bad) + "."]


def _next(results: Mapping[str, Result], K: int, m: float | None) -> list[str]:
    exact = results.get("check_noise_tolerant_symmetric")
    within = results.get("check_noise_tolerant_within_bound")
    if exact is None or within is None or exact.status in HOLDS:
        return []
    eta = FRACTIONS[-1] * (K - 1) / K
    if within.status in HOLDS:
        own = within.data["bounds"].get(f"{eta:.6g}", max(within.data["bounds"].values()))
        first = f"Next: bounded but not symmetric, so Theorem B bounds the excess by {own:.3g} at η = {eta:.3g}"
    elif within.status in FAILS:
        own = float("inf")
        first = "Next: Σ_k L is unbounded, so Theorem B bounds nothing"
    else:
        return []
    if m is not None:
        return [first + f"; it already wraps ε-softmax with m = {m:g}: Theorem B's bound for an ε-loss shrinks like "
                "1/(1+m) (Lemma A's band), so a larger m lowers it, at some cost in fitting (the paper's trade-off)."]
    return [first + "; " + _eps_suggestion(results.get("check_eps_softmax"), own, eta, K) + "."]


def _eps_suggestion(eps: Result | None, own: float, eta: float, K: int) -> str:
    if eps is None or eps.outcome is None:
        why = clip(eps.reason, QUOTE) if eps is not None else "check_eps_softmax did not run"
        return f"ε-softmax could lower it, but its band was not measured ({why})"
    if eps.status not in HOLDS:
        return (f"ε-softmax does not close the band of Σ_k L at rate O(1/m) for this loss (check_eps_softmax "
                f"{eps.status.value}), so a larger m need not help")
    denominator = (K - 1) - K * eta
    bounds = [(row["m"], eta * row["width"] / denominator) for row in eps.data["rows"]]
    reference = own if own != float("inf") else bounds[0][1]
    target = NEXT_STEP_SHARE * reference
    chosen = next(((m, b) for m, b in bounds if m > 0 and b <= target), min(bounds[1:], key=lambda mb: mb[1]))
    m, b = chosen
    return (f"wrapped with ε-softmax (theory.losses.with_eps_softmax(loss, m={m:g})), the band of Σ_k L_ε that "
            f"check_eps_softmax measured at m = {m:g} gives the bound {b:.3g} at η = {eta:.3g}"
            + (f", {b / reference:.2g} of {'its own' if own != float('inf') else 'the clamped loss'} "
               f"({reference:.3g})" if reference > 0 else ""))

