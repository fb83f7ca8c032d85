"""Moving files between a person's machine and a host over the runner's own
connection: a working tree up as a snapshot, a job's outputs back down.

Files travel as content-addressed blobs (named by their sha256), so the host only
receives what it lacks, a cut upload continues from the bytes the host holds
(`BlobState.have`), and a snapshot is a manifest blob naming blobs
(`protocol.manifest`). Going down, `tether pull` lists a job's files and reads
them by offset, as `tether logs` reads a log.
"""

from __future__ import annotations

from typing import Annotated, List, Literal, Optional

from pydantic import Field, StringConstraints, field_validator

from protocol.envelope import Reply, Request, WireModel
from protocol.jobs import SnapshotInfo
from protocol.limits import (
    MAX_OUTPUT_CHUNK_BYTES,
    MAX_OUTPUT_FILES,
    MAX_PATH_CHARS,
    MAX_PUT_BYTES,
    MAX_PUT_PARTS,
    MAX_REQUEST_KEY_CHARS,
    MAX_WANTED_DIGESTS,
)
from protocol.manifest import ManifestError, check_relative_path

Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def _relative(path: str) -> str:
    try:
        return check_relative_path(path)
    except ManifestError as exc:
        raise ValueError(str(exc)) from None


class BlobState(WireModel):
    """How much of blob `digest` the host holds: `have` bytes, all of it once
    the blob is whole (and its digest checked)."""

    digest: Digest
    have: int = Field(ge=0)


class BlobsWanted(Request):
    """Which of these blobs does the host lack?"""

    type: Literal["blobs_wanted"] = "blobs_wanted"
    digests: List[Digest] = Field(max_length=MAX_WANTED_DIGESTS)


class BlobsMissing(Reply):
    """The blobs asked about that the host does not hold whole, each with the
    bytes it already has of it (a cut upload continues there)."""

    type: Literal["blobs_missing"] = "blobs_missing"
    missing: List[BlobState]


class BlobPart(WireModel):
    """`data` is blob `digest` (of `size` bytes in all) from `offset` on."""

    digest: Digest
    size: int = Field(ge=0)
    offset: int = Field(ge=0)
    data: bytes


class PutBlobs(Request):
    """Parts of one or several blobs. A part the host already holds is skipped; one
    that starts past what it holds is refused (the reply's `have` says where to go
    on). A blob is kept once whole and its sha256 matches its name."""

    type: Literal["put_blobs"] = "put_blobs"
    parts: List[BlobPart] = Field(max_length=MAX_PUT_PARTS)

    @field_validator("parts")
    @classmethod
    def _fits(cls, parts: List[BlobPart]) -> List[BlobPart]:
        if sum(len(part.data) for part in parts) > MAX_PUT_BYTES:
            raise ValueError(f"more than {MAX_PUT_BYTES} bytes of file data in one put")
        return parts


class BlobsStored(Reply):
    """What the host holds of each blob of the put, after it."""

    type: Literal["blobs_stored"] = "blobs_stored"
    blobs: List[BlobState]


class MakeSnapshot(Request):
    """Make a snapshot of the manifest stored as blob `manifest`; every blob it
    names must be stored whole. Making the same one again answers the same."""

    type: Literal["make_snapshot"] = "make_snapshot"
    manifest: Digest


class SnapshotReply(Reply):
    type: Literal["snapshot"] = "snapshot"
    snapshot: SnapshotInfo


class Rerun(Request):
    """Run job `job_id`'s command again, as it was submitted (same snapshot,
    directory, environment and GPUs), as a new job. ``key`` as in `Submit`."""

    type: Literal["rerun"] = "rerun"
    job_id: int
    key: Optional[str] = Field(default=None, min_length=1, max_length=MAX_REQUEST_KEY_CHARS)


class ListOutputs(Request):
    """The files of job `job_id`'s working directory to pull: under `paths`
    (relative to it), or with no paths what the job created or changed there.
    Sorted by path; `after` continues a listing past that path."""

    type: Literal["list_outputs"] = "list_outputs"
    job_id: int
    paths: List[str] = Field(default_factory=list, max_length=MAX_OUTPUT_FILES)
    after: Optional[str] = Field(default=None, max_length=MAX_PATH_CHARS)

    @field_validator("paths")
    @classmethod
    def _paths_inside(cls, paths: List[str]) -> List[str]:
        return [_relative(path) for path in paths]


class OutputFile(WireModel):
    path: str
    size: int = Field(ge=0)
    mtime: float
    executable: bool = False


class OutputList(Reply):
    """One page of a job's files; `more` when a next page follows (ask `after`
    the last path). `job_active` says whether the job may still write."""

    type: Literal["output_list"] = "output_list"
    files: List[OutputFile] = Field(max_length=MAX_OUTPUT_FILES)
    more: bool = False
    job_active: bool = False


class ReadOutput(Request):
    type: Literal["read_output"] = "read_output"
    job_id: int
    path: str
    offset: int = Field(ge=0)
    max_bytes: int = Field(default=MAX_OUTPUT_CHUNK_BYTES, ge=1, le=MAX_OUTPUT_CHUNK_BYTES)

    @field_validator("path")
    @classmethod
    def _path_inside(cls, path: str) -> str:
        return _relative(path)


class OutputChunk(Reply):
    """`data` of the file from `offset`; `size` and `mtime` are the file's now, so
    a client sees a file that changed while it was being read."""

    type: Literal["output_chunk"] = "output_chunk"
    path: str
    offset: int
    data: bytes
    size: int
    mtime: float
    executable: bool = False


class CollectGarbage(Request):
    """Remove snapshots and stored files that no job uses and none that ended
    within `keep_days` used (default: the runner's setting)."""

    type: Literal["collect_garbage"] = "collect_garbage"
    dry_run: bool = False
    keep_days: Optional[float] = Field(default=None, ge=0)


class GarbageReport(Reply):
    type: Literal["garbage_report"] = "garbage_report"
    dry_run: bool
    snapshots: int
    blobs: int
    bytes: int


__all__ = [
    "BlobPart",
    "BlobState",
    "BlobsMissing",
    "BlobsStored",
    "BlobsWanted",
    "CollectGarbage",
    "Digest",
    "GarbageReport",
    "ListOutputs",
    "MakeSnapshot",
    "OutputChunk",
    "OutputFile",
    "OutputList",
    "PutBlobs",
    "ReadOutput",
    "Rerun",
    "SnapshotReply",
]
