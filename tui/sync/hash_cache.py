"""The sha256 of each file of a tree, remembered between syncs.

A file whose path, size, mtime (in ns), inode and device are what they were when
it was last hashed is not read again: a 10,000-file tree that did not change
costs 10,000 ``lstat`` calls, not 10,000 reads. The cache is one file per tree
under ``$XDG_CACHE_HOME/tether/hashes/`` (``~/.cache`` by default), mode 0600,
written atomically, and keeps only the files the last sync saw.

A file written in the same moment it was hashed (its mtime within
`RACY_WINDOW_NS` of the hash) is not remembered: a second write in that moment
could keep the same size and mtime (git calls these entries "racily clean").

Hashing blocks: `hash_tree` runs it in a worker thread and reports progress on
the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import msgpack

from tui.cache_file import cache_home
from tui.sync.progress import Meter, OnProgress
from tui.sync.reading import open_unchanged
from tui.sync.select import LocalFile

#: Bytes read at a time while hashing.
READ_BYTES = 1024 * 1024
#: A file modified this close to its hashing is hashed again next time.
RACY_WINDOW_NS = 2 * 10**9
CACHE_VERSION = 1

Key = Tuple[int, int, int, int]


def _key(f: LocalFile) -> Key:
    return (f.size, f.mtime_ns, f.inode, f.device)


class HashCache:
    """Digests of one tree's files by (path, size, mtime, inode, device)."""

    def __init__(self, root: Path, directory: Optional[Path] = None) -> None:
        name = hashlib.sha256(os.fsencode(os.path.abspath(root))).hexdigest()[:32]
        self.path = (directory or cache_home() / "hashes") / f"{name}.msgpack"
        self._old: Dict[str, Tuple[Key, str]] = self._load()
        self._new: Dict[str, Tuple[Key, str]] = {}

    def _load(self) -> Dict[str, Tuple[Key, str]]:
        """The saved entries; a missing or damaged cache is an empty one."""
        try:
            raw = msgpack.unpackb(self.path.read_bytes(), raw=False)
            if raw.get("version") != CACHE_VERSION:
                return {}
            return {path: (tuple(key), digest) for path, (key, digest) in raw["files"].items()}
        except FileNotFoundError:
            return {}
        except Exception:  # damage of any kind (msgpack raises unrelated types)
            return {}

    def lookup(self, f: LocalFile) -> Optional[str]:
        """The digest of `f` if it has not changed since it was hashed."""
        entry = self._old.get(f.path)
        if entry is None or entry[0] != _key(f):
            return None
        self._new[f.path] = entry
        return entry[1]

    def forget(self, path: str) -> None:
        """Hash `path` again next time (its bytes were found not to match)."""
        self._new.pop(path, None)

    def store(self, f: LocalFile, digest: str, hashed_at_ns: int) -> None:
        if hashed_at_ns - f.mtime_ns > RACY_WINDOW_NS:
            self._new[f.path] = (_key(f), digest)

    def save(self) -> None:
        """Write the entries seen in this sync (best effort: a cache that cannot be
        written costs the next sync a reread, nothing else)."""
        body = {
            "version": CACHE_VERSION,
            "files": {path: [list(key), digest] for path, (key, digest) in self._new.items()},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".hashes-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(msgpack.packb(body, use_bin_type=True))
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass


def hash_file(root: Path, f: LocalFile) -> str:
    """The sha256 of `f`'s bytes, refusing a file that changed since it was listed
    (`FileChanged`) or cannot be read (`SyncError`, naming it)."""
    digest = hashlib.sha256()
    with open_unchanged(root, f) as source:
        while True:
            block = source.read(READ_BYTES)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def _hash_all(
    root: Path,
    files: List[LocalFile],
    cache: HashCache,
    report: Optional[asyncio.AbstractEventLoop],
    meter: Meter,
) -> Dict[str, str]:
    digests: Dict[str, str] = {}
    for f in files:
        known = cache.lookup(f)
        if known is None:
            now = time.time_ns()
            known = hash_file(root, f)
            cache.store(f, known, now)
        digests[f.path] = known
        if report is not None:
            report.call_soon_threadsafe(meter.add, 1, f.size)
    return digests


async def hash_tree(
    root: Path, files: List[LocalFile], on_progress: OnProgress, cache: Optional[HashCache] = None
) -> Dict[str, str]:
    """Path -> sha256 of every regular file of `files`, read in a worker thread
    only where the cache does not know the file as it is now; saves the cache."""
    regular = [f for f in files if f.kind == "file"]
    cache = cache or HashCache(root)
    meter = Meter(on_progress, "hashing", len(regular), sum(f.size for f in regular))
    loop = asyncio.get_running_loop()
    digests = await asyncio.to_thread(_hash_all, root, regular, cache, loop, meter)
    await asyncio.to_thread(cache.save)
    await asyncio.sleep(0)  # let the last progress callbacks run
    meter.finish()
    return digests


__all__ = ["HashCache", "cache_home", "hash_file", "hash_tree"]
