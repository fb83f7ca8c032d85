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

This is also where a job waits for others (``--after``, ``--after-any``), GPUs
or not: it is recorded as queued, but it joins the GPU queue (or starts, without
GPUs) only once `runner.jobs.lifecycle.readiness` says the jobs it names have
ended as it needs; it is looked at again whenever one of them ends, and after a
restart, from the job table, so a chain of jobs outlives the runner.

The queue can be paused (`set_paused`, kept in the database): nothing queued
starts, with GPUs or without, until it is resumed; running jobs go on. A job
whose failed attempt is to run again (``--retry``) comes back queued with a
time (`JobRecord.retry_at`); it is ready once that time comes, even after a
restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Dict, Iterable, List, Mapping, Optional, Set, Tuple

from protocol.errors import ErrorCode
from protocol.job_env import gpu_env, gpu_env_of
from protocol.jobs import JobSpec, JobState
from runner.errors import RunnerError
from runner.gpu.inventory import configured_inventory, minds_other_users
from runner.gpu.occupancy import GpuReadings, indices
from runner.gpu.queue import DEFAULT_STARVE_AFTER_S, GpuQueue, GpuRequestError, Grant
from runner.jobs.lifecycle import readiness
from runner.jobs.store import JobRecord
from runner.jobs.table import JobManager
from runner.tasks import TaskSet

log = logging.getLogger(__name__)

#: While jobs wait, look again this often: GPUs that other users' processes held
#: free up without any event tether could hear.
RECHECK_INTERVAL_S = 5.0
#: The database setting that says the queue is paused ("1") or not.
QUEUE_PAUSED = "queue_paused"


class GpuScheduler:
    """Owns the GPU queue of one runner; every task it starts ends with `close`."""

    def __init__(
        self,
        jobs: JobManager,
        readings: GpuReadings,
        inventory: Optional[Iterable[int]] = None,
        recheck_s: float = RECHECK_INTERVAL_S,
        environ: Mapping[str, str] = os.environ,
        starve_after_s: float = DEFAULT_STARVE_AFTER_S,
    ) -> None:
        self.jobs = jobs
        # Given, else TETHER_GPUS (parsed now: a bad one stops the runner before it
        # starts anything), else what the GPU source finds (known at `start`).
        self._configured = configured_inventory(environ) if inventory is None else list(inventory)
        self._starve_after_s = starve_after_s
        self.queue = GpuQueue(self._configured or [], starve_after_s)
        #: Queued jobs waiting for others to end (``--after``), by id, and what each
        #: still waits for; `_after_lock` makes one look at them at a time, so a
        #: job whose turn came is started once.
        self._after: Dict[int, JobRecord] = {}
        self._waiting_for: Dict[int, Tuple[int, ...]] = {}
        self._after_lock = asyncio.Lock()
        self._readings = readings
        self._minds_others = minds_other_users(environ)
        self._recheck_s = recheck_s
        #: When a job last ended: busy checks want a sample taken after it.
        self._ended_at = 0.0
        self._lock = asyncio.Lock()
        self._tasks = TaskSet("gpu-queue")
        #: Whether queued jobs are held (`set_paused`), and the jobs without GPUs
        #: that were ready to start meanwhile, by id.
        self.paused = False
        self._held: Dict[int, JobRecord] = {}
        #: Jobs waiting for their next attempt's time (``--retry``).
        self._retrying: Set[int] = set()

    async def start(self) -> None:
        """Load the inventory and rebuild the allocation; call after the job table
        and the readings (the stats sampler) started."""
        if self._configured is None:
            inventory = sorted(indices(self._readings.inventory))
            self.queue = GpuQueue(inventory, self._starve_after_s)
        log.info("GPU queue: %d GPUs %s", len(self.queue.inventory), list(self.queue.inventory))
        self.paused = await self.jobs.setting(QUEUE_PAUSED) == "1"
        self._rebuild()
        self.jobs.on_change.append(self._on_change)
        self._tasks.supervise("the GPU queue", self._recheck_forever, self.jobs.health)
        await self._reconsider(list(self._after))
        await self.dispatch()

    async def close(self) -> None:
        if self._on_change in self.jobs.on_change:
            self.jobs.on_change.remove(self._on_change)
        await self._tasks.close()

    # -- submitting ----------------------------------------------------------------

    async def submit(self, spec: JobSpec, key: Optional[str] = None) -> JobRecord:
        """Record the job and start it now, queue it for GPUs, or hold it until
        the jobs it runs after end; refuses, before recording anything, a request
        this host can never satisfy and an ``--after`` naming a job it does not
        have. A `key` an earlier submit used answers with that submit's job and
        starts nothing."""
        if spec.gpus not in (None, "0"):
            try:
                self.queue.check(spec.gpus)
            except GpuRequestError as exc:
                raise RunnerError(str(exc), ErrorCode.NO_GPUS) from None
        if spec.after:
            await self.jobs.check_after(spec.after)
        at_once = spec.gpus is None and not spec.after and not self.paused
        submitted = await self.jobs.submit(spec, ready_now=at_once, key=key)
        record = submitted.record
        if not submitted.created or at_once:
            return record
        if record.after:
            self._after[record.id] = record
            await self._reconsider([record.id])
        else:
            await self._ready(record, time.time())
        return record

    async def set_priority(self, job_id: int, priority: int) -> JobRecord:
        """Change a queued job's priority (committed), moving it in the GPU queue;
        a job that has started (or been granted its GPUs) is refused."""
        record = await self.jobs.record(job_id)
        if not self.jobs.never_launched(record) or job_id in self.queue.held:
            now = (
                f"is {record.state.value}"
                if record.state.is_active
                else f"has ended ({record.state.value})"
            )
            raise RunnerError(
                f"job {job_id} {now}: only a queued job's priority can change",
                ErrorCode.JOB_NOT_ACTIVE,
            )
        await self.jobs.set_priority(record, priority)
        if self.queue.is_waiting(job_id):
            self.queue.set_priority(job_id, priority)
            self._publish()
            await self.dispatch()
        return record

    async def set_paused(self, paused: bool) -> None:
        """Stop (or restart) starting queued jobs; committed before it acts, so a
        restarted runner keeps the queue as it was left. Resuming starts what
        waited meanwhile."""
        await self.jobs.set_setting(QUEUE_PAUSED, "1" if paused else "0")
        self.paused = paused
        if paused:
            return
        held, self._held = list(self._held.values()), {}
        for record in sorted(held, key=lambda r: r.id):
            await self._ready(record, record.created_at)
        await self.dispatch()

    # -- running a failed attempt again (--retry) --------------------------------------

    def _retry_later(self, record: JobRecord) -> None:
        """Make the job ready once its next attempt's time comes."""
        if record.id in self._retrying:
            return
        self._retrying.add(record.id)
        self._tasks.spawn(self._retry_at(record))

    async def _retry_at(self, record: JobRecord) -> None:
        try:
            await asyncio.sleep(max(0.0, (record.retry_at or 0.0) - time.time()))
        finally:
            self._retrying.discard(record.id)
        if self.jobs.is_active(record.id) and self.jobs.never_launched(record):
            await self._ready(record, time.time())

    # -- waiting for other jobs (--after) ----------------------------------------------

    async def _reconsider(self, job_ids: Iterable[int]) -> None:
        """Look again at jobs waiting for others: start those whose turn came,
        end those that can never start (a job they need failed)."""
        ready: List[JobRecord] = []
        async with self._after_lock:
            waiting = [self._after[i] for i in job_ids if i in self._after]
            needed = {dep for record in waiting for dep in record.after}
            states = await self.jobs.states_of(needed)
            for record in waiting:
                verdict = readiness(record.after, states, record.after_any)
                if verdict.failed is not None:
                    # Ended first, then forgotten: a write that fails (a full disk)
                    # leaves it waiting, to be decided again at the next look.
                    await self.jobs.after_failed(record, verdict.failed)
                    self._after.pop(record.id, None)
                    self._waiting_for.pop(record.id, None)
                elif verdict.ready:
                    del self._after[record.id]
                    self._waiting_for.pop(record.id, None)
                    ready.append(record)
                else:
                    self._waiting_for[record.id] = verdict.waiting_for
            self._publish()
        for record in ready:
            await self._ready(record, time.time())

    async def _ready(self, record: JobRecord, since: float) -> None:
        """A job free to start as far as other jobs go: start it now (no GPUs
        asked, or ``--gpus 0``), or queue it for its GPUs, waiting from `since`."""
        if not self.jobs.is_active(record.id):  # cancelled meanwhile
            return
        request = record.gpus_requested
        if self.paused and request in (None, "0"):
            self._held[record.id] = record  # started by `set_paused(False)`
            return
        if request is None or request == "0":
            try:
                await self.jobs.launch(record, gpu_env_of(request, []))
            except RunnerError as exc:
                log.warning("job %d did not start: %s", record.id, exc)
            return
        try:
            self.queue.enqueue(record.id, request, record.priority, since)
        except GpuRequestError as exc:
            await self._refuse(record, str(exc))
            return
        self._publish()
        await self.dispatch()

    # -- granting ------------------------------------------------------------------

    async def dispatch(self) -> None:
        """Start every job whose turn has come and whose GPUs are free."""
        async with self._lock:
            if not self.queue.waiting or self.paused:
                return
            grants = self.queue.grant(await self._busy(), time.time())
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
        if record.state is JobState.QUEUED and record.retry_at is not None:
            self._retry_queued(record)
        if record.state.is_active:
            return
        self._held.pop(record.id, None)
        self._ended_at = time.time()
        if record.id in self.queue.held or self.queue.is_waiting(record.id):
            self.queue.release(record.id)
            self._publish()
            self._tasks.spawn(self.dispatch())
        if self._after.pop(record.id, None) is not None:  # cancelled while it waited
            self._waiting_for.pop(record.id, None)
            self._publish()
        waiters = [r.id for r in self._after.values() if record.id in r.after]
        if waiters:
            self._tasks.spawn(self._reconsider(waiters))

    def _retry_queued(self, record: JobRecord) -> None:
        """A job whose attempt failed and that runs again: the GPUs of the
        attempt that ended are free, and it is ready at its `retry_at`."""
        if record.id in self.queue.held:
            self.queue.release(record.id)
            self._publish()
            self._tasks.spawn(self.dispatch())
        if self.jobs.never_launched(record) and not self.queue.is_waiting(record.id):
            self._retry_later(record)

    def _rebuild(self) -> None:
        """The allocation from the job table, after a (re)start: running jobs keep
        their GPUs, jobs waiting for others wait again (`start` looks at them),
        and the rest queue again, waiting since they were submitted."""
        for record in sorted(self.jobs.active_records(), key=lambda r: r.id):
            if record.retry_at is not None and self.jobs.never_launched(record):
                self._retry_later(record)  # a failed attempt's next one
                continue
            if record.after and self.jobs.never_launched(record):
                self._after[record.id] = record
                continue
            if record.gpus_requested in (None, "0"):
                if self.jobs.never_launched(record) and self.paused:
                    self._held[record.id] = record
                elif self.jobs.never_launched(record):  # the runner died before it could
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
                self.queue.enqueue(
                    record.id, record.gpus_requested, record.priority, record.created_at
                )
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
        # Fresh dicts each time: the job table reads them from its database thread.
        self.jobs.queue_positions = self.queue.positions()
        self.jobs.waiting_for = {i: list(deps) for i, deps in self._waiting_for.items()}

    def _active_record(self, job_id: int) -> Optional[JobRecord]:
        for record in self.jobs.active_records():
            if record.id == job_id:
                return record
        return None
