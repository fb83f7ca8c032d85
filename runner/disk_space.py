"""A full disk, said so that a person can act on it: what is full, how much is
free of how much, and what to do.

A full disk is a state the runner lives through, not a crash. A request that
meets one is answered with `full_error`'s sentence instead of an exception's
repr; a job's shim that meets one waits for room to record how the job ended,
and notes in the job's log where its output was cut. Sizes are written as the
rest of the product writes them (`protocol.units`).

Standard library and `protocol` only: the job shim imports it.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from protocol.errors import ErrorCode
from protocol.socket_path import home_dir
from protocol.units import size
from runner.errors import RunnerError

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
#: SQLite's messages for SQLITE_FULL and SQLITE_IOERR (their codes are on the
#: exception only from Python 3.11). A full disk can show as the second: SQLite
#: reports failing to grow its shared-memory file (``-shm``) as an I/O error.
_SQLITE_FULL = "database or disk is full"
_SQLITE_IOERR = "disk I/O error"


@dataclass(frozen=True)
class Space:
    """Room on one filesystem, as ``df`` shows it to an ordinary user: bytes, and
    whether a new file can still be made (a filesystem can run out of inodes first)."""

    free: int
    total: int
    no_new_files: bool = False

    @property
    def full(self) -> bool:
        """No byte left to write (``df`` says 100%)."""
        return self.free <= 0

    def __str__(self) -> str:
        return f"{size(self.free)} free of {size(self.total)}"


def measure(path: Path) -> Optional[Space]:
    """The room on the filesystem holding `path`; None if it cannot be looked at."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return Space(
        free=st.f_bavail * st.f_frsize,
        total=st.f_blocks * st.f_frsize,
        no_new_files=st.f_files > 0 and st.f_favail == 0,  # 0 files: it does not count them
    )


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or what caused it, says a disk (or a disk quota) is full."""
    return any(_says_full(e) for e in _chain(exc))


def _says_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    # Imported here so that the shim, which never opens a database, pays nothing.
    import sqlite3

    return isinstance(exc, sqlite3.OperationalError) and _SQLITE_FULL in str(exc)


def _is_sqlite_io_error(exc: BaseException) -> bool:
    import sqlite3

    return any(
        isinstance(e, sqlite3.OperationalError) and _SQLITE_IOERR in str(e) for e in _chain(exc)
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class DiskFull(RunnerError):
    """A request failed for want of disk space; the message says where and what to do."""

    code = ErrorCode.DISK_FULL


def full_error(exc: BaseException, state_dir: Path) -> Optional[DiskFull]:
    """The error to answer with when `exc` says a disk is full, None when it does not.

    The place named is the file the error names, when it lies outside the state
    dir; the state dir otherwise (the database's errors name no file)."""
    found = _full_cause(exc, state_dir)
    if found is None:
        return None
    quota = isinstance(found, OSError) and found.errno == errno.EDQUOT
    named = found.filename if isinstance(found, OSError) else None
    if isinstance(named, (str, bytes)):
        path = Path(os.fsdecode(named))
        if not _inside(path, state_dir):
            where = f"the disk holding {_shown(path)}"
            return DiskFull(_sentence(where, quota, measure(path.parent)))
    where = f"the state dir {_shown(state_dir)}"
    return DiskFull(_sentence(where, quota, measure(state_dir)) + " or set XDG_STATE_HOME")


def _full_cause(exc: BaseException, state_dir: Path) -> Optional[BaseException]:
    """The error in `exc`'s chain that says a disk is full; a database I/O error
    counts as one when the state dir is full."""
    found = next((e for e in _chain(exc) if _says_full(e)), None)
    if found is not None or not _is_sqlite_io_error(exc):
        return found
    space = measure(state_dir)
    return exc if space is not None and space.full else None


def _sentence(where: str, quota: bool, space: Optional[Space]) -> str:
    if quota:
        return f"your disk quota is used up on {where}: free space there"
    if space is None:
        return f"{where} is full: free space there"
    if space.no_new_files and not space.full:
        return f"{where} has no room for new files ({space}): remove files there"
    return f"{where} is full ({space}): free space there"


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _shown(path: Path) -> str:
    """`path` with the home directory written ``~``, as a person would type it."""
    try:
        return "~/" + str(path.relative_to(home_dir()))
    except ValueError:
        return str(path)
