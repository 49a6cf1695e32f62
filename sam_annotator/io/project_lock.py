"""One writer per project file: a lock that the operating system releases when its holder dies.

Two app windows on one folder would each autosave their own state over the other's, and
edits would vanish without a word. The first window to open a project takes its lock;
another one finds it taken and opens read-only (see qt/project_controller.py).

The lock is an OS lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) on a
small file beside the project file (``.<project name>.lock``). The OS drops it when the
holding process exits in any way, kill -9 and power cut included, so a lock left by a
dead process never blocks: the file may remain, but nobody holds it, and the next window
takes it over. While held, the file says who holds it (JSON: pid, hostname, started, as
ISO 8601 UTC), so the second window can tell the user which process has the project.

Caveat: flock is not reliable across machines on some network file systems (old NFS);
there the lock file still names the holder but may not stop a second machine.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl

_WINDOWS_LOCK_OFFSET = 1 << 30  # lock a byte far past the text, so readers can still read it


@dataclass(frozen=True)
class LockHolder:
    """Who holds a project lock (as far as the lock file says)."""

    pid: int | None
    hostname: str | None
    started: str | None

    def describe(self) -> str:
        who = f"process {self.pid}" if self.pid is not None else "another process"
        where = f" on {self.hostname}" if self.hostname else ""
        since = f", since {self.started}" if self.started else ""
        return f"{who}{where}{since}"


class ProjectLockedError(OSError):
    """The project is held by another live process; `holder` says which."""

    def __init__(self, project_path: Path, holder: LockHolder) -> None:
        super().__init__(
            f"{project_path} is open in another sam-annotator window ({holder.describe()})"
        )
        self.project_path = project_path
        self.holder = holder


def lock_path_for(project_path: str | Path) -> Path:
    project = Path(project_path)
    return project.with_name(f".{project.name}.lock")


class ProjectLock:
    """The lock of one project file. `acquire()` or ProjectLockedError; `release()`."""

    def __init__(self, project_path: str | Path) -> None:
        self.project_path = Path(project_path)
        self.path = lock_path_for(project_path)
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def acquire(self) -> None:
        """Take the lock without waiting. Raises ProjectLockedError when a live process
        holds it, OSError when the lock file cannot be created."""
        if self._descriptor is not None:
            return
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        try:
            _try_lock(descriptor)
        except OSError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise ProjectLockedError(self.project_path, holder) from None
        with contextlib.suppress(OSError):  # without the note the lock still holds
            _write_holder(descriptor)
        self._descriptor = descriptor

    def release(self) -> None:
        """Let go (idempotent). The file stays: deleting it would race with a new holder."""
        if self._descriptor is None:
            return
        descriptor, self._descriptor = self._descriptor, None
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, 0)
        _unlock(descriptor)
        os.close(descriptor)

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(descriptor: int) -> None:
    if os.name == "nt":  # pragma: no cover
        os.lseek(descriptor, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(descriptor: int) -> None:
    try:
        if os.name == "nt":  # pragma: no cover
            os.lseek(descriptor, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
        else:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    except OSError:
        pass  # closing the descriptor releases it anyway


def _write_holder(descriptor: int) -> None:
    note = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    data = json.dumps(note).encode()
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, data)
    os.fsync(descriptor)


def _read_holder(descriptor: int) -> LockHolder:
    try:
        os.lseek(descriptor, 0, os.SEEK_SET)
        note = json.loads(os.read(descriptor, 4096).decode("utf-8", errors="replace"))
    except (OSError, ValueError):
        note = {}
    if not isinstance(note, dict):
        note = {}
    pid = note.get("pid")
    return LockHolder(
        pid=pid if isinstance(pid, int) else None,
        hostname=str(note["hostname"]) if note.get("hostname") else None,
        started=str(note["started"]) if note.get("started") else None,
    )
