"""One small function per request: what the runner answers to each message."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import TYPE_CHECKING, Awaitable, Callable, Dict

from protocol.messages import (
    Cancel,
    FollowLog,
    GetJob,
    GetStatus,
    JobList,
    JobReply,
    ListJobs,
    LogChunk,
    LogOffset,
    Message,
    Ok,
    Ping,
    Pong,
    ReadLog,
    Shutdown,
    StatusReply,
    Submit,
    TailOffset,
    WatchJobs,
)
from protocol.metrics import FollowMetrics, ReadMetrics
from protocol.stats import GetStats, SubscribeStats
from protocol.version import PROTOCOL_VERSION, __version__
from runner.logs.follow import Send, follow_log
from runner.logs.metrics import follow_metrics, read_metrics_chunk
from runner.logs.read import read_slice, tail_offset
from runner.stats.stream import stats_snapshot, stream_stats

if TYPE_CHECKING:
    from runner.server.daemon import Runner


async def ping(runner: Runner, msg: Ping) -> Message:
    return Pong(id=msg.id)


async def submit(runner: Runner, msg: Submit) -> Message:
    record = await runner.submit(msg.spec)
    return JobReply(id=msg.id, job=await runner.jobs.get(record.id))


async def list_jobs(runner: Runner, msg: ListJobs) -> Message:
    return JobList(id=msg.id, jobs=await runner.jobs.listing(msg.include_finished))


async def get_job(runner: Runner, msg: GetJob) -> Message:
    return JobReply(id=msg.id, job=await runner.jobs.get(msg.job_id))


async def cancel(runner: Runner, msg: Cancel) -> Message:
    # An ended job that left processes on a GPU is finished off instead.
    if not runner.jobs.is_active(msg.job_id) and await runner.stats.finish_off(msg.job_id):
        return JobReply(id=msg.id, job=await runner.jobs.get(msg.job_id))
    return JobReply(id=msg.id, job=await runner.jobs.cancel(msg.job_id))


async def get_status(runner: Runner, msg: GetStatus) -> Message:
    return StatusReply(
        id=msg.id,
        runner_version=__version__,
        protocol=PROTOCOL_VERSION,
        pid=os.getpid(),
        hostname=socket.gethostname(),
        started_at=runner.started_at,
        uptime_s=time.time() - runner.started_at,
        state_dir=str(runner.paths.state_dir),
        socket_path=str(runner.paths.socket),
        job_counts=await runner.jobs.counts(),
        clients=runner.client_count,
    )


async def read_log(runner: Runner, msg: ReadLog) -> Message:
    await runner.jobs.get(msg.job_id)
    path = runner.jobs.files(msg.job_id).log_path
    data, size = read_slice(path, msg.offset, msg.max_bytes)
    return LogChunk(id=msg.id, job_id=msg.job_id, offset=msg.offset, data=data, size=size)


async def tail(runner: Runner, msg: TailOffset) -> Message:
    await runner.jobs.get(msg.job_id)
    path = runner.jobs.files(msg.job_id).log_path
    loop = asyncio.get_running_loop()
    offset, size = await loop.run_in_executor(None, tail_offset, path, msg.lines)
    return LogOffset(id=msg.id, job_id=msg.job_id, offset=offset, size=size)


async def shutdown(runner: Runner, msg: Shutdown) -> Message:
    runner.request_stop()
    return Ok(id=msg.id)


async def follow(runner: Runner, msg: FollowLog, send: Send) -> None:
    await follow_log(runner.jobs, runner.file_watcher, msg, send)


#: After a job changes, wait this long for more changes to send one table for all.
WATCH_JOBS_COALESCE_S = 0.05


async def watch_jobs(runner: Runner, msg: WatchJobs, send: Send) -> None:
    """The job table now, then again after every change (a burst is sent once)."""
    changed = asyncio.Event()

    def on_change(_record: object) -> None:
        changed.set()

    runner.jobs.on_change.append(on_change)
    try:
        while True:
            changed.clear()
            jobs = await runner.jobs.listing(msg.include_finished)
            await send(JobList(id=msg.id, jobs=jobs))
            await changed.wait()
            await asyncio.sleep(WATCH_JOBS_COALESCE_S)
    finally:
        runner.jobs.on_change.remove(on_change)


async def read_metrics(runner: Runner, msg: ReadMetrics) -> Message:
    return await read_metrics_chunk(runner.jobs, msg)


async def follow_metrics_stream(runner: Runner, msg: FollowMetrics, send: Send) -> None:
    await follow_metrics(runner.jobs, msg, send)


async def get_stats(runner: Runner, msg: GetStats) -> Message:
    return await stats_snapshot(runner.stats, msg)


async def subscribe_stats(runner: Runner, msg: SubscribeStats, send: Send) -> None:
    await stream_stats(runner.stats, msg, send)


#: Requests answered by one reply.
HANDLERS: Dict[type, Callable[..., Awaitable[Message]]] = {
    Ping: ping,
    Submit: submit,
    ListJobs: list_jobs,
    GetJob: get_job,
    Cancel: cancel,
    GetStatus: get_status,
    ReadLog: read_log,
    TailOffset: tail,
    Shutdown: shutdown,
    ReadMetrics: read_metrics,
    GetStats: get_stats,
}

#: Requests that open a stream: the handler sends as many messages as it likes and
#: returns when the stream is over (or is cancelled by `unsubscribe`).
STREAMS: Dict[type, Callable[..., Awaitable[None]]] = {
    FollowLog: follow,
    FollowMetrics: follow_metrics_stream,
    WatchJobs: watch_jobs,
    SubscribeStats: subscribe_stats,
}
