"""The runner's one stats sampler: sample at a set rate, keep history, fan out.

However many clients watch, the host is sampled once per interval (1 s by
default), in a thread of its own so that a slow GPU never stalls the event
loop. Each sample goes to every subscriber's small queue (a slow client loses
its oldest unsent samples, never slows the others) and into a ring buffer of
the last ``history_s`` seconds (15 minutes) that a (re)attaching client draws
at once. A client may ask for a faster rate: the sampler then runs at the
fastest rate asked for, but never faster than its floor, and goes back to its
own rate when that client leaves. The ring buffer keeps samples at its own
rate only, so its size is bounded by ``history_s / interval_s``.

Settings (environment of the runner):
``TETHER_STATS_INTERVAL`` seconds between samples (default 1),
``TETHER_STATS_FLOOR`` the fastest a client may make it sample (default 0.25,
never more than the interval), ``TETHER_STATS_HISTORY`` seconds of history
kept (default 900).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Set

from protocol.errors import ErrorCode
from protocol.jobs import JobState
from protocol.stats import GpuInventory, StatsSample
from runner.errors import RunnerError
from runner.gpu.occupancy import GpuOccupancy
from runner.gpu.open_source import source_from_env
from runner.gpu.source import GpuSource
from runner.jobs.signals import ProcessOwner
from runner.jobs.store import JobRecord
from runner.jobs.table import JobManager
from runner.stats.allocation import interval_s as allocation_interval_s
from runner.stats.history import SampleHistory
from runner.stats.host import HostProbe
from runner.stats.jobtree import JobTrees, RunningJob
from runner.stats.leaks import EndedJob, kill_leaked
from runner.stats.measure import AllocatedJob, Measurer, Tick
from runner.tasks import TaskSet

log = logging.getLogger(__name__)

#: Samples a subscriber may have waiting before its oldest are dropped.
SUBSCRIBER_QUEUE = 8
#: The job trees are looked at again at most once per this many samples.
TREE_REFRESH_SAMPLES = 5


@dataclass(frozen=True)
class StatsConfig:
    interval_s: float = 1.0
    floor_s: float = 0.25
    history_s: float = 900.0

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> StatsConfig:
        """The settings in the environment; raises `RunnerError` naming a bad one."""
        env = os.environ if env is None else env
        interval = _seconds(env, "TETHER_STATS_INTERVAL", cls.interval_s, 0.01)
        floor = _seconds(env, "TETHER_STATS_FLOOR", min(cls.floor_s, interval), 0.01)
        history = _seconds(env, "TETHER_STATS_HISTORY", cls.history_s, 0.0)
        return cls(interval_s=interval, floor_s=min(floor, interval), history_s=history)


def _seconds(env: Mapping[str, str], name: str, default: float, least: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < least:
        raise RunnerError(f"{name} must be a number of seconds, at least {least:g}, not {raw!r}")
    return value


class Subscription:
    """One client's view of the sample stream, at its own pace."""

    def __init__(self, interval_s: float, tolerance_s: float) -> None:
        self.interval_s = interval_s
        self._tolerance_s = tolerance_s
        self._queue: asyncio.Queue[StatsSample] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._last_t: Optional[float] = None
        self.dropped = 0

    def offer(self, sample: StatsSample) -> None:
        if (
            self._last_t is not None
            and sample.t - self._last_t < self.interval_s - self._tolerance_s
        ):
            return
        self._last_t = sample.t
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(sample)

    async def next(self) -> StatsSample:
        return await self._queue.get()


class Sampler:
    def __init__(self, config: StatsConfig, source: GpuSource, disk_path: Path, jobs: JobManager):
        self.config = config
        self.epoch = uuid.uuid4().hex[:16]
        self.inventory = GpuInventory(source=source.name, available=False, reason="starting")
        self._jobs = jobs
        trees = JobTrees(refresh_period_s=config.interval_s * TREE_REFRESH_SAMPLES)
        self._measurer = Measurer(source, HostProbe(disk_path), trees)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tether-stats")
        self._tasks = TaskSet("stats")
        self._subscribers: Set[Subscription] = set()
        self._history = SampleHistory(config.history_s, config.interval_s)
        self._latest: Optional[StatsSample] = None
        self._occupancy: Optional[GpuOccupancy] = None
        self._first = asyncio.Event()
        #: Set (and replaced) at every sample: wakes those waiting for a fresh one.
        self._sampled = asyncio.Event()
        self._seq = 0
        self._ended: List[EndedJob] = []
        self._leaking: Dict[int, Dict[int, int]] = {}
        #: This host as Slurm names nodes, and how often a job's node reports its GPUs.
        self._node = socket.gethostname().split(".")[0]
        self._allocation_interval_s = allocation_interval_s(os.environ)

    @classmethod
    def from_env(cls, state_dir: Path, jobs: JobManager) -> Sampler:
        return cls(StatsConfig.from_env(), source_from_env(), state_dir, jobs)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.inventory = await loop.run_in_executor(self._executor, self._measurer.open)
        if not self.inventory.available:
            log.info("no GPU readings: %s", self.inventory.reason)
        for record in await self._jobs.ended_records():
            self._on_job_change(record)
        self._jobs.on_change.append(self._on_job_change)
        self._tasks.supervise("the stats sampler", self._run, self._jobs.health)

    async def close(self) -> None:
        if self._on_job_change in self._jobs.on_change:
            self._jobs.on_change.remove(self._on_job_change)
        await self._tasks.close()
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(self._executor, self._measurer.close), 5)
        except asyncio.TimeoutError:
            log.warning("the GPU source did not close within 5 s")
        self._executor.shutdown(wait=False)

    def _on_job_change(self, record: JobRecord) -> None:
        if record.state.is_active or record.finished_at is None:
            return
        self._ended.append(
            EndedJob(record.id, record.job_pid, record.finished_at, list(record.leaked_gpu_pids))
        )

    # -- sampling ----------------------------------------------------------------

    @property
    def sampler_interval_s(self) -> float:
        """The rate right now: the fastest any subscriber asked for, within the floor."""
        fastest = min([self.config.interval_s] + [s.interval_s for s in self._subscribers])
        return max(self.config.floor_s, fastest)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self.sampler_interval_s
            delay = next_at - loop.time()
            if delay < 0:  # fell behind (a slow GPU): do not try to catch up in a burst
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(delay)
            await self._tick()

    def _live(self) -> List[JobRecord]:
        return [
            r for r in self._jobs.active_records() if r.state in (JobState.RUNNING, JobState.PAUSED)
        ]

    def _running(self, live: List[JobRecord]) -> List[RunningJob]:
        # A Slurm job's pid is its node's: measured here only when that node is this host.
        return [
            RunningJob(r.id, r.job_pid)
            for r in live
            if r.job_pid and (not r.on_slurm or r.nodes == self._node)
        ]

    async def _tick(self) -> None:
        live = self._live()
        running = self._running(live)
        allocated = [
            AllocatedJob(r.id, str(self._jobs.files(r.id).dir), self._allocation_interval_s)
            for r in live
            if r.on_slurm
        ]
        ended, self._ended = self._ended, []
        loop = asyncio.get_running_loop()
        try:
            tick: Tick = await loop.run_in_executor(
                self._executor, self._measurer.take, self._seq + 1, running, ended, allocated
            )
        except Exception:
            log.exception("a stats sample failed; the next one will be tried as usual")
            self._ended = ended + self._ended
            return
        self._seq += 1
        self._publish(tick)
        self._leaking = tick.leaking
        for job_id, pids in tick.leak_changes.items():
            if pids:
                log.warning("job %d left processes on the GPU: %s", job_id, pids)
            await self._jobs.set_leaked_gpu_pids(job_id, pids)

    def _publish(self, tick: Tick) -> None:
        sample = tick.sample
        self._history.add(sample, tick.wire_bytes)
        self._latest = sample
        self._occupancy = tick.occupancy
        self._first.set()
        self._sampled.set()
        self._sampled = asyncio.Event()
        for subscriber in list(self._subscribers):
            subscriber.offer(sample)

    # -- what clients get --------------------------------------------------------

    def subscribe(self, interval_s: Optional[float]) -> Subscription:
        wanted = self.config.interval_s if interval_s is None else interval_s
        subscription = Subscription(max(wanted, self.config.floor_s), self.config.floor_s / 2)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def history(self, seconds: float, after_seq: Optional[int] = None) -> List[List[StatsSample]]:
        """The last `seconds` of history after `after_seq`, in frame-sized batches."""
        return self._history.batches(seconds, after_seq)

    def newest(self) -> Optional[StatsSample]:
        """The newest sample without waiting: None before the first."""
        return self._latest

    async def latest(self, timeout: Optional[float] = None) -> StatsSample:
        """The newest sample, waiting for the first one after a start."""
        if self._latest is None:
            wait = timeout if timeout is not None else self.sampler_interval_s * 3 + 10
            try:
                await asyncio.wait_for(self._first.wait(), wait)
            except asyncio.TimeoutError:
                raise RunnerError(
                    f"the stats sampler has taken no sample in {wait:.0f} s; see the runner's log",
                    ErrorCode.NOT_READY,
                ) from None
        assert self._latest is not None
        return self._latest

    async def occupancy(self, newer_than: float) -> Optional[GpuOccupancy]:
        """Who uses each GPU, from the first sample taken at or after `newer_than`
        (waiting a few intervals at most), else the newest; None before any.
        The GPU queue's one way to the GPUs (`runner.gpu.occupancy.GpuReadings`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sampler_interval_s * 3 + 1.0
        while self._occupancy is None or self._occupancy.t < newer_than:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._sampled.wait(), remaining)
            except asyncio.TimeoutError:
                break
        return self._occupancy

    async def process_owner(self, pid: int) -> Optional[ProcessOwner]:
        """Whose process `pid` is, as the job trees and the last sample's leaks
        say (`runner.jobs.signals` acts on it); None when there is no such process.
        Read in the sampler's thread, where the trees live."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._measurer.owner_of, pid, self._running(self._live()), self._leaking
        )

    # -- leaks -------------------------------------------------------------------

    async def finish_off(self, job_id: int) -> Optional[List[int]]:
        """Kill the processes an ended job left on the GPU; the pids killed, or None
        when it left none. Raises when some would not die."""
        await self.latest()
        # What the last sample saw, and what the job's record shows (a person may
        # be acting on that): each confirmed afresh to still be the job's.
        suspects = set(self._leaking.get(job_id, {}))
        suspects.update((await self._jobs.get(job_id)).leaked_gpu_pids)
        if not suspects:
            return None
        loop = asyncio.get_running_loop()
        leaked = await loop.run_in_executor(
            self._executor, self._measurer.leaks.confirm, job_id, sorted(suspects)
        )
        if not leaked:
            await self._jobs.set_leaked_gpu_pids(job_id, [])
            return None
        survivors = await kill_leaked(leaked, self._jobs.cancel_grace_s)
        await self._jobs.set_leaked_gpu_pids(job_id, survivors)
        if survivors:
            raise RunnerError(
                f"GPU process(es) {', '.join(map(str, survivors))} of job {job_id} did not exit "
                "after SIGKILL (stuck in the GPU driver?): they may need a GPU reset or a reboot",
                ErrorCode.INTERNAL,
            )
        return sorted(leaked)
