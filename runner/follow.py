"""Streaming one job's log to one client, at that client's pace.

Each chunk is sent with a drain, so a slow reader slows only its own stream: the
job keeps writing to disk and the runner holds one chunk at most. New output is
found by polling the file's size with a short, backing-off interval; several
small writes in one interval travel as one batch.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from protocol.errors import ErrorCode
from protocol.limits import FOLLOW_BATCH_BYTES, MAX_LOG_CHUNK_BYTES
from protocol.messages import FollowLog, LogChunk, LogEnd, Message
from runner.errors import RunnerError
from runner.jobs import JobManager
from runner.logs import read_slice

#: Poll interval right after output, and the most it backs off to when quiet.
POLL_MIN_S = 0.004
POLL_MAX_S = 0.02

Send = Callable[[Message], Awaitable[None]]


async def follow_log(jobs: JobManager, request: FollowLog, send: Send) -> None:
    """Send every byte from `request.offset` until the job has ended, then `log_end`."""
    await jobs.get(request.job_id)  # NO_SUCH_JOB before anything is streamed
    path = jobs.files(request.job_id).log_path
    offset = request.offset
    _, size = read_slice(path, 0, 1)
    if offset > size and not jobs.is_active(request.job_id):
        raise RunnerError(
            f"offset {offset} is past the end of job {request.job_id}'s log ({size} bytes)",
            ErrorCode.BAD_REQUEST,
        )
    delay = POLL_MIN_S
    while True:
        active = jobs.is_active(request.job_id)
        data, size = read_slice(path, offset, MAX_LOG_CHUNK_BYTES)
        if data:
            await send(
                LogChunk(id=request.id, job_id=request.job_id, offset=offset, data=data, size=size)
            )
            offset += len(data)
            delay = POLL_MIN_S
            if len(data) < FOLLOW_BATCH_BYTES:
                await asyncio.sleep(POLL_MIN_S)  # let small writes gather into one batch
            continue
        if not active:
            job = await jobs.get(request.job_id)
            await send(LogEnd(id=request.id, offset=offset, job=job))
            return
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, POLL_MAX_S)
