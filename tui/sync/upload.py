"""A working tree up to a host as a snapshot: `upload_tree`.

The steps: list the tree (`tui.sync.select`), refuse it when it is too big
(`tui.sync.limits`), hash it (`tui.sync.hash_cache`, in a thread, cached), build
the manifest (`protocol.manifest`), ask the host which blobs it lacks
(``blobs_wanted``, in batches), send those (``put_blobs``), the manifest blob
last, then ``make_snapshot``. A second sync of an unchanged tree sends only the
manifest's question and the snapshot request.

Sending: small blobs travel many to a put (within `MAX_PUT_BYTES`,
`MAX_PUT_PARTS` and the frame); a large one travels in `MAX_PUT_BYTES` parts, in
order, the next part read while the last is in flight. `PARALLEL_PUTS` puts are
in flight at once, each for other blobs, so the host never sees a part before
the one it continues. Each blob starts at what the host already holds of it
(``have``), so a sync cut by a dropped link, or a killed client, continues where
it stopped; a put whose answer was lost is asked again by the session on the next
connection, which is safe because the host skips what it holds.

A file is read only while it is what was hashed (`tui.sync.reading`): one edited
since raises `FileChanged`, never sends other bytes under its digest.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Dict, Iterable, List, Optional, Union

from protocol.errors import ErrorCode
from protocol.jobs import SnapshotInfo
from protocol.limits import MAX_FRAME_BYTES, MAX_PUT_BYTES, MAX_PUT_PARTS, MAX_WANTED_DIGESTS
from protocol.manifest import FileEntry, ManifestError, digest_of, encode_manifest
from protocol.sync import BlobPart, BlobState
from tui.errors import FileChanged, RemoteError, SyncError
from tui.session import HostSession
from tui.sync.hash_cache import HashCache, hash_tree
from tui.sync.limits import SyncLimits, check_limits
from tui.sync.progress import Meter, OnProgress, Progress, ignore_progress
from tui.sync.reading import read_range
from tui.sync.select import LocalFile, Selection, Skipped, select_files
from tui.visible import visible

#: Puts in flight at once.
PARALLEL_PUTS = 4
#: What one part costs in a frame besides its data (digest, sizes, msgpack keys),
#: rounded up; with the envelope's margin it keeps every put inside one frame.
PART_OVERHEAD = 160
FRAME_MARGIN = 4096
#: A blob that comes back short this many times in a row is refused.
MAX_SETBACKS = 3


@dataclass(frozen=True)
class UploadResult:
    """What `upload_tree` made: the snapshot, what the listing left out (to show
    the person), and how much travelled."""

    snapshot: SnapshotInfo
    skipped: List[Skipped]
    files_sent: int
    bytes_sent: int


@dataclass
class _Blob:
    digest: str
    size: int
    read: Callable[[int, int], bytes]  # blocking: (offset, length) -> bytes
    name: str  # for messages: the first file holding it, or "the manifest"
    have: int = 0


async def upload_tree(
    session: HostSession,
    root: Path,
    *,
    limits: Optional[SyncLimits] = None,
    on_progress: OnProgress = ignore_progress,
    cache: Optional[HashCache] = None,
) -> UploadResult:
    """Send the tree at `root` to `session`'s host as a snapshot (see the module
    docstring). `on_progress` gets a `Progress` per phase (``listing``,
    ``hashing``, ``uploading``, ``done``), on the event loop, a few times a second.

    Raises `TreeTooLarge` (over `limits`, before anything is sent), `SyncError`
    (a name that is not UTF-8, an unreadable file, no git where one is needed),
    `FileChanged` (a file edited while being sent: run again), `RemoteError`
    (the host refused: a full disk) and the session's `ConnectError`.
    """
    on_progress(Progress("listing"))
    selection = await asyncio.to_thread(select_files, root)
    check_limits(selection, limits or SyncLimits())
    cache = cache or HashCache(selection.root)
    digests = await hash_tree(selection.root, selection.files, on_progress, cache)
    try:
        return await _send_tree(session, selection, digests, on_progress)
    except _Mismatch as mismatch:
        await asyncio.to_thread(_forget, cache, selection, digests, mismatch.digests)
        raise FileChanged(
            f"the host found that the bytes sent for {mismatch.names} do not match their "
            f"hash ({mismatch.detail}): a file changed after it was hashed, keeping its size "
            "and time; run again and it is hashed anew"
        ) from None


async def _send_tree(
    session: HostSession, selection: Selection, digests: Dict[str, str], on_progress: OnProgress
) -> UploadResult:
    manifest = _manifest(selection, digests)
    manifest_digest = digest_of(manifest)
    blobs = _blobs(selection, digests)
    blobs[manifest_digest] = _Blob(manifest_digest, len(manifest), _slicer(manifest), "manifest")
    for last_try in (False, True):
        wanted = await _wanted(session, list(blobs))
        sending = [_with_have(blobs[s.digest], s) for s in wanted if s.digest in blobs]
        meter = Meter(on_progress, "uploading", len(sending), sum(b.size - b.have for b in sending))
        # The manifest last: once it is whole, everything it names is.
        await _send(session, [b for b in sending if b.digest != manifest_digest], meter)
        await _send(session, [b for b in sending if b.digest == manifest_digest], meter)
        try:
            snapshot = await session.make_snapshot(manifest_digest)
            break
        except RemoteError as exc:
            # A blob the host said it held went in between (collected, or found
            # torn after a power loss): ask again and send what it lacks now.
            if exc.code != ErrorCode.BAD_SNAPSHOT or last_try:
                raise
    sent = meter.finish()
    on_progress(
        Progress("done", sent.files_done, sent.files_total, sent.bytes_done, sent.bytes_total)
    )
    return UploadResult(snapshot, selection.skipped, sent.files_done, sent.bytes_done)


# -- the manifest and its blobs ------------------------------------------------------


def _manifest(selection: Selection, digests: Dict[str, str]) -> bytes:
    entries = [
        FileEntry(path=f.path, kind="link", target=f.target)
        if f.kind == "link"
        else FileEntry(path=f.path, size=f.size, executable=f.executable, digest=digests[f.path])
        for f in selection.files
    ]
    try:
        return encode_manifest(entries)
    except (ManifestError, ValueError) as exc:
        raise SyncError(f"{visible(str(selection.root))} cannot be sent: {exc}") from None


def _reader(root: Path, f: LocalFile) -> Callable[[int, int], bytes]:
    return lambda offset, length: read_range(root, f, offset, length)


def _slicer(data: bytes) -> Callable[[int, int], bytes]:
    return lambda offset, length: data[offset : offset + length]


def _blobs(selection: Selection, digests: Dict[str, str]) -> Dict[str, _Blob]:
    """One blob per distinct content, read from the first file holding it."""
    blobs: Dict[str, _Blob] = {}
    for f in selection.files:
        if f.kind == "file" and digests[f.path] not in blobs:
            digest = digests[f.path]
            blobs[digest] = _Blob(digest, f.size, _reader(selection.root, f), f.path)
    return blobs


def _forget(
    cache: HashCache, selection: Selection, digests: Dict[str, str], wrong: List[str]
) -> None:
    for f in selection.files:
        if digests.get(f.path) in wrong:
            cache.forget(f.path)
    cache.save()


def _with_have(blob: _Blob, state: BlobState) -> _Blob:
    blob.have = min(state.have, blob.size)
    return blob


async def _wanted(session: HostSession, digests: List[str]) -> List[BlobState]:
    missing: List[BlobState] = []
    for start in range(0, len(digests), MAX_WANTED_DIGESTS):
        missing.extend(await session.blobs_wanted(digests[start : start + MAX_WANTED_DIGESTS]))
    return missing


# -- sending -------------------------------------------------------------------------


def _packs(blobs: Iterable[_Blob]) -> List[List[_Blob]]:
    """Blobs whose rest fits one put, grouped so each group is one put."""
    packs: List[List[_Blob]] = []
    current: List[_Blob] = []
    data = 0
    for blob in blobs:
        rest = blob.size - blob.have
        fits = (
            data + rest <= MAX_PUT_BYTES
            and len(current) < MAX_PUT_PARTS
            and data + rest + PART_OVERHEAD * (len(current) + 1) <= MAX_FRAME_BYTES - FRAME_MARGIN
        )
        if current and not fits:
            packs.append(current)
            current, data = [], 0
        current.append(blob)
        data += rest
    if current:
        packs.append(current)
    return packs


Unit = Union[List[_Blob], _Blob]


async def _send(session: HostSession, blobs: List[_Blob], meter: Meter) -> None:
    """Every blob of `blobs` whole on the host, `PARALLEL_PUTS` puts at a time."""
    large = [b for b in blobs if b.size - b.have > MAX_PUT_BYTES]
    small = [b for b in blobs if b.size - b.have <= MAX_PUT_BYTES]
    units: List[Unit] = [*large, *_packs(small)]
    units.reverse()  # popped from the end: large blobs first

    async def worker() -> None:
        while units:
            unit = units.pop()
            if isinstance(unit, list):
                await _send_pack(session, unit, meter)
            else:
                await _send_large(session, unit, meter)

    await _all_or_none([worker() for _ in range(min(PARALLEL_PUTS, len(units)))])


async def _all_or_none(coros: List[Awaitable[None]]) -> None:
    """Run `coros` as tasks; the first failure cancels the others and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Mismatch(Exception):
    """The host refused the bytes of these blobs: they do not hash to their names."""

    def __init__(self, blobs: List[_Blob], detail: str) -> None:
        self.digests = [b.digest for b in blobs]
        self.names = ", ".join(visible(b.name) for b in blobs[:3]) + (
            f" (or one of {len(blobs) - 3} more files)" if len(blobs) > 3 else ""
        )
        self.detail = detail


async def _put(session: HostSession, parts: List[BlobPart], blobs: List[_Blob]) -> Dict[str, int]:
    """What the host holds of each blob after the put, by digest."""
    try:
        held = await session.put_blobs(parts)
    except RemoteError as exc:
        if exc.code is ErrorCode.BAD_REQUEST:
            raise _Mismatch(blobs, str(exc)) from None
        raise
    return {s.digest: s.have for s in held}


def _setback(blob: _Blob) -> SyncError:
    return SyncError(
        f"the host did not keep {visible(blob.name)} after it was sent {MAX_SETBACKS} times "
        "(its bytes do not match its hash: was it edited during the sync?); run again"
    )


def _rests(pack: List[_Blob]) -> List[BlobPart]:
    """A part per blob: all of it from what the host holds."""
    return [
        BlobPart(digest=b.digest, size=b.size, offset=b.have, data=b.read(b.have, b.size - b.have))
        for b in pack
    ]


async def _send_pack(session: HostSession, pack: List[_Blob], meter: Meter) -> None:
    setbacks = 0
    while pack:
        parts = await asyncio.to_thread(_rests, pack)
        held = await _put(session, parts, pack)
        unfinished: List[_Blob] = []
        for blob, part in zip(pack, parts):
            now = min(held.get(blob.digest, 0), blob.size)
            meter.add(1 if now == blob.size else 0, max(now - blob.have, 0))
            if now < part.offset + len(part.data):
                setbacks += 1
            blob.have = now
            if now < blob.size:
                unfinished.append(blob)
        if setbacks > MAX_SETBACKS and unfinished:
            raise _setback(unfinished[0])
        pack = unfinished


async def _send_large(session: HostSession, blob: _Blob, meter: Meter) -> None:
    setbacks = 0
    offset = blob.have
    ahead = asyncio.ensure_future(_read_part(blob, offset))
    try:
        while blob.have < blob.size:
            data = await ahead
            if offset != blob.have:  # the host holds another amount than expected
                offset = blob.have
                data = await _read_part(blob, offset)
            following = offset + len(data)
            if following < blob.size:
                ahead = asyncio.ensure_future(_read_part(blob, following))
            part = BlobPart(digest=blob.digest, size=blob.size, offset=offset, data=data)
            held = await _put(session, [part], [blob])
            now = min(held.get(blob.digest, 0), blob.size)
            meter.add(1 if now == blob.size else 0, max(now - blob.have, 0))
            if now < following:
                setbacks += 1
                if setbacks > MAX_SETBACKS:
                    raise _setback(blob)
            blob.have = now
            offset = following
    finally:
        ahead.cancel()
        await asyncio.gather(ahead, return_exceptions=True)


async def _read_part(blob: _Blob, offset: int) -> bytes:
    return await asyncio.to_thread(blob.read, offset, min(MAX_PUT_BYTES, blob.size - offset))
