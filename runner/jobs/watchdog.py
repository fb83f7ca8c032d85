"""Looks at every running job each `WATCH_INTERVAL_S`: has it gone quiet, are
its GPUs idle? It flags the job (`JobManager.set_flags`: ``tether ls``, the app
and ``--json`` show it) and tells the person's hook once per episode.

Silence is read from the files the job writes, by their modification times: the
log (its output) and the metrics file (what it reported). Those survive a runner
restart, so a job that went quiet before the restart is still seen as quiet
after it. The GPUs' utilisation comes from the sampler's newest sample, the one
reading of the hardware (`runner.stats.sampler`).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Optional

from protocol.jobs import JobFlag, JobState
from protocol.stats import StatsSample
from runner.jobs.activity import IdleClocks, flags_now, is_stalled, raised
from runner.jobs.hooks import HookEvent, Hooks
from runner.jobs.store import JobRecord
from runner.jobs.table import JobManager
from runner.tasks import Health, TaskSet

WATCH_INTERVAL_S = 1.0
WATCHDOG = "the job watchdog"
#: A job holding GPUs this long under `protocol.jobs.IDLE_GPU_PCT` is flagged
#: (``TETHER_IDLE_GPU_AFTER``; 0: never).
DEFAULT_IDLE_GPU_AFTER_S = 10 * 60.0

_EVENTS = {JobFlag.STALLED: HookEvent.STALLED, JobFlag.IDLE_GPUS: HookEvent.IDLE}


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


class Watchdog:
    def __init__(
        self,
        jobs: JobManager,
        newest_sample: Callable[[], Optional[StatsSample]],
        hooks: Hooks,
        idle_after_s: float = DEFAULT_IDLE_GPU_AFTER_S,
        interval_s: float = WATCH_INTERVAL_S,
    ) -> None:
        self.jobs = jobs
        self.hooks = hooks
        self.idle_after_s = idle_after_s
        self.interval_s = interval_s
        self._newest_sample = newest_sample
        self._idle = IdleClocks()
        self._tasks = TaskSet("watchdog")
        self.jobs.on_change.append(self._on_change)

    async def start(self, health: Health) -> None:
        self._tasks.supervise(WATCHDOG, self._run, health)

    async def close(self) -> None:
        await self._tasks.close()
        if self._on_change in self.jobs.on_change:
            self.jobs.on_change.remove(self._on_change)

    def _on_change(self, record: JobRecord) -> None:
        if not record.state.is_active and record.finished_at is not None:
            self.hooks.fire(HookEvent.ENDED, self.jobs.to_info(record))

    async def _run(self) -> None:
        while True:
            self.look(time.time())
            await asyncio.sleep(self.interval_s)

    def look(self, now: float) -> None:
        """Flag each running job as it is now; tell the hook what went up."""
        utils = self._gpu_utils()
        records = self.jobs.active_records()
        self._idle.keep_only(frozenset(r.id for r in records if r.state is JobState.RUNNING))
        for record in records:
            if record.state is not JobState.RUNNING:
                self.jobs.set_flags(record, frozenset())  # paused on purpose: not stalled
                continue
            flags = self._flags_of(record, utils, now)
            before: FrozenSet[JobFlag] = self.jobs.flags.get(record.id, frozenset())
            self.jobs.set_flags(record, flags)
            went_up = raised(before, flags)
            if went_up:
                info = self.jobs.to_info(record)
                for flag in sorted(went_up):
                    self.hooks.fire(_EVENTS[flag], info)

    def _flags_of(
        self, record: JobRecord, utils: Dict[int, Optional[float]], now: float
    ) -> FrozenSet[JobFlag]:
        files = self.jobs.files(record.id)
        last_spoke = max(
            record.started_at or now, _mtime(files.log_path), _mtime(files.metrics_path)
        )
        stalled = is_stalled(last_spoke, now, self.jobs.stall_after_of(record))
        idle_for = 0.0
        if record.gpus and utils:
            idle_for = self._idle.idle_for(record.id, [utils.get(g) for g in record.gpus], now)
        return flags_now(stalled, idle_for, self.idle_after_s)

    def _gpu_utils(self) -> Dict[int, Optional[float]]:
        sample = self._newest_sample()
        if sample is None:
            return {}
        return {g.index: g.util_pct for g in sample.gpus}
