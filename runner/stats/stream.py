"""The stats requests: the stream a client subscribes to, and the one-shot snapshot."""

from __future__ import annotations

from protocol.stats import (
    GetStats,
    StatsHistory,
    StatsInfo,
    StatsSnapshot,
    StatsUpdate,
    SubscribeStats,
)
from runner.stats.sampler import Sampler
from runner.streams import Send


async def stream_stats(sampler: Sampler, request: SubscribeStats, send: Send) -> None:
    """`StatsInfo`, the history the client lacks, then every sample until cancelled.

    The subscription is made before the history is read, so no sample falls
    between the two; what both would deliver is sent once (by ``seq``).
    """
    subscription = sampler.subscribe(request.interval_s)
    try:
        await send(
            StatsInfo(
                id=request.id,
                epoch=sampler.epoch,
                interval_s=subscription.interval_s,
                sampler_interval_s=sampler.sampler_interval_s,
                floor_s=sampler.config.floor_s,
                history_s=sampler.config.history_s,
                gpu=sampler.inventory,
            )
        )
        sent = request.after_seq if request.epoch == sampler.epoch else None
        batches = sampler.history(request.history_s, sent)
        for n, batch in enumerate(batches, 1):
            await send(StatsHistory(id=request.id, samples=batch, last=n == len(batches)))
            sent = batch[-1].seq
        if not batches:
            await send(StatsHistory(id=request.id, samples=[], last=True))
        while True:
            sample = await subscription.next()
            if sent is not None and sample.seq <= sent:
                continue
            await send(StatsUpdate(id=request.id, sample=sample))
            sent = sample.seq
    finally:
        sampler.unsubscribe(subscription)


async def stats_snapshot(sampler: Sampler, request: GetStats) -> StatsSnapshot:
    sample = await sampler.latest()
    return StatsSnapshot(
        id=request.id,
        epoch=sampler.epoch,
        interval_s=sampler.sampler_interval_s,
        gpu=sampler.inventory,
        sample=sample,
    )
