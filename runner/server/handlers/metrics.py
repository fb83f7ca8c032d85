"""A job's training metrics by byte offset: one chunk, or followed."""

from __future__ import annotations

from typing import Tuple

from protocol import exchanges as ex
from protocol.metrics import FollowMetrics, MetricsChunk, ReadMetrics
from runner.logs.metrics import follow_metrics, read_metrics_chunk
from runner.server.routes import AnswersOnce, AnswersStream, stream, unary
from runner.server.services import Services
from runner.streams import Send


async def read_metrics(services: Services, msg: ReadMetrics) -> MetricsChunk:
    return await read_metrics_chunk(services.jobs, msg)


async def follow(services: Services, msg: FollowMetrics, send: Send) -> None:
    await follow_metrics(services.jobs, msg, send)


#: This family's requests, bound to their handlers (mypy checks each pair).
UNARY: Tuple[AnswersOnce, ...] = (unary(ex.READ_METRICS, read_metrics),)
STREAMS: Tuple[AnswersStream, ...] = (stream(ex.FOLLOW_METRICS, follow),)
