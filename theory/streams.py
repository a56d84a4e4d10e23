"""Keyed random streams: every random draw of the package comes from a stream that is a function
of a seed and a *key* naming what it draws, e.g. ``stream(seed, "linear.starts", K, n_x, d)``.

Two computations that draw under different keys never share a stream (no hand-made seed salts
such as ``seed + 1``, no collisions between ``("a", 11)`` and ``("a1", 1)``), and the same key
gives the same numbers in every process and run. :class:`theory.verify.Budget` draws the
streams of the checks and claims through here.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np

from theory.validation import check_seed

__all__ = ["REPORTED_SEED_BOUND", "derived_seed", "generator", "key_words", "seed_word", "stream"]

#: Integer seeds the package derives for a public API are below this bound: a report prints the call
#: that reproduces a problem (``theory.excess.sweep_problem(K=3, n_x=3, seed=369300748, index=2)``),
#: and a reader copies it.
REPORTED_SEED_BOUND = 2**31


def _encode(part: Any) -> bytes:
    """A canonical, type-tagged byte string for one key part (stable across processes and runs)."""
    if isinstance(part, bool) or isinstance(part, np.bool_):
        return b"b" + (b"1" if part else b"0")
    if isinstance(part, (int, np.integer)):
        return b"i" + str(int(part)).encode()
    if isinstance(part, (float, np.floating)):
        return b"f" + float(part).hex().encode()
    if isinstance(part, str):
        return b"s" + part.encode("utf-8")
    if part is None:
        return b"n"
    if isinstance(part, (tuple, list)):
        return b"t(" + b"".join(_encode(p) + b"," for p in part) + b")"
    if isinstance(part, dict):
        return b"d(" + b"".join(_encode(k) + b":" + _encode(v) + b"," for k, v in sorted(part.items())) + b")"
    raise TypeError(f"a random-stream key part must be a number, string, None or a tuple/dict of them, "
                    f"got {type(part).__name__}")


def key_words(*key: Any) -> list[int]:
    """Eight 32-bit words identifying ``key`` (BLAKE2b of its canonical encoding)."""
    payload = b"".join(struct.pack(">I", len(e)) + e for e in map(_encode, key))
    digest = hashlib.blake2b(payload, digest_size=32).digest()
    return list(struct.unpack(">8I", digest))


def generator(seed: Any) -> np.random.Generator:
    """A caller's seed as a Generator: a non-negative integer (checked, 0 is valid) seeds a new one,
    a Generator is used as it is (the caller's stream goes on)."""
    seed = check_seed(seed, generator=True)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def derived_seed(seed: int, *key: Any) -> int:
    """An integer seed, below :data:`REPORTED_SEED_BOUND`, for the computation named by ``key`` under
    ``seed``: what an API that takes an integer seed gets (a second, independent search among them),
    instead of a hand-made salt such as ``seed + 1``: :func:`seed_word`, reduced."""
    return seed_word(seed, *key) % REPORTED_SEED_BOUND


def seed_word(seed: int, *key: Any) -> int:
    """The first 63-bit word of :func:`stream` ``(seed, *key)``, as a non-negative integer seed."""
    return int(stream(seed, *key).integers(0, 2**63 - 1))


def stream(seed: int, *key: Any) -> np.random.Generator:
    """The random stream named by ``key`` under ``seed`` (a non-negative integer)."""
    if not key:
        raise ValueError("a random stream needs a key naming what it draws, e.g. stream(seed, 'theorem_b', K)")
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), *key_words(*key)]))
