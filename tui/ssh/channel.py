"""An SSH channel as the byte reader/writer pair `tui.rpc` speaks over.

asyncssh's streams already read and write bytes; these wrappers add what the
RPC layer relies on: a failure of the channel or of the whole SSH connection
surfaces as `ConnectionLost` (reading) or `ConnectionResetError` (writing), the
errors `RunnerConnection` treats as a lost link, instead of asyncssh's own
exception types; and closing the writer tells the owner whether the channel was
still open. A channel we give up on while it is open (no heartbeat answer, or
the session is done) means the SSH connection under it is not worth keeping.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Optional

import asyncssh

from tui.errors import ConnectionLost

#: How long to wait, after a command's output ends, for its exit status and stderr.
_EXIT_GRACE_S = 2.0


class ChannelReader:
    """Reads a channel; for an exec channel, `on_exit` explains a failed exit."""

    def __init__(
        self,
        reader: asyncssh.SSHReader[bytes],
        label: str,
        process: Optional[asyncssh.SSHClientProcess[bytes]] = None,
        on_exit: Optional[Callable[[int, str], ConnectionLost]] = None,
    ) -> None:
        self._reader = reader
        self._label = label
        self._process = process
        self._on_exit = on_exit
        self.peer_closed = False

    async def read(self, n: int = -1) -> bytes:
        try:
            data = await self._reader.read(n)
        except asyncssh.Error as exc:
            self.peer_closed = True
            raise ConnectionLost(
                f"{self._label}: the SSH connection failed ({exc.reason})"
            ) from exc
        if not data:
            self.peer_closed = True
            if self._process is not None and self._on_exit is not None:
                await self._raise_if_failed(self._process, self._on_exit)
        return data

    @staticmethod
    async def _raise_if_failed(
        process: asyncssh.SSHClientProcess[bytes],
        on_exit: Callable[[int, str], ConnectionLost],
    ) -> None:
        """A command that ended with an error status says why on stderr; pass that on."""
        try:
            await asyncio.wait_for(process.wait_closed(), _EXIT_GRACE_S)
            stderr = await asyncio.wait_for(process.stderr.read(), _EXIT_GRACE_S)
        except (asyncio.TimeoutError, asyncssh.Error, OSError):
            return
        status = process.exit_status
        if status:
            raise on_exit(status, stderr.decode(errors="replace"))


class ChannelWriter:
    def __init__(
        self,
        writer: asyncssh.SSHWriter[bytes],
        reader: ChannelReader,
        on_close: Callable[[bool], None],
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._on_close = on_close
        self._closed = False

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except asyncssh.Error as exc:
            raise ConnectionResetError(f"the SSH connection failed ({exc.reason})") from exc

    def close(self) -> None:
        """Close the channel; `on_close(abandoned)` is True if the peer had not closed it."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self._on_close(not self._reader.peer_closed)
