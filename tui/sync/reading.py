"""Reading a listed file's bytes only while it is still the file that was listed.

Every read of a tree's file (to hash it, to send it) opens it without following
a symlink and checks it against what the listing saw (size, mtime, inode,
device), before and after reading: a file edited in between raises
`FileChanged`, so its bytes never travel under a digest taken of other bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import BinaryIO, Iterator

from tui.errors import FileChanged, SyncError
from tui.sync.select import TETHERIGNORE, LocalFile
from tui.visible import visible


def _same(st: os.stat_result, f: LocalFile) -> bool:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) == (
        f.size,
        f.mtime_ns,
        f.inode,
        f.device,
    )


def _changed(root: Path, f: LocalFile) -> FileChanged:
    return FileChanged(
        f"{visible(str(root / f.path))} changed while tether was reading it; "
        "run again once it is written (or add it to .tetherignore)"
    )


@contextlib.contextmanager
def open_unchanged(root: Path, f: LocalFile) -> Iterator[BinaryIO]:
    """`f` opened for reading, checked against the listing when opened and when
    closed (`FileChanged`); `SyncError` naming it when it cannot be read."""
    full = os.path.join(root, f.path)
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _changed(root, f) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # it became a symlink
            raise _changed(root, f) from None
        raise SyncError(
            f"cannot read {visible(full)}: {exc.strerror}; make it readable, "
            f"or add it to {TETHERIGNORE}"
        ) from None
    with os.fdopen(fd, "rb", buffering=0) as source:
        if not _same(os.fstat(fd), f):
            raise _changed(root, f)
        yield source
        if not _same(os.fstat(fd), f):
            raise _changed(root, f)


def read_range(root: Path, f: LocalFile, offset: int, length: int) -> bytes:
    """`length` bytes of `f` from `offset` (fewer only at its end)."""
    with open_unchanged(root, f) as source:
        data = os.pread(source.fileno(), length, offset)
        while len(data) < length and offset + len(data) < f.size:
            more = os.pread(source.fileno(), length - len(data), offset + len(data))
            if not more:
                break
            data += more
    return data
