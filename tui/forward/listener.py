"""One forwarded port: a listener on 127.0.0.1 whose every connection becomes an
SSH direct-tcpip channel to the host's 127.0.0.1:PORT.

The listener is ours, not asyncssh's (``forward_local_port``), so that it
outlives the SSH connection: each accepted connection asks for the connection
of the moment, which after a cut is a new one. Only 127.0.0.1 is ever bound:
a job's TensorBoard or notebook is for the person, not for their network.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from typing import Awaitable, Callable, Optional, Set

import asyncssh

from tui.errors import TetherError
from tui.relay import relay

#: Where the SSH connection of the moment comes from (`SshOpener.ssh_connection`).
ConnectionSource = Callable[[], Awaitable[asyncssh.SSHClientConnection]]
#: Told why one forwarded connection failed (the host refused it, the link is down).
Problem = Callable[[str], None]
LOOPBACK = "127.0.0.1"
#: How many ports past the wanted one to try when it is taken.
PORT_SEARCH = 100


class ForwardError(TetherError):
    """No local port could be listened on."""


class PortForward:
    def __init__(
        self, host: str, remote_port: int, connection: ConnectionSource, problem: Problem
    ) -> None:
        self.host = host
        self.remote_port = remote_port
        self.local_port = 0
        self._connection = connection
        self._problem = problem
        self._server: Optional[asyncio.AbstractServer] = None
        self._relays: Set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.local_port}"

    def describe(self) -> str:
        return f"{self.url} → {self.host}:{self.remote_port}"

    async def listen(self, wanted: int) -> int:
        """Listen on `wanted`, else the next free port above it; the port used."""
        last: Optional[OSError] = None
        for port in range(wanted, min(wanted + PORT_SEARCH, 65536)):
            try:
                self._server = await asyncio.start_server(self._accept, LOOPBACK, port)
            except OSError as exc:
                if exc.errno == errno.EACCES:
                    raise ForwardError(
                        f"listening on {LOOPBACK}:{port} needs privileges you do not have; "
                        f"choose a port from 1024 up with --local"
                    ) from exc
                if exc.errno != errno.EADDRINUSE:
                    raise ForwardError(
                        f"cannot listen on {LOOPBACK}:{port}: {exc.strerror}"
                    ) from exc
                last = exc
                continue
            self.local_port = port
            return port
        raise ForwardError(
            f"no free local port from {wanted} to {wanted + PORT_SEARCH - 1} "
            f"({last.strerror if last else 'out of range'}); choose another with --local"
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._relays):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._relays, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            channel = await self._open_channel()
            if channel is None:
                writer.close()
                return
            await relay((reader, writer), channel)
        except asyncio.CancelledError:
            # Our own close() cancels us. Before 3.12 asyncio's done-callback for
            # a connection handler calls task.exception(), which raises (and logs
            # a traceback) on a cancelled task, so the handler ends normally.
            writer.close()
        finally:
            self._relays.discard(task)

    async def _open_channel(
        self,
    ) -> Optional[tuple[asyncssh.SSHReader[bytes], asyncssh.SSHWriter[bytes]]]:
        try:
            conn = await self._connection()
            return await conn.open_connection(LOOPBACK, self.remote_port)
        except asyncssh.ChannelOpenError as exc:
            self._problem(
                f"{self.host}:{self.remote_port} refused a connection ({exc.reason}); "
                "is the job serving on that port yet?"
            )
        except TetherError as exc:
            self._problem(f"{self.host}:{self.remote_port}: {exc}")
        except (asyncssh.Error, OSError) as exc:
            reason = exc.reason if isinstance(exc, asyncssh.Error) else str(exc)
            self._problem(f"{self.host}:{self.remote_port}: the SSH connection failed ({reason})")
        return None
