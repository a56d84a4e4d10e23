"""``python -m theory.check``: an alias of ``python -m theory.checks`` (see :mod:`theory.checks.__main__`)."""

from __future__ import annotations

import sys

from theory.checks.__main__ import load, main

__all__ = ["load", "main"]

if __name__ == "__main__":
    sys.exit(main())
