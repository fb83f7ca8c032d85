"""Every request of the wire and what answers it: the one table both sides obey.

A request is answered either by one reply (`Unary`) or by a stream of items
that ends with its own message or never ends (`Stream`); an `error` can take
the place of a reply, or end a stream, anywhere. `protocol.connection` enforces
the table on both sides; the runner binds one handler to each entry, and the
client session has one method per entry (``client``), so a test can check that
no request lacks either half.

Adding a request: the message in `messages` (or its family's module), an entry
here, a handler in ``runner/server/handlers/``, a `HostSession` method, then a
verb or a widget. Nothing else has to move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Generic, Optional, Tuple, Type, TypeVar, Union

from protocol.cluster import ClusterLoad, GetClusterLoad
from protocol.envelope import Reply, Request
from protocol.job_table import JobTableUpdate
from protocol.messages import (
    Cancel,
    CancelGroup,
    Error,
    FollowLog,
    GetJob,
    GetStatus,
    JobList,
    JobReply,
    ListJobs,
    LogChunk,
    LogEnd,
    LogOffset,
    Ok,
    PauseJob,
    PauseQueue,
    Ping,
    Pong,
    ReadLog,
    SetPriority,
    Shutdown,
    StatusReply,
    Submit,
    TailOffset,
    Unsubscribe,
    WatchJobs,
)
from protocol.metrics import FollowMetrics, MetricsChunk, MetricsEnd, ReadMetrics
from protocol.signals import ProcessSignalled, SignalJob, SignalProcess, SignalSent
from protocol.stats import (
    GetStats,
    StatsHistory,
    StatsInfo,
    StatsSnapshot,
    StatsUpdate,
    SubscribeStats,
)
from protocol.sync import (
    BlobsMissing,
    BlobsStored,
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
    SnapshotReply,
)

Req_co = TypeVar("Req_co", bound=Request, covariant=True)
Rep_co = TypeVar("Rep_co", bound=Reply, covariant=True)
Item_co = TypeVar("Item_co", bound=Reply, covariant=True)


@dataclass(frozen=True)
class Unary(Generic[Req_co, Rep_co]):
    """`request` is answered by exactly one `reply` (or an error).

    ``client`` names the `HostSession` method that sends it; ``None`` marks a
    request the connection itself sends and answers (heartbeat, unsubscribe),
    which needs neither a handler nor a session method.
    """

    request: Type[Req_co]
    reply: Type[Rep_co]
    client: Optional[str]

    @property
    def streams(self) -> bool:
        return False

    def allows(self, message: object) -> bool:
        """Whether `message` may answer this request (an error always may)."""
        return isinstance(message, (self.reply, Error))

    def ends_with(self, message: object) -> bool:
        """Whether `message` is the last answer: the only answer is."""
        return True


@dataclass(frozen=True)
class Stream(Generic[Req_co, Item_co]):
    """`request` opens a stream of `items` that ends with `end`, or runs until
    the client unsubscribes when `end` is ``None``. `end` is delivered too: it
    carries the final state (a job's exit)."""

    request: Type[Req_co]
    items: Tuple[Type[Item_co], ...]
    end: Optional[Type[Item_co]]
    client: str

    @property
    def streams(self) -> bool:
        return True

    def allows(self, message: object) -> bool:
        """Whether `message` may be sent on this stream (an error always may)."""
        return isinstance(message, self.items) or self.ends_with(message)

    def ends_with(self, message: object) -> bool:
        """Whether `message` ends the stream: its end message, or an error."""
        return isinstance(message, Error) or (
            self.end is not None and isinstance(message, self.end)
        )


Exchange = Union[Unary[Request, Reply], Stream[Request, Reply]]

PING = Unary(Ping, Pong, None)
UNSUBSCRIBE = Unary(Unsubscribe, Ok, None)
SUBMIT = Unary(Submit, JobReply, "submit")
LIST_JOBS = Unary(ListJobs, JobList, "list_jobs")
GET_JOB = Unary(GetJob, JobReply, "get_job")
CANCEL = Unary(Cancel, JobReply, "cancel")
SET_PRIORITY = Unary(SetPriority, JobReply, "set_priority")
PAUSE_JOB = Unary(PauseJob, JobReply, "pause_job")
PAUSE_QUEUE = Unary(PauseQueue, Ok, "pause_queue")
SIGNAL_JOB = Unary(SignalJob, SignalSent, "signal_job")
SIGNAL_PROCESS = Unary(SignalProcess, ProcessSignalled, "signal_process")
#: Named apart from CANCEL: each constant must be no part of another.
STOP_GROUP = Unary(CancelGroup, JobList, "cancel_group")
GET_STATUS = Unary(GetStatus, StatusReply, "status")
SHUTDOWN = Unary(Shutdown, Ok, "stop_runner")
READ_LOG = Unary(ReadLog, LogChunk, "read_log")
TAIL_OFFSET = Unary(TailOffset, LogOffset, "tail_offset")
READ_METRICS = Unary(ReadMetrics, MetricsChunk, "read_metrics")
GET_STATS = Unary(GetStats, StatsSnapshot, "stats_snapshot")
BLOBS_WANTED = Unary(BlobsWanted, BlobsMissing, "blobs_wanted")
PUT_BLOBS = Unary(PutBlobs, BlobsStored, "put_blobs")
MAKE_SNAPSHOT = Unary(MakeSnapshot, SnapshotReply, "make_snapshot")
RERUN = Unary(Rerun, JobReply, "rerun")
LIST_OUTPUTS = Unary(ListOutputs, OutputList, "list_outputs")
READ_OUTPUT = Unary(ReadOutput, OutputChunk, "read_output")
COLLECT_GARBAGE = Unary(CollectGarbage, GarbageReport, "collect_garbage")
GET_CLUSTER_LOAD = Unary(GetClusterLoad, ClusterLoad, "cluster_load")
FOLLOW_LOG = Stream(FollowLog, (LogChunk,), LogEnd, "follow_log")
FOLLOW_METRICS = Stream(FollowMetrics, (MetricsChunk,), MetricsEnd, "follow_metrics")
WATCH_JOBS = Stream(WatchJobs, (JobTableUpdate,), None, "watch_job_table")
SUBSCRIBE_STATS = Stream(
    SubscribeStats, (StatsInfo, StatsHistory, StatsUpdate), None, "subscribe_stats"
)

EXCHANGES: Tuple[Exchange, ...] = (
    PING,
    UNSUBSCRIBE,
    SUBMIT,
    LIST_JOBS,
    GET_JOB,
    CANCEL,
    SET_PRIORITY,
    PAUSE_JOB,
    PAUSE_QUEUE,
    SIGNAL_JOB,
    SIGNAL_PROCESS,
    STOP_GROUP,
    GET_STATUS,
    SHUTDOWN,
    READ_LOG,
    TAIL_OFFSET,
    READ_METRICS,
    GET_STATS,
    BLOBS_WANTED,
    PUT_BLOBS,
    MAKE_SNAPSHOT,
    RERUN,
    LIST_OUTPUTS,
    READ_OUTPUT,
    COLLECT_GARBAGE,
    GET_CLUSTER_LOAD,
    FOLLOW_LOG,
    FOLLOW_METRICS,
    WATCH_JOBS,
    SUBSCRIBE_STATS,
)

#: The exchange of each request type.
BY_REQUEST: Dict[type, Exchange] = {exchange.request: exchange for exchange in EXCHANGES}
