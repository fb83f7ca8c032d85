"""The lock that makes starting the runner idempotent (cron, two TUIs at once)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Optional

from protocol.socket_path import open_private
from runner.errors import AlreadyRunning


class RunnerLock:
    """An exclusive flock on the run dir's lock file, held for the daemon's life.

    The file holds the holder's pid for `status` and `stop`. The descriptor is
    close-on-exec, so shims and jobs never inherit (and never keep) the lock. It is
    0600 whatever the umask: another account that could open it could hold the
    lock and keep the runner from starting.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        fd = open_private(self.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(read_holder(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_holder(path: Path) -> Optional[int]:
    """The pid of the daemon holding the lock, or None if no one holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.read(fd, 64).strip()
            return int(raw) if raw.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
