"""A snapshot is a manifest blob whose every file blob is stored whole.

Making one checks exactly that, and leaves a mark (``snapshots/<id>``, its mtime
the last time the snapshot was made or used) so a collection knows which
manifests are snapshots and how recently they were wanted. Blocking functions,
called in threads by the store.
"""

from __future__ import annotations

import os
from typing import List

from protocol.errors import ErrorCode
from protocol.jobs import SnapshotInfo
from protocol.manifest import FileEntry, Manifest, ManifestError, decode_manifest
from protocol.socket_path import open_private
from runner.errors import RunnerError
from runner.sync.blobs import BlobFiles, short


def read_manifest(files: BlobFiles, snapshot_id: str) -> Manifest:
    """The manifest stored whole as blob `snapshot_id`, checked entry by entry."""
    try:
        data = files.read_whole(snapshot_id)
    except FileNotFoundError:
        raise RunnerError(
            f"snapshot {short(snapshot_id)}'s manifest is not stored whole on this host: "
            "send it (and the files it names) first",
            ErrorCode.BAD_SNAPSHOT,
        ) from None
    try:
        return decode_manifest(data)
    except ManifestError as exc:
        raise RunnerError(
            f"snapshot {short(snapshot_id)} has an unusable manifest: {exc}",
            ErrorCode.BAD_SNAPSHOT,
        ) from None


def missing_files(files: BlobFiles, manifest: Manifest) -> List[FileEntry]:
    """The files whose blob is not stored whole, one per missing blob (each blob is
    marked as just used, so a collection keeps it while the snapshot is made)."""
    missing: List[FileEntry] = []
    seen: set[str] = set()
    for entry in manifest.entries:
        digest = entry.digest
        if digest is None or digest in seen:
            continue
        seen.add(digest)
        if not files.sized_touch(digest, entry.size):
            missing.append(entry)
    return missing


def check_complete(files: BlobFiles, snapshot_id: str, manifest: Manifest) -> SnapshotInfo:
    """The snapshot's summary, once every file of it is stored whole; else
    BAD_SNAPSHOT saying how many are missing and naming one. Marks it as used."""
    if not files.touch(snapshot_id):  # collected since it was read
        raise RunnerError(
            f"snapshot {short(snapshot_id)}'s manifest is no longer stored on this host: "
            "send it (and the files it names) again",
            ErrorCode.BAD_SNAPSHOT,
        )
    missing = missing_files(files, manifest)
    if missing:
        wanted = len(manifest.digests())
        raise RunnerError(
            f"snapshot {short(snapshot_id)} lacks the contents of {len(missing)} of its "
            f"{wanted} distinct files on this host (for example {missing[0].path!r}): "
            "send them, then make the snapshot again",
            ErrorCode.BAD_SNAPSHOT,
        )
    mark(files, snapshot_id)
    return SnapshotInfo(id=snapshot_id, files=len(manifest.entries), bytes=manifest.total_bytes)


def mark(files: BlobFiles, snapshot_id: str) -> None:
    """Leave (or refresh) the snapshot's mark."""
    path = files.marker_path(snapshot_id)
    os.close(open_private(path, os.O_WRONLY | os.O_CLOEXEC))
    os.utime(path)
