"""One live connection to a runner: handshake, requests by id, streams, heartbeat.

It works over any pair of byte streams (a local unix socket, an SSH-forwarded
socket, an exec channel), so the same code serves every transport. A connection
that dies fails every waiter with `ConnectionLost`; reconnecting is the session's
job (`tui.session`), not this one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from typing import Any, AsyncIterator, Callable, Dict, Optional, Protocol

from protocol.codec import FrameDecoder, encode
from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S
from protocol.messages import STREAM_END_TYPES, Error, Hello, Message, Ping, Unsubscribe, Welcome
from protocol.version import PROTOCOL_VERSION, __version__
from tui.errors import ConnectionLost, IncompatibleRunner, RemoteError
from tui.install.versions import runner_is_newer, runner_too_new_message

_READ_SIZE = 256 * 1024
_STREAM_QUEUE = 64


class ByteReader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...


class RunnerConnection:
    def __init__(self, reader: ByteReader, writer: ByteWriter, label: str) -> None:
        self._reader = reader
        self._writer = writer
        self.label = label
        self._decoder = FrameDecoder()
        self._ids = itertools.count(1)
        self._pending: Dict[int, asyncio.Future[Message]] = {}
        self._streams: Dict[int, asyncio.Queue[Optional[Message]]] = {}
        self._send_lock = asyncio.Lock()
        self._closed: Optional[ConnectionLost] = None
        self._last_heard = time.monotonic()
        self._reader_blocked = False
        self._tasks: list[asyncio.Task[Any]] = []
        self.welcome: Optional[Welcome] = None
        self.on_lost: Optional[Callable[[ConnectionLost], None]] = None

    @property
    def alive(self) -> bool:
        return self._closed is None

    async def open(self, timeout: float) -> Welcome:
        """Say hello and start reading; raises if the runner is not one we can talk to."""
        await self._send(Hello(protocol=PROTOCOL_VERSION, client_version=__version__))
        reply = await asyncio.wait_for(self._read_one(), timeout)
        if isinstance(reply, Error):
            if reply.code == ErrorCode.INCOMPATIBLE:
                raise IncompatibleRunner(f"{self.label}: {reply.message}")
            raise RemoteError(reply.code, f"{self.label}: {reply.message}")
        if not isinstance(reply, Welcome):
            raise ConnectionLost(f"{self.label}: runner answered hello with {reply.type}")
        if runner_is_newer(reply.runner_version):
            raise IncompatibleRunner(
                runner_too_new_message(self.label, reply.runner_version), reply.runner_version
            )
        self.welcome = reply
        self._tasks = [
            asyncio.ensure_future(self._read_forever()),
            asyncio.ensure_future(self._heartbeat()),
        ]
        return reply

    async def _read_one(self) -> Message:
        while True:
            message = self._decoder.next_message()
            if message is not None:
                return message
            data = await self._reader.read(_READ_SIZE)
            if not data:
                raise ConnectionLost(f"{self.label}: the runner closed the connection")
            self._decoder.feed(data)

    async def request(
        self, build: Callable[[int], Message], timeout: Optional[float] = None
    ) -> Message:
        """Send the message `build(id)` and return its reply; an `error` reply raises."""
        self._raise_if_closed()
        request_id = next(self._ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._send(build(request_id))
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if isinstance(reply, Error):
            raise RemoteError(reply.code, reply.message)
        return reply

    async def stream(self, build: Callable[[int], Message]) -> AsyncIterator[Message]:
        """Messages of one stream until its terminal message (yielded too) or an error."""
        self._raise_if_closed()
        request_id = next(self._ids)
        queue: asyncio.Queue[Optional[Message]] = asyncio.Queue(_STREAM_QUEUE)
        self._streams[request_id] = queue
        finished = False
        try:
            await self._send(build(request_id))
            while True:
                message = await queue.get()
                if message is None:
                    self._raise_if_closed()
                    return
                if isinstance(message, Error):
                    finished = True
                    raise RemoteError(message.code, message.message)
                yield message
                if message.type in STREAM_END_TYPES:
                    finished = True
                    return
        finally:
            self._streams.pop(request_id, None)
            if not finished and self.alive:
                # The consumer walked away: tell the runner to stop sending.
                with contextlib.suppress(ConnectionLost):
                    await self._send(Unsubscribe(id=next(self._ids), stream_id=request_id))

    async def _send(self, message: Message) -> None:
        self._raise_if_closed()
        async with self._send_lock:
            try:
                self._writer.write(encode(message))
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                self._lose(f"{self.label}: connection lost while sending ({exc})")
                self._raise_if_closed()

    async def _read_forever(self) -> None:
        try:
            while True:
                message = await self._read_one()
                self._last_heard = time.monotonic()
                await self._deliver(message)
        except ConnectionLost as exc:
            self._lose(str(exc))
        except ProtocolError as exc:
            self._lose(f"{self.label}: the runner sent a bad frame ({exc})")
        except (ConnectionError, OSError) as exc:
            self._lose(f"{self.label}: connection lost ({exc})")

    async def _deliver(self, message: Message) -> None:
        request_id = getattr(message, "id", None)
        if request_id is None:
            if isinstance(message, Error):
                self._lose(f"{self.label}: {message.message}")
            return
        future = self._pending.get(request_id)
        if future is not None:
            if not future.done():
                future.set_result(message)
            return
        queue = self._streams.get(request_id)
        if queue is None:
            return  # a stream we have stopped listening to
        self._reader_blocked = queue.full()
        await queue.put(message)
        self._reader_blocked = False
        if message.type in STREAM_END_TYPES or isinstance(message, Error):
            self._streams.pop(request_id, None)

    async def _heartbeat(self) -> None:
        while self.alive:
            slept_from = time.monotonic()
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            if time.monotonic() - slept_from > 2 * HEARTBEAT_INTERVAL_S:
                # Our own loop was held up (a stalled stdout, a suspended process):
                # that says nothing about the link, so judge it afresh from now.
                self._last_heard = time.monotonic()
            silent = time.monotonic() - self._last_heard
            if silent > HEARTBEAT_TIMEOUT_S and not self._reader_blocked:
                self._lose(f"{self.label}: no answer for {silent:.0f} s (link dead?)")
                return
            with contextlib.suppress(ConnectionLost, RemoteError):
                request_id = next(self._ids)
                await self._send(Ping(id=request_id))

    def _raise_if_closed(self) -> None:
        if self._closed is not None:
            raise self._closed

    def _lose(self, reason: str) -> None:
        if self._closed is not None:
            return
        self._closed = ConnectionLost(reason)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._closed)
        for queue in self._streams.values():
            if queue.full():
                # Unconsumed chunks can go: offsets advance only on consumption, so
                # whoever resumes the stream asks for these bytes again.
                queue.get_nowait()
            queue.put_nowait(None)
        with contextlib.suppress(Exception):
            self._writer.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        if self.on_lost is not None:
            self.on_lost(self._closed)

    async def close(self) -> None:
        self._lose(f"{self.label}: connection closed")
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        await asyncio.gather(*tasks, return_exceptions=True)
