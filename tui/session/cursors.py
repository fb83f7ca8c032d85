"""Where a stream is, so that it can resume after a lost link: pure, no IO.

Each cursor holds the position of one stream as far as its reader has taken
it, says what to deliver for each message that arrives (trimming or dropping
what a resumed stream sends again), and so makes "resume from where I was" a
plain value the session puts into the next request. The session's one resume
loop (`HostSession` streaming methods) drives them; these tests need no socket.

- `LogCursor`: a byte offset into a job's log. A resumed follow may start
  before it (the runner rounds to its own chunks); the overlap is cut so each
  byte is delivered exactly once. A resume past it would lose bytes: an error.
- `MetricsCursor`: the ``next_offset`` of the last metrics chunk. Chunks must
  join up exactly, or records (and malformed-line counts) would be lost or
  counted twice.
- `StatsCursor`: the runner's ``epoch`` and the last sample ``seq``. A resumed
  stream sends history again; samples at or before the held seq are dropped.
  A new epoch (the runner restarted) starts the count afresh.
- `JobTableCursor`: the job table, sent whole on every (re)attach and then as
  changes; it holds the table, not a position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Protocol, TypeVar, Union

from protocol.envelope import Reply
from protocol.job_table import JobTableUpdate
from protocol.jobs import JobInfo
from protocol.messages import JobList, LogChunk, LogEnd
from protocol.metrics import MetricsChunk, MetricsEnd
from protocol.stats import StatsHistory, StatsInfo, StatsUpdate
from tui.errors import TetherError

Pos_co = TypeVar("Pos_co", covariant=True)
Out_co = TypeVar("Out_co", covariant=True)

LogEvent = Union[LogChunk, LogEnd]
MetricsEvent = Union[MetricsChunk, MetricsEnd]
StatsEvent = Union[StatsInfo, StatsHistory, StatsUpdate]


class StreamGap(TetherError):
    """A resumed stream started past what this client holds: data in between
    would be lost, so the stream stops instead of showing a silent hole."""


class Cursor(Protocol[Pos_co, Out_co]):
    """The position of one resumable stream and what to deliver of each message."""

    @property
    def position(self) -> Pos_co:
        """What to ask for when (re)opening the stream."""

    @property
    def finished(self) -> bool:
        """True once the stream's end message was taken: nothing more will come."""

    def take(self, message: Reply) -> Optional[Out_co]:
        """What to deliver for `message` (None: nothing new in it), moving past it.
        Raises `StreamGap` when `message` starts beyond the position."""


def _unexpected(cursor: object, message: Reply) -> TetherError:
    # The connection checks every message against the exchange table first.
    return TetherError(f"{type(cursor).__name__} cannot take a {type(message).__name__}")


class _FileCursor:
    """A byte offset in one of a job's files (its log, its metrics), which is
    where a resumed stream starts; ``label`` names the host in errors."""

    def __init__(self, label: str, job_id: int, offset: int = 0) -> None:
        self.label = label
        self.job_id = job_id
        self.offset = offset
        self.finished = False

    @property
    def position(self) -> int:
        return self.offset


class LogCursor(_FileCursor):
    """A byte offset in one job's log; every byte is delivered once."""

    def take(self, message: Reply) -> Optional[LogEvent]:
        if isinstance(message, LogEnd):
            self.finished = True
            return message
        if not isinstance(message, LogChunk):
            raise _unexpected(self, message)
        skip = self.offset - message.offset
        if skip < 0:
            raise StreamGap(
                f"{self.label}: log of job {self.job_id} skipped from byte "
                f"{self.offset} to {message.offset}"
            )
        if skip > 0:
            if skip >= len(message.data):
                return None  # all of it delivered before the link dropped
            message = message.model_copy(
                update={"data": message.data[skip:], "offset": self.offset}
            )
        self.offset += len(message.data)
        return message


class MetricsCursor(_FileCursor):
    """The metrics file offset to read from next; chunks must join up exactly."""

    def take(self, message: Reply) -> Optional[MetricsEvent]:
        if isinstance(message, MetricsEnd):
            self.finished = True
            return message
        if not isinstance(message, MetricsChunk):
            raise _unexpected(self, message)
        if message.offset != self.offset:
            raise StreamGap(
                f"{self.label}: metrics of job {self.job_id} jumped from byte "
                f"{self.offset} to {message.offset}"
            )
        self.offset = message.next_offset
        return message


@dataclass(frozen=True)
class StatsPosition:
    """The samples already held: those of runner `epoch` up to `after_seq`
    (both None before the first sample)."""

    epoch: Optional[str] = None
    after_seq: Optional[int] = None


class StatsCursor:
    """The last stats sample delivered; each sample is delivered once per epoch."""

    def __init__(self, held: StatsPosition = StatsPosition()) -> None:
        """`held`: the samples the caller holds already (from an earlier stream)."""
        self._epoch: Optional[str] = held.epoch
        self._after_seq: Optional[int] = held.after_seq

    @property
    def position(self) -> StatsPosition:
        return StatsPosition(self._epoch, self._after_seq)

    @property
    def finished(self) -> bool:
        return False  # the stats stream has no end

    def take(self, message: Reply) -> Optional[StatsEvent]:
        if isinstance(message, StatsInfo):
            if message.epoch != self._epoch:
                self._after_seq = None  # another runner: its samples count afresh
            self._epoch = message.epoch
            return message
        if isinstance(message, StatsHistory):
            batch = self._unseen(message)
            if batch.samples:
                self._after_seq = batch.samples[-1].seq
            return batch  # even empty: ``last`` says the history is complete
        if isinstance(message, StatsUpdate):
            if self._after_seq is not None and message.sample.seq <= self._after_seq:
                return None
            self._after_seq = message.sample.seq
            return message
        raise _unexpected(self, message)

    def _unseen(self, batch: StatsHistory) -> StatsHistory:
        after = self._after_seq
        if after is None:
            return batch
        fresh = [s for s in batch.samples if s.seq > after]
        if len(fresh) == len(batch.samples):
            return batch
        return batch.model_copy(update={"samples": fresh})


class JobTableCursor:
    """The job table as the stream has built it: a reset starts it afresh (every
    (re)attach begins with one), each update is applied to it, and once an
    update is whole (``done``) the table is delivered, newest first."""

    position = None
    finished = False

    def __init__(self) -> None:
        self._jobs: Dict[int, JobInfo] = {}

    def take(self, message: Reply) -> Optional[JobList]:
        if not isinstance(message, JobTableUpdate):
            raise _unexpected(self, message)
        jobs = self._jobs
        if message.reset:
            jobs.clear()
        for job in message.jobs:
            jobs[job.id] = job
        for job_id in message.gone:
            jobs.pop(job_id, None)
        for job_id, place in message.positions:
            held = jobs.get(job_id)
            if held is not None and held.queue_position != place:
                jobs[job_id] = held.model_copy(update={"queue_position": place})
        if not message.done:
            return None
        table = sorted(jobs.values(), key=lambda job: job.id, reverse=True)
        return JobList(id=message.id, jobs=table, more=message.more)
