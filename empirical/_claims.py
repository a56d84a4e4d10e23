"""Claims on runs: one lock file per run, so that N sweeps (or SLURM array tasks) sharing a
results folder each train distinct runs.

A claim is the file ``<out>/.locks/<run_id>.lock``, created atomically (``O_CREAT | O_EXCL``)
and holding the claimant's host, pid and a random token. While it trains, the claimant touches
the file every ``HEARTBEAT_S`` seconds (a daemon thread). A claim is *stale*, and may be taken
over, when its claimant is a process of this host that no longer exists, or when its heartbeat
is older than ``STALE_AFTER_S`` (a claimant on another host that died). A takeover renames the
stale file aside (an atomic rename that only one contender wins), checks that what it renamed is
the claim it judged stale (else it puts it back: another contender got there first), and then
creates its own claim with ``O_EXCL`` as usual.

Locks are advisory: they order this package's own writers. Nothing here needs ``fcntl``, so the
files work on network filesystems where ``flock`` does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "Claim", "RunClaimed", "claim", "pid_alive"]

HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0


class RunClaimed(RuntimeError):
    """Another live process holds the run's claim; the message says which."""


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie (killed, not yet reaped by its parent) holds nothing
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stale(path: Path, holder: dict | None) -> str | None:
    """Why the claim at ``path`` (content ``holder``) is stale, or None when it is live."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return "gone"
    if holder is None or not isinstance(holder.get("pid"), int):  # a claimant killed while writing it, or garbage
        return "unreadable" if age > 5.0 else None
    if holder.get("host") == socket.gethostname() and not pid_alive(holder["pid"]):
        return f"its process {holder.get('pid')} on this host no longer exists"
    if age > STALE_AFTER_S:
        return f"no heartbeat for {age:.0f} s"
    return None


class Claim:
    """A held claim: ``release()`` (or leaving the ``with`` block) removes it."""

    def __init__(self, path: Path, token: str, took_over: str | None):
        self.path, self.token, self.took_over = path, token, took_over
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True, name=f"claim {path.name}")
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        self._stop.set()
        holder = _read(self.path)
        if holder is not None and holder.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(folder: str | os.PathLike, run_id: str) -> Claim:
    """Claim ``run_id`` in the results folder ``folder``; raises :class:`RunClaimed` when a live
    process holds it. A stale claim is taken over, and the returned claim says why."""
    locks = Path(folder) / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / f"{run_id}.lock"
    me = {"host": socket.gethostname(), "pid": os.getpid(), "token": secrets.token_hex(8),
          "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
    took_over = None
    for _ in range(8):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            why = _stale(path, holder)
            if why is None:
                who = (f"process {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
                       if holder else "another process")
                raise RunClaimed(f"run {run_id} is being trained by {who} (claim {path})") from None
            aside = path.with_name(f"{path.name}.stale-{me['token']}")
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                continue  # another contender moved it first: try again
            if _read(aside) != holder:  # we moved a fresh claim made in between: put it back
                with contextlib.suppress(OSError):
                    os.rename(aside, path)
                continue
            aside.unlink()
            took_over = f"took over a stale claim ({why})"
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return Claim(path, me["token"], took_over)
    raise RunClaimed(f"could not claim run {run_id}: its claim {path} kept changing")
