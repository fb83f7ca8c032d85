"""A shell on a remote host: a session channel with a pty on the SSH connection
the host's `HostSession` already holds (`SshOpener.ssh_connection`), beside the
runner's channel: no second login, no second host key question.

The pty is asked for with the terminal's type (``$TERM``) and size, and told
each new size (``window-change``), as ``ssh -t`` does; the remote stderr comes
through the pty with the rest. Without a terminal the command runs with no
pty, like ``ssh HOST COMMAND``: stdin is sent on, stdout and stderr come back
apart and byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Optional, Sequence, Tuple

import asyncssh

from tui.errors import ConnectError, ConnectionLost
from tui.shell.enter import remote_command
from tui.shell.local import exit_status
from tui.shell.relay import relay
from tui.shell.terminal import Terminal, read_fd, write_fd

#: Seconds for the SSH server to open the shell's channel.
OPEN_TIMEOUT_S = 15.0
#: Seconds between the end of the shell's output and its exit status.
STATUS_TIMEOUT_S = 10.0
#: Bytes read from the channel at once.
READ_CHUNK = 64 * 1024
#: The terminal type asked for when tether's own is unknown.
FALLBACK_TERM = "xterm"


async def run_remote(
    conn: asyncssh.SSHClientConnection,
    host: str,
    argv: Sequence[str],
    terminal: Optional[Terminal],
) -> int:
    """Run `argv` on `host` on a pty relayed to `terminal`, or with no pty when there
    is none; its exit status."""
    command = remote_command(argv)
    if terminal is None:
        return await _run_plain(await _open(conn, host, command), host)
    process = await _open(
        conn,
        host,
        command,
        term_type=os.environ.get("TERM") or FALLBACK_TERM,
        term_size=terminal.size(),
        stderr=asyncssh.STDOUT,
    )
    shell = RemotePty(process, host)
    try:
        return await relay(terminal, shell)
    finally:
        process.close()


async def _open(
    conn: asyncssh.SSHClientConnection, host: str, command: str, **pty: object
) -> asyncssh.SSHClientProcess[bytes]:
    try:
        return await asyncio.wait_for(
            conn.create_process(command, encoding=None, **pty), OPEN_TIMEOUT_S
        )
    except asyncio.TimeoutError:
        raise ConnectError(f"{host}: the SSH server did not open a session for the shell") from None
    except (asyncssh.Error, OSError) as exc:
        reason = exc.reason if isinstance(exc, asyncssh.Error) else str(exc)
        raise ConnectError(
            f"{host}: the SSH server refused a session for the shell ({reason})"
        ) from exc


class RemotePty:
    """The shell's channel, as the relay sees a pty."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes], host: str) -> None:
        self._process = process
        self._host = host
        self._hung_up = False

    async def read(self) -> bytes:
        try:
            data = await self._process.stdout.read(READ_CHUNK)
        except (asyncssh.Error, OSError):
            return b""  # the connection went: `wait` says so
        return bytes(data)

    async def write(self, data: bytes) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            self._process.stdin.write(data)
            await self._process.stdin.drain()

    def resize(self, size: Tuple[int, int]) -> None:
        columns, rows = size
        with contextlib.suppress(asyncssh.Error, OSError):
            self._process.change_terminal_size(columns, rows)

    def hang_up(self) -> None:
        self._hung_up = True
        self._process.close()

    async def wait(self) -> int:
        return await _status(self._process, self._host, self._hung_up)


async def _status(
    process: asyncssh.SSHClientProcess[bytes], host: str, hung_up: bool = False
) -> int:
    """The remote exit status (128 + N for signal N); `ConnectionLost` when the
    connection ended before the host said how the shell ended."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(process.wait_closed(), STATUS_TIMEOUT_S)
    returncode = process.returncode
    if returncode is not None:
        return exit_status(returncode)
    if hung_up:
        return 128 + signal.SIGHUP
    raise ConnectionLost(
        f"{host}: the SSH connection ended before the shell did; "
        "what ran in it was hung up with it",
        retryable=False,
    )


async def _run_plain(process: asyncssh.SSHClientProcess[bytes], host: str) -> int:
    """Relay stdin to the command and its stdout and stderr back, without a pty."""
    feeding = asyncio.ensure_future(_feed_stdin(process))
    try:
        await asyncio.gather(
            _copy_out(process.stdout, 1),
            _copy_out(process.stderr, 2),
        )
        return await _status(process, host)
    finally:
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        process.close()


async def _feed_stdin(process: asyncssh.SSHClientProcess[bytes]) -> None:
    with contextlib.suppress(asyncssh.Error, OSError):
        while True:
            data = await read_fd(0, READ_CHUNK)
            if not data:
                process.stdin.write_eof()
                return
            process.stdin.write(data)
            await process.stdin.drain()


async def _copy_out(stream: asyncssh.SSHReader[bytes], fd: int) -> None:
    with contextlib.suppress(asyncssh.Error):
        while True:
            data = await stream.read(READ_CHUNK)
            if not data:
                return
            await write_fd(fd, bytes(data))
