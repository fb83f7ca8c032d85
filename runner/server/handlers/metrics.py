"""A job's training metrics by byte offset: one chunk, or followed."""

from __future__ import annotations

from protocol.metrics import FollowMetrics, MetricsChunk, ReadMetrics
from runner.logs.metrics import follow_metrics, read_metrics_chunk
from runner.server.services import Services
from runner.streams import Send


async def read_metrics(services: Services, msg: ReadMetrics) -> MetricsChunk:
    return await read_metrics_chunk(services.jobs, msg)


async def follow(services: Services, msg: FollowMetrics, send: Send) -> None:
    await follow_metrics(services.jobs, msg, send)
