"""Error codes on the wire and the exceptions the codec raises."""

from __future__ import annotations

import enum
from typing import Optional


class ErrorCode(str, enum.Enum):
    """Machine-readable reason carried by every `error` reply."""

    BAD_FRAME = "bad_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    INCOMPATIBLE = "incompatible"
    NOT_READY = "not_ready"
    NO_SUCH_JOB = "no_such_job"
    JOB_NOT_ACTIVE = "job_not_active"
    BAD_CWD = "bad_cwd"
    EMPTY_COMMAND = "empty_command"
    BAD_REQUEST = "bad_request"
    SPAWN_FAILED = "spawn_failed"
    NO_GPUS = "no_gpus"
    SHUTTING_DOWN = "shutting_down"
    FORBIDDEN = "forbidden"
    #: A disk the runner writes to (its state dir, a job's log) is full.
    DISK_FULL = "disk_full"
    #: A snapshot's manifest is unusable, or names files the host does not hold.
    BAD_SNAPSHOT = "bad_snapshot"
    #: A path asked for leaves the job's directory, or is not there.
    BAD_PATH = "bad_path"
    #: A cluster's view was asked of a host that has no Slurm.
    NO_SLURM = "no_slurm"
    INTERNAL = "internal"


class ProtocolError(Exception):
    """Base of everything the codec rejects; `code` says which rule broke."""

    code: ErrorCode = ErrorCode.BAD_FRAME

    def __init__(self, message: str, code: Optional[ErrorCode] = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class FrameError(ProtocolError):
    """The byte stream itself is broken: the peer must be answered and dropped,
    because nothing after this point can be framed reliably."""


class MessageError(ProtocolError):
    """One well-framed message was unusable (unknown type, failed validation).

    Framing is intact, so the connection can carry on; `request_id` is the id the
    peer gave, when one could be read, so the error reply can name its request.
    """

    def __init__(self, message: str, code: ErrorCode, request_id: Optional[int] = None) -> None:
        super().__init__(message, code)
        self.request_id = request_id


class LocalProtocolError(ProtocolError):
    """This side was about to break the connection's rules (send before hello,
    answer a request that is not open): a bug in the caller, never the peer's
    doing, so it is raised rather than put on the wire."""
