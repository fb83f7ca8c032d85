"""`HostSession`: the client API of one host's runner (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import AsyncIterator, Callable, List, Optional, Tuple, TypeVar

from protocol.cluster import ClusterLoad, GetClusterLoad
from protocol.connection.events import DEFAULT_HEARTBEAT, Heartbeat
from protocol.envelope import Reply, Request
from protocol.exchanges import (
    BLOBS_WANTED,
    CANCEL,
    COLLECT_GARBAGE,
    FOLLOW_LOG,
    FOLLOW_METRICS,
    GET_CLUSTER_LOAD,
    GET_JOB,
    GET_STATS,
    GET_STATUS,
    LIST_JOBS,
    LIST_OUTPUTS,
    MAKE_SNAPSHOT,
    PAUSE_JOB,
    PAUSE_QUEUE,
    PUT_BLOBS,
    READ_LOG,
    READ_METRICS,
    READ_OUTPUT,
    RERUN,
    SET_PRIORITY,
    SHUTDOWN,
    SIGNAL_JOB,
    SIGNAL_PROCESS,
    STOP_GROUP,
    SUBMIT,
    SUBSCRIBE_STATS,
    TAIL_OFFSET,
    WATCH_JOBS,
    Stream,
    Unary,
)
from protocol.jobs import JobInfo, JobSpec, SnapshotInfo
from protocol.limits import MAX_HISTORY_S
from protocol.messages import (
    Cancel,
    CancelGroup,
    FollowLog,
    GetJob,
    GetStatus,
    JobList,
    ListJobs,
    LogChunk,
    LogOffset,
    PauseJob,
    PauseQueue,
    ReadLog,
    SetPriority,
    Shutdown,
    StatusReply,
    Submit,
    TailOffset,
    WatchJobs,
    Welcome,
)
from protocol.metrics import FollowMetrics, MetricsChunk, ReadMetrics
from protocol.signals import ProcessSignalled, SignalJob, SignalProcess, SignalSent
from protocol.stats import GetStats, StatsSnapshot, SubscribeStats
from protocol.sync import (
    BlobPart,
    BlobState,
    BlobsWanted,
    CollectGarbage,
    GarbageReport,
    ListOutputs,
    MakeSnapshot,
    OutputChunk,
    OutputList,
    PutBlobs,
    ReadOutput,
    Rerun,
)
from tui.errors import ConnectionLost
from tui.rpc import RunnerConnection
from tui.session.cursors import (
    Cursor,
    JobTableCursor,
    LogCursor,
    LogEvent,
    MetricsCursor,
    MetricsEvent,
    StatsCursor,
    StatsEvent,
    StatsPosition,
)
from tui.session.link import Link, Opener, StateListener
from tui.session.mirror_sink import MirrorSink
from tui.session.state import BACKOFF_S, SessionState

Req = TypeVar("Req", bound=Request)
Rep = TypeVar("Rep", bound=Reply)
Item = TypeVar("Item", bound=Reply)
Pos = TypeVar("Pos")
Out = TypeVar("Out")


def new_request_key() -> str:
    """A key no other request of any client will carry (128 random bits)."""
    return secrets.token_hex(16)


class HostSession:
    """One host's runner, reachable across dropped links.

    Create it with the host's `name` and an `opener` (``tui.hosts.make_session``
    picks one), then call `start` (fail fast: the CLI) or `keep_connected`
    (retry in the background: the app), and `close` when done. With
    ``reconnect=False`` a lost link leaves the session offline instead of
    reconnecting.

    Every method may be called from many tasks at once: requests share one
    connection and their answers are routed by id. Each one waits while the
    session is (re)connecting and raises `ConnectError` (``retryable=False``)
    once it is offline or closed.
    """

    def __init__(
        self,
        name: str,
        opener: Opener,
        *,
        reconnect: bool = True,
        heartbeat: Heartbeat = DEFAULT_HEARTBEAT,
        mirror: Optional[MirrorSink] = None,
    ) -> None:
        """`opener` makes a fresh byte-stream pair to the runner each time it is
        called; `heartbeat` says how often to ping and how long a silent link
        may live (like OpenSSH's ServerAliveInterval and ServerAliveCountMax).
        A `mirror` is handed every job, log byte and metric chunk read, to keep
        (`tui.mirror`); `close` waits for it to have written them."""
        self.name = name
        self.mirror = mirror
        self._link = Link(name, opener, reconnect=reconnect, heartbeat=heartbeat)

    # -- the link ---------------------------------------------------------------------

    @property
    def listeners(self) -> List[StateListener]:
        """Called with every new `SessionState`, on the event loop, in order.
        Append and remove freely; a listener must not block."""
        return self._link.listeners

    @property
    def state(self) -> SessionState:
        return self._link.state

    @property
    def opener(self) -> Opener:
        """What opens this session's connections (an SSH opener can also give an
        SFTP client on the same SSH connection: `tui.sync.pull`)."""
        return self._link.opener

    @property
    def welcome(self) -> Optional[Welcome]:
        """The runner's hello (its version, pid, socket) on the current
        connection; None while there is none."""
        conn = self._link.conn
        return conn.welcome if conn is not None else None

    def report_progress(self, text: str) -> None:
        """Show a step of getting connected (installing the runner...) as the
        state's reason, so a screen shows it where it shows the link."""
        self._link.report_progress(text)

    async def start(self) -> None:
        """Connect once, now. Raises `ConnectError` (or its `IncompatibleRunner`)
        when the host or runner cannot be reached, `RemoteError` when the runner
        refuses the hello; the state is then ``offline`` and nothing retries.
        Once connected, a lost link is reconnected in the background."""
        await self._link.connect_once()

    def keep_connected(self) -> None:
        """Connect in the background and stay connected until `close`: a failed
        first contact is retried with the same backoff as a lost link
        (`BACKOFF_S`), each wait shown as a ``reconnecting`` state. A failure
        waiting will not fix leaves the session ``offline`` (the state's
        ``error`` says which) until `reconnect_now`. Returns at once."""
        self._link.keep_connected()

    def reconnect_now(self) -> None:
        """Cut the wait before the next attempt short, or try again after the
        session went offline (a person asked)."""
        self._link.retry_now()

    async def connection(self) -> RunnerConnection:
        """The live connection, waiting through (re)connecting; raises
        `ConnectError` when offline or closed."""
        return await self._link.connection()

    async def close(self) -> None:
        """Stop reconnecting, close the connection and the opener's own link
        (an SSH connection). Pending calls and streams raise `ConnectError`.
        What the mirror was handed is written before it returns."""
        await self._link.close()
        if self.mirror is not None:
            await self.mirror.close()

    def _seen(self, jobs: List[JobInfo], whole: bool = False) -> None:
        if self.mirror is not None:
            self.mirror.jobs(jobs, whole)

    # -- the two ways to ask -----------------------------------------------------------

    async def _call(self, exchange: Unary[Req, Rep], build: Callable[[int], Req]) -> Rep:
        """One request, asked again on the next connection when the link drops
        before its answer (every request is safe to ask twice: those that
        change something carry an idempotency key)."""
        while True:
            conn = await self.connection()
            try:
                return await conn.call(exchange, build)
            except ConnectionLost:
                continue

    async def _resume(
        self,
        exchange: Stream[Req, Item],
        build: Callable[[int, Pos], Req],
        cursor: Cursor[Pos, Out],
    ) -> AsyncIterator[Out]:
        """The one resumable stream: what `cursor` makes of each message of
        ``build(id, cursor.position)``, reopened from the cursor's position on
        the next connection whenever the link drops, until the cursor has taken
        the stream's end. Stopping early unsubscribes at once."""
        while True:
            conn = await self.connection()
            # Closing the generator unsubscribes at once.
            opened = conn.stream(exchange, lambda i: build(i, cursor.position))
            try:
                async with contextlib.aclosing(opened) as messages:
                    async for message in messages:
                        out = cursor.take(message)
                        if out is not None:
                            yield out
                        if cursor.finished:
                            return
            except ConnectionLost:
                continue
            # A stream that has no end was ended (the runner is stopping): reattach.
            await asyncio.sleep(BACKOFF_S[0])

    # -- jobs ---------------------------------------------------------------------------

    async def submit(self, spec: JobSpec) -> JobInfo:
        """Start a job (or queue it for GPUs); returns it as the runner recorded it.

        Exactly once: the submit carries a fresh idempotency key, and when the
        link or the runner drops before the answer it is asked again, with the
        same key, once reconnected; the runner answers with the job the first
        one made. `RemoteError` when the runner refuses the spec (bad
        directory, no GPUs).
        """
        key = new_request_key()
        reply = await self._call(SUBMIT, lambda i: Submit(id=i, spec=spec, key=key))
        self._seen([reply.job])
        return reply.job

    async def list_jobs(
        self, include_finished: bool = False, group: Optional[str] = None
    ) -> List[JobInfo]:
        """The active and recent jobs (all of them with `include_finished`); only
        those of `group` when it is given. Every one: the runner answers a page at
        a time (`JobList.more`), and the pages are asked for until the last."""
        jobs: List[JobInfo] = []
        before: Optional[int] = None

        def page(older_than: Optional[int]) -> Callable[[int], ListJobs]:
            return lambda i: ListJobs(
                id=i, include_finished=include_finished, group=group, before=older_than
            )

        while True:
            reply = await self._call(LIST_JOBS, page(before))
            jobs += reply.jobs
            if not reply.more or not reply.jobs:
                self._seen(jobs, whole=include_finished and group is None)
                return jobs
            before = reply.jobs[-1].id

    async def get_job(self, job_id: int) -> JobInfo:
        """One job; `RemoteError` (``no_such_job``) when there is none."""
        job = (await self._call(GET_JOB, lambda i: GetJob(id=i, job_id=job_id))).job
        self._seen([job])
        return job

    async def cancel(self, job_id: int) -> JobInfo:
        """Stop a job (SIGTERM, then SIGKILL after its grace period); returns it.
        Retried after a lost link with the same idempotency key, so a cancel
        whose answer was lost is answered with the job it stopped, not with
        "already ended"."""
        key = new_request_key()
        job = (await self._call(CANCEL, lambda i: Cancel(id=i, job_id=job_id, key=key))).job
        self._seen([job])
        return job

    async def cancel_group(self, group: str) -> Tuple[List[JobInfo], int]:
        """Cancel every job of `group` that has not ended (SIGTERM to all at
        once, then SIGKILL after the grace period); returns the jobs it stopped,
        as they ended (the first 200 of thousands), and how many it stopped.
        Retried after a lost link with the same idempotency key, which answers
        with the jobs the first one stopped."""
        key = new_request_key()
        reply = await self._call(STOP_GROUP, lambda i: CancelGroup(id=i, group=group, key=key))
        return reply.jobs, reply.total if reply.total is not None else len(reply.jobs)

    async def pause_job(self, job_id: int, paused: bool = True) -> JobInfo:
        """Stop a running job's whole process group (SIGSTOP), or with `paused`
        False continue it (SIGCONT); returns it. Its GPUs, and their memory,
        stay held while it is paused. `RemoteError` (``job_not_active``) for a
        job that is queued or ended (and for resuming one that runs). Safe to ask
        again after a lost link: it leaves the job as asked."""
        reply = await self._call(PAUSE_JOB, lambda i: PauseJob(id=i, job_id=job_id, paused=paused))
        self._seen([reply.job])
        return reply.job

    async def signal_job(self, job_id: int, signal: str) -> SignalSent:
        """Send `signal` (a name of `protocol.signals.JOB_SIGNALS`: ``USR1``) to a
        running or paused job's whole process group; the answer names the group
        and holds the job just after. `RemoteError` with the runner's sentence
        for a job that is not there (``no_such_job``), not started or ended, or
        in Slurm (``job_not_active``), or a name it does not send
        (``bad_request``). Retried after a lost link with the same idempotency
        key, so the job hears it once."""
        key = new_request_key()
        reply = await self._call(
            SIGNAL_JOB, lambda i: SignalJob(id=i, job_id=job_id, signal=signal, key=key)
        )
        self._seen([reply.job])
        return reply

    async def signal_process(self, pid: int, signal: str) -> ProcessSignalled:
        """Send `signal` (a name of `protocol.signals.JOB_SIGNALS`) to one process
        on the host: one of a running or paused job's tree, or one an ended job
        left on a GPU (``leaked`` in the answer), running as the runner's user.
        `RemoteError` with the runner's sentence for any other pid (``forbidden``:
        init, the runner, a job's shim, a process of no job or of another user), a
        process gone (``job_not_active``) or a name it does not send
        (``bad_request``). Retried after a lost link with the same idempotency
        key, so the process hears it once."""
        key = new_request_key()
        return await self._call(
            SIGNAL_PROCESS, lambda i: SignalProcess(id=i, pid=pid, signal=signal, key=key)
        )

    async def pause_queue(self, paused: bool = True) -> None:
        """Stop (or with `paused` False restart) starting queued jobs on the
        host; running jobs go on. The runner keeps it across its restarts."""
        await self._call(PAUSE_QUEUE, lambda i: PauseQueue(id=i, paused=paused))

    async def set_priority(self, job_id: int, priority: int) -> JobInfo:
        """Change a queued job's priority among the jobs waiting for GPUs; returns
        it. `RemoteError` (``job_not_active``) once it has started or ended.
        Safe to ask again after a lost link: it sets the same value."""
        reply = await self._call(
            SET_PRIORITY, lambda i: SetPriority(id=i, job_id=job_id, priority=priority)
        )
        return reply.job

    async def watch_jobs(self, include_finished: bool = False) -> AsyncIterator[List[JobInfo]]:
        """The job table now and after every change, for as long as the caller
        iterates. After a reconnect the whole table comes again, so the caller
        simply replaces what it shows."""
        async for table in self.watch_job_table(include_finished):
            yield table.jobs

    async def watch_job_table(self, include_finished: bool = False) -> AsyncIterator[JobList]:
        """`watch_jobs`, each table with whether the host has more jobs than it
        holds (`JobList.more`: only the newest page of them comes)."""

        def build(i: int, _: None) -> WatchJobs:
            return WatchJobs(id=i, include_finished=include_finished)

        async for table in self._resume(WATCH_JOBS, build, JobTableCursor()):
            self._seen(table.jobs, whole=include_finished and not table.more)
            yield table

    # -- the runner ---------------------------------------------------------------------

    async def status(self) -> StatusReply:
        """The runner's version, uptime, state directory and health."""
        return await self._call(GET_STATUS, lambda i: GetStatus(id=i))

    async def stop_runner(self) -> None:
        """Ask the runner to stop; its jobs keep running (their shims own them)
        and the next contact starts it again. Not retried after a lost link
        (asked again, it would stop the runner that started since)."""
        conn = await self.connection()
        await conn.call(SHUTDOWN, lambda i: Shutdown(id=i))

    # -- logs ---------------------------------------------------------------------------

    async def read_log(
        self,
        job_id: int,
        offset: int,
        max_bytes: Optional[int] = None,
        attempt: Optional[int] = None,
    ) -> LogChunk:
        """Up to `max_bytes` (the runner's limit when None) of a job's log from
        byte `offset`; the chunk's ``size`` is the log's size now. `attempt`
        reads an earlier attempt's log (``--retry``); None, the latest."""

        def build(i: int) -> ReadLog:
            if max_bytes is None:
                return ReadLog(id=i, job_id=job_id, offset=offset, attempt=attempt)
            return ReadLog(id=i, job_id=job_id, offset=offset, max_bytes=max_bytes, attempt=attempt)

        chunk = await self._call(READ_LOG, build)
        if self.mirror is not None:
            self.mirror.log(job_id, attempt, chunk.offset, chunk.data)
        return chunk

    async def tail_offset(
        self, job_id: int, lines: int, attempt: Optional[int] = None
    ) -> LogOffset:
        """Where the last `lines` lines of a job's log (of `attempt`, None: the
        latest) start (to open a big log at its tail), and the log's size."""
        return await self._call(
            TAIL_OFFSET,
            lambda i: TailOffset(id=i, job_id=job_id, lines=lines, attempt=attempt),
        )

    async def follow_log(
        self,
        job_id: int,
        offset: int = 0,
        until_eof: bool = False,
        attempt: Optional[int] = None,
    ) -> AsyncIterator[LogEvent]:
        """Every byte of a job's log from `offset` as it is written, then the
        `LogEnd` with the job's final state (with `until_eof`: once the bytes
        written so far are sent).

        After a reconnect the follow resumes from the last byte yielded: each
        chunk's ``offset`` continues the previous one, nothing lost, nothing
        twice. Raises `RemoteError` (``no_such_job``) for an unknown job and
        `StreamGap` if the runner could only resume past what was yielded.
        `attempt` follows an earlier attempt's log (``--retry``), which ends
        where it ended; None, the latest.
        """

        def build(i: int, at: int) -> FollowLog:
            return FollowLog(id=i, job_id=job_id, offset=at, until_eof=until_eof, attempt=attempt)

        # Typed as the protocol: mypy would widen the union of items to `Reply`.
        cursor: Cursor[int, LogEvent] = LogCursor(self.name, job_id, offset)
        async for message in self._resume(FOLLOW_LOG, build, cursor):
            if self.mirror is not None:
                if isinstance(message, LogChunk):
                    self.mirror.log(job_id, attempt, message.offset, message.data)
                else:
                    self.mirror.jobs([message.job], False)
            yield message

    # -- metrics ------------------------------------------------------------------------

    async def read_metrics(self, job_id: int, offset: int = 0) -> MetricsChunk:
        """The metric records a job reported, one chunk from byte `offset` of its
        metrics file; ask again from ``next_offset`` while it is below ``size``."""
        chunk = await self._call(
            READ_METRICS, lambda i: ReadMetrics(id=i, job_id=job_id, offset=offset)
        )
        if self.mirror is not None:
            self.mirror.metrics(chunk)
        return chunk

    async def follow_metrics(self, job_id: int, offset: int = 0) -> AsyncIterator[MetricsEvent]:
        """Every metric record from `offset` as the job reports it, then `MetricsEnd`.

        After a reconnect the follow resumes from the ``next_offset`` of the
        last chunk yielded, so every record (and every malformed-line count) is
        delivered exactly once; `StreamGap` if the chunks would not join up.
        """

        def build(i: int, at: int) -> FollowMetrics:
            return FollowMetrics(id=i, job_id=job_id, offset=at)

        cursor: Cursor[int, MetricsEvent] = MetricsCursor(self.name, job_id, offset)
        async for message in self._resume(FOLLOW_METRICS, build, cursor):
            if self.mirror is not None:
                if isinstance(message, MetricsChunk):
                    self.mirror.metrics(message)
                else:
                    self.mirror.jobs([message.job], False)
            yield message

    # -- stats --------------------------------------------------------------------------

    async def stats_snapshot(self) -> StatsSnapshot:
        """The GPU inventory and the runner's newest stats sample (``tether top --once``)."""
        return await self._call(GET_STATS, lambda i: GetStats(id=i))

    async def subscribe_stats(
        self,
        interval_s: Optional[float] = None,
        history_s: float = 900.0,
        since: Optional[StatsPosition] = None,
    ) -> AsyncIterator[StatsEvent]:
        """The host's stats stream: a `StatsInfo`, the recorded history as
        `StatsHistory` batches (the last has ``last=True``), then a `StatsUpdate`
        per sample, for as long as the caller iterates.

        ``interval_s`` asks for a delivery rate (``None``: the runner's own; the
        runner never goes below its floor, and the `StatsInfo` says what this
        stream delivers). ``history_s`` is how much history to draw at once.

        After a reconnect a new `StatsInfo` arrives, then only the samples missed
        meanwhile, each sample yielded once. If the new `StatsInfo` has another
        ``epoch`` than the previous one, the runner restarted: its history (sent
        next) replaces whatever the caller holds. `since` says which samples the
        caller holds already (another stream's last position, to change the
        rate without drawing the history again).
        """

        def build(i: int, held: StatsPosition) -> SubscribeStats:
            # Holding samples already: ask for everything after the last one.
            wanted = history_s if held.after_seq is None else MAX_HISTORY_S
            return SubscribeStats(
                id=i,
                interval_s=interval_s,
                history_s=wanted,
                epoch=held.epoch,
                after_seq=held.after_seq,
            )

        cursor: Cursor[StatsPosition, StatsEvent] = StatsCursor(since or StatsPosition())
        async for event in self._resume(SUBSCRIBE_STATS, build, cursor):
            yield event

    # -- snapshots and pulls (tui.sync drives these) -----------------------------------

    async def blobs_wanted(self, digests: List[str]) -> List[BlobState]:
        """Which of `digests` (at most `MAX_WANTED_DIGESTS`) the host does not hold
        whole, each with the bytes of it the host already has."""
        reply = await self._call(BLOBS_WANTED, lambda i: BlobsWanted(id=i, digests=digests))
        return reply.missing

    async def put_blobs(self, parts: List[BlobPart]) -> List[BlobState]:
        """Send `parts` (within `MAX_PUT_BYTES` and `MAX_PUT_PARTS`); returns what
        the host holds of each blob afterwards. Safe to ask again after a lost
        link: a part the host already holds is skipped."""
        reply = await self._call(PUT_BLOBS, lambda i: PutBlobs(id=i, parts=parts))
        return reply.blobs

    async def make_snapshot(self, manifest: str) -> SnapshotInfo:
        """Make (or find) the snapshot whose manifest is stored as blob `manifest`;
        `RemoteError` when a blob it names is not stored whole."""
        reply = await self._call(MAKE_SNAPSHOT, lambda i: MakeSnapshot(id=i, manifest=manifest))
        return reply.snapshot

    async def rerun(self, job_id: int) -> JobInfo:
        """Run job `job_id`'s command again as a new job, in the same snapshot,
        directory, environment and GPU request. Exactly once, like `submit`."""
        key = new_request_key()
        return (await self._call(RERUN, lambda i: Rerun(id=i, job_id=job_id, key=key))).job

    async def list_outputs(
        self, job_id: int, paths: Optional[List[str]] = None, after: Optional[str] = None
    ) -> OutputList:
        """One page of job `job_id`'s files to pull (under `paths`, or what it
        created or changed); ask again `after` the last path while ``more``."""
        return await self._call(
            LIST_OUTPUTS,
            lambda i: ListOutputs(id=i, job_id=job_id, paths=paths or [], after=after),
        )

    async def read_output(
        self, job_id: int, path: str, offset: int, max_bytes: Optional[int] = None
    ) -> OutputChunk:
        """Up to `max_bytes` (the wire's limit when None) of a job's file from
        `offset`, with the file's size and mtime now."""

        def build(i: int) -> ReadOutput:
            if max_bytes is None:
                return ReadOutput(id=i, job_id=job_id, path=path, offset=offset)
            return ReadOutput(id=i, job_id=job_id, path=path, offset=offset, max_bytes=max_bytes)

        return await self._call(READ_OUTPUT, build)

    async def collect_garbage(
        self, dry_run: bool = False, keep_days: Optional[float] = None
    ) -> GarbageReport:
        """Remove (or with `dry_run` only count) the snapshots and stored files no
        job of the last `keep_days` (the runner's setting when None) uses."""
        return await self._call(
            COLLECT_GARBAGE,
            lambda i: CollectGarbage(id=i, dry_run=dry_run, keep_days=keep_days),
        )

    async def cluster_load(self) -> ClusterLoad:
        """The Slurm cluster's partitions and the person's Slurm jobs (``tether
        top`` on a login node); `RemoteError` where the host has no Slurm."""
        return await self._call(GET_CLUSTER_LOAD, lambda i: GetClusterLoad(id=i))
