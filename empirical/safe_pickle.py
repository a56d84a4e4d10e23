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

__all__ = ["DataFileError", "UnsafePickleError", "check_size", "loads", "load_file", "load_torch_zip"]

# Upper bounds on what a data file may make this process read: the largest real file is
# CIFAR-100's training batch (~155 MB); the CIFAR-N label files are 2.4 MB and 1 MB.
MAX_FILE_BYTES = 512 * 2**20
MAX_LABEL_FILE_BYTES = 64 * 2**20

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


class DataFileError(ValueError):
    """A data file that cannot be read as what it should be (truncated, corrupt, too large, or
    holding the wrong thing); the message names the file."""


class UnsafePickleError(pickle.UnpicklingError, DataFileError):
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


def _read_pickle(data: bytes, path: Path, encoding: str) -> Any:
    """:func:`loads`, its failures re-raised naming ``path``."""
    try:
        return loads(data, encoding=encoding)
    except UnsafePickleError as err:
        raise UnsafePickleError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, RecursionError) as err:
        raise DataFileError(
            f"{path} is not a readable pickle ({type(err).__name__}: {err}); it may be truncated or "
            "corrupt: delete it and fetch it again") from err


def load_file(path: str | Path, *, encoding: str = "ASCII", max_bytes: int = MAX_FILE_BYTES) -> Any:
    """:func:`loads` on the contents of ``path``, refusing a file over ``max_bytes``; every
    failure is a :class:`DataFileError` naming the file."""
    path = Path(path)
    check_size(path, max_bytes, "data file")
    return _read_pickle(path.read_bytes(), path, encoding)


def check_size(path: Path, max_bytes: int, what: str) -> None:
    """A :class:`DataFileError` naming ``path`` when it is empty or over ``max_bytes``."""
    size = path.stat().st_size
    if size > max_bytes:
        raise DataFileError(f"{path} is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB a {what} may have")
    if size == 0:
        raise DataFileError(f"{path} is empty: delete it and fetch it again")


def load_torch_zip(path: str | Path, *, max_bytes: int = MAX_LABEL_FILE_BYTES) -> Any:
    """The payload of a torch zip-format file (``torch.save``) whose content is numpy data.

    Raises
    ------
    DataFileError
        When ``path`` is not a zip archive with exactly one ``*/data.pkl`` member, that member
        inflates past ``max_bytes``, or it is not a readable pickle.
    UnsafePickleError
        When the payload names anything but numpy reconstruction globals.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise DataFileError(f"{path} is not a torch zip-format file (expected a zip archive holding */data.pkl)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if i.filename.endswith("/data.pkl") and i.filename.count("/") == 1]
            if len(members) != 1:
                raise DataFileError(f"{path}: expected one '<name>/data.pkl' member, "
                                    f"found {[i.filename for i in members] or 'none'}")
            member = members[0]
            if member.file_size > max_bytes:
                raise DataFileError(f"{path}: {member.filename} inflates to {member.file_size / 2**20:.0f} MiB, "
                                    f"over the {max_bytes / 2**20:.0f} MiB a label file may have")
            with archive.open(member) as fh:  # the header's size may lie: read at most the bound
                data = fh.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise DataFileError(f"{path}: {member.filename} inflates past the {max_bytes / 2**20:.0f} MiB a label "
                                    "file may have")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as err:
        raise DataFileError(f"{path} is not a readable zip archive ({type(err).__name__}: {err})") from err
    return _read_pickle(data, path, "latin1")
