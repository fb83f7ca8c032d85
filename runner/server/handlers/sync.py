"""Snapshots up, outputs down: the store's uploads, making a snapshot, a job's
files listed and read, and collecting what no job uses (`protocol.sync`)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Tuple

from protocol import exchanges as ex
from protocol.limits import MAX_OUTPUT_FILES
from protocol.sync import (
    BlobsMissing,
    BlobsStored,
    BlobsWanted,
    CollectGarbage,
    GarbageReport,
    ListOutputs,
    MakeSnapshot,
    OutputChunk,
    OutputList,
    PutBlobs,
    ReadOutput,
    SnapshotReply,
)
from runner.errors import RunnerError
from runner.server.routes import AnswersOnce, AnswersStream, unary
from runner.server.services import Services
from runner.sync.outputs import JobTree, list_outputs, read_output, started_in


async def blobs_wanted(services: Services, msg: BlobsWanted) -> BlobsMissing:
    return BlobsMissing(id=msg.id, missing=await services.sync.wanted(msg.digests))


async def put_blobs(services: Services, msg: PutBlobs) -> BlobsStored:
    return BlobsStored(id=msg.id, blobs=await services.sync.put(msg.parts))


async def make_snapshot(services: Services, msg: MakeSnapshot) -> SnapshotReply:
    return SnapshotReply(id=msg.id, snapshot=await services.sync.make_snapshot(msg.manifest))


async def list_job_outputs(services: Services, msg: ListOutputs) -> OutputList:
    job = await _job_tree(services, msg.job_id)
    active = services.jobs.is_active(msg.job_id)
    files, more = await asyncio.to_thread(
        list_outputs, job, msg.paths, msg.after, MAX_OUTPUT_FILES, services.sync.digests
    )
    return OutputList(id=msg.id, files=files, more=more, job_active=active)


async def read_job_output(services: Services, msg: ReadOutput) -> OutputChunk:
    record = await services.jobs.record(msg.job_id)
    job = JobTree(job_id=record.id, root=Path(record.cwd))
    data, info = await asyncio.to_thread(read_output, job, msg.path, msg.offset, msg.max_bytes)
    return OutputChunk(
        id=msg.id,
        path=msg.path,
        offset=msg.offset,
        data=data,
        size=info.st_size,
        mtime=info.st_mtime,
        executable=bool(info.st_mode & stat.S_IXUSR),
    )


async def collect_garbage(services: Services, msg: CollectGarbage) -> GarbageReport:
    garbage = await services.sync.collect(msg.dry_run, msg.keep_days)
    return GarbageReport(
        id=msg.id,
        dry_run=msg.dry_run,
        snapshots=garbage.snapshots,
        blobs=garbage.blobs,
        bytes=garbage.bytes,
    )


async def _job_tree(services: Services, job_id: int) -> JobTree:
    """What listing job `job_id`'s outputs compares against: the files its copy
    started with, or (for a job not synced, or whose snapshot has since been
    collected) the time it started."""
    record = await services.jobs.record(job_id)
    since = JobTree(
        job_id=job_id, root=Path(record.cwd), since=record.started_at or record.created_at
    )
    if record.snapshot is None:
        return since
    try:
        manifest = await services.sync.manifest(record.snapshot.id)
    except RunnerError:
        return since
    return await asyncio.to_thread(started_in, job_id, Path(record.cwd), manifest, record.tree_cwd)


#: This family's requests, bound to their handlers (mypy checks each pair).
UNARY: Tuple[AnswersOnce, ...] = (
    unary(ex.BLOBS_WANTED, blobs_wanted),
    unary(ex.PUT_BLOBS, put_blobs),
    unary(ex.MAKE_SNAPSHOT, make_snapshot),
    unary(ex.LIST_OUTPUTS, list_job_outputs),
    unary(ex.READ_OUTPUT, read_job_output),
    unary(ex.COLLECT_GARBAGE, collect_garbage),
)
STREAMS: Tuple[AnswersStream, ...] = ()
