"""The stats stream through `HostSession`: one sampler fanned out to every client,
history at once on (re)attach, nothing lost and nothing twice across a reconnect."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import AsyncIterator, Iterator, List, Tuple

import pytest

from protocol.exchanges import SUBSCRIBE_STATS
from protocol.stats import StatsHistory, StatsInfo, StatsSample, StatsUpdate, SubscribeStats
from tests.conftest import UserEnv
from tui.hosts import make_session
from tui.session import HostSession, StatsEvent

TIMEOUT = 60.0


@pytest.fixture
def stats_home(replay_env: UserEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[UserEnv]:
    """A replaying runner, and this process's environment pointed at it (a runner the
    session restarts gets the same settings)."""
    replay_env.env["TETHER_STATS_FLOOR"] = "0.05"
    for key, value in replay_env.env.items():
        monkeypatch.setenv(key, value)
    result = replay_env.runner("serve", "--daemon")
    assert result.returncode == 0, result.stderr
    yield replay_env


async def _session() -> HostSession:
    session = make_session("local")
    await session.start()
    return session


async def _wait_for_samples(session: HostSession, count: int) -> StatsSample:
    async def enough() -> StatsSample:
        while True:
            sample = (await session.stats_snapshot()).sample
            if sample.seq >= count:
                return sample
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(enough(), TIMEOUT)


async def _take(
    events: AsyncIterator[StatsEvent], updates: int
) -> Tuple[List[StatsInfo], List[StatsSample], List[StatsSample]]:
    """Infos, history samples and live samples, until `updates` live ones came."""
    infos: List[StatsInfo] = []
    history: List[StatsSample] = []
    live: List[StatsSample] = []

    async def run() -> None:
        async for event in events:
            if isinstance(event, StatsInfo):
                infos.append(event)
            elif isinstance(event, StatsHistory):
                history.extend(event.samples)
            elif isinstance(event, StatsUpdate):
                live.append(event.sample)
                if len(live) >= updates:
                    return

    await asyncio.wait_for(run(), TIMEOUT)
    return infos, history, live


async def test_a_client_gets_info_then_history_then_live_samples(stats_home: UserEnv) -> None:
    session = await _session()
    try:
        await _wait_for_samples(session, 10)
        events = session.subscribe_stats(history_s=900)
        first = await asyncio.wait_for(events.__anext__(), TIMEOUT)
        assert isinstance(first, StatsInfo)
        assert first.interval_s == first.sampler_interval_s == 0.1
        assert (first.floor_s, first.history_s) == (0.05, 900.0)
        assert first.gpu.available and first.gpu.devices[0].name == "NVIDIA H100 80GB HBM3"
        batches: List[StatsHistory] = []
        while not batches or not batches[-1].last:
            event = await asyncio.wait_for(events.__anext__(), TIMEOUT)
            assert isinstance(event, StatsHistory)
            batches.append(event)
        history = [s for b in batches for s in b.samples]
        assert len(history) >= 10
        assert [s.seq for s in history] == list(range(history[0].seq, history[-1].seq + 1))
        _, _, live = await _take(events, 5)
        seqs = [s.seq for s in live]
        assert seqs[0] > history[-1].seq and seqs == sorted(set(seqs))
        assert all(s.gpus[0].mem_total_bytes == 85520809984 for s in live)
        await events.aclose()
    finally:
        await session.close()


async def test_ten_subscribers_share_one_sampler(stats_home: UserEnv) -> None:
    session = await _session()
    try:
        streams = [session.subscribe_stats(history_s=0) for _ in range(10)]
        results = await asyncio.gather(*(_take(s, 8) for s in streams))
        by_seq = {}
        for infos, history, live in results:
            assert infos[0].sampler_interval_s == 0.1 and history == []
            for sample in live:
                by_seq.setdefault(sample.seq, set()).add(sample.t)
        # One sample per seq, whoever received it: sampled once, fanned out.
        assert all(len(times) == 1 for times in by_seq.values())
        shared = [seq for seq in by_seq if sum(seq in {s.seq for s in r[2]} for r in results) == 10]
        assert shared
        seqs = sorted(by_seq)
        span = by_seq[seqs[-1]].pop() - by_seq[seqs[0]].pop()
        assert span / (seqs[-1] - seqs[0]) > 0.08  # still ~10 samples a second, not 100
        for stream in streams:
            await stream.aclose()
    finally:
        await session.close()


async def test_clients_rates_are_decimated_or_floored(stats_home: UserEnv) -> None:
    session = await _session()
    try:
        slow = session.subscribe_stats(interval_s=0.3, history_s=0)
        infos, _, live = await _take(slow, 4)
        assert infos[0].interval_s == 0.3 and infos[0].sampler_interval_s == 0.1
        assert all(b.t - a.t > 0.25 for a, b in zip(live, live[1:]))
        await slow.aclose()

        fast = session.subscribe_stats(interval_s=0.01, history_s=0)
        infos, _, live = await _take(fast, 21)
        assert infos[0].interval_s == infos[0].sampler_interval_s == 0.05  # the floor
        assert (live[-1].t - live[0].t) / 20 < 0.09
        assert (await session.stats_snapshot()).interval_s == 0.05
        await fast.aclose()

        async def back_to_own_rate() -> None:
            while (await session.stats_snapshot()).interval_s != 0.1:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(back_to_own_rate(), TIMEOUT)
    finally:
        await session.close()


async def test_reattaching_with_epoch_and_seq_sends_only_the_missed_samples(
    stats_home: UserEnv,
) -> None:
    session = await _session()
    try:
        newest = await _wait_for_samples(session, 12)
        epoch = (await session.stats_snapshot()).epoch
        conn = await session.connection()

        async def history_after(epoch: str, after: int) -> List[StatsSample]:
            samples: List[StatsSample] = []
            request = lambda i: SubscribeStats(id=i, epoch=epoch, after_seq=after)  # noqa: E731
            async for message in conn.stream(SUBSCRIBE_STATS, request):
                if isinstance(message, StatsHistory):
                    samples.extend(message.samples)
                    if message.last:
                        return samples
            raise AssertionError("the stream ended")

        missed = await asyncio.wait_for(history_after(epoch, newest.seq - 5), TIMEOUT)
        assert missed[0].seq == newest.seq - 4
        assert [s.seq for s in missed] == list(range(newest.seq - 4, missed[-1].seq + 1))
        other_runner = await asyncio.wait_for(history_after("0" * 16, newest.seq - 5), TIMEOUT)
        assert other_runner[0].seq < newest.seq - 5  # an unknown epoch gets everything
    finally:
        await session.close()


async def test_a_dropped_link_loses_no_sample_and_repeats_none(stats_home: UserEnv) -> None:
    session = await _session()
    try:
        events = session.subscribe_stats(history_s=0)
        infos, _, before = await _take(events, 3)
        await (await session.connection()).close()  # the link dies; the runner lives on
        await asyncio.sleep(0.5)  # samples go by while the session reconnects
        again, history, after = await _take(events, 3)
        assert [i.epoch for i in again] == [infos[0].epoch]
        seqs = [s.seq for s in before + history + after]
        assert seqs == list(range(seqs[0], seqs[-1] + 1))  # drawn from the history
        assert history  # the gap was filled from the runner's history
        await events.aclose()
    finally:
        await session.close()


async def test_a_restarted_runner_is_a_new_epoch_on_the_same_stream(stats_home: UserEnv) -> None:
    session = await _session()
    try:
        events = session.subscribe_stats(history_s=900)
        infos, _, before = await _take(events, 2)
        pid = stats_home.runner_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the session starts a new runner

        late: List[StatsSample] = []  # sent by the old runner before it died

        async def until_new_epoch() -> StatsInfo:
            async for event in events:
                if isinstance(event, StatsInfo):
                    return event
                assert isinstance(event, StatsUpdate), event
                late.append(event.sample)
            raise AssertionError("the stream ended")

        new = await asyncio.wait_for(until_new_epoch(), TIMEOUT)
        assert new.epoch != infos[0].epoch
        old_seqs = [s.seq for s in before + late]
        assert old_seqs == list(range(old_seqs[0], old_seqs[-1] + 1))
        again, history, after = await _take(events, 2)
        assert again == []  # one new epoch, announced once
        # The new runner's samples from its very first one: its history, then live.
        seqs = [s.seq for s in history + after]
        assert seqs == list(range(1, seqs[-1] + 1))
        assert (history + after)[0].t > before[-1].t
        await events.aclose()
    finally:
        await session.close()
        stats_home.stop_runner()
