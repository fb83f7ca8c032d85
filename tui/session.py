"""`HostSession`: one host's runner, reachable across dropped links.

The CLI verbs and the TUI both hold one. It connects through an *opener* (local
socket, SSH streamlocal, SSH exec bridge), reports its state to listeners
(connected; reconnecting with the attempt and the time of the next try; offline
with the reason), reconnects with backoff when the link dies, and resumes every
log follow from the byte offset it holds, so nothing is lost and nothing is
delivered twice. Imports no Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from dataclasses import dataclass
from typing import (
    AsyncIterator,
    Awaitable,
    Callable,
    List,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from protocol.jobs import JobInfo, JobSpec
from protocol.messages import (
    Cancel,
    FollowLog,
    GetJob,
    GetStatus,
    JobList,
    JobReply,
    ListJobs,
    LogChunk,
    LogEnd,
    LogOffset,
    Message,
    ReadLog,
    StatusReply,
    Submit,
    TailOffset,
    WatchJobs,
    Welcome,
)
from protocol.metrics import FollowMetrics, MetricsChunk, MetricsEnd, ReadMetrics
from protocol.stats import (
    MAX_HISTORY_S,
    GetStats,
    StatsHistory,
    StatsInfo,
    StatsSnapshot,
    StatsUpdate,
    SubscribeStats,
)
from tui.errors import ConnectError, ConnectionLost, TetherError
from tui.rpc import ByteReader, ByteWriter, RunnerConnection

Opener = Callable[[], Awaitable[Tuple[ByteReader, ByteWriter]]]
M = TypeVar("M")

#: Seconds to wait before reconnect attempt n (1-based), capped at the last value.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
HANDSHAKE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class SessionState:
    """What a person should see about a host's link."""

    kind: str  # "connecting" | "connected" | "reconnecting" | "offline" | "closed"
    reason: str = ""
    attempt: int = 0
    next_try_at: Optional[float] = None  # wall-clock seconds

    def describe(self) -> str:
        if self.kind == "reconnecting":
            wait = max(0.0, (self.next_try_at or time.time()) - time.time())
            return f"reconnecting (attempt {self.attempt}, next try in {wait:.0f} s): {self.reason}"
        if self.kind == "offline":
            return f"offline: {self.reason}"
        return self.kind


class HostSession:
    def __init__(self, name: str, opener: Opener, *, reconnect: bool = True) -> None:
        self.name = name
        self._opener = opener
        self._reconnect = reconnect
        self._conn: Optional[RunnerConnection] = None
        self._ready = asyncio.Event()
        self._state = SessionState("connecting")
        self._supervisor: Optional[asyncio.Task[None]] = None
        self._closed = False
        self._wake = asyncio.Event()
        self.listeners: List[Callable[[SessionState], None]] = []

    # -- state ---------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def welcome(self) -> Optional[Welcome]:
        return self._conn.welcome if self._conn is not None else None

    def report_progress(self, text: str) -> None:
        """Show a step of getting connected (installing the runner...) as the
        state's reason, so a screen shows it where it shows the link."""
        kind = (
            self._state.kind if self._state.kind in ("connecting", "reconnecting") else "connecting"
        )
        self._set_state(dataclasses.replace(self._state, kind=kind, reason=text))

    def _set_state(self, state: SessionState) -> None:
        self._state = state
        for listener in list(self.listeners):
            listener(state)

    # -- connecting ----------------------------------------------------------------

    async def start(self) -> None:
        """Connect once; raises `ConnectError` if the first contact fails."""
        try:
            await self._connect()
        except TetherError as exc:
            self._set_state(SessionState("offline", str(exc)))
            raise

    async def _connect(self) -> None:
        try:
            reader, writer = await self._opener()
        except TetherError:
            raise
        except OSError as exc:
            raise ConnectError(f"{self.name}: cannot connect ({exc})") from exc
        conn = RunnerConnection(reader, writer, self.name)
        try:
            await conn.open(HANDSHAKE_TIMEOUT_S)
        except asyncio.TimeoutError as exc:
            await conn.close()
            raise ConnectError(f"{self.name}: the runner did not answer the handshake") from exc
        except BaseException:
            await conn.close()
            raise
        conn.on_lost = self._on_lost
        self._conn = conn
        self._ready.set()
        self._set_state(SessionState("connected"))

    def _on_lost(self, exc: ConnectionLost) -> None:
        self._ready.clear()
        if self._closed:
            return
        if not self._reconnect:
            self._set_state(SessionState("offline", str(exc)))
            return
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.ensure_future(self._reconnect_loop(str(exc)))

    async def _reconnect_loop(self, reason: str) -> None:
        attempt = 0
        while not self._closed:
            attempt += 1
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1] * random.uniform(0.8, 1.2)  # noqa: S311
            self._set_state(SessionState("reconnecting", reason, attempt, time.time() + delay))
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            try:
                await self._connect()
                return
            except ConnectError as exc:
                reason = str(exc)
                if not exc.retryable:
                    self._set_state(SessionState("offline", reason))
                    return
            except TetherError as exc:
                self._set_state(SessionState("offline", str(exc)))
                return

    def reconnect_now(self) -> None:
        """Cut the wait before the next reconnect attempt short (a person asked)."""
        self._wake.set()

    async def connection(self) -> RunnerConnection:
        """The live connection, waiting through a reconnect; raises when offline."""
        while True:
            if self._closed:
                raise ConnectError(f"{self.name}: session closed", retryable=False)
            if self._state.kind == "offline":
                raise ConnectError(self._state.reason, retryable=False)
            conn = self._conn
            if conn is not None and conn.alive:
                return conn
            waiter = asyncio.ensure_future(self._ready.wait())
            try:
                await asyncio.wait({waiter}, timeout=1.0)
            finally:
                waiter.cancel()

    async def close(self) -> None:
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._conn is not None:
            await self._conn.close()
        # An opener that holds a link of its own (an SSH connection) lets it go here.
        opener_close = getattr(self._opener, "aclose", None)
        if opener_close is not None:
            await opener_close()
        self._set_state(SessionState("closed"))

    # -- typed calls ---------------------------------------------------------------

    async def _call(
        self, build: Callable[[int], Message], expect: type[M], idempotent: bool = True
    ) -> M:
        while True:
            conn = await self.connection()
            try:
                reply = await conn.request(build)
            except ConnectionLost:
                if not idempotent:
                    raise
                continue
            if not isinstance(reply, expect):
                raise TetherError(f"{self.name}: unexpected reply {reply.type}")
            return reply

    async def submit(self, spec: JobSpec) -> JobInfo:
        # Not retried: after a lost link the job may or may not exist.
        reply = await self._call(lambda i: Submit(id=i, spec=spec), JobReply, idempotent=False)
        return reply.job

    async def list_jobs(self, include_finished: bool = False) -> List[JobInfo]:
        reply = await self._call(
            lambda i: ListJobs(id=i, include_finished=include_finished), JobList
        )
        return reply.jobs

    async def get_job(self, job_id: int) -> JobInfo:
        return (await self._call(lambda i: GetJob(id=i, job_id=job_id), JobReply)).job

    async def cancel(self, job_id: int) -> JobInfo:
        return (await self._call(lambda i: Cancel(id=i, job_id=job_id), JobReply)).job

    async def status(self) -> StatusReply:
        return await self._call(lambda i: GetStatus(id=i), StatusReply)

    async def read_log(self, job_id: int, offset: int, max_bytes: Optional[int] = None) -> LogChunk:
        def build(i: int) -> Message:
            if max_bytes is None:
                return ReadLog(id=i, job_id=job_id, offset=offset)
            return ReadLog(id=i, job_id=job_id, offset=offset, max_bytes=max_bytes)

        return await self._call(build, LogChunk)

    async def tail_offset(self, job_id: int, lines: int) -> LogOffset:
        return await self._call(lambda i: TailOffset(id=i, job_id=job_id, lines=lines), LogOffset)

    async def watch_jobs(self, include_finished: bool = False) -> AsyncIterator[List[JobInfo]]:
        """The job table now and after every change, for as long as the caller iterates.

        Survives dropped links: after a reconnect the whole table comes again, so
        the caller simply replaces what it shows.
        """
        while True:
            conn = await self.connection()
            build = _watch_jobs_request(include_finished)
            try:
                async for message in conn.stream(build):
                    if isinstance(message, JobList):
                        yield message.jobs
            except ConnectionLost:
                continue
            # The runner ended a stream that has no end (it is stopping): reattach.
            await asyncio.sleep(BACKOFF_S[0])

    async def follow_log(
        self, job_id: int, offset: int = 0, until_eof: bool = False
    ) -> AsyncIterator[Union[LogChunk, LogEnd]]:
        """Every byte from `offset` as it is written, then the `LogEnd`.

        Survives dropped links: after a reconnect the follow resumes from the
        offset of the last chunk this iterator yielded.
        """
        while True:
            conn = await self.connection()
            try:
                async for message in conn.stream(_follow_request(job_id, offset, until_eof)):
                    if isinstance(message, LogChunk):
                        if message.offset != offset:
                            # Resent after a resume: deliver each byte exactly once.
                            skip = offset - message.offset
                            if skip < 0:
                                raise TetherError(
                                    f"{self.name}: log of job {job_id} skipped from byte "
                                    f"{offset} to {message.offset}"
                                )
                            if skip >= len(message.data):
                                continue
                            chunk = message.model_copy(
                                update={"data": message.data[skip:], "offset": offset}
                            )
                        else:
                            chunk = message
                        offset += len(chunk.data)
                        yield chunk
                    elif isinstance(message, LogEnd):
                        yield message
                        return
            except ConnectionLost:
                continue

    async def read_metrics(self, job_id: int, offset: int = 0) -> MetricsChunk:
        """The metric records a job reported, one chunk from byte `offset` of its
        metrics file; ask again from ``next_offset`` while it is below ``size``."""
        return await self._call(
            lambda i: ReadMetrics(id=i, job_id=job_id, offset=offset), MetricsChunk
        )

    async def follow_metrics(
        self, job_id: int, offset: int = 0
    ) -> AsyncIterator[Union[MetricsChunk, MetricsEnd]]:
        """Every metric record from `offset` as the job reports it, then `MetricsEnd`.

        Survives dropped links: after a reconnect the follow resumes from the
        ``next_offset`` of the last chunk this iterator yielded, so every record
        (and every malformed-line count) is delivered exactly once.
        """
        while True:
            conn = await self.connection()
            try:
                async for message in conn.stream(_metrics_request(job_id, offset)):
                    if isinstance(message, MetricsChunk):
                        if message.offset != offset:
                            raise TetherError(
                                f"{self.name}: metrics of job {job_id} jumped from byte "
                                f"{offset} to {message.offset}"
                            )
                        offset = message.next_offset
                        yield message
                    elif isinstance(message, MetricsEnd):
                        yield message
                        return
            except ConnectionLost:
                continue

    async def stats_snapshot(self) -> StatsSnapshot:
        """The GPU inventory and the runner's newest stats sample (``tether top --once``)."""
        return await self._call(lambda i: GetStats(id=i), StatsSnapshot)

    async def subscribe_stats(
        self, interval_s: Optional[float] = None, history_s: float = 900.0
    ) -> AsyncIterator[StatsEvent]:
        """The host's stats stream: a `StatsInfo`, the recorded history as
        `StatsHistory` batches (the last has ``last=True``), then a `StatsUpdate`
        per sample, for as long as the caller iterates.

        ``interval_s`` asks for a delivery rate (``None``: the runner's own; the
        runner never goes below its floor, and the `StatsInfo` says what this
        stream delivers). ``history_s`` is how much history to draw at once.

        Survives dropped links: after a reconnect a new `StatsInfo` arrives, then
        only the samples missed meanwhile, each sample yielded once. If the new
        `StatsInfo` has another ``epoch`` than the previous one, the runner
        restarted: its history (sent next) replaces whatever the caller holds.
        """
        epoch: Optional[str] = None
        after_seq: Optional[int] = None
        while True:
            conn = await self.connection()
            # On a reattach, ask for everything after the last sample held.
            wanted = history_s if after_seq is None else MAX_HISTORY_S
            request = _stats_request(interval_s, wanted, epoch, after_seq)
            try:
                async for message in conn.stream(request):
                    if isinstance(message, StatsInfo):
                        if message.epoch != epoch:
                            after_seq = None
                        epoch = message.epoch
                        yield message
                    elif isinstance(message, StatsHistory):
                        batch = _unseen(message, after_seq)
                        if batch.samples:
                            after_seq = batch.samples[-1].seq
                        yield batch
                    elif isinstance(message, StatsUpdate):
                        if after_seq is not None and message.sample.seq <= after_seq:
                            continue
                        after_seq = message.sample.seq
                        yield message
            except ConnectionLost:
                continue
            # The runner ended a stream that has no end (it is stopping): reattach.
            await asyncio.sleep(BACKOFF_S[0])


StatsEvent = Union[StatsInfo, StatsHistory, StatsUpdate]


def _unseen(batch: StatsHistory, after_seq: Optional[int]) -> StatsHistory:
    """The batch without the samples a resumed stream already delivered."""
    if after_seq is None:
        return batch
    fresh = [s for s in batch.samples if s.seq > after_seq]
    if len(fresh) == len(batch.samples):
        return batch
    return batch.model_copy(update={"samples": fresh})


def _stats_request(
    interval_s: Optional[float], history_s: float, epoch: Optional[str], after_seq: Optional[int]
) -> Callable[[int], Message]:
    def build(request_id: int) -> Message:
        return SubscribeStats(
            id=request_id,
            interval_s=interval_s,
            history_s=history_s,
            epoch=epoch,
            after_seq=after_seq,
        )

    return build


def _watch_jobs_request(include_finished: bool) -> Callable[[int], Message]:
    def build(request_id: int) -> Message:
        return WatchJobs(id=request_id, include_finished=include_finished)

    return build


def _follow_request(job_id: int, offset: int, until_eof: bool) -> Callable[[int], Message]:
    def build(request_id: int) -> Message:
        return FollowLog(id=request_id, job_id=job_id, offset=offset, until_eof=until_eof)

    return build


def _metrics_request(job_id: int, offset: int) -> Callable[[int], Message]:
    def build(request_id: int) -> Message:
        return FollowMetrics(id=request_id, job_id=job_id, offset=offset)

    return build
