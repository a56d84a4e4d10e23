"""Read pickled numpy payloads without executing pickle code.

CIFAR's python batches and the CIFAR-N ``.pt`` label files are pickles whose payload is a dict of
numpy arrays. ``pickle.load`` and ``torch.load(weights_only=False)`` would import and call any
global the file names, so a tampered file runs arbitrary code. :func:`loads` resolves only the
globals that rebuild numpy arrays and refuses everything else with :class:`UnsafePickleError`.
A ``.pt`` file is a zip archive holding ``<name>/data.pkl``; :func:`load_torch_zip` reads that
member with the same restricted unpickler (and so does not need torch at all).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["UnsafePickleError", "loads", "load_file", "load_torch_zip"]

# (module, name) pairs that rebuild numpy arrays and scalars; numpy 2 moved numpy.core to
# numpy._core, and files written by either version name one of the two.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # protocol-2 pickles carry array bytes as latin-1 text
    ("collections", "OrderedDict"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the numpy allow-list (it could execute code)."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: only numpy array reconstruction "
                f"({', '.join(sorted(f'{m}.{n}' for m, n in _ALLOWED))}) is allowed in a data file"
            )
        if module == "numpy.core.multiarray":  # the numpy 1.x location, an alias in numpy 2
            module = "numpy._core.multiarray"
        import importlib

        return getattr(importlib.import_module(module), name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            f"refusing persistent id {pid!r}: the file holds torch storages, not numpy arrays"
        )


def loads(data: bytes, *, encoding: str = "ASCII") -> Any:
    """Unpickle ``data`` allowing only numpy reconstruction globals.

    ``encoding="bytes"`` reads Python-2 pickles (the original CIFAR batches) with byte-string keys.
    """
    return _NumpyOnlyUnpickler(io.BytesIO(data), encoding=encoding).load()


def load_file(path: str | Path, *, encoding: str = "ASCII") -> Any:
    """:func:`loads` on the contents of ``path``."""
    return loads(Path(path).read_bytes(), encoding=encoding)


def load_torch_zip(path: str | Path) -> Any:
    """The payload of a torch zip-format file (``torch.save``) whose content is numpy data.

    Raises
    ------
    ValueError
        When ``path`` is not a zip archive with exactly one ``*/data.pkl`` member.
    UnsafePickleError
        When the payload names anything but numpy reconstruction globals.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a torch zip-format file (expected a zip archive holding */data.pkl)")
    with zipfile.ZipFile(path) as archive:
        members = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(members) != 1:
            raise ValueError(f"{path}: expected one '<name>/data.pkl' member, found {members or 'none'}")
        return loads(archive.read(members[0]), encoding="latin1")
