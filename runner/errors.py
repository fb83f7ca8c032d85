"""Errors the runner raises, each carrying the wire code a client will see."""

from __future__ import annotations

from protocol.errors import ErrorCode


class RunnerError(Exception):
    """A request the runner could not carry out; the message is for a person."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class AlreadyRunning(RunnerError):
    """Another daemon holds the lock; starting is then a no-op, not a failure."""

    def __init__(self, pid: int | None) -> None:
        where = f" (pid {pid})" if pid else ""
        super().__init__(f"tether runner is already running{where}")
        self.pid = pid
