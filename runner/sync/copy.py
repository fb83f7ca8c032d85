"""A job's private copy of a snapshot: its working tree.

Never hardlinks into the store: a job that writes into one of its files (opened
for writing, not replaced) would then write into the stored blob, and so into
every other job's tree and every later one. Each file is a copy of its own: a
reflink where the filesystem shares blocks copy-on-write (btrfs, XFS: instant
and free until written), else ``copy_file_range`` (which the kernel may also
share, or copy in the kernel), else a plain read/write copy. Symlinks are made
as symlinks (`protocol.manifest` has checked that they stay inside the tree), and
the executable bit is kept.

Modes follow the person's umask, like every file their job writes: the tree
lives under the runner's 0700 ``work`` folder, which keeps other accounts out.
Blocking functions, called in a thread.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

from protocol.manifest import Manifest
from runner.sync.blobs import BlobFiles

#: ``FICLONE`` from <linux/fs.h>: make the destination share the source's blocks.
FICLONE = 0x40049409
#: What says "this filesystem cannot do that copy", as opposed to a real error.
_CANNOT = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EBADF}


def make_tree(files: BlobFiles, manifest: Manifest, dest: Path, umask: int) -> None:
    """Create `dest` holding the snapshot's files. `dest` must not exist; on
    failure the caller removes what was made."""
    os.mkdir(dest, 0o700)
    os.chmod(dest, 0o777 & ~umask)
    made = {dest}
    for entry in manifest.entries:
        target = dest / entry.path
        _make_parents(target.parent, made, umask)
        if entry.kind == "link":
            assert entry.target is not None  # the manifest checked
            os.symlink(entry.target, target)
        else:
            assert entry.digest is not None
            mode = (0o777 if entry.executable else 0o666) & ~umask
            copy_file(files.whole_path(entry.digest), target, mode)


def _make_parents(folder: Path, made: set[Path], umask: int) -> None:
    missing = []
    while folder not in made:
        missing.append(folder)
        folder = folder.parent
    for directory in reversed(missing):
        os.mkdir(directory, 0o700)
        os.chmod(directory, 0o777 & ~umask)
        made.add(directory)


def copy_file(source: Path, target: Path, mode: int) -> None:
    """A new file at `target` with `source`'s bytes and `mode`, sharing nothing
    writable with it."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(dst, mode)
            size = os.fstat(src).st_size
            if size and not _reflink(src, dst) and not _copy_range(src, dst, size):
                with os.fdopen(os.dup(src), "rb") as reader, os.fdopen(os.dup(dst), "wb") as out:
                    shutil.copyfileobj(reader, out, 1 << 20)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _reflink(src: int, dst: int) -> bool:
    try:
        fcntl.ioctl(dst, FICLONE, src)
    except OSError as exc:
        if exc.errno in _CANNOT:
            return False
        raise
    return True


def _copy_range(src: int, dst: int, size: int) -> bool:
    """Copy in the kernel; False when it cannot here (before any byte was copied)."""
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is None:
        return False
    copied = 0
    while copied < size:
        try:
            n = copy_range(src, dst, size - copied, copied, copied)
        except OSError as exc:
            if copied == 0 and exc.errno in _CANNOT:
                return False
            raise
        if n == 0:
            break  # the source shrank: it cannot, in the store, but never loop
        copied += n
    return True


def is_folder_of(manifest: Manifest, relative: str) -> bool:
    """Whether `relative` is a folder of the snapshot (some file lies under it)."""
    prefix = relative + "/"
    return any(entry.path.startswith(prefix) for entry in manifest.entries)
