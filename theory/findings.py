"""Generated text between markers in a Markdown file: the one mechanism by which the package's
published findings follow the rows they are made from.

A finding is held between two HTML comments, which Markdown renderers do not show::

    <!-- finding: theorem_b.ce_eps -->
    ...the generated text...
    <!-- /finding -->

Each producer owns a set of finding ids and a function from its computed rows to the text of each
(``proofs_check.findings`` for the claims, ``theory.checks.catalogue.FINDINGS`` for the catalogue);
this module only finds, compares and replaces the marked text. A producer rewrites its own ids and
leaves every other marked block as it is.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

__all__ = ["MARKER", "differing", "marked", "rewrite", "same_text", "substitute", "wrap"]

MARKER = re.compile(r"(<!-- finding: (?P<id>[\w.+-]+) -->\n)(?P<text>.*?)(\n<!-- /finding -->)", re.S)


def marked(text: str) -> dict[str, str]:
    """{finding id: its text} of every marked block of ``text``, whitespace as written."""
    out: dict[str, str] = {}
    for m in MARKER.finditer(text):
        if m["id"] in out:
            raise ValueError(f"finding {m['id']!r} is marked twice; each finding has one block")
        out[m["id"]] = m["text"]
    return out


def same_text(a: str, b: str) -> bool:
    """Equal but for line breaks and runs of spaces (the wrapping of a sentence)."""
    return " ".join(a.split()) == " ".join(b.split())


def differing(text: str, new: Mapping[str, str]) -> list[str]:
    """The ids of ``new`` whose marked text in ``text`` reads otherwise."""
    written = marked(text)
    return [i for i in new if not same_text(written[i], new[i])]


def wrap(text: str, width: int = 100) -> str:
    """A sentence wrapped at ``width``; a list (lines starting with "- ") item by item, each continued
    indented; a table (lines starting with "|") as it is."""
    if text.startswith("|"):
        return text
    if text.startswith("- "):
        return "\n".join("\n".join(textwrap.wrap(item, width, subsequent_indent="  ")) for item in text.splitlines())
    return "\n".join(textwrap.wrap(text, width))


def substitute(text: str, new: Mapping[str, str]) -> str:
    """``text`` with the marked block of each id of ``new`` replaced by its text (wrapped); other blocks kept."""
    missing = set(new) - set(marked(text))
    if missing:
        raise KeyError(f"no marked block for finding(s) {', '.join(sorted(missing))}")
    return MARKER.sub(lambda m: m.group(1) + wrap(new[m["id"]]) + m.group(4) if m["id"] in new else m.group(0), text)


def rewrite(path: str | Path, new: Mapping[str, str]) -> list[str]:
    """Replace the marked text of each id of ``new`` in the file ``path``; the ids whose text changed."""
    from theory.verify.io import write_text

    path = Path(path)
    text = path.read_text()
    changed = differing(text, new)
    out = substitute(text, new)
    if out != text:
        write_text(path, out)
    return changed
