"""Finding sentences generated from computed rows, never typed beside them.

A finding is a sentence the package publishes about what it measured: in a claim's evidence, in
the claims report and in the README. Each is made here, by one function of the rows that support
it, so that the text cannot drift from the numbers. The README holds each finding between markers
(:mod:`theory.findings`),

    <!-- finding: theorem_b.ce_eps -->
    ...the generated text...
    <!-- /finding -->

``python -m proofs_check --findings README.md`` recomputes the claims the file names and rewrites
the text between the markers; the test-suite fails when the README's text and the rows disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from theory import findings as theory_findings
from theory.formatting import number
from theory.verify import Recheck, Result

__all__ = ["FINDINGS", "MARKER", "m_dependence", "marked", "rewrite", "unbounded", "vanishing_point"]

#: an excess at or below this counts as vanished (the sweeps' minimisers state errors ~1e-12)
VANISHED = 1e-9
MARKER = theory_findings.MARKER


def vanishing_point(ms: Sequence[float], peak: Sequence[float], vanished: float = VANISHED) -> int | None:
    """The index of the first m from which every excess of the grid is ≤ ``vanished`` (None: never)."""
    for i in range(len(ms)):
        if all(e <= vanished for e in peak[i:]):
            return i
    return None


def _family_sentence(family: str, d: Mapping) -> str:
    ms, peak = list(d["m"]), list(d["max_excess"])
    scaled = list(d["max_scaled_by_1_plus_m"])
    order = "monotone non-increasing in m" if d["monotone_nonincreasing"] else "not monotone in m"
    top = max(peak)
    at = ms[peak.index(top)]
    i = vanishing_point(ms, peak)
    if i is None:
        tail = f"it does not vanish on the grid ({peak[-1]:.3g} at m = {number(ms[-1])})"
    elif i == 0:
        tail = f"it is ≤ {number(VANISHED)} at every m"
    else:
        tail = (f"it reaches {top:.3g} (at m = {number(at)}), is {peak[i - 1]:.3g} at m = {number(ms[i - 1])} and ≤ {number(VANISHED)} "
                f"from m = {number(ms[i])} on")
    rate = max(scaled[: i if i else len(scaled)])
    return (f"{family}: the max excess is {order}; {tail}; (1+m)·excess reaches {rate:.3g}, so the O(1/(1+m)) "
            f"rate holds on this grid only with that constant")


def m_dependence(dependence: Mapping[str, Mapping], *, what: str = "") -> str:
    """How the measured excess of each family depends on m (from ``_m_dependence``'s rows)."""
    n = len(next(iter(dependence.values()))["m"])
    ms = next(iter(dependence.values()))["m"]
    head = f"measured excess under symmetric noise against m ({n} values from {number(min(ms))} to {number(max(ms))}{what})"
    return head + ": " + "; ".join(_family_sentence(f, d) for f, d in dependence.items())


def unbounded(by_K: Mapping[int, Mapping]) -> str:
    """Where CE_ε without its clamp vanishes as m grows, per K (``theorem_b.unbounded``'s rows)."""
    parts = []
    for K, d in sorted(by_K.items()):
        ms, peak = list(d["m"]), list(d["max_excess"])
        i = vanishing_point(ms, peak)
        if i is None:
            parts.append(f"K = {K}: it does not vanish ({peak[-1]:.3g} at m = {number(ms[-1])})")
        else:
            parts.append(f"K = {K}: it vanishes (≤ {number(VANISHED)}) from m = {number(ms[i])} on")
    return "CE_ε without the clamp, max excess over the sweep's problems: " + "; ".join(parts)


def _ce_eps(r: Result) -> str:
    return "CE_ε and CE_ε+MAE with the clamp c = 1e-8, " + m_dependence(r.data["m_dependence"])


def _unbounded(r: Result) -> str:
    return unbounded(r.data["m_dependence"])


def _moves(r: Result) -> str:
    found, tried = r.data.get("found", []), r.data["tried"]
    if not found:
        return f"no problem among the {tried} tried where CE's certified in-class argmax moved"
    mae = sum(row.argmax_changes for row in r.data["others"]["mae"])
    eps = sum(row.argmax_changes for row in r.data["others"]["ce_eps+mae"])
    return (f"within the linear class (K = 3, 8 points, 2 features), symmetric noise moves CE's certified argmax and "
            f"raises its 0-1 risk on {len(found)} of the first {tried} problems it draws (0-1 excess "
            f"{', '.join(f'{row.zero_one_excess:.3g}' for row in found)}; the claim stops at the first "
            f"{len(found)} it finds), while the tabular (Bayes) argmax never moves; on those problems MAE's found "
            f"minimisers change {mae} argmax(es) and CE_ε+MAE's {eps}")


#: the rows of consistency.table the README discusses, by label
CONSISTENCY_LABELS = ("ce_eps+mae", "ce_eps+mae (clamp=0)", "gce", "gce (clamp=0)", "sce", "nce+rce", "ldr_kl",
                      "ldr_kl (scores=raw)", "ce+lc")


def _consistency(r: Result) -> str:
    """A Markdown table of the discussed rows: the strict-order class per K, each failure with the first
    confirmed witness the row carries (q → p*), and the own-prediction class."""
    from theory.formatting import vector

    rows = [row for row in r.data["rows"] if row.label in CONSISTENCY_LABELS]
    Ks = sorted({K for row in rows for K in row.by_K})
    lines = ["| loss | " + " | ".join(f"K = {K}, strict order (witness q → p*)" for K in Ks) + " | own prediction |",
             "|---" * (len(Ks) + 2) + "|"]
    for row in rows:
        cells = []
        for K in Ks:
            c = row.by_K[K]
            text = c.strict.label
            confirmed = [f for f in c.strict.failures if f.recheck is Recheck.CONFIRMED]
            if confirmed:
                f = confirmed[0]
                text += f": {vector(f.q)} → {vector(f.p_star)}"
            cells.append(text)
        own = ", ".join(sorted({c.prediction.label for c in row.by_K.values()}))
        lines.append(f"| {row.label} | " + " | ".join(cells) + f" | {own} |")
    return "\n".join(lines)


#: finding id → (the claim it reads, the sentence made from that claim's result)
FINDINGS: dict[str, tuple[str, Callable[[Result], str]]] = {
    "theorem_b.ce_eps": ("theorem_b.ce_eps", _ce_eps),
    "theorem_b.unbounded": ("theorem_b.unbounded", _unbounded),
    "linear_class.noise_moves_ce_argmax": ("linear_class.noise_moves_ce_argmax", _moves),
    "consistency.table": ("consistency.table", _consistency),
}


def marked(text: str) -> dict[str, str]:
    """{finding id: its text} of every claims finding marked in ``text`` (whitespace as written); the
    catalogue's findings (:data:`theory.checks.catalogue.FINDINGS`) are skipped, any other id refused."""
    from theory.checks.catalogue import FINDINGS as CATALOGUE

    out = {}
    for finding_id, written in theory_findings.marked(text).items():
        if finding_id in FINDINGS:
            out[finding_id] = written
        elif finding_id not in CATALOGUE:
            raise KeyError(f"unknown finding {finding_id!r}; known: {', '.join([*FINDINGS, *CATALOGUE])}")
    return out


def generated(ids: Sequence[str], results: Mapping[str, Result]) -> dict[str, str]:
    """{finding id: its sentence} from the claims' ``results`` ({claim id: Result})."""
    return {i: FINDINGS[i][1](results[FINDINGS[i][0]]) for i in ids}


def rewrite(path: str | Path, results: Mapping[str, Result]) -> list[str]:
    """Replace the text of every claims finding marked in ``path`` by its generated sentence; the ids changed."""
    return theory_findings.rewrite(path, generated(list(marked(Path(path).read_text())), results))
