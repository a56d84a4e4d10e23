"""What every command line of the project does with an error: one line that names it on
stderr, exit status 2 for bad input (1 for anything else), and the traceback only with
``--debug``. Nothing is written by the error path itself, so what a command wrote before the
error stays as it was."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["INPUT_ERRORS", "add_common_flags", "add_version_flag", "check_output_file", "check_output_folder", "Progress", "guarded", "message", "plain"]

# Errors that report bad input (a value, a name, a file): exit status 2, like argparse's own.
INPUT_ERRORS = (ValueError, TypeError, KeyError, OSError, ImportError)


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """``--debug`` (the full traceback of an error) and ``--version`` (the package's version), on every command."""
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    add_version_flag(parser)


def add_version_flag(parser: argparse.ArgumentParser) -> None:
    """``--version``: the program and the package's version, then exit 0."""
    from theory import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s (eps-softmax-verify) {__version__}")


_ROLE = re.compile(r":[a-z]+:`(~?)([^`<]+?)(?:\s*<[^>]*>)?`")  # :func:`a.b` → a.b, :class:`~a.B` → B


def plain(text: str) -> str:
    """A docstring made fit for ``--help``: Sphinx roles and ``literal`` markup become plain text."""
    return _ROLE.sub(lambda m: m[2].rsplit(".", 1)[-1] if m[1] else m[2], text).replace("``", "")


def message(err: BaseException) -> str:
    """The error's own text (a KeyError's without the quotes repr adds)."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err) or type(err).__name__


def guarded(prog: str, body: Callable[[], int], *, debug: bool = False) -> int:
    """``body()``'s exit status; an exception becomes one line on stderr and status 2 (bad
    input, :data:`INPUT_ERRORS`), 1 (anything else) or 130 (interrupted). ``debug`` re-raises."""
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except INPUT_ERRORS as err:
        if debug:
            raise
        print(f"{prog}: error: {message(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug or a failing device: say what, point at --debug
        if debug:
            raise
        print(f"{prog}: error: {type(err).__name__}: {message(err)} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


def check_output_file(path: str | Path, what: str = "--json") -> Path:
    """A file path that can be written: its parent is a folder or can be made one, and the path
    itself is not a folder. Checked before any work, so that a long run does not fail at its end."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{what} must name a file, got the folder {str(target)!r}")
    for parent in [target.parent, *target.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"{what} {str(target)!r} lies under {str(parent)!r}, which is a file")
            break
    return target


def check_output_folder(path: str | Path, what: str = "--out") -> Path:
    """A folder that exists or can be made: neither it nor a parent of it is a file."""
    target = Path(path)
    for folder in [target, *target.parents]:
        if folder.exists():
            if not folder.is_dir():
                where = "is a file" if folder == target else f"lies under {str(folder)!r}, which is a file"
                raise NotADirectoryError(f"{what} must be a folder (made when missing), but {str(target)!r} {where}")
            break
    return target


class Progress:
    """A ``progress(label, done, total)`` callback that draws one tqdm bar on stderr, labelled with
    the step running; silent when stderr is not a terminal (logs, pipes, CI), or when ``enabled``
    is False. A new total starts a new bar. Call :meth:`close` when the work is done."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
        self._bar = None

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self._bar is None or self._bar.total != total:
            self.close()
            self._bar = tqdm(total=total, file=sys.stderr, leave=False, dynamic_ncols=True)
        self._bar.set_description_str(label, refresh=False)
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
