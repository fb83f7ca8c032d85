"""`MirrorKeeper`: while a remote host is open in the app, the logs and metrics of
its running jobs are read into the mirror (`tui.mirror`) in the background, so
a link that dies leaves the freshest copy for ``tether logs`` and the app to show.

Each running job gets one follower of its log and one of its metrics, from
where the mirror's copy ends; the session hands what they read to the mirror
(its `MirrorSink`), so a follower itself only drains. A follower ends with its
job, or when the link goes (the monitor brings the set up to date on the next
job table). At most `MAX_FOLLOWED` jobs are followed at once, the newest first:
a host running hundreds of jobs is not read in full all the time.

A log the app's log panel is following is not read twice: once the keeper's
copy reaches where the panel is, it stops, and the panel's own chunks (handed
to the mirror by the session like any others) continue the copy; when the
panel leaves the job, the keeper follows it again from where the copy ends.

The host's GPU inventory and recent stats samples are kept too, written at
most every `STATS_SAVE_S` and when the host is closed, thinned to
`MAX_KEPT_SAMPLES`: enough for the sparklines of a host that cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator, Dict, Iterable, List, Optional, Tuple

from protocol.jobs import JobInfo, JobState
from protocol.messages import LogChunk
from protocol.stats import GpuInventory, StatsSample
from tui.errors import TetherError
from tui.mirror.host import HostMirror
from tui.session import HostSession

#: Running jobs whose logs and metrics are followed at once.
MAX_FOLLOWED = 16
#: Seconds between two writes of the stats history.
STATS_SAVE_S = 30.0
#: Samples kept of the history (evenly thinned from the newest back).
MAX_KEPT_SAMPLES = 300


class MirrorKeeper:
    def __init__(self, session: HostSession, mirror: HostMirror) -> None:
        self.session = session
        self.mirror = mirror
        self._followers: Dict[Tuple[int, str], asyncio.Task[None]] = {}
        self._jobs: List[JobInfo] = []
        #: The job whose log the panel follows, and where its last chunk ended.
        self._shown: Optional[Tuple[int, int]] = None
        self._stats: Optional[Tuple[GpuInventory, List[StatsSample]]] = None
        self._stats_saved = 0.0
        self._saving: Optional[asyncio.Task[None]] = None

    @property
    def followed(self) -> List[Tuple[int, str]]:
        """(job, "log" or "metrics") of every copy being kept current now."""
        return sorted(key for key, task in self._followers.items() if not task.done())

    def update(self, jobs: Iterable[JobInfo]) -> None:
        """Follow the running jobs of this table that are not followed yet."""
        self._jobs = list(jobs)
        running = sorted((j.id for j in self._jobs if j.state is JobState.RUNNING), reverse=True)
        for key in [key for key, task in self._followers.items() if task.done()]:
            del self._followers[key]
        for job_id in running[:MAX_FOLLOWED]:
            for kind in ("log", "metrics"):
                if (job_id, kind) not in self._followers:
                    self._followers[(job_id, kind)] = asyncio.ensure_future(
                        self._follow(job_id, kind)
                    )

    def panel_at(self, job_id: int, end: int) -> None:
        """The log panel took the job's bytes up to `end` (see the module docstring)."""
        self._shown = (job_id, end)

    def panel_left(self, job_id: int) -> None:
        """The log panel stopped following the job: the keeper takes it up again."""
        if self._shown is not None and self._shown[0] == job_id:
            self._shown = None
            self.update(self._jobs)

    def stats_seen(self, gpu: GpuInventory, history: Iterable[StatsSample]) -> None:
        """The monitor's stats now; written when `STATS_SAVE_S` have passed."""
        self._stats = (gpu, _thinned(list(history)))
        now = time.monotonic()
        if now - self._stats_saved >= STATS_SAVE_S and (
            self._saving is None or self._saving.done()
        ):
            self._stats_saved = now
            self._saving = asyncio.ensure_future(self._save_stats())

    async def _save_stats(self) -> None:
        if self._stats is not None:
            gpu, samples = self._stats
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.mirror.record_stats, gpu, samples, time.time())

    async def close(self) -> None:
        if self._saving is not None:
            await self._saving
        await self._save_stats()
        tasks = list(self._followers.values())
        self._followers.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, job_id: int, kind: str) -> None:
        log_at, metrics_at = await asyncio.to_thread(self._held, job_id)
        try:
            if kind == "metrics":
                await _drain(self.session.follow_metrics(job_id, metrics_at))
                return
            async for message in self.session.follow_log(job_id, log_at):
                if not isinstance(message, LogChunk):
                    return
                end = message.offset + len(message.data)
                if self._shown is not None and self._shown[0] == job_id and self._shown[1] <= end:
                    return  # the panel's next chunk continues the copy from here
        except TetherError:
            return  # the link went, or the job did: the next job table decides

    def _held(self, job_id: int) -> tuple[int, int]:
        """Where the mirror's copies of the job's log and metrics end on the host."""
        with self.mirror.locked(shared=True):
            log = self.mirror.log(job_id).prefix().host_offset
            metrics = self.mirror.metrics_file(job_id).prefix().host_offset
        return log, metrics


def _thinned(samples: List[StatsSample]) -> List[StatsSample]:
    if len(samples) <= MAX_KEPT_SAMPLES:
        return samples
    step = len(samples) / MAX_KEPT_SAMPLES
    return [samples[int(i * step)] for i in range(MAX_KEPT_SAMPLES - 1)] + [samples[-1]]


async def _drain(messages: AsyncIterator[object]) -> None:
    async for _ in messages:
        pass
