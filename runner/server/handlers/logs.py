"""A job's log by byte offset: one slice, where the tail starts, or followed."""

from __future__ import annotations

import asyncio
from typing import Tuple

from protocol import exchanges as ex
from protocol.messages import FollowLog, LogChunk, LogOffset, ReadLog, TailOffset
from runner.logs.follow import follow_log
from runner.logs.read import read_slice, tail_offset
from runner.server.routes import AnswersOnce, AnswersStream, stream, unary
from runner.server.services import Services
from runner.streams import Send


async def read_log(services: Services, msg: ReadLog) -> LogChunk:
    path = await services.jobs.log_path(msg.job_id, msg.attempt)
    data, size = read_slice(path, msg.offset, msg.max_bytes)
    return LogChunk(id=msg.id, job_id=msg.job_id, offset=msg.offset, data=data, size=size)


async def tail(services: Services, msg: TailOffset) -> LogOffset:
    path = await services.jobs.log_path(msg.job_id, msg.attempt)
    loop = asyncio.get_running_loop()
    offset, size = await loop.run_in_executor(None, tail_offset, path, msg.lines)
    return LogOffset(id=msg.id, job_id=msg.job_id, offset=offset, size=size)


async def follow(services: Services, msg: FollowLog, send: Send) -> None:
    await follow_log(services.jobs, services.file_watcher, msg, send)


#: This family's requests, bound to their handlers (mypy checks each pair).
UNARY: Tuple[AnswersOnce, ...] = (
    unary(ex.READ_LOG, read_log),
    unary(ex.TAIL_OFFSET, tail),
)
STREAMS: Tuple[AnswersStream, ...] = (stream(ex.FOLLOW_LOG, follow),)
