"""One client connection: the asyncio loop around `ServerConnection`.

The rules (handshake, ids, what may answer what, silence) live in
`protocol.connection.server`; this module reads bytes, runs each request's
handler as its own task and writes the answers. Nothing a client sends can take
the daemon or any other client down with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time
from typing import Any, Dict, Optional, Union

from protocol.connection.events import Closed, RequestReceived, StreamCancelled
from protocol.connection.server import ServerConnection
from protocol.envelope import Reply, Request
from protocol.errors import ErrorCode, FrameError
from protocol.messages import Error, Welcome
from protocol.version import PROTOCOL_VERSION, __version__
from runner.disk_space import full_error
from runner.errors import RunnerError
from runner.server.handlers import STREAMS, UNARY
from runner.server.routes import AnswersOnce, AnswersStream
from runner.server.services import Services
from runner.tasks import TaskSet

log = logging.getLogger(__name__)
_READ_SIZE = 256 * 1024
_WRITE_BUFFER_HIGH = 2 * 1024 * 1024


def peer_uid(writer: asyncio.StreamWriter) -> Optional[int]:
    sock: Optional[socket.socket] = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _welcome() -> Welcome:
    return Welcome(
        protocol=PROTOCOL_VERSION,
        runner_version=__version__,
        pid=os.getpid(),
        hostname=socket.gethostname(),
    )


class Connection:
    def __init__(
        self, services: Services, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._services = services
        self._reader = reader
        self._writer = writer
        self._protocol = ServerConnection(_welcome(), time.monotonic())
        self._send_lock = asyncio.Lock()
        #: Answers to requests: finished even when the client goes away, so that
        #: a submit or cancel cut off by a dropped link is never left half-done.
        self._answers = TaskSet("request")
        self._requests = TaskSet("stream")
        self._streams: Dict[int, asyncio.Task[Any]] = {}
        # A few chunks may queue in user space so the socket never runs dry
        # between drains; beyond that, drain() makes a slow reader wait.
        writer.transport.set_write_buffer_limits(high=_WRITE_BUFFER_HIGH)

    async def serve(self) -> None:
        try:
            uid = peer_uid(self._writer)
            if uid is not None and uid != os.getuid():
                refusal = Error(
                    code=ErrorCode.FORBIDDEN, message="this runner serves its own user only"
                )
                await self._write(self._protocol.refuse(refusal))
                return
            await self._read_loop()
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            await self.close()

    async def send(self, message: Reply) -> None:
        """Send one answer; a slow reader makes this wait (that is the backpressure)."""
        await self._write(self._protocol.send(message))

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        async with self._send_lock:
            self._writer.write(data)
            await self._writer.drain()

    async def _read_loop(self) -> None:
        while True:
            wait = max(0.0, self._protocol.silence_left(time.monotonic()))
            try:
                data = await asyncio.wait_for(self._reader.read(_READ_SIZE), wait)
            except asyncio.TimeoutError:
                log.info("dropping a client silent for %.0f s", self._protocol.silence_limit_s)
                return
            self._protocol.receive_data(data, time.monotonic())
            await self._write(self._protocol.data_to_send())
            if not self._handle_events():
                return

    def _handle_events(self) -> bool:
        """Start what the client asked for; False once the connection must close."""
        while True:
            event = self._protocol.next_event()
            if event is None:
                return True
            if isinstance(event, RequestReceived):
                self._start(event.request)
            elif isinstance(event, StreamCancelled):
                task = self._streams.pop(event.stream_id, None)
                if task is not None:
                    task.cancel()
            elif isinstance(event, Closed):
                return False

    def _start(self, request: Request) -> None:
        route = UNARY.get(type(request))
        if route is not None:
            self._answers.spawn(self._answer(route, request))
            return
        self._streams[request.id] = self._requests.spawn(
            self._stream(STREAMS[type(request)], request)
        )

    async def _answer(self, route: AnswersOnce, request: Request) -> None:
        reply: Union[Reply, Error]
        try:
            reply = await route.answer(self._services, request)
        except RunnerError as exc:
            reply = Error(id=request.id, code=exc.code, message=str(exc))
        except Exception as exc:
            reply = self._unexpected(request, exc)
        try:
            data = self._protocol.send(reply)
        except FrameError as exc:  # an answer too large for a frame: a bug, said so
            log.error("%s: %s", type(request).__name__, exc)
            message = f"the runner's answer was too large to send ({exc}); this is a bug"
            data = self._protocol.send(
                Error(id=request.id, code=ErrorCode.INTERNAL, message=message)
            )
        try:
            await self._write(data)
        except ConnectionError:
            pass  # the client went away; asked again (the same key), it gets the same answer

    async def _stream(self, route: AnswersStream, request: Request) -> None:
        try:
            await route.stream(self._services, request, self.send)
        except RunnerError as exc:
            await self._write(
                self._protocol.send(Error(id=request.id, code=exc.code, message=str(exc)))
            )
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await self._write(self._protocol.send(self._unexpected(request, exc)))
        finally:
            self._streams.pop(request.id, None)

    def _unexpected(self, request: Request, exc: Exception) -> Error:
        """The answer to a request whose handler raised something other than a
        `RunnerError`: a full disk is a state the person can fix, said so in one
        sentence; anything else is a bug, logged with its traceback."""
        full = full_error(exc, self._services.paths.state_dir)
        if full is not None:
            log.warning("%s failed: %s", type(request).__name__, full)
            return Error(id=request.id, code=full.code, message=str(full))
        log.exception("%s failed", type(request).__name__)
        return Error(id=request.id, code=ErrorCode.INTERNAL, message=f"runner error: {exc!r}")

    async def close(self) -> None:
        await self._requests.close()
        await self._answers.finish()
        if self._protocol.greeted:
            log.debug("connection closed; wire: %s", self._protocol.wire_stats())
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, BrokenPipeError):
            pass
