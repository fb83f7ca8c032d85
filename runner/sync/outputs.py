"""A job's outputs: the files of its working directory that `tether pull` copies.

Listing walks the folder without ever following a symlink (one that points out
of the tree is never listed, and a path asked for whose real place lies outside
is refused), in path order, so that a listing can be paged by the last path seen
(`after`) and subtrees wholly before it are not even read. What counts as an
output when no paths are given: for a job in a snapshot, every file its copy did
not start with, or holds changed (a different size, else a different sha256);
for another job, every file written since it started.

Reading opens one file so that it provably lies inside the working directory:
each folder of the path is opened relative to the one before with
``O_NOFOLLOW``, so no symlink, and no folder swapped for one while reading, can
lead out. Blocking functions, called in threads.
"""

from __future__ import annotations

import errno
import hashlib
import heapq
import itertools
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from protocol.errors import ErrorCode
from protocol.limits import MAX_PATH_CHARS
from protocol.manifest import FileEntry, Manifest
from protocol.sync import OutputFile
from runner.errors import RunnerError

#: File times come from a clock that lags the one a job's start is read from by
#: up to a tick: a file written at once may look a little older than the job.
MTIME_SLACK_S = 0.02
_HASH_CHUNK = 1 << 20
_CACHE_MAX = 200_000

Found = Tuple[str, os.stat_result]


@dataclass(frozen=True)
class JobTree:
    """What listing a job's outputs needs to know of the job."""

    job_id: int
    #: The job's working directory.
    root: Path
    #: For a job in a snapshot: its files by path relative to `root`.
    started_with: Optional[Mapping[str, FileEntry]] = None
    #: For another job: when it started (files older than that are not outputs).
    since: Optional[float] = None

    @property
    def label(self) -> str:
        return f"job {self.job_id}'s working directory"


def started_in(job_id: int, root: Path, manifest: Manifest, folder: Optional[str]) -> JobTree:
    """A job in a snapshot, started in `root`, its copy's `folder` (None: the copy's
    root): the manifest's files seen from there."""
    prefix = "" if folder is None else folder + "/"
    started_with = {
        entry.path[len(prefix) :]: entry
        for entry in manifest.entries
        if entry.path.startswith(prefix)
    }
    return JobTree(job_id=job_id, root=root, started_with=started_with)


class DigestCache:
    """sha256 of files by (path, size, mtime, inode): a file that did not change
    is not read again at the next listing (`tether pull -f` lists often)."""

    def __init__(self) -> None:
        self._known: Dict[Tuple[str, int, int, int], str] = {}

    def digest(self, path: str, info: os.stat_result) -> str:
        key = (path, info.st_size, info.st_mtime_ns, info.st_ino)
        known = self._known.get(key)
        if known is None:
            known = _sha256_file(path)
            if len(self._known) >= _CACHE_MAX:
                self._known.clear()
            self._known[key] = known
        return known


def list_outputs(
    job: JobTree, paths: Sequence[str], after: Optional[str], limit: int, cache: DigestCache
) -> Tuple[List[OutputFile], bool]:
    """The first `limit` outputs after `after`, and whether more follow."""
    root = _real_root(job)
    if paths:
        streams = [_under(job, root, path, after) for path in paths]
        found: Iterator[Found] = _unique(heapq.merge(*streams, key=lambda f: f[0]))
    else:
        found = (f for f in _walk(root, "", after) if _is_output(job, root, f, cache))
    page = list(itertools.islice(found, limit + 1))
    files = [output_file(path, info) for path, info in page[:limit]]
    return files, len(page) > limit


def read_output(
    job: JobTree, path: str, offset: int, max_bytes: int
) -> Tuple[bytes, os.stat_result]:
    """Up to `max_bytes` of the file at `path` (relative, checked by the protocol)
    from `offset`, and its stat now."""
    folder = _open_root(job)
    try:
        for part in path.split("/")[:-1]:
            inner = _open_step(job, path, part, folder, os.O_DIRECTORY)
            os.close(folder)
            folder = inner
        fd = _open_step(job, path, path.rsplit("/", 1)[-1], folder, os.O_NONBLOCK)
    finally:
        os.close(folder)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunnerError(f"{path!r} in {job.label} is not a regular file", ErrorCode.BAD_PATH)
        data = os.pread(fd, max_bytes, offset) if offset < info.st_size else b""
        return data, info
    finally:
        os.close(fd)


# -- listing ---------------------------------------------------------------------


def _real_root(job: JobTree) -> Path:
    if not job.root.is_dir():
        raise RunnerError(f"{job.label} {job.root} is no longer there", ErrorCode.BAD_PATH)
    return Path(os.path.realpath(job.root))


def _under(job: JobTree, root: Path, path: str, after: Optional[str]) -> Iterator[Found]:
    """The files at or under `path`, checked first (so a bad path is refused even
    when its listing would be empty)."""
    full = root / path
    if not os.path.lexists(full):
        raise RunnerError(f"there is no {path!r} in {job.label}", ErrorCode.BAD_PATH)
    real = Path(os.path.realpath(full))
    if real != root and root not in real.parents:
        raise RunnerError(
            f"{path!r} leads out of {job.label} (through a symbolic link, to {real}): "
            "only what lies inside it can be pulled",
            ErrorCode.BAD_PATH,
        )
    relative = "" if real == root else str(real.relative_to(root))
    info = os.stat(real)
    if stat.S_ISDIR(info.st_mode):
        return _walk(root, relative, after)
    if not stat.S_ISREG(info.st_mode):
        raise RunnerError(f"{path!r} in {job.label} is not a file or folder", ErrorCode.BAD_PATH)
    return iter([(relative, info)] if after is None or relative > after else [])


def _walk(root: Path, folder: str, after: Optional[str]) -> Iterator[Found]:
    """Regular files under `folder` (relative to `root`) after `after`, in path
    order, never through a symlink. Folders sort as ``name/`` so that visiting
    them in turn gives the files in the order of their whole paths. A stack, not
    recursion: a job may nest folders deeper than Python recurses."""
    stack: List[Iterator[Tuple[str, bool, os.DirEntry[str]]]] = [_sorted(root, folder)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        key, is_folder, entry = item
        if is_folder:
            if after is None or key > after or after.startswith(key):
                stack.append(_sorted(root, key[:-1]))
        elif after is None or key > after:
            try:
                yield key, entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while listing


def _sorted(root: Path, folder: str) -> Iterator[Tuple[str, bool, os.DirEntry[str]]]:
    """The files and folders in `folder`, by their sort key (folders end in /)."""
    try:
        with os.scandir(root / folder if folder else root) as scan:
            entries = list(scan)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return iter(())
    keyed: List[Tuple[str, bool, os.DirEntry[str]]] = []
    for entry in entries:
        path = f"{folder}/{entry.name}" if folder else entry.name
        if not _sendable(path):
            continue
        if entry.is_dir(follow_symlinks=False):
            keyed.append((path + "/", True, entry))
        elif entry.is_file(follow_symlinks=False):
            keyed.append((path, False, entry))
    keyed.sort(key=lambda item: item[0])
    return iter(keyed)


def _sendable(path: str) -> bool:
    """Whether a path can travel: valid UTF-8 (a name of other bytes cannot be a
    wire string) and within the protocol's length."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return len(path) <= MAX_PATH_CHARS


def _unique(found: Iterator[Found]) -> Iterator[Found]:
    last: Optional[str] = None
    for item in found:
        if item[0] != last:
            last = item[0]
            yield item


def _is_output(job: JobTree, root: Path, found: Found, cache: DigestCache) -> bool:
    path, info = found
    if job.started_with is None:
        return job.since is None or info.st_mtime >= job.since - MTIME_SLACK_S
    entry = job.started_with.get(path)
    if entry is None or entry.kind != "file":
        return True
    if entry.size != info.st_size:
        return True
    try:
        return cache.digest(str(root / path), info) != entry.digest
    except FileNotFoundError:
        return False  # removed while listing


def output_file(path: str, info: os.stat_result) -> OutputFile:
    return OutputFile(
        path=path,
        size=info.st_size,
        mtime=info.st_mtime,
        executable=bool(info.st_mode & stat.S_IXUSR),
    )


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_HASH_CHUNK)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


# -- reading ---------------------------------------------------------------------


def _open_root(job: JobTree) -> int:
    try:
        return os.open(job.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise RunnerError(
            f"{job.label} {job.root} is no longer there", ErrorCode.BAD_PATH
        ) from None


def _open_step(job: JobTree, path: str, name: str, folder: int, flags: int) -> int:
    """Open `name` in the folder `folder`, never through a symlink."""
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags, dir_fd=folder)
    except FileNotFoundError:
        raise RunnerError(f"there is no {path!r} in {job.label}", ErrorCode.BAD_PATH) from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise RunnerError(
                f"{path!r} in {job.label} goes through a symbolic link or is not a file: "
                "only files that lie inside it can be pulled",
                ErrorCode.BAD_PATH,
            ) from None
        raise
