"""The GPU queue at work in the runner: submit, grant, launch, free, rebuild.

`runner.gpu.queue` decides; this module feeds it the runner's events and acts on
its grants. A job with ``--gpus N`` (or ``all``) is recorded as queued, waits
for its turn, and is launched with ``CUDA_VISIBLE_DEVICES`` set to the GPUs it
was granted (and ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, so CUDA counts GPUs as NVML
does). ``--gpus 0`` starts at once with every GPU hidden; no ``--gpus`` starts
at once with the environment untouched and is not counted.

GPUs are freed the moment a job ends: the job table calls `_on_change` for every
state change. Whether others' processes use a free GPU is read from the stats
sampler (`GpuReadings`), never from the hardware here; after a job ends, the
check waits for a sample taken after that, so the ended job's processes still
in an older sample do not hold its GPUs back.

After a runner restart the allocation is rebuilt from the job
table (running jobs keep the GPUs recorded for them, queued jobs queue again in
submission order), so a job that ended while the runner was down frees its GPUs
simply by no longer being active.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Dict, Iterable, Mapping, Optional, Set

from protocol.errors import ErrorCode
from protocol.job_env import gpu_env, gpu_env_of
from protocol.jobs import JobSpec, JobState
from runner.errors import RunnerError
from runner.gpu.inventory import configured_inventory, minds_other_users
from runner.gpu.occupancy import GpuReadings, indices
from runner.gpu.queue import GpuQueue, GpuRequestError, Grant
from runner.jobs.store import JobRecord
from runner.jobs.table import JobManager
from runner.tasks import TaskSet

log = logging.getLogger(__name__)

#: While jobs wait, look again this often: GPUs that other users' processes held
#: free up without any event tether could hear.
RECHECK_INTERVAL_S = 5.0


class GpuScheduler:
    """Owns the GPU queue of one runner; every task it starts ends with `close`."""

    def __init__(
        self,
        jobs: JobManager,
        readings: GpuReadings,
        inventory: Optional[Iterable[int]] = None,
        recheck_s: float = RECHECK_INTERVAL_S,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.jobs = jobs
        # Given, else TETHER_GPUS (parsed now: a bad one stops the runner before it
        # starts anything), else what the GPU source finds (known at `start`).
        self._configured = configured_inventory(environ) if inventory is None else list(inventory)
        self.queue = GpuQueue(self._configured or [])
        self._readings = readings
        self._minds_others = minds_other_users(environ)
        self._recheck_s = recheck_s
        #: When a job last ended: busy checks want a sample taken after it.
        self._ended_at = 0.0
        self._lock = asyncio.Lock()
        self._tasks = TaskSet("gpu-queue")

    async def start(self) -> None:
        """Load the inventory and rebuild the allocation; call after the job table
        and the readings (the stats sampler) started."""
        if self._configured is None:
            self.queue = GpuQueue(sorted(indices(self._readings.inventory)))
        log.info("GPU queue: %d GPUs %s", len(self.queue.inventory), list(self.queue.inventory))
        self._rebuild()
        self.jobs.on_change.append(self._on_change)
        self._tasks.supervise("the GPU queue", self._recheck_forever, self.jobs.health)
        await self.dispatch()

    async def close(self) -> None:
        if self._on_change in self.jobs.on_change:
            self.jobs.on_change.remove(self._on_change)
        await self._tasks.close()

    # -- submitting ----------------------------------------------------------------

    async def submit(self, spec: JobSpec, key: Optional[str] = None) -> JobRecord:
        """Record the job and start it now, or queue it for GPUs; refuses, before
        recording anything, a request this host can never satisfy. A `key` an
        earlier submit used answers with that submit's job and starts nothing."""
        if spec.gpus is None:
            return (await self.jobs.submit(spec, key=key)).record
        if spec.gpus != "0":
            try:
                self.queue.check(spec.gpus)
            except GpuRequestError as exc:
                raise RunnerError(str(exc), ErrorCode.NO_GPUS) from None
        submitted = await self.jobs.submit(spec, ready_now=False, key=key)
        record = submitted.record
        if not submitted.created:
            return record
        if spec.gpus == "0":
            await self.jobs.launch(record, gpu_env([]))
            return record
        self.queue.enqueue(record.id, spec.gpus)
        self._publish()
        await self.dispatch()
        return record

    # -- granting ------------------------------------------------------------------

    async def dispatch(self) -> None:
        """Start every job whose turn has come and whose GPUs are free."""
        async with self._lock:
            if not self.queue.waiting:
                return
            grants = self.queue.grant(await self._busy())
            self._publish()
            for grant in grants:
                await self._launch(grant)

    async def _launch(self, grant: Grant) -> None:
        record = self._active_record(grant.job_id)
        if record is None:  # cancelled between the grant and now
            self.queue.release(grant.job_id)
            return
        log.info("job %d gets GPUs %s", record.id, list(grant.gpus))
        try:
            await self.jobs.assign_gpus(record, list(grant.gpus))
            if not self.jobs.is_active(record.id):  # cancelled while that was committed
                return
            await self.jobs.launch(record, gpu_env(grant.gpus))
        except RunnerError as exc:
            # The job table marked it failed; that change frees its GPUs.
            log.warning("job %d was granted GPUs but did not start: %s", record.id, exc)

    async def _busy(self) -> Set[int]:
        """Free GPUs that processes tether did not start are using."""
        seen = indices(self._readings.inventory)
        candidates = [g for g in self.queue.free() if g in seen]
        if not self._minds_others or not candidates:
            return set()  # GPUs the source cannot see (no driver) are never busy
        occupancy = await self._readings.occupancy(self._ended_at)
        if occupancy is None:
            log.warning("no GPU readings yet: lending GPUs without checking for other users")
            return set()
        return occupancy.busy(candidates)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self._recheck_s)
            if self.queue.waiting:
                await self.dispatch()

    # -- the job table's side ------------------------------------------------------

    def _on_change(self, record: JobRecord) -> None:
        if record.state.is_active:
            return
        self._ended_at = time.time()
        if record.id in self.queue.held or record.id in self.queue.waiting:
            self.queue.release(record.id)
            self._publish()
            self._tasks.spawn(self.dispatch())

    def _rebuild(self) -> None:
        """The allocation from the job table, after a (re)start."""
        for record in sorted(self.jobs.active_records(), key=lambda r: r.id):
            if record.gpus_requested in (None, "0"):
                if self.jobs.never_launched(record):  # the runner died before it could
                    env = gpu_env_of(record.gpus_requested, [])
                    self._tasks.spawn(self._relaunch(record, env))
                continue
            started = record.state is JobState.RUNNING or record.shim_pid is not None
            if started or self.jobs.files(record.id).claim_path.exists():
                held = self.queue.adopt(record.id, record.gpus)
                if list(held) != sorted(record.gpus):
                    log.warning(
                        "job %d holds GPUs %s, of which only %s are in this runner's inventory",
                        record.id,
                        record.gpus,
                        list(held),
                    )
                continue
            try:
                self.queue.enqueue(record.id, record.gpus_requested)
            except GpuRequestError as exc:
                self._tasks.spawn(self._refuse(record, str(exc)))
        self._publish()

    async def _relaunch(self, record: JobRecord, env: Dict[str, str]) -> None:
        log.info("starting job %d, recorded before the runner stopped", record.id)
        try:
            await self.jobs.launch(record, env)
        except RunnerError as exc:
            log.warning("job %d did not start: %s", record.id, exc)

    async def _refuse(self, record: JobRecord, reason: str) -> None:
        """A job queued under another inventory that this one can never run."""
        log.warning("cancelling queued job %d: %s", record.id, reason)
        await self.jobs.cancel(record.id)

    def _publish(self) -> None:
        # A fresh dict each time: the job table reads it from its database thread.
        self.jobs.queue_positions = self.queue.positions()

    def _active_record(self, job_id: int) -> Optional[JobRecord]:
        for record in self.jobs.active_records():
            if record.id == job_id:
                return record
        return None
