"""GPU, host and job stats: the newest sample, or the stream of them."""

from __future__ import annotations

from protocol.stats import GetStats, StatsSnapshot, SubscribeStats
from runner.server.services import Services
from runner.stats.stream import stats_snapshot, stream_stats
from runner.streams import Send


async def get_stats(services: Services, msg: GetStats) -> StatsSnapshot:
    return await stats_snapshot(services.stats, msg)


async def subscribe(services: Services, msg: SubscribeStats, send: Send) -> None:
    await stream_stats(services.stats, msg, send)
