"""GPU, host and job stats: the newest sample, or the stream of them."""

from __future__ import annotations

from typing import Tuple

from protocol import exchanges as ex
from protocol.stats import GetStats, StatsSnapshot, SubscribeStats
from runner.server.routes import AnswersOnce, AnswersStream, stream, unary
from runner.server.services import Services
from runner.stats.stream import stats_snapshot, stream_stats
from runner.streams import Send


async def get_stats(services: Services, msg: GetStats) -> StatsSnapshot:
    return await stats_snapshot(services.stats, msg)


async def subscribe(services: Services, msg: SubscribeStats, send: Send) -> None:
    await stream_stats(services.stats, msg, send)


#: This family's requests, bound to their handlers (mypy checks each pair).
UNARY: Tuple[AnswersOnce, ...] = (unary(ex.GET_STATS, get_stats),)
STREAMS: Tuple[AnswersStream, ...] = (stream(ex.SUBSCRIBE_STATS, subscribe),)
