"""One live connection to a runner: the asyncio loop around `ClientConnection`.

The rules (handshake, ids, what answers what, the heartbeat's deadlines) live
in `protocol.connection.client`; this module only moves bytes and wakes the
waiters. It works over any pair of byte streams (a local unix socket, an
SSH-forwarded socket, an exec channel), so every transport shares it. A
connection that dies fails every waiter with `ConnectionLost`; reconnecting is
the session's job (`tui.session`), not this one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import (
    Any,
    AsyncGenerator,
    Callable,
    Dict,
    List,
    Optional,
    Protocol,
    Tuple,
    TypeVar,
)

from protocol.compression import SUPPORTED
from protocol.connection.client import ClientConnection
from protocol.connection.events import (
    DEFAULT_HEARTBEAT,
    Answered,
    ClientEvent,
    Failed,
    Heartbeat,
    Refused,
    Streamed,
    Welcomed,
)
from protocol.envelope import Reply, Request
from protocol.errors import ErrorCode
from protocol.exchanges import Stream, Unary
from protocol.messages import Error, Message, Welcome
from protocol.version import __version__
from tui.errors import ConnectionLost, IncompatibleRunner, RemoteError
from tui.runner_version import runner_is_newer, runner_too_new_message

_READ_SIZE = 256 * 1024
#: ``off`` (or ``none``): offer no compression in the handshake, so frames go plain.
COMPRESSION_ENV = "TETHER_WIRE_COMPRESSION"


def offered_compression() -> Tuple[str, ...]:
    """The codecs this client offers the runner (all it has, unless turned off)."""
    if os.environ.get(COMPRESSION_ENV, "").strip().lower() in ("off", "none", "0", "no"):
        return ()
    return SUPPORTED


_STREAM_QUEUE = 64

Req = TypeVar("Req", bound=Request)
Rep = TypeVar("Rep", bound=Reply)
Item = TypeVar("Item", bound=Reply)


class ByteReader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...


class RunnerConnection:
    """A connection that has said hello; `call` and `stream` are safe to use
    from many tasks at once (writes are serialised, answers routed by id)."""

    def __init__(
        self,
        reader: ByteReader,
        writer: ByteWriter,
        label: str,
        heartbeat: Heartbeat = DEFAULT_HEARTBEAT,
        compression: Optional[Tuple[str, ...]] = None,
    ) -> None:
        """``compression``: the codecs to offer; None: `offered_compression()`
        (a runner on this machine is offered none: compressing there costs CPU
        and saves nothing)."""
        self._reader = reader
        self._writer = writer
        self.label = label
        self._protocol = ClientConnection(
            __version__,
            time.monotonic(),
            heartbeat,
            compression=offered_compression() if compression is None else compression,
        )
        self._pending: Dict[int, asyncio.Future[Message]] = {}
        self._streams: Dict[int, asyncio.Queue[Optional[Streamed]]] = {}
        self._welcomed: Optional[asyncio.Future[Welcome]] = None
        self._send_lock = asyncio.Lock()
        self._closed: Optional[ConnectionLost] = None
        self._reader_blocked = False
        self._tasks: List[asyncio.Task[Any]] = []
        self.on_lost: Optional[Callable[[ConnectionLost], None]] = None

    @property
    def alive(self) -> bool:
        return self._closed is None

    @property
    def welcome(self) -> Optional[Welcome]:
        return self._protocol.welcome

    def wire_stats(self) -> Dict[str, Any]:
        """The codec agreed with the runner and this connection's bytes each
        way, as the messages are and as they crossed the link."""
        return self._protocol.wire_stats()

    async def open(self, timeout: float) -> Welcome:
        """Say hello and start reading. Raises `IncompatibleRunner` for a runner
        of another protocol or a newer release, `RemoteError` for any other
        refusal, `ConnectionLost` when the link fails, `asyncio.TimeoutError`
        when no answer comes within `timeout` seconds."""
        self._welcomed = asyncio.get_running_loop().create_future()
        # Retrieved here too, so a refusal that comes after a timeout is not "never retrieved".
        self._welcomed.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._tasks = [asyncio.ensure_future(self._read_forever())]
        await self._write(self._protocol.hello())
        welcome = await asyncio.wait_for(asyncio.shield(self._welcomed), timeout)
        if runner_is_newer(welcome.runner_version):
            raise IncompatibleRunner(
                runner_too_new_message(self.label, welcome.runner_version), welcome.runner_version
            )
        self._tasks.append(asyncio.ensure_future(self._heartbeat()))
        return welcome

    async def call(
        self,
        exchange: Unary[Req, Rep],
        build: Callable[[int], Req],
        timeout: Optional[float] = None,
    ) -> Rep:
        """Send ``build(id)`` and return its reply; an `error` reply raises
        `RemoteError`, a lost link `ConnectionLost`."""
        self._raise_if_closed()
        request_id, data = self._protocol.request(exchange, build)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._write(data)
            reply = await asyncio.wait_for(future, timeout)
        except BaseException:
            self._protocol.forget(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)
        if isinstance(reply, Error):
            raise RemoteError(reply.code, reply.message)
        assert isinstance(reply, exchange.reply)  # the protocol checked it against the table
        return reply

    async def stream(
        self, exchange: Stream[Req, Item], build: Callable[[int], Req]
    ) -> AsyncGenerator[Item, None]:
        """The messages of one stream, its end message included, until it ends;
        an `error` raises `RemoteError`. A caller that stops iterating early
        unsubscribes: the runner stops sending."""
        self._raise_if_closed()
        request_id, data = self._protocol.request(exchange, build)
        queue: asyncio.Queue[Optional[Streamed]] = asyncio.Queue(_STREAM_QUEUE)
        self._streams[request_id] = queue
        finished = False
        try:
            await self._write(data)
            while True:
                event = await queue.get()
                if event is None:
                    self._raise_if_closed()
                    return
                finished = event.last
                if isinstance(event.message, Error):
                    raise RemoteError(event.message.code, event.message.message)
                yield event.message  # type: ignore[misc]  # checked against the table
                if finished:
                    return
        finally:
            self._streams.pop(request_id, None)
            if not finished and self.alive:
                with contextlib.suppress(ConnectionLost):
                    await self._write(self._protocol.unsubscribe(request_id))

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        self._raise_if_closed()
        async with self._send_lock:
            try:
                self._writer.write(data)
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                self._protocol.connection_lost(f"connection lost while sending ({exc})")
                await self._dispatch_events()
        self._raise_if_closed()

    async def _read_forever(self) -> None:
        try:
            while self._protocol.failure is None:
                data = await self._reader.read(_READ_SIZE)
                self._protocol.receive_data(data, time.monotonic())
                await self._dispatch_events()
        except (ConnectionError, OSError) as exc:
            self._protocol.connection_lost(f"connection lost ({exc})")
            await self._dispatch_events()

    async def _dispatch_events(self) -> None:
        while True:
            event = self._protocol.next_event()
            if event is None:
                return
            await self._dispatch(event)

    async def _dispatch(self, event: ClientEvent) -> None:
        if isinstance(event, Welcomed):
            if self._welcomed is not None and not self._welcomed.done():
                self._welcomed.set_result(event.welcome)
        elif isinstance(event, Refused):
            self._refused(event.error)
        elif isinstance(event, Answered):
            future = self._pending.get(event.request_id)
            if future is not None and not future.done():
                future.set_result(event.message)
        elif isinstance(event, Streamed):
            queue = self._streams.get(event.stream_id)
            if queue is not None:
                self._reader_blocked = queue.full()
                await queue.put(event)
                self._reader_blocked = False
        elif isinstance(event, Failed):
            self._lose(f"{self.label}: {event.reason}")

    def _refused(self, error: Error) -> None:
        if self._welcomed is None or self._welcomed.done():
            return
        text = f"{self.label}: {error.message}"
        if error.code == ErrorCode.INCOMPATIBLE:
            self._welcomed.set_exception(IncompatibleRunner(text))
        else:
            self._welcomed.set_exception(RemoteError(error.code, text))

    async def _heartbeat(self) -> None:
        interval = self._protocol.heartbeat.interval_s
        while self.alive:
            await asyncio.sleep(interval)
            data = self._protocol.tick(time.monotonic(), receiving_paused=self._reader_blocked)
            await self._dispatch_events()
            with contextlib.suppress(ConnectionLost):
                await self._write(data)

    def _raise_if_closed(self) -> None:
        if self._closed is not None:
            raise self._closed

    def _lose(self, reason: str) -> None:
        if self._closed is not None:
            return
        self._closed = ConnectionLost(reason)
        if self._welcomed is not None and not self._welcomed.done():
            self._welcomed.set_exception(self._closed)
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
        self._protocol.connection_lost("connection closed")
        self._lose(f"{self.label}: connection closed")
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        await asyncio.gather(*tasks, return_exceptions=True)
