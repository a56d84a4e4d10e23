"""Independent computations in worker processes: one pool for every caller (the claims of
:mod:`proofs_check`, the catalogue of :mod:`theory.checks.catalogue`).

Workers are spawned (no state inherited from the parent; each imports what its function needs),
and each gets ``cpu_count // jobs`` BLAS/OpenMP threads unless the user set them, so that the
workers' thread pools do not oversubscribe the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any, TypeVar

__all__ = ["default_jobs", "in_processes", "threads_per_worker"]

T = TypeVar("T")

#: the thread pools of numerical libraries that read their size from the environment at import
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_jobs() -> int:
    """Worker processes by default: min(2, CPUs)."""
    return max(1, min(2, os.cpu_count() or 1))


@contextmanager
def threads_per_worker(jobs: int):
    """Within this context, spawned workers read ``cpu_count // jobs`` threads for each variable of
    :data:`THREAD_VARIABLES` the user did not set (they read it when they import numpy)."""
    n = str(max(1, (os.cpu_count() or 1) // jobs))
    unset = [v for v in THREAD_VARIABLES if v not in os.environ]
    os.environ.update({v: n for v in unset})
    try:
        yield
    finally:
        for v in unset:
            os.environ.pop(v, None)


def in_processes(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], *, jobs: int,
                 in_order: bool = True) -> Iterator[tuple[int, T]]:
    """Yield ``(i, fn(*calls[i]))`` for every call, computed by ``jobs`` spawned processes (in this
    process when ``jobs`` ≤ 1 or there is one call). Calls are submitted in the order given, so give
    the longest first. ``in_order``: yield in the order of ``calls`` (else as they finish). ``fn``
    must be importable by name (a module-level function); an exception in a call is raised here."""
    if jobs <= 1 or len(calls) <= 1:
        for i, args in enumerate(calls):
            yield i, fn(*args)
        return
    with threads_per_worker(jobs), ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        done = futures if in_order else as_completed(futures)
        for fut in done:
            yield futures[fut], fut.result()
