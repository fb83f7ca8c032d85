"""The job table: submit, launch through a shim, watch, finalize, cancel, re-adopt.

The runner never owns a job's process. It launches a shim, records who the shim
is, and learns the outcome from the shim's exit record; after a restart it reads
the same files and carries on. All SQLite work goes through one thread.

This module gathers facts and applies decisions; which state a job moves to is
decided in one place only, `runner.jobs.lifecycle`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shlex
import signal
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    cast,
)

from protocol.errors import ErrorCode
from protocol.job_env import launch_env
from protocol.jobs import (
    AttemptInfo,
    JobFlag,
    JobInfo,
    JobSpec,
    JobState,
    RetryOn,
    SlurmRequest,
    printable,
)
from protocol.limits import MAX_LIST_JOBS, SNAPSHOT_KEEP_DAYS
from runner.disk_space import full_error
from runner.errors import RunnerError
from runner.faults import crash_point, fail_point
from runner.jobs.files import JobFiles, LaunchSpec, job_umask, log_size
from runner.jobs.lifecycle import (
    RETRY_BACKOFF_S,
    Event,
    JobFacts,
    Transition,
    decide,
    reason_could_not_start,
    refusal,
    retry_delay,
    retry_reason,
    should_retry,
)
from runner.jobs.observe import observe, record_shim, shim_alive, signal_group
from runner.jobs.proc import boot_id, job_leftovers, kill_all, pidfd_open
from runner.jobs.slurm_jobs import LOOK_INTERVAL_S, SlurmJobs
from runner.jobs.slurm_lifecycle import decide_slurm
from runner.jobs.store import JobRecord, JobStore
from runner.paths import CODE_ROOT, RunnerPaths, home_dir
from runner.slurm.script import per_node_argv
from runner.sync.collect import Usage
from runner.sync.store import COLLECT_EVERY_S, SyncStore
from runner.tasks import Health, TaskSet

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long a cancelled job gets between SIGTERM and SIGKILL.
DEFAULT_CANCEL_GRACE_S = 10.0
#: A safety net under the pidfd watch (and the only watch where pidfds are missing).
SWEEP_INTERVAL_S = 1.0
#: A job that has written nothing and reported no metric this long is `stalled`
#: (a job's ``--stall-after`` overrides it).
DEFAULT_STALL_AFTER_S = 30 * 60.0
SWEEP = "the job sweep"


@dataclasses.dataclass(frozen=True)
class Submitted:
    """The job a submit answers with, and whether this submit made it."""

    record: JobRecord
    created: bool


def default_job_name(argv: List[str]) -> str:
    """The command line, made printable as a ``--name`` must be (`printable`): an
    escape sequence in the command is named in the job's name, never carried."""
    command = argv[2] if len(argv) == 3 and argv[:2] == ["bash", "-lc"] else shlex.join(argv)
    shown = printable(command)
    return shown if len(shown) <= 60 else shown[:59] + "…"


class JobManager:
    def __init__(
        self,
        paths: RunnerPaths,
        cancel_grace_s: float = DEFAULT_CANCEL_GRACE_S,
        health: Optional[Health] = None,
        snapshot_keep_days: float = SNAPSHOT_KEEP_DAYS,
        retry_backoff_s: Sequence[float] = RETRY_BACKOFF_S,
        stall_after_s: float = DEFAULT_STALL_AFTER_S,
        executor: str = "local",
    ) -> None:
        self.paths = paths
        self._jobs_dir = str(paths.jobs_dir)
        #: A job's ``--stall-after`` when it gave none (``TETHER_STALL_AFTER``; 0: never).
        self.stall_after_s = stall_after_s
        #: Where a job runs when it does not say (``TETHER_EXECUTOR``), and the way to Slurm.
        self.executor = executor
        self.slurm = SlurmJobs()
        #: The waits before a failed attempt's retry (``TETHER_RETRY_BACKOFF``).
        self.retry_backoff_s = tuple(retry_backoff_s)
        #: The snapshot store: synced jobs run in private copies of its snapshots.
        self.snapshots = SyncStore(paths, snapshot_keep_days)
        #: The runner's health: its supervised loops (here, the GPU queue's, the
        #: sampler's) report failures to it, and `tether status` shows them.
        self.health = health or Health()
        self.cancel_grace_s = cancel_grace_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tether-db")
        self._store: Optional[JobStore] = None
        self._active: Dict[int, JobRecord] = {}
        self._finished: Dict[int, asyncio.Event] = {}
        self._watched: Dict[int, int] = {}  # job id -> pidfd
        self._tasks = TaskSet("jobs")
        self._launching: set[int] = set()
        #: Jobs a shim may have claimed: launched by this runner, or found claimed
        #: at its start. Only these are looked for a claim at each sweep, not
        #: every queued job (ten thousand stats a second, for nothing).
        self._launched: set[int] = set()
        #: Jobs a look (`_check`) is deciding now: a second look at the same job
        #: (the pidfd and the sweep at once) leaves it to the first, so an ended
        #: attempt is never retried twice.
        self._deciding: set[int] = set()
        self._boot_id = boot_id()
        #: Called with every job whose state changed (the GPU queue listens).
        self.on_change: List[Callable[[JobRecord], None]] = []
        #: Queued job id -> position in the GPU queue (1 = next), set by the queue.
        self.queue_positions: Dict[int, int] = {}
        #: When Slurm expects each pending Slurm job to start, where it says.
        self.slurm_starts: Dict[int, float] = {}
        #: Queued job id -> the jobs it still waits for (``--after``), set by the queue.
        self.waiting_for: Dict[int, List[int]] = {}
        #: Running job id -> what the watchdog noticed (`runner.jobs.watchdog`).
        self.flags: Dict[int, FrozenSet[JobFlag]] = {}

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        self._store = await self._db_call(JobStore, self.paths.database)
        for record in await self._db(lambda s: s.active()):
            self._active[record.id] = record
            self._finished[record.id] = asyncio.Event()
        for record in list(self._active.values()):
            if self.files(record.id).claim_path.exists():
                self._launched.add(record.id)
            await self._readopt(record)
        self._tasks.supervise(SWEEP, self._sweep_forever, self.health)
        await self.snapshots.start(self._snapshot_usage, self.health, COLLECT_EVERY_S)

    async def close(self) -> None:
        await self.snapshots.close()
        await self._tasks.close()
        loop = asyncio.get_running_loop()
        for fd in self._watched.values():
            loop.remove_reader(fd)
            os.close(fd)
        self._watched.clear()
        if self._store is not None:
            await self._db(lambda s: s.close())
        self._executor.shutdown(wait=True)

    # -- queries ---------------------------------------------------------------

    async def get(self, job_id: int) -> JobInfo:
        return await self._db_call(self.to_info, await self.record(job_id))

    async def record(self, job_id: int) -> JobRecord:
        """The job's record as it stands (NO_SUCH_JOB if there is none)."""
        record = self._active.get(job_id) or await self._db(lambda s: s.get(job_id))
        if record is None:
            raise RunnerError(f"no job {job_id} on this runner", ErrorCode.NO_SUCH_JOB)
        return record

    async def spec_of(self, job_id: int) -> JobSpec:
        """What job `job_id` was submitted with, to run it again: the same command,
        name, environment, GPUs, ports, queue order (``--after`` too) and flags, in
        a fresh copy of the same snapshot (from
        the same folder of it) or in the same directory."""
        record = await self.record(job_id)
        return JobSpec(
            argv=record.argv,
            name=record.name,
            cwd=record.tree_cwd if record.snapshot is not None else record.cwd,
            env=record.env,
            gpus=record.gpus_requested,
            snapshot=None if record.snapshot is None else record.snapshot.id,
            ports=record.ports,
            priority=record.priority,
            retry=record.retry,
            retry_on=record.retry_on,
            group=record.job_group,
            labels=record.labels,
            after=record.after,
            after_any=record.after_any,
            stall_after=record.stall_after,
        )

    async def states_of(self, job_ids: Iterable[int]) -> Dict[int, JobState]:
        """The state of each of `job_ids` that exists: an active job's as this
        table holds it (it may be ahead of nothing, but never behind the database)."""
        wanted = set(job_ids)
        stored = await self._db(lambda s: s.states(wanted - set(self._active)))
        stored.update({i: self._active[i].state for i in wanted if i in self._active})
        return stored

    async def check_after(self, after: Iterable[int]) -> None:
        """Refuse (NO_SUCH_JOB) an ``--after`` naming a job this host does not have:
        a job can wait only for jobs submitted before it, so waits never loop."""
        wanted = sorted(set(after))
        found = await self.states_of(wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise RunnerError(
                f"--after names job {missing[0]}, which this host does not have "
                "(a job can wait only for jobs submitted before it)",
                ErrorCode.NO_SUCH_JOB,
            )

    async def listing(
        self,
        include_finished: bool,
        group: Optional[str] = None,
        before: Optional[int] = None,
        limit: int = MAX_LIST_JOBS,
    ) -> Tuple[List[JobInfo], bool]:
        """One page of at most `limit`, newest first, and whether older jobs match too."""

        def query(store: JobStore) -> Tuple[List[JobInfo], bool]:
            records = store.listing(include_finished, limit + 1, group, before)
            return [self.to_info(r) for r in records[:limit]], len(records) > limit

        return await self._db(query)

    async def infos(self, job_ids: Sequence[int]) -> List[JobInfo]:
        """Jobs `job_ids` as they stand, in id order (an id with no job is left out)."""
        return await self._db(lambda s: [self.to_info(r) for r in s.records_of(job_ids)])

    async def counts(self) -> Dict[str, int]:
        return await self._db(lambda s: s.counts())

    def files(self, job_id: int) -> JobFiles:
        return JobFiles(self.paths.job_dir(job_id))

    async def log_path(self, job_id: int, attempt: Optional[int] = None) -> Path:
        """The log of the job's attempt `attempt` (None: its latest), refused
        (NO_SUCH_JOB, BAD_REQUEST) for a job or an attempt there is not."""
        record = await self.record(job_id)
        if attempt is not None and attempt > record.attempt:
            have = "1 attempt" if record.attempt == 1 else f"{record.attempt} attempts"
            raise RunnerError(f"job {job_id} has had {have}, not {attempt}", ErrorCode.BAD_REQUEST)
        return self.files(job_id).log_path_of(attempt, record.attempt)

    async def attempt_now(self, job_id: int) -> int:
        """Which attempt of the job runs (or ran last)."""
        return (await self.record(job_id)).attempt

    def active_attempt(self, job_id: int) -> Optional[int]:
        """The attempt of a job that has not ended (None once it has): read from
        memory, cheap enough to ask at every turn of a follow."""
        record = self._active.get(job_id)
        return None if record is None else record.attempt

    def never_launched(self, record: JobRecord) -> bool:
        """A queued job no shim ever claimed, and no launch is starting: safe to
        launch (the claim stops a second shim should one be starting after all)."""
        return (
            record.state is JobState.QUEUED
            and record.shim_pid is None
            and record.slurm_id is None
            and record.id not in self._launching
            and not self.files(record.id).claim_path.exists()
        )

    def is_active(self, job_id: int) -> bool:
        return job_id in self._active

    def active_records(self) -> List[JobRecord]:
        return list(self._active.values())

    async def ended_records(self) -> List[JobRecord]:
        """Jobs that ended in the last day, or still leave processes on a GPU:
        the stats sampler watches them for leaked GPU memory."""

        def query(store: JobStore) -> List[JobRecord]:
            recent = store.listing(False, MAX_LIST_JOBS)
            leaking = [r for r in store.listing(True, MAX_LIST_JOBS) if r.leaked_gpu_pids]
            seen = {r.id for r in recent}
            ended = recent + [r for r in leaking if r.id not in seen]
            return [r for r in ended if not r.state.is_active]

        return await self._db(query)

    async def set_leaked_gpu_pids(self, job_id: int, pids: List[int]) -> None:
        """Record which processes an ended job left holding GPU memory (none: [])."""

        def update(store: JobStore) -> None:
            record = store.get(job_id)
            if record is not None and record.leaked_gpu_pids != pids:
                record.leaked_gpu_pids = list(pids)
                store.update(record)

        await self._db(update)

    async def wait_finished(self, job_id: int, timeout: Optional[float] = None) -> bool:
        event = self._finished.get(job_id)
        if event is None:
            return True
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def stall_after_of(self, record: JobRecord) -> float:
        return self.stall_after_s if record.stall_after is None else record.stall_after

    def set_flags(self, record: JobRecord, flags: FrozenSet[JobFlag]) -> None:
        """What the watchdog noticed of a running job now; watchers hear of a change."""
        if self.flags.get(record.id, frozenset()) == flags or record.id not in self._active:
            return
        if flags:
            self.flags[record.id] = flags
        else:
            self.flags.pop(record.id, None)
        self._notify(record)

    def to_info(self, record: JobRecord) -> JobInfo:
        # Built without validation: every value comes from the runner's own record,
        # already typed, and the client validates what it receives. A listing makes
        # 10,000 of these, where validating would be a third of its time.
        return JobInfo.model_construct(
            id=record.id,
            name=record.name,
            state=record.state,
            argv=record.argv,
            cwd=record.cwd,
            env=record.env,
            gpus_requested=record.gpus_requested,
            gpus=record.gpus,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            exit_code=record.exit_code,
            signal=record.signal,
            log_bytes=log_size(f"{self._jobs_dir}/{record.id}"),
            queue_position=(
                self.queue_positions.get(record.id) if record.state is JobState.QUEUED else None
            ),
            reason=record.reason,
            leaked_gpu_pids=record.leaked_gpu_pids,
            snapshot=record.snapshot,
            ports=record.ports,
            after=record.after,
            after_any=record.after_any,
            waiting_for=(
                self.waiting_for.get(record.id, []) if record.state is JobState.QUEUED else []
            ),
            priority=record.priority,
            attempt=record.attempt,
            attempts=record.retry + 1,
            retry_on=cast(RetryOn, record.retry_on),
            retry_at=record.retry_at if record.state is JobState.QUEUED else None,
            past_attempts=[AttemptInfo.model_validate(a) for a in record.past_attempts]
            if record.past_attempts
            else [],
            group=record.job_group,
            labels=record.labels,
            flags=sorted(flag.value for flag in self.flags[record.id])
            if record.id in self.flags
            else [],
            stall_after=self.stall_after_of(record),
            executor="slurm" if record.on_slurm else "local",
            slurm_id=record.slurm_id,
            nodes=record.nodes,
            expected_start=(
                self.slurm_starts.get(record.id) if record.state is JobState.QUEUED else None
            ),
            slurm=SlurmRequest.model_validate(record.slurm) if record.slurm is not None else None,
        )

    async def _snapshot_usage(self, since: float) -> Usage:
        snapshots, trees = await self._db(lambda s: s.snapshot_usage(since))
        return Usage(snapshots=snapshots, trees=trees)

    # -- submit and launch -------------------------------------------------------

    async def submit(
        self, spec: JobSpec, ready_now: bool = True, key: Optional[str] = None
    ) -> Submitted:
        """Record the job (committed before this returns) and launch it unless
        `ready_now` is False (the GPU queue then launches it later).

        A `key` already used by an earlier submit records nothing: the answer is
        that submit's job (``created`` False), so a client that lost the first
        answer can ask again without making a second job (nor a second copy of
        its snapshot).

        A job in a snapshot (`JobSpec.snapshot`) gets a private copy of it before
        it is recorded, and runs there; a copy whose job could not be recorded
        is removed, so a failed submit leaves neither job nor copy."""
        if key is not None:
            earlier = await self._submitted_before(key)
            if earlier is not None:
                return Submitted(earlier, created=False)
        if not spec.argv or not spec.argv[0]:
            raise RunnerError(
                "the command is empty: give a program to run", ErrorCode.EMPTY_COMMAND
            )
        if spec.snapshot is None:
            record = self._new_record(spec, self._resolve_cwd(spec.cwd), key)
            await self._check_slurm(spec, record)
            submitted = await self._insert(record)
        else:
            async with self.snapshots.materialized(spec.snapshot, spec.cwd, job_umask()) as tree:
                record = self._new_record(spec, str(tree.cwd), key)
                await self._check_slurm(spec, record)
                record.snapshot = tree.snapshot
                record.tree = str(tree.root)
                submitted = await self._insert(record)
                tree.claimed = submitted.created
        if not submitted.created:
            return submitted
        record = submitted.record
        crash_point("submit.committed")
        if ready_now:
            await self.launch(record)
        else:
            self._notify(record)  # queued: watchers of the job table see it now
        return submitted

    def _new_record(self, spec: JobSpec, cwd: str, key: Optional[str]) -> JobRecord:
        return JobRecord(
            id=0,
            name=spec.name or default_job_name(spec.argv),
            state=JobState.QUEUED,
            argv=list(spec.argv),
            cwd=cwd,
            env=dict(spec.env),
            created_at=time.time(),
            gpus_requested=spec.gpus,
            submit_key=key,
            ports=list(spec.ports),
            after=list(spec.after),
            after_any=spec.after_any,
            priority=spec.priority,
            retry=spec.retry,
            retry_on=spec.retry_on,
            job_group=spec.group,
            labels=dict(spec.labels),
            stall_after=spec.stall_after,
            executor=spec.executor or self.executor,
            slurm=spec.slurm.model_dump() if spec.slurm is not None else None,
        )

    async def _insert(self, record: JobRecord) -> Submitted:
        """Record a new job (committed); an earlier submit's job if its key is
        taken (the same key, asked twice at once)."""
        try:
            record = await self._db(lambda s: s.insert(record))
        except sqlite3.IntegrityError:
            earlier = await self._submitted_before(record.submit_key or "")
            if earlier is None:
                raise
            return Submitted(earlier, created=False)
        self._active[record.id] = record
        self._finished[record.id] = asyncio.Event()
        return Submitted(record, created=True)

    async def _submitted_before(self, key: str) -> Optional[JobRecord]:
        found = await self._db(lambda s: s.by_submit_key(key))
        if found is None:
            return None
        return self._active.get(found.id, found)

    def _resolve_cwd(self, cwd: Optional[str]) -> str:
        path = Path(cwd).expanduser() if cwd else home_dir()
        if not path.is_absolute():
            path = home_dir() / path
        if not path.is_dir():
            what = "does not exist" if not path.exists() else "is not a directory"
            raise RunnerError(f"working directory {path} {what} on this host", ErrorCode.BAD_CWD)
        if not os.access(path, os.R_OK | os.X_OK):
            raise RunnerError(f"working directory {path} is not accessible", ErrorCode.BAD_CWD)
        return str(path)

    async def assign_gpus(self, record: JobRecord, gpus: List[int]) -> None:
        """Record (committed) the GPUs a queued job was granted, before it launches,
        so that a restarted runner knows they are taken."""
        await self._commit(record, gpus=list(gpus))

    async def launch(self, record: JobRecord, extra_env: Optional[Dict[str, str]] = None) -> None:
        """Start the job's shim and wait until the job is running (or failed to)."""
        self._launching.add(record.id)
        self._launched.add(record.id)
        try:
            if record.on_slurm:
                await self._launch_slurm(record, extra_env or {})
            else:
                await self._launch(record, extra_env or {})
        except OSError as exc:  # no shim started (no spec file, no process): it failed
            reason = full_error(exc, self.paths.state_dir) or exc
            facts = JobFacts(record.state, time.time(), launch_error=str(reason))
            transition = decide(Event.LAUNCHED, facts)
            if transition is not None and record.id in self._active:
                try:
                    await self._apply(record, transition)
                except Exception:  # the database is as full: the next start decides again
                    log.exception("job %d could not be marked failed", record.id)
            raise
        finally:
            self._launching.discard(record.id)

    def _launch_spec(
        self, record: JobRecord, extra_env: Dict[str, str], argv: List[str]
    ) -> LaunchSpec:
        files = self.files(record.id)
        env = launch_env(record.id, record.env, extra_env)
        env["TETHER_METRICS"] = str(files.metrics_path)
        env["TETHER_ATTEMPT"] = str(record.attempt)  # 1 first: resume from a checkpoint after
        return LaunchSpec(record.id, argv, record.cwd, env, self.cancel_grace_s)

    async def _check_slurm(self, spec: JobSpec, record: JobRecord) -> None:
        """Refuse, before it is recorded, a Slurm job Slurm would refuse."""
        if not record.on_slurm:
            return
        if spec.gpus is not None:
            raise RunnerError(
                "a Slurm job asks Slurm for its GPUs (SlurmRequest.gpus, per node), "
                "not the runner's GPU queue",
                ErrorCode.BAD_REQUEST,
            )
        await self.slurm.check(record)

    async def _launch_slurm(self, record: JobRecord, extra_env: Dict[str, str]) -> None:
        """Hand the job to Slurm: it stays queued, with Slurm's reason, until
        Slurm starts its shim. A refusal (the cluster changed since the submit was
        checked) ends it failed, in Slurm's words."""
        files = self.files(record.id)
        nodes = (record.slurm or {}).get("nodes")
        argv = per_node_argv(record.argv) if nodes is not None else list(record.argv)
        await self._db_call(files.write_spec, self._launch_spec(record, extra_env, argv))
        try:
            slurm_id = await self.slurm.submit(record, files)
        except RunnerError as exc:
            reason = reason_could_not_start(str(exc))
            await self._apply(record, Transition(JobState.FAILED, time.time(), reason=reason))
            raise
        await self._commit(record, slurm_id=slurm_id, reason=None)
        log.info("job %d: Slurm job %d", record.id, slurm_id)
        self._notify(record)
        if record.cancel_requested:  # cancelled while it was being submitted
            await self.slurm.cancel(slurm_id)

    async def _launch(self, record: JobRecord, extra_env: Dict[str, str]) -> None:
        files = self.files(record.id)
        spec = self._launch_spec(record, extra_env, list(record.argv))
        await self._db_call(files.write_spec, spec)
        crash_point("launch.spec_written")
        launcher_env = dict(os.environ)
        launcher_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(CODE_ROOT), os.environ.get("PYTHONPATH")) if p
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runner.jobs.shim",
            str(files.dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd="/",
            env=launcher_env,
        )
        _, err = await proc.communicate()
        crash_point("launch.shim_started")
        error: Optional[str] = None
        if proc.returncode != 0 or files.read_shim() is None:
            error = err.decode(errors="replace").strip() or f"shim exited {proc.returncode}"
        else:
            record_shim(record, files)
        facts = JobFacts(record.state, time.time(), shim_pid=record.shim_pid, launch_error=error)
        transition = decide(Event.LAUNCHED, facts)
        if transition is not None:
            await self._apply(record, transition)
        if error is not None:
            raise RunnerError(f"job {record.id} could not start: {error}", ErrorCode.SPAWN_FAILED)
        if record.cancel_requested:  # cancelled while it was launching
            self._signal_shim(record)

    def _signal_shim(self, record: JobRecord) -> None:
        """SIGTERM (cancel) to the job's shim, if that very process still runs."""
        if record.shim_pid and shim_alive(record):
            try:
                os.kill(record.shim_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _observe(self, record: JobRecord) -> JobFacts:
        return observe(record, self.files(record.id), self._boot_id, record.id in self._launching)

    # -- cancel ------------------------------------------------------------------

    async def cancel(self, job_id: int, key: Optional[str] = None) -> JobInfo:
        """Stop the job. A cancel asked again with the `key` of the one that
        stopped it answers with the job, where another would hear that it has
        already ended."""
        record = self._active.get(job_id)
        if record is None:
            info = await self.get(job_id)  # raises NO_SUCH_JOB
            ended = await self._db(lambda s: s.get(job_id))
            if key is not None and ended is not None and ended.cancel_key == key:
                return info
            raise RunnerError(
                f"job {job_id} has already ended ({info.state.value})", ErrorCode.JOB_NOT_ACTIVE
            )
        facts = JobFacts(
            record.state,
            time.time(),
            shim_pid=record.shim_pid,
            launching=record.id in self._launching,
        )
        # A job handed to Slurm is Slurm's to stop, pending or not.
        submitted = record.on_slurm and record.slurm_id is not None
        transition = None if submitted else decide(Event.CANCEL, facts)
        if transition is not None:
            await self._apply(record, transition, cancel_key=key)
            return await self.get(job_id)
        await self._commit(record, cancel_requested=True, cancel_key=key or record.cancel_key)
        crash_point("cancel.recorded")
        wait = self.cancel_grace_s + 5.0
        if record.on_slurm:
            # ``scancel`` the whole job, steps included (one still being submitted
            # is cancelled once it has its id); Slurm's signals reach the shim, and
            # the sweep's next look at Slurm records the end.
            if record.slurm_id is not None:
                await self.slurm.cancel(record.slurm_id)
            wait += LOOK_INTERVAL_S + SWEEP_INTERVAL_S
        else:
            self._signal_shim(record)
            if record.state is JobState.PAUSED:  # stopped, it could not even die: continue it
                signal_group(record, signal.SIGCONT)
        await self.wait_finished(job_id, wait)
        return await self.get(job_id)

    async def after_failed(self, record: JobRecord, reason: str) -> None:
        """End a queued job that can never start because a job it runs after
        failed (`reason` says which), as the lifecycle decides."""
        facts = JobFacts(
            record.state,
            time.time(),
            shim_pid=record.shim_pid,
            launching=record.id in self._launching,
            after_failed=reason,
        )
        transition = decide(Event.AFTER_FAILED, facts)
        if transition is not None and record.id in self._active:
            await self._apply(record, transition)

    async def pause(self, job_id: int, paused: bool) -> JobInfo:
        """Stop (SIGSTOP) or continue (SIGCONT) a started job's whole process
        group, as the lifecycle allows; refused (JOB_NOT_ACTIVE) with the reason
        otherwise. The state is committed first and the signal follows, so a
        runner that dies in between sends it when it re-adopts the job."""
        record = await self.record(job_id)
        if record.on_slurm and record.state.is_active:
            raise RunnerError(
                f"job {job_id} runs in Slurm, which tether cannot pause: "
                f"scontrol {'suspend' if paused else 'resume'} {record.slurm_id} does, "
                "where the cluster allows it",
                ErrorCode.JOB_NOT_ACTIVE,
            )
        event = Event.PAUSE if paused else Event.RESUME
        facts = JobFacts(record.state, time.time(), shim_pid=record.shim_pid)
        if record.id in self._active:
            facts = self._observe(record)
        transition = decide(event, facts)
        if transition is None:
            raise RunnerError(refusal(event, job_id, record.state), ErrorCode.JOB_NOT_ACTIVE)
        await self._commit(record, state=transition.state)
        crash_point("pause.recorded")
        signal_group(record, signal.SIGSTOP if paused else signal.SIGCONT)
        self._notify(record)
        return await self.get(job_id)

    async def active_in_group(self, group: str) -> List[int]:
        """The jobs of `group` that have not ended, oldest first."""
        return sorted(r.id for r in self._active.values() if r.job_group == group)

    async def cancelled_with(self, key: str) -> List[int]:
        """The jobs an earlier group cancel with this idempotency key stopped."""
        return await self._db(lambda s: s.cancelled_with(key))

    async def setting(self, name: str) -> Optional[str]:
        """A runner setting kept in the database across restarts."""
        return await self._db(lambda s: s.setting(name))

    async def set_setting(self, name: str, value: str) -> None:
        await self._db(lambda s: s.set_setting(name, value))

    async def set_priority(self, record: JobRecord, priority: int) -> None:
        """Record a queued job's new priority (committed), and tell the watchers."""
        await self._commit(record, priority=priority)
        self._notify(record)

    # -- watching and finalizing -------------------------------------------------

    def _watch(self, record: JobRecord) -> None:
        if record.shim_pid is None or record.id in self._watched or record.on_slurm:
            return
        fd = pidfd_open(record.shim_pid)
        if fd is None:  # already gone, or no pidfds here: look now, the sweep covers the rest
            self._tasks.spawn(self._check(record))
            return
        self._watched[record.id] = fd
        asyncio.get_running_loop().add_reader(fd, self._on_shim_exit, record.id)

    def _unwatch(self, job_id: int) -> None:
        fd = self._watched.pop(job_id, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def _on_shim_exit(self, job_id: int) -> None:
        self._unwatch(job_id)
        record = self._active.get(job_id)
        if record is not None:
            self._tasks.spawn(self._check(record))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            fail_point("sweep")
            await self.slurm.refresh(self._active.values())
            for record in list(self._active.values()):
                if record.id in self._launching:
                    continue
                if record.on_slurm:
                    if record.slurm_id is not None:
                        await self._check(record)
                elif record.state is JobState.RUNNING or (
                    record.id in self._launched and self.files(record.id).claim_path.exists()
                ):
                    await self._check(record)
            self.health.ok(SWEEP)

    async def _check(self, record: JobRecord) -> None:
        """Look at the job's files and shim, and apply what the lifecycle decides."""
        if record.id not in self._active or record.id in self._deciding:
            return
        self._deciding.add(record.id)
        try:
            await self._decide(record)
        finally:
            self._deciding.discard(record.id)

    async def _decide(self, record: JobRecord) -> None:
        if record.on_slurm:
            transition = await self._look_at_slurm(record)
        else:
            transition = decide(Event.LOOKED, self._observe(record))
        if transition is None:
            return
        if transition.ended and should_retry(
            transition, record.retry_on, record.attempt, record.retry, record.cancel_requested
        ):
            await self._retry(record, transition)
        else:
            await self._apply(record, transition)

    async def _look_at_slurm(self, record: JobRecord) -> Optional[Transition]:
        """What Slurm and the shim's files say of a submitted Slurm job (Slurm
        asked first: see `runner.jobs.slurm_lifecycle`); its pending reason and
        nodes are kept on the record as they change."""
        if record.slurm_id is None:
            return None
        try:
            answer = await self.slurm.answer(record.slurm_id)
        except RunnerError as exc:  # the controller is down: look again later
            log.warning("job %d: Slurm did not answer: %s", record.id, exc)
            return None
        files = self.files(record.id)
        exit_record = files.read_exit()
        if record.shim_pid is None and files.read_shim() is not None:
            record_shim(record, files)
        look = decide_slurm(
            record.state,
            answer,
            exit_record,
            record.cancel_requested,
            time.time(),
            started=record.shim_pid is not None,
        )
        moved = look.transition
        changes: Dict[str, Any] = {}
        if look.nodes != record.nodes:
            changes["nodes"] = look.nodes
        if moved is None and look.reason != record.reason:
            changes["reason"] = look.reason
        start_moved = self._note_slurm_start(record.id, look.expected_start)
        if moved is not None and moved.state is JobState.RUNNING and record.started_at is None:
            started = answer.start if answer is not None and answer.start else time.time()
            changes.update(started_at=float(started), reason=None)
        if changes:
            await self._commit(record, **changes)
        if (changes or start_moved) and moved is None:  # no transition tells of it
            self._notify(record)
        return moved

    def _note_slurm_start(self, job_id: int, start: Optional[float]) -> bool:
        """Keep Slurm's expected start of a pending job; whether it changed."""
        if self.slurm_starts.get(job_id) == start:
            return False
        if start is None:
            self.slurm_starts.pop(job_id, None)
        else:
            self.slurm_starts[job_id] = start
        return True

    async def _retry(self, record: JobRecord, outcome: Transition) -> None:
        """Queue the job's next attempt in place of ending it: its last attempt's
        end is kept (`JobRecord.past_attempts`), its files are moved aside (its
        log stays readable by attempt), and the GPU queue starts it again once
        `retry_at` comes. Committed first, then the files moved with no wait in
        between, so nothing looks at the job half way; a runner that dies there
        moves them on restart (`_readopt`)."""
        if outcome.unsupervised:
            await self._end_leftovers(record)
        self._unwatch(record.id)
        delay = retry_delay(record.attempt, self.retry_backoff_s)
        now = time.time()
        ended = AttemptInfo(
            attempt=record.attempt,
            state=outcome.state,
            exit_code=outcome.exit_code,
            signal=outcome.signal,
            started_at=record.started_at,
            finished_at=outcome.finished_at or now,
            reason=outcome.reason,
        )
        log.info("job %d: %s", record.id, retry_reason(record.attempt, outcome, delay))
        await self._commit(
            record,
            state=JobState.QUEUED,
            attempt=record.attempt + 1,
            retry_at=now + delay,
            past_attempts=[*record.past_attempts, ended.model_dump(mode="json")],
            reason=retry_reason(record.attempt, outcome, delay),
            shim_pid=None,
            shim_start=None,
            job_pid=None,
            started_at=None,
            gpus=[],
            slurm_id=None,
            nodes=None,
        )
        crash_point("retry.recorded")
        self.files(record.id).archive_attempt(record.attempt - 1)
        self._notify(record)

    async def _apply(
        self, record: JobRecord, transition: Transition, cancel_key: Optional[str] = None
    ) -> None:
        """Record the transition (committed before anyone hears of it)."""
        if not transition.ended:
            await self._commit(record, state=transition.state)
            self._notify(record)
            self._watch(record)
            return
        crash_point("finish.seen")
        await self._commit(
            record,
            state=transition.state,
            finished_at=transition.finished_at,
            exit_code=transition.exit_code,
            signal=transition.signal,
            reason=transition.reason,
            cancel_key=cancel_key or record.cancel_key,
        )
        self._unwatch(record.id)
        self.flags.pop(record.id, None)
        if transition.unsupervised:
            await self._end_leftovers(record)
        self._active.pop(record.id, None)
        self._launched.discard(record.id)
        event = self._finished.pop(record.id, None)
        if event is not None:
            event.set()
        self._notify(record)

    async def _end_leftovers(self, record: JobRecord) -> None:
        """Kill what is left of a job whose shim is gone (none is, usually: the job
        dies with its shim, but not what it started in other process groups)."""
        metrics = str(self.files(record.id).metrics_path)
        loop = asyncio.get_running_loop()
        pids = await loop.run_in_executor(None, job_leftovers, record.id, metrics)
        if pids:
            log.warning(
                "job %d: killing %d process(es) its dead shim left: %s", record.id, len(pids), pids
            )
            kill_all(pids)

    async def _commit(self, record: JobRecord, **changes: Any) -> None:
        """Write `changes` to the job's row, then to `record`: a write that fails
        (a full disk) leaves the record as the database has it, so the next look
        at the job decides, and commits, again."""
        updated = dataclasses.replace(record, **changes)
        await self._db(lambda s: s.update(updated))
        for name, value in changes.items():
            setattr(record, name, value)

    async def _readopt(self, record: JobRecord) -> None:
        if record.state is JobState.QUEUED and record.attempt > 1:
            # A retry whose files the last runner had no time to move aside.
            self.files(record.id).archive_attempt(record.attempt - 1)
        await self._check(record)
        if record.id in self._active and record.state in (JobState.RUNNING, JobState.PAUSED):
            self._watch(record)
            log.info("re-adopted job %d (shim pid %s)", record.id, record.shim_pid)
            # The record decides: a runner that died between committing a pause
            # (or a resume) and signalling the group sends the signal now.
            paused = record.state is JobState.PAUSED
            signal_group(record, signal.SIGSTOP if paused else signal.SIGCONT)
            if record.cancel_requested:  # the runner died before the shim was told
                self._signal_shim(record)
                signal_group(record, signal.SIGCONT)

    def _notify(self, record: JobRecord) -> None:
        for listener in self.on_change:
            listener(record)

    # -- the database thread -----------------------------------------------------

    async def _db(self, fn: Callable[[JobStore], T]) -> T:
        store = self._store
        assert store is not None
        return await self._db_call(fn, store)

    async def _db_call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
