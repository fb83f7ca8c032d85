"""Every message of the wire, as one discriminated union on ``type``.

Requests carry an ``id`` chosen by the client; every reply and every chunk of a
stream carries the ``id`` of the request it answers. A stream (``follow_log``)
ends with its own terminal message (``log_end``) or an ``error``.
"""

from __future__ import annotations

from typing import Annotated, Dict, List, Literal, Optional, Union

from pydantic import Field

from protocol.cluster import ClusterLoad, GetClusterLoad
from protocol.envelope import Reply, Request, WireModel
from protocol.errors import ErrorCode
from protocol.job_table import JobTableUpdate
from protocol.jobs import JobInfo, JobSpec
from protocol.limits import (
    MAX_GROUP_CHARS,
    MAX_LOG_CHUNK_BYTES,
    MAX_PRIORITY,
    MAX_REQUEST_KEY_CHARS,
    MAX_TAIL_LINES,
    MIN_PRIORITY,
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

# -- handshake ---------------------------------------------------------------


class Hello(WireModel):
    type: Literal["hello"] = "hello"
    protocol: int
    client_version: str
    #: The frame codecs this client can inflate, best first (`protocol.compression`);
    #: None (an older client): plain frames only.
    compression: Optional[List[str]] = Field(default=None, max_length=8)


class Welcome(WireModel):
    type: Literal["welcome"] = "welcome"
    protocol: int
    runner_version: str
    pid: int
    hostname: str
    #: The codec the runner picked from `Hello.compression`; from the frame after
    #: this one both sides may compress. None (or an older runner): plain frames.
    compression: Optional[str] = None


# -- requests ----------------------------------------------------------------


class Ping(Request):
    type: Literal["ping"] = "ping"


class Submit(Request):
    """Start a job. ``key`` makes it exactly once: a submit asked again with the
    same key (after a lost link or a runner restart) answers with the job the
    first one made instead of making another."""

    type: Literal["submit"] = "submit"
    spec: JobSpec
    key: Optional[str] = Field(default=None, min_length=1, max_length=MAX_REQUEST_KEY_CHARS)


class ListJobs(Request):
    type: Literal["list_jobs"] = "list_jobs"
    include_finished: bool = False
    #: Only the jobs of this group (`JobSpec.group`).
    group: Optional[str] = Field(default=None, min_length=1, max_length=MAX_GROUP_CHARS)
    #: Only jobs older than this id: the next page after a `JobList` with `more`.
    before: Optional[int] = Field(default=None, ge=1)


class GetJob(Request):
    type: Literal["get_job"] = "get_job"
    job_id: int


class Cancel(Request):
    """Stop a job. Asked again with the same ``key`` after a lost answer, it
    answers with the job as that cancel left it, never "already ended"."""

    type: Literal["cancel"] = "cancel"
    job_id: int
    key: Optional[str] = Field(default=None, min_length=1, max_length=MAX_REQUEST_KEY_CHARS)


class SetPriority(Request):
    """Change a queued job's priority (`JobSpec.priority`): where it stands among
    the jobs waiting for GPUs. Asked twice it sets the same value: no key needed."""

    type: Literal["set_priority"] = "set_priority"
    job_id: int
    priority: int = Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)


class PauseJob(Request):
    """Stop a running job's whole process group (SIGSTOP), or with ``paused``
    False continue a paused one (SIGCONT). Its GPUs stay held meanwhile. Asked
    twice it finds the job as the first left it: no key needed."""

    type: Literal["pause_job"] = "pause_job"
    job_id: int
    paused: bool = True


class PauseQueue(Request):
    """Stop (or with ``paused`` False restart) starting queued jobs, with GPUs
    or without; jobs already running go on. Kept across runner restarts."""

    type: Literal["pause_queue"] = "pause_queue"
    paused: bool = True


class CancelGroup(Request):
    """Cancel every job of ``group`` that has not ended; the reply lists them."""

    type: Literal["cancel_group"] = "cancel_group"
    group: str = Field(min_length=1, max_length=MAX_GROUP_CHARS)
    key: Optional[str] = Field(default=None, min_length=1, max_length=MAX_REQUEST_KEY_CHARS)


class GetStatus(Request):
    type: Literal["get_status"] = "get_status"


class ReadLog(Request):
    """One slice of a log, from ``offset``; the reply says the log's size then."""

    type: Literal["read_log"] = "read_log"
    job_id: int
    offset: int = Field(ge=0)
    #: An earlier attempt's log (`JobInfo.attempt`); None: the latest.
    attempt: Optional[int] = Field(default=None, ge=1)
    max_bytes: int = Field(default=MAX_LOG_CHUNK_BYTES, ge=1, le=MAX_LOG_CHUNK_BYTES)


class TailOffset(Request):
    """Where the last ``lines`` lines of a log start (for ``--tail``)."""

    type: Literal["tail_offset"] = "tail_offset"
    job_id: int
    lines: int = Field(ge=0, le=MAX_TAIL_LINES)
    attempt: Optional[int] = Field(default=None, ge=1)


class FollowLog(Request):
    """Stream a log from ``offset`` until the job ends (then ``log_end``).

    With ``until_eof`` the stream ends at the end of what is written now (``cat``
    rather than ``tail -f``): chunks flow without a round trip each.
    """

    type: Literal["follow_log"] = "follow_log"
    job_id: int
    offset: int = Field(ge=0)
    until_eof: bool = False
    #: An earlier attempt's log, read to its end (it never grows); None: the latest.
    attempt: Optional[int] = Field(default=None, ge=1)


class WatchJobs(Request):
    """Stream the job table: whole now, then each change (`JobTableUpdate`).

    The stream has no end; a client that reconnects asks again and gets the
    whole table first, so it never has to merge across a lost link.
    """

    type: Literal["watch_jobs"] = "watch_jobs"
    include_finished: bool = False


class Unsubscribe(Request):
    """Stop the stream started by request ``stream_id``."""

    type: Literal["unsubscribe"] = "unsubscribe"
    stream_id: int


class Shutdown(Request):
    """Stop the daemon; running jobs are untouched (their shims own them)."""

    type: Literal["shutdown"] = "shutdown"


# -- replies -----------------------------------------------------------------


class Pong(Reply):
    type: Literal["pong"] = "pong"


class Ok(Reply):
    type: Literal["ok"] = "ok"


class JobReply(Reply):
    type: Literal["job"] = "job"
    job: JobInfo


class JobList(Reply):
    """Newest first, at most `MAX_LIST_JOBS`; `more` when older ones match too
    (ask again with ``before`` = the last id: a listing is paged, never cut)."""

    type: Literal["job_list"] = "job_list"
    jobs: List[JobInfo]
    more: bool = False
    #: How many jobs the answer is about, where it lists only the first of them
    #: (`CancelGroup` of thousands: the count matters, the list would not fit).
    total: Optional[int] = None


class SlurmCluster(WireModel):
    """A Slurm cluster as ``tether status`` and ``doctor`` show it."""

    name: str
    partitions: List[str] = Field(default_factory=list, max_length=256)
    default_partition: Optional[str] = None
    #: ``sacct`` answers (accounting is on).
    accounting: bool = False


class StatusReply(Reply):
    type: Literal["status"] = "status"
    runner_version: str
    protocol: int
    pid: int
    hostname: str
    started_at: float
    uptime_s: float
    state_dir: str
    socket_path: str
    job_counts: Dict[str, int]
    clients: int
    #: What is wrong with the runner now, a sentence each (a background task
    #: that keeps failing, a full disk); empty when it is healthy.
    problems: List[str] = []
    #: Queued jobs are not being started (`PauseQueue`).
    queue_paused: bool = False
    #: The Slurm cluster this runner can hand jobs to (None: no Slurm here), and
    #: where a job goes when it does not say (``local`` or ``slurm``).
    slurm: Optional[SlurmCluster] = None
    executor: str = "local"


class LogChunk(Reply):
    """Raw log bytes (not necessarily UTF-8) that start at byte ``offset``."""

    type: Literal["log_chunk"] = "log_chunk"
    job_id: int
    offset: int
    data: bytes = Field(max_length=MAX_LOG_CHUNK_BYTES)
    size: int


class LogOffset(Reply):
    type: Literal["log_offset"] = "log_offset"
    job_id: int
    offset: int
    size: int


class LogEnd(Reply):
    """The followed job has ended and every byte up to ``offset`` was sent."""

    type: Literal["log_end"] = "log_end"
    offset: int
    job: JobInfo


class Error(WireModel):
    type: Literal["error"] = "error"
    id: Optional[int] = None
    code: ErrorCode
    message: str


Message = Annotated[
    Union[
        Hello,
        Welcome,
        Ping,
        Submit,
        ListJobs,
        GetJob,
        Cancel,
        SetPriority,
        PauseJob,
        PauseQueue,
        CancelGroup,
        SignalJob,
        SignalSent,
        SignalProcess,
        ProcessSignalled,
        GetStatus,
        ReadLog,
        TailOffset,
        FollowLog,
        WatchJobs,
        Unsubscribe,
        Shutdown,
        Pong,
        Ok,
        JobReply,
        JobList,
        JobTableUpdate,
        StatusReply,
        LogChunk,
        LogOffset,
        LogEnd,
        Error,
        SubscribeStats,
        GetStats,
        StatsInfo,
        StatsHistory,
        StatsUpdate,
        StatsSnapshot,
        ReadMetrics,
        FollowMetrics,
        MetricsChunk,
        MetricsEnd,
        BlobsWanted,
        BlobsMissing,
        PutBlobs,
        BlobsStored,
        MakeSnapshot,
        SnapshotReply,
        Rerun,
        ListOutputs,
        OutputList,
        ReadOutput,
        OutputChunk,
        CollectGarbage,
        GarbageReport,
        GetClusterLoad,
        ClusterLoad,
    ],
    Field(discriminator="type"),
]
