"""Reports: many results of one subject, as a table, text and JSON."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from theory.formatting import clip
from theory.verify.evidence import Verdict, short
from theory.verify.io import jsonable
from theory.verify.runner import Result, Status

__all__ = ["VERDICT_WIDTH", "Report", "render", "render_markdown"]

#: the verdict column's width in the terminal table (a longer verdict wraps onto more lines)
VERDICT_WIDTH = 64


@dataclass(frozen=True)
class Report:
    """Every result of one run: the paper's claims, or the checks of one loss.

    ``passed`` is False when any result failed unexpectedly or errored; ``conclusive`` is False
    when some result is inconclusive (neither pass nor fail: read its note).
    """

    subject: str
    results: tuple[Result, ...]
    budget: str = "default"
    seed: int = 0
    header: str = ""
    summary: tuple[str, ...] = ()  # what a person reads first: what holds, in which notion, what to try

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status in (Status.FAILED, Status.ERROR)]

    @property
    def inconclusive(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.INCONCLUSIVE]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def conclusive(self) -> bool:
        return not self.inconclusive

    def __getitem__(self, check: str) -> Result:
        for r in self.results:
            if r.check == check:
                return r
        raise KeyError(f"no result for {check!r} in this report; it has {[r.check for r in self.results]}")

    def by_status(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {s.value: [] for s in Status}
        for r in self.results:
            out[r.status.value].append(r.check)
        return out

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"subject": self.subject, "header": self.header, "summary": list(self.summary),
                         "budget": self.budget, "seed": self.seed, "passed": self.passed, "conclusive": self.conclusive,
                         "results": [r.to_dict() for r in self.results]})

    def __str__(self) -> str:
        return render(self.results, header=self.header, summary=self.summary)


def render(results: Sequence[Result], *, header: str = "", summary: Sequence[str] = (), width: int = 110,
           verdict_width: int = VERDICT_WIDTH) -> str:
    """The header, the summary (each entry wrapped as a paragraph), a table (check, status, verdict
    with its scope, time, evidence), then the details a person acts on: failures and findings with
    witnesses and reproduce lines, inconclusive results, errors. A verdict and its scope are wrapped
    over as many lines as they need, never cut; the evidence column is cut to ``width`` (the details
    below and ``to_dict`` hold it whole)."""
    head = ["check", "status", "verdict", "time", "evidence"]
    rows = [[r.check, r.status.value, textwrap.wrap(" ".join(r.verdict_text.split()), verdict_width) or [""],
             f"{r.seconds:.1f}s",
             clip(r.evidence_summary if r.status is not Status.XFAIL else f"{r.reason} — {r.evidence_summary}", width)]
            for r in results]
    widths = [max(len(h), *(max(map(len, row[i])) if isinstance(row[i], list) else len(row[i]) for row in rows))
              if rows else len(h) for i, h in enumerate(head)]

    def line(cells):
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    def lines(row):  # the verdict's first line beside the other cells, its other lines below it
        first, *more = row[2]
        return [line([row[0], row[1], first, *row[3:]]), *(line(["", "", text, "", ""]) for text in more)]

    out = ([header] if header else [])
    for entry in summary:
        out += textwrap.wrap(entry, width, initial_indent="  ", subsequent_indent="    ")
    if summary:
        out.append("")
    out += [line(head), "-+-".join("-" * w for w in widths), *(text for row in rows for text in lines(row))]
    for r in results:
        if r.status in (Status.FAILED, Status.XFAIL) and r.witness is not None:
            label = "FAILED" if r.status is Status.FAILED else "FINDING (expected)"
            out += ["", f"{label} {r.check}: {r.message}", f"  statement: {r.statement}",
                    f"  witness: {short(r.witness.inputs)}",
                    f"  observed: {r.witness.observed}; expected: {r.witness.expected}",
                    f"  re-check ({r.witness.status.value}): {r.witness.recheck}"]
            if r.finding:
                out.append(f"  finding: {r.finding}")
            out += _reproduce_lines(r)
        elif r.status is Status.INCONCLUSIVE:
            out += ["", f"INCONCLUSIVE {r.check}: {r.message}", *_reproduce_lines(r)]
        elif r.status is Status.ERROR:
            out += ["", f"ERROR {r.check} (a bug in the check, not a verdict):", r.reason.rstrip()]
    counts = {k: len(v) for k, v in _by_status(results).items() if v}
    verdicts = {v.value: sum(r.verdict is v for r in results) for v in Verdict}
    out += ["", f"{len(results)} results: " + ", ".join(f"{n} {k}" for k, n in counts.items()) +
            "; verdicts: " + ", ".join(f"{n} {k}" for k, n in verdicts.items() if n) +
            f" (check time {sum(r.seconds for r in results):.1f}s)"]
    return "\n".join(out)


def _by_status(results: Sequence[Result]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s.value: [] for s in Status}
    for r in results:
        out[r.status.value].append(r.check)
    return out


def _reproduce(r: Result) -> list[tuple[str, str, bool]]:
    """(where, what, is it code) for each way to reproduce ``r``: a Python statement (or why
    there is none) and a shell command."""
    if r.reproduce is None:
        return []
    out = []
    if r.reproduce.python:
        out.append(("Python", r.reproduce.python, True))
    elif r.reproduce.why:
        out.append(("Python", r.reproduce.why, False))
    if r.reproduce.shell:
        out.append(("shell", r.reproduce.shell, True))
    return out


def _reproduce_lines(r: Result) -> list[str]:
    return [f"  reproduce ({where}):{' ' * (7 - len(where))}{what}" for where, what, _ in _reproduce(r)]


def _cell(text: str) -> str:
    """Text for one Markdown table cell: pipes escaped, lines joined."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _anchor(check: str) -> str:
    """The id of a result's section (stated explicitly before its heading, as renderers derive
    heading ids differently)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in check.lower())


def render_markdown(results: Sequence[Result], *, title: str = "", summary: Sequence[str] = (),
                    preamble: str = "") -> str:
    """The report as Markdown a reader can follow: a summary table (check, status, the verdict
    with its scope, in full) linking to one section per result with its statement, the verdict
    of each part, every piece of evidence, the witness and its re-check, the finding, the
    reproduce lines and, for an error or an expected failure, the reason. Nothing is cut. ``preamble``
    (Markdown) comes first: what a reader needs to read the results, such as the statements they cite."""
    out = [f"# {title}", ""] if title else []
    out += [preamble.rstrip(), ""] if preamble else []
    out += [f"- {entry}" for entry in summary] + ([""] if summary else [])
    counts = {k: len(v) for k, v in _by_status(results).items() if v}
    verdicts = {v.value: sum(r.verdict is v for r in results) for v in Verdict}
    out += [f"{len(results)} results: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + "; verdicts: "
            + ", ".join(f"{n} {k}" for k, n in verdicts.items() if n)
            + f" (check time {sum(r.seconds for r in results):.1f} s).", "",
            "| check | status | verdict |", "|---|---|---|"]
    out += [f"| [{r.check}](#{_anchor(r.check)}) | {r.status.value} | {_cell(r.verdict_text)} |" for r in results]
    for r in results:
        out += ["", f'<a id="{_anchor(r.check)}"></a>', "", f"## {r.check}", "", f"**Statement.** {r.statement}", "",
                f"**Status:** {r.status.value}. **Verdict:** {r.verdict_text}. ({r.seconds:.1f} s; {r.origin}; "
                f"{r.reference}; methods: {', '.join(r.methods)})"]
        if r.parts:
            out += ["", "**Parts of the verdict.**", ""]
            out += [f"- *{p.word}* — {p.scope} ({p.how})" for p in r.parts]
        if r.evidence:
            out += ["", "**Evidence.**", ""]
            out += [f"- *{e.kind.value}{', cross-check' if e.cross_check else ''}* — {e.summary}"
                    + (f" (covers: {e.covers})" if e.covers else "") for e in r.evidence]
        if r.witness is not None:
            w = r.witness
            out += ["", "**Witness.**", "", f"- inputs: `{short(w.inputs)}`", f"- observed: {w.observed}",
                    f"- expected: {w.expected}", f"- re-check ({w.status.value}): {w.recheck}"]
        if r.finding:
            out += ["", f"**Finding.** {r.finding}"]
        if r.reason and r.status is Status.XFAIL and r.reason != r.finding:
            out += ["", f"**Expected failure, because:** {r.reason}"]
        if r.status is Status.ERROR:
            out += ["", "**Error** (a bug in the check, not a verdict):", "", "```", r.reason.rstrip(), "```"]
        elif r.status is Status.INCONCLUSIVE:
            out += ["", f"**Inconclusive:** {r.message}"]
        if ways := _reproduce(r):
            out += ["", "**Reproduce.**", ""]
            out += [f"- {where}: " + (f"`{what}`" if code else what) for where, what, code in ways]
    return "\n".join(out) + "\n"
