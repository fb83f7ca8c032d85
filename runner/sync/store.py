"""The snapshot store of one runner: what the sync requests and the job table use.

Under the state dir (0700 folders, 0600 files)::

    store/blobs/<xx>/<digest>   whole blobs, their sha256 checked
    store/partial/<digest>      uploads under way (the bytes held so far)
    store/snapshots/<id>        a mark per snapshot made; its mtime: last used
    work/<name>                 each synced job's private copy: its working tree

Every file operation runs in a thread, so the event loop keeps serving other
clients while a large file arrives or a tree is copied; uploads of one blob are
taken one at a time (two clients sending the same file); and a collection never
overlaps an upload or a copy (`runner.sync.gate`). A full disk is answered with
`runner.disk_space`'s sentence and leaves no half-made tree; an upload it cuts
keeps the bytes it confirmed and no blob counted whole.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import (
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from protocol.errors import ErrorCode
from protocol.jobs import SnapshotInfo
from protocol.limits import SNAPSHOT_KEEP_DAYS
from protocol.manifest import Manifest, ManifestError, check_relative_path
from protocol.socket_path import make_private_dirs
from protocol.sync import BlobPart, BlobState
from runner.disk_space import full_error
from runner.errors import RunnerError
from runner.paths import RunnerPaths
from runner.sync.blobs import BlobFiles, short
from runner.sync.collect import PARTIAL_TREE_PREFIX, Garbage, Usage, collect, remove_tree
from runner.sync.copy import is_folder_of, make_tree
from runner.sync.gate import StoreGate
from runner.sync.manifests import check_complete, read_manifest
from runner.sync.outputs import DigestCache
from runner.tasks import Health, TaskSet

log = logging.getLogger(__name__)

KEEP_DAYS_VAR = "TETHER_SNAPSHOT_KEEP_DAYS"
#: How often the runner collects the store's garbage by itself, and the first time.
COLLECT_EVERY_S = 3600.0
COLLECT_FIRST_S = 300.0
COLLECTION = "the snapshot store's collection"
#: Decoded manifests kept for the next submit of the same snapshot, by entries in all.
_CACHED_ENTRIES = 300_000
_DAY_S = 24 * 3600.0

#: What the job table tells a collection: which snapshots are used by jobs active
#: or ended since the time given, and every job's copy.
UsageQuery = Callable[[float], Awaitable[Usage]]


def keep_days_from_env(environ: Mapping[str, str] = os.environ) -> float:
    """The keep period the runner was started with (``TETHER_SNAPSHOT_KEEP_DAYS``)."""
    raw = environ.get(KEEP_DAYS_VAR)
    if raw is None:
        return float(SNAPSHOT_KEEP_DAYS)
    try:
        days = float(raw)
    except ValueError:
        days = -1.0
    if not days >= 0:
        raise RunnerError(f"{KEEP_DAYS_VAR}={raw!r} is not a number of days (0 or more)")
    return days


@dataclass
class Tree:
    """A job's private copy of a snapshot, while its job is being recorded."""

    root: Path
    #: Where the job starts: `root`, or a folder inside it.
    cwd: Path
    snapshot: SnapshotInfo
    #: Set once a job owns the copy; a copy no job claimed is removed.
    claimed: bool = False


class SyncStore:
    def __init__(self, paths: RunnerPaths, keep_days: float = SNAPSHOT_KEEP_DAYS) -> None:
        self.paths = paths
        self.files = BlobFiles(paths.store_dir)
        self.keep_days = keep_days
        #: Digests of job files already hashed, for listing outputs.
        self.digests = DigestCache()
        self._gate = StoreGate()
        #: Per digest being written: its lock and how many hold or wait for it.
        self._writing: Dict[str, Tuple[asyncio.Lock, List[int]]] = {}
        self._manifests: collections.OrderedDict[str, Manifest] = collections.OrderedDict()
        self._usage: Optional[UsageQuery] = None
        self._tasks = TaskSet("sync")

    async def start(self, usage: UsageQuery, health: Health, collect_every_s: float) -> None:
        """Create the store's folders and start collecting every `collect_every_s`."""
        self._usage = usage
        await asyncio.to_thread(self._ensure)
        self._tasks.supervise(COLLECTION, lambda: self._collect_forever(collect_every_s), health)

    async def close(self) -> None:
        await self._tasks.close()

    def _ensure(self) -> None:
        self.files.ensure()
        make_private_dirs(self.paths.work_dir)

    # -- uploads -------------------------------------------------------------------

    async def wanted(self, digests: Sequence[str]) -> List[BlobState]:
        """The blobs of `digests` not stored whole, each with the bytes held of it.
        Those stored are marked as used, so a collection keeps them for the
        snapshot about to name them."""

        def look() -> List[BlobState]:
            missing: List[BlobState] = []
            for digest in dict.fromkeys(digests):
                if not self.files.touch(digest):
                    missing.append(BlobState(digest=digest, have=self.files.held(digest)))
            return missing

        async with self._gate.shared():
            return await asyncio.to_thread(look)

    async def put(self, parts: Sequence[BlobPart]) -> List[BlobState]:
        """Store `parts` in order; what is held of each blob after, once per blob."""
        async with self._gate.shared(), contextlib.AsyncExitStack() as locks:
            for digest in sorted({part.digest for part in parts}):  # one order: no deadlock
                await locks.enter_async_context(self._lock_for(digest))
            # One thread hop for the whole put: a put of 3,000 small files is one.
            held = await asyncio.to_thread(self._write_all, parts)
        return [BlobState(digest=digest, have=have) for digest, have in held.items()]

    def _write_all(self, parts: Sequence[BlobPart]) -> Dict[str, int]:
        held: Dict[str, int] = {}
        for part in parts:
            try:
                held[part.digest] = self.files.write_part(
                    part.digest, part.size, part.offset, part.data
                )
            except OSError as exc:
                raise self._disk_error(exc) from exc
        return held

    @contextlib.asynccontextmanager
    async def _lock_for(self, digest: str) -> AsyncIterator[None]:
        # Dropped when the last holder or waiter leaves, not when the lock is merely
        # free: a waiter woken but not yet running still needs this same lock.
        lock, users = self._writing.setdefault(digest, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._writing[digest]

    # -- snapshots -----------------------------------------------------------------

    async def make_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        """The snapshot of manifest `snapshot_id`, once every file it names is
        stored whole; making it again answers the same."""
        async with self._gate.shared():
            manifest = await self.manifest(snapshot_id)
            return await self._complete(snapshot_id, manifest)

    async def manifest(self, snapshot_id: str) -> Manifest:
        """The snapshot's manifest, decoded (in a thread) and checked."""
        cached = self._manifests.get(snapshot_id)
        if cached is not None:
            self._manifests.move_to_end(snapshot_id)
            return cached
        manifest = await asyncio.to_thread(read_manifest, self.files, snapshot_id)
        self._manifests[snapshot_id] = manifest
        while len(self._manifests) > 1 and _entries(self._manifests) > _CACHED_ENTRIES:
            self._manifests.popitem(last=False)
        return manifest

    async def _complete(self, snapshot_id: str, manifest: Manifest) -> SnapshotInfo:
        try:
            return await asyncio.to_thread(check_complete, self.files, snapshot_id, manifest)
        except OSError as exc:
            raise self._disk_error(exc) from exc

    @contextlib.asynccontextmanager
    async def materialized(
        self, snapshot_id: str, cwd: Optional[str], umask: int
    ) -> AsyncIterator[Tree]:
        """A fresh private copy of the snapshot for one job, starting in `cwd`
        (relative to the snapshot's root). The copy is removed again unless the
        body claims it (`Tree.claimed`), so a submit that fails or finds an
        earlier job leaves none behind. No collection runs meanwhile."""
        relative = _relative_cwd(cwd, snapshot_id)
        async with self._gate.shared():
            manifest = await self.manifest(snapshot_id)
            if relative and not is_folder_of(manifest, relative):
                raise RunnerError(
                    f"working directory {relative!r} is not a folder of snapshot "
                    f"{short(snapshot_id)}",
                    ErrorCode.BAD_CWD,
                )
            info = await self._complete(snapshot_id, manifest)
            try:
                root = await asyncio.to_thread(
                    _copy, self.files, manifest, self.paths.work_dir, umask
                )
            except OSError as exc:
                raise self._disk_error(exc) from exc
            tree = Tree(root=root, cwd=root / relative if relative else root, snapshot=info)
            try:
                yield tree
            finally:
                if not tree.claimed:
                    await asyncio.to_thread(remove_tree, root)

    # -- collecting ----------------------------------------------------------------

    async def collect(self, dry_run: bool, keep_days: Optional[float] = None) -> Garbage:
        """Remove (or, on a dry run, count) what no job active or ended within
        `keep_days` (default: the runner's setting) uses."""
        assert self._usage is not None, "collect only once started"
        keep_s = (self.keep_days if keep_days is None else keep_days) * _DAY_S
        async with self._gate.alone():
            now = time.time()
            usage = await self._usage(now - keep_s)
            garbage = await asyncio.to_thread(
                collect,
                self.files,
                self.paths.work_dir,
                usage,
                self._stored_manifest,
                keep_s,
                now,
                dry_run,
            )
        if not dry_run:
            self._manifests.clear()  # a manifest collected must be sent again to be used
        return garbage

    def _stored_manifest(self, snapshot_id: str) -> Optional[Manifest]:
        try:
            return read_manifest(self.files, snapshot_id)
        except RunnerError:
            return None

    async def _collect_forever(self, every_s: float) -> None:
        await asyncio.sleep(min(COLLECT_FIRST_S, every_s))
        while True:
            garbage = await self.collect(dry_run=False)
            if garbage.snapshots or garbage.blobs or garbage.bytes:
                log.info(
                    "collected %d snapshot(s) and %d stored file(s), %d bytes, no job used",
                    garbage.snapshots,
                    garbage.blobs,
                    garbage.bytes,
                )
            await asyncio.sleep(every_s)

    def _disk_error(self, exc: OSError) -> Exception:
        return full_error(exc, self.paths.state_dir) or exc


def _copy(files: BlobFiles, manifest: Manifest, work_dir: Path, umask: int) -> Path:
    """Make the copy under a name that says it is unfinished, then give it its
    own: a copy cut short (a full disk) is removed here, or after a crash by the
    next collection."""
    name = uuid.uuid4().hex
    partial = work_dir / f"{PARTIAL_TREE_PREFIX}{name}"
    root = work_dir / name
    try:
        make_tree(files, manifest, partial, umask)
        os.rename(partial, root)
    except BaseException:
        remove_tree(partial)
        raise
    return root


def _relative_cwd(cwd: Optional[str], snapshot_id: str) -> str:
    """`cwd` as a folder inside the snapshot ('' for its root), or BAD_CWD."""
    if cwd is None or cwd in ("", ".", "./"):
        return ""
    cleaned = cwd[2:] if cwd.startswith("./") else cwd
    try:
        return check_relative_path(cleaned.rstrip("/"))
    except ManifestError as exc:
        raise RunnerError(
            f"working directory {cwd!r} must be a folder inside snapshot "
            f"{short(snapshot_id)}, relative to its root: {exc}",
            ErrorCode.BAD_CWD,
        ) from None


def _entries(manifests: Mapping[str, Manifest]) -> int:
    return sum(len(m.entries) for m in manifests.values())
