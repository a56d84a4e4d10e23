"""Plain-JSON conversion and atomic writes for reports and records."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["current_umask", "jsonable", "temporaries", "write_atomic", "write_json", "write_text"]


def jsonable(x: Any) -> Any:
    """numpy, sympy, enums, dataclasses and infinities as plain JSON values (records via their
    ``to_dict`` when they have one)."""
    if hasattr(x, "to_dict") and not isinstance(x, type):
        return jsonable(x.to_dict())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, Enum):
        return x.value
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")
    if x is None or isinstance(x, str):
        return x
    return str(x)


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), else
    by setting and restoring it."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """The one atomic writer of the package: ``write(tmp)`` writes the whole file to a temporary
    path in the target's folder (created if needed), which is then renamed onto ``path``, so a
    reader sees the old file or the new one, never a part; the file gets the mode the umask gives.
    The temporary name is ``.<name>.<random>.tmp``, hidden and derived from the target, so that a
    writer holding the target can find and remove what a killed one left
    (:func:`temporaries`). Returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it 0600: give it the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def temporaries(path: str | os.PathLike) -> list[Path]:
    """What :func:`write_atomic` writers of ``path`` that were killed left behind."""
    target = Path(path)
    return sorted(target.parent.glob(f".{target.name}.*.tmp"))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`write_atomic`); returns the path."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``jsonable(payload)`` to ``path`` atomically (see :func:`write_text`)."""
    return write_text(path, json.dumps(jsonable(payload), indent=1))
