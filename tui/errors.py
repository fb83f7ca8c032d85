"""Errors the client side raises; each message is one sentence for a person."""

from __future__ import annotations

from typing import Optional

from protocol.errors import ErrorCode


class TetherError(Exception):
    """Base of every error the CLI prints as one line and the TUI shows in place."""


class UsageError(TetherError):
    """The command line asked for something that cannot be (``--after`` naming a
    job the host does not have): said in one line, exit status 2, as argparse
    does for a malformed one, so a script can tell it from a job's failure."""


class ConnectError(TetherError):
    """The host or its runner could not be reached (a permanent or a passing cause)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ConnectionLost(ConnectError):
    """An established connection went away (dead link, runner stopped)."""


class RemoteError(TetherError):
    """The runner refused a request; `code` says why in machine terms."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class IncompatibleRunner(ConnectError):
    """Client and runner cannot work together; `runner_version` is the runner's, if known."""

    def __init__(self, message: str, runner_version: Optional[str] = None) -> None:
        super().__init__(message, retryable=False)
        self.runner_version = runner_version


class SyncError(TetherError):
    """A working tree cannot be sent as it is, or a job's files cannot be pulled
    (`tui.sync`); the message names the file and what to do."""


class TreeTooLarge(SyncError):
    """A tree over the `--sync-max` limits, refused before anything was sent."""


class FileChanged(SyncError):
    """A file changed between being hashed and being sent; sending it again helps."""


class UnsafePath(SyncError):
    """A path that would land outside the folder it belongs in (``..``, absolute,
    a symlink leading out): refused, nothing written."""


class ShellError(TetherError):
    """A shell on a host could not be opened as asked (`tui.shell`): no terminal to
    give it, no such job; the message says what to do instead."""
