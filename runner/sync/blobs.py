"""Blobs on disk: whole ones by digest, partial uploads beside them.

A blob counts as whole only once its bytes hash to its name: it is written into
``partial/<digest>``, appended to at the offset the host holds (so a cut upload
continues there), hashed, and only then renamed to ``blobs/<xx>/<digest>``. A
crash, a full disk or a wrong digest can leave a partial upload, never a whole
blob with the wrong bytes. Every file is 0600 and every folder 0700.

Blobs are not fsynced one by one: at 2 ms a file, a 5,000-file tree would spend
ten seconds on it. A runner killed keeps every byte it wrote (the page cache
outlives it); only a machine that loses power can lose the last seconds, and
then a blob comes back short or empty under its name. `sized_touch` catches
that where it matters, before a snapshot is made of it: a blob whose size is
not the manifest's is dropped and asked for again.

Plain blocking functions: the store (`runner.sync.store`) calls them in threads
and makes sure no two calls for one digest run at once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator, Optional, Tuple

from protocol.errors import ErrorCode
from protocol.socket_path import make_private_dirs, open_private
from runner.errors import RunnerError

_HASH_CHUNK = 1 << 20


def short(digest: str) -> str:
    """A digest as a person reads it in a message."""
    return digest[:12]


class BlobFiles:
    """Where the store's files lie under `root` (the runner's ``store`` folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.partial = root / "partial"
        self.snapshots = root / "snapshots"

    def ensure(self) -> None:
        for directory in (self.root, self.blobs, self.partial, self.snapshots):
            make_private_dirs(directory)

    def whole_path(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    def partial_path(self, digest: str) -> Path:
        return self.partial / digest

    def marker_path(self, digest: str) -> Path:
        return self.snapshots / digest

    def whole_size(self, digest: str) -> Optional[int]:
        """The size of blob `digest` if it is stored whole, else None."""
        try:
            return os.stat(self.whole_path(digest)).st_size
        except FileNotFoundError:
            return None

    def held(self, digest: str) -> int:
        """Bytes of a blob that is not whole yet: what a partial upload holds."""
        try:
            return os.stat(self.partial_path(digest)).st_size
        except FileNotFoundError:
            return 0

    def touch(self, digest: str) -> bool:
        """Mark a whole blob as just used (a collection keeps it a while); False
        when it is not stored whole."""
        try:
            os.utime(self.whole_path(digest))
        except FileNotFoundError:
            return False
        return True

    def sized_touch(self, digest: str, size: int) -> bool:
        """`touch` for a blob the manifest says has `size` bytes: one stored with
        another size (torn by a power loss) is removed and counts as missing."""
        whole = self.whole_size(digest)
        if whole is None:
            return False
        if whole != size:
            self.whole_path(digest).unlink(missing_ok=True)
            return False
        return self.touch(digest)

    def read_whole(self, digest: str) -> bytes:
        with open(self.whole_path(digest), "rb") as f:
            return f.read()

    def whole_blobs(self) -> Iterator[Tuple[str, os.stat_result]]:
        """Every whole blob, by digest, with its stat."""
        for shard in _scan(self.blobs):
            if shard.is_dir(follow_symlinks=False):
                for entry in _scan(Path(shard.path)):
                    yield entry.name, entry.stat(follow_symlinks=False)

    def partial_blobs(self) -> Iterator[Tuple[str, os.stat_result]]:
        for entry in _scan(self.partial):
            yield entry.name, entry.stat(follow_symlinks=False)

    def write_part(self, digest: str, size: int, offset: int, data: bytes) -> int:
        """Write a part of blob `digest` (`size` bytes in all) and return the
        bytes held of it after. A part already held is skipped, an overlapping one
        adds only its new bytes, one starting past what is held is left out (the
        answer says where to go on). The last byte makes the blob whole, or
        refuses it when its bytes do not hash to `digest`."""
        end = offset + len(data)
        if end > size:
            raise RunnerError(
                f"a part of blob {short(digest)} ends at byte {end}, past the blob's "
                f"size of {size} bytes",
                ErrorCode.BAD_REQUEST,
            )
        whole = self.whole_size(digest)
        if whole is not None:
            return whole
        if offset == 0 and len(data) == size:
            return self._whole_in_one(digest, data)
        fd = self._open_partial(digest, create=offset == 0)
        if fd is None:
            return 0
        try:
            have = os.fstat(fd).st_size
            if have > size:
                raise RunnerError(
                    f"blob {short(digest)} is said to have {size} bytes, but {have} "
                    "were already received for it: the two uploads disagree",
                    ErrorCode.BAD_REQUEST,
                )
            if offset > have:
                return have
            fresh = memoryview(data)[have - offset :]
            if fresh:
                _write_at(fd, fresh, have)
                have += len(fresh)
            if have == size:
                self._finish(fd, digest)
            return have
        finally:
            os.close(fd)

    def _open_partial(self, digest: str, create: bool) -> Optional[int]:
        path = self.partial_path(digest)
        flags = os.O_RDWR | os.O_CLOEXEC
        if create:
            return open_private(path, flags)
        try:
            return os.open(path, flags | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None

    def _whole_in_one(self, digest: str, data: bytes) -> int:
        """A blob sent in one part (most files of a tree): checked in memory
        before a byte is written, so it is never read back to be hashed."""
        self._check(digest, hashlib.sha256(data).hexdigest())
        fd = open_private(self.partial_path(digest), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            _write_at(fd, memoryview(data), 0)
        finally:
            os.close(fd)
        self._keep(digest)
        return len(data)

    def _finish(self, fd: int, digest: str) -> None:
        """Make the partial upload in `fd` the whole blob, if its bytes are right."""
        self._check(digest, _sha256(fd))
        self._keep(digest)

    def _check(self, digest: str, actual: str) -> None:
        if actual != digest:
            self.partial_path(digest).unlink(missing_ok=True)
            raise RunnerError(
                f"the bytes sent for blob {short(digest)} hash to {short(actual)}, not to "
                "its name, so they were not kept (did the file change while it was "
                "sent?): send it again",
                ErrorCode.BAD_REQUEST,
            )

    def _keep(self, digest: str) -> None:
        target = self.whole_path(digest)
        make_private_dirs(target.parent)
        os.rename(self.partial_path(digest), target)


def _write_at(fd: int, data: memoryview, offset: int) -> None:
    """All of `data` at `offset`. A disk that fills part-way keeps the bytes it
    took (a short write), which are the blob's own in order: the upload goes on
    from there once there is room."""
    written = 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], offset + written)


def _sha256(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while True:
        chunk = os.pread(fd, _HASH_CHUNK, offset)
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)
        offset += len(chunk)


def _scan(path: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            yield from list(entries)
    except FileNotFoundError:
        return
