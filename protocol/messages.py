"""Every message of the wire, as one discriminated union on ``type``.

Requests carry an ``id`` chosen by the client; every reply and every chunk of a
stream carries the ``id`` of the request it answers. A stream (``follow_log``)
ends with its own terminal message (``log_end``) or an ``error``.
"""

from __future__ import annotations

from typing import Annotated, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo, JobSpec
from protocol.limits import MAX_LOG_CHUNK_BYTES, MAX_TAIL_LINES
from protocol.metrics import FollowMetrics, MetricsChunk, MetricsEnd, ReadMetrics
from protocol.stats import (
    GetStats,
    StatsHistory,
    StatsInfo,
    StatsSnapshot,
    StatsUpdate,
    SubscribeStats,
)


class _Message(BaseModel):
    # Unknown fields are ignored so that a newer peer can add fields safely.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Request(_Message):
    id: int = Field(ge=0)


# -- handshake ---------------------------------------------------------------


class Hello(_Message):
    type: Literal["hello"] = "hello"
    protocol: int
    client_version: str


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    protocol: int
    runner_version: str
    pid: int
    hostname: str


# -- requests ----------------------------------------------------------------


class Ping(_Request):
    type: Literal["ping"] = "ping"


class Submit(_Request):
    type: Literal["submit"] = "submit"
    spec: JobSpec


class ListJobs(_Request):
    type: Literal["list_jobs"] = "list_jobs"
    include_finished: bool = False


class GetJob(_Request):
    type: Literal["get_job"] = "get_job"
    job_id: int


class Cancel(_Request):
    type: Literal["cancel"] = "cancel"
    job_id: int


class GetStatus(_Request):
    type: Literal["get_status"] = "get_status"


class ReadLog(_Request):
    """One slice of a log, from ``offset``; the reply says the log's size then."""

    type: Literal["read_log"] = "read_log"
    job_id: int
    offset: int = Field(ge=0)
    max_bytes: int = Field(default=MAX_LOG_CHUNK_BYTES, ge=1, le=MAX_LOG_CHUNK_BYTES)


class TailOffset(_Request):
    """Where the last ``lines`` lines of a log start (for ``--tail``)."""

    type: Literal["tail_offset"] = "tail_offset"
    job_id: int
    lines: int = Field(ge=0, le=MAX_TAIL_LINES)


class FollowLog(_Request):
    """Stream a log from ``offset`` until the job ends (then ``log_end``).

    With ``until_eof`` the stream ends at the end of what is written now (``cat``
    rather than ``tail -f``): chunks flow without a round trip each.
    """

    type: Literal["follow_log"] = "follow_log"
    job_id: int
    offset: int = Field(ge=0)
    until_eof: bool = False


class WatchJobs(_Request):
    """Stream the job table: a `job_list` now and another after every change.

    The stream has no end; a client that reconnects asks again and gets the
    whole table first, so it never has to merge or miss an update.
    """

    type: Literal["watch_jobs"] = "watch_jobs"
    include_finished: bool = False


class Unsubscribe(_Request):
    """Stop the stream started by request ``stream_id``."""

    type: Literal["unsubscribe"] = "unsubscribe"
    stream_id: int


class Shutdown(_Request):
    """Stop the daemon; running jobs are untouched (their shims own them)."""

    type: Literal["shutdown"] = "shutdown"


# -- replies -----------------------------------------------------------------


class Pong(_Request):
    type: Literal["pong"] = "pong"


class Ok(_Request):
    type: Literal["ok"] = "ok"


class JobReply(_Request):
    type: Literal["job"] = "job"
    job: JobInfo


class JobList(_Request):
    type: Literal["job_list"] = "job_list"
    jobs: List[JobInfo]


class StatusReply(_Request):
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


class LogChunk(_Request):
    """Raw log bytes (not necessarily UTF-8) that start at byte ``offset``."""

    type: Literal["log_chunk"] = "log_chunk"
    job_id: int
    offset: int
    data: bytes = Field(max_length=MAX_LOG_CHUNK_BYTES)
    size: int


class LogOffset(_Request):
    type: Literal["log_offset"] = "log_offset"
    job_id: int
    offset: int
    size: int


class LogEnd(_Request):
    """The followed job has ended and every byte up to ``offset`` was sent."""

    type: Literal["log_end"] = "log_end"
    offset: int
    job: JobInfo


class Error(_Message):
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
    ],
    Field(discriminator="type"),
]

MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)

#: Message types after which the runner sends nothing more on that stream.
STREAM_END_TYPES = frozenset({"log_end", "metrics_end"})
