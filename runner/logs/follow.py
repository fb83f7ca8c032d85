"""Streaming one job's log to one client, at that client's pace.

Each chunk is sent with a drain, so a slow reader slows only its own stream: the
job keeps writing to disk and the runner holds one chunk at most. The follower
sleeps until inotify says the file was written to (or the job changed state),
with a slow poll as a safety net; a few milliseconds after each small chunk let
the writes that follow gather into one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Optional

from protocol.errors import ErrorCode
from protocol.limits import FOLLOW_BATCH_BYTES, MAX_LOG_CHUNK_BYTES
from protocol.messages import FollowLog, LogChunk, LogEnd
from runner.errors import RunnerError
from runner.jobs.store import JobRecord
from runner.jobs.table import JobManager
from runner.logs.file_watch import FileWatcher
from runner.streams import Send

#: Pause after a small chunk so the next writes travel together.
BATCH_WINDOW_S = 0.004
#: How often to look anyway: where inotify works this only guards against a
#: missed wake-up; where it does not, this is the poll interval.
SAFETY_POLL_S = 1.0
FALLBACK_POLL_S = 0.02


class _LogReader:
    """Holds the log open between reads (it may not exist yet for a queued job)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: Optional[int] = None

    def read(self, offset: int) -> tuple[bytes, int]:
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return b"", 0
        size = os.fstat(self.fd).st_size
        if offset >= size:
            return b"", size
        return os.pread(self.fd, min(MAX_LOG_CHUNK_BYTES, size - offset), offset), size

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


async def follow_log(
    jobs: JobManager, watcher: Optional[FileWatcher], request: FollowLog, send: Send
) -> None:
    """Send every byte from `request.offset` until the job has ended (or, for a
    job run with ``--retry``, the followed attempt has), then `log_end`; its job
    says which attempt runs now."""
    # NO_SUCH_JOB (or no such attempt) before anything is streamed. The follow
    # keeps to one attempt (`--retry`): the latest when none is named, followed
    # while it runs; an earlier one's log never grows and is read to its end.
    pinned = request.attempt or await jobs.attempt_now(request.job_id)
    path = await jobs.log_path(request.job_id, pinned)
    reader = _LogReader(str(path))
    woken = asyncio.Event()

    def on_change(record: JobRecord) -> None:
        if record.id == request.job_id:
            woken.set()

    jobs.on_change.append(on_change)
    watching = False
    try:
        offset = request.offset
        _, size = reader.read(offset)
        if offset > size and not jobs.is_active(request.job_id):
            raise RunnerError(
                f"offset {offset} is past the end of job {request.job_id}'s log ({size} bytes)",
                ErrorCode.BAD_REQUEST,
            )
        while True:
            attempt = jobs.active_attempt(request.job_id)
            if reader.fd is None and attempt is not None and attempt > pinned:
                # Moved aside before it was ever opened: read it where it went.
                reader.path = str(jobs.files(request.job_id).log_path_of(pinned, attempt))
            if not watching and watcher is not None and reader.fd is not None:
                path = Path(reader.path)
                watching = watcher.watch(path, woken)
            active = attempt == pinned and not request.until_eof
            woken.clear()
            data, size = reader.read(offset)
            if data:
                chunk = LogChunk(
                    id=request.id, job_id=request.job_id, offset=offset, data=data, size=size
                )
                await send(chunk)
                offset += len(data)
                if len(data) < FOLLOW_BATCH_BYTES:
                    await asyncio.sleep(BATCH_WINDOW_S)
                continue
            if not active:
                await send(LogEnd(id=request.id, offset=offset, job=await jobs.get(request.job_id)))
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(woken.wait(), SAFETY_POLL_S if watching else FALLBACK_POLL_S)
    finally:
        jobs.on_change.remove(on_change)
        if watching and watcher is not None:
            watcher.unwatch(path, woken)
        reader.close()
