"""The client's half of a connection (see `protocol.connection` for the rules)."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any, Callable, Deque, Dict, Optional, Sequence, Set, Tuple

from protocol.codec import FrameDecoder, FrameEncoder
from protocol.compression import SUPPORTED
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
from protocol.envelope import Request
from protocol.errors import FrameError, LocalProtocolError, MessageError
from protocol.exchanges import BY_REQUEST, PING, UNSUBSCRIBE, Exchange
from protocol.limits import PEER_SILENCE_LIMIT_S
from protocol.messages import Error, Hello, Message, Ping, Unsubscribe, Welcome
from protocol.version import PROTOCOL_VERSION

#: The longest a client goes without a ping, however busy the link is with
#: what the runner sends: the runner drops a client it has not heard from in
#: `PEER_SILENCE_LIMIT_S`.
PING_AT_LEAST_S = PEER_SILENCE_LIMIT_S / 3


class ClientConnection:
    """The client's half: handshake, request ids, what answers what, heartbeat.

    Call `hello` once and send its bytes; feed every byte read to
    `receive_data`; drain `next_event` after each feed; call `tick` about every
    ``heartbeat.interval_s`` and send what it returns.
    """

    def __init__(
        self,
        client_version: str,
        now: float,
        heartbeat: Heartbeat = DEFAULT_HEARTBEAT,
        compression: Sequence[str] = SUPPORTED,
    ) -> None:
        self._client_version = client_version
        self.heartbeat = heartbeat
        self._offer = tuple(compression)
        self._decoder = FrameDecoder()
        self._encoder = FrameEncoder()
        self._ids = itertools.count(1)
        self._open: Dict[int, Exchange] = {}
        self._internal: Set[int] = set()  # pings and unsubscribes: answered to no one
        self._events: Deque[ClientEvent] = deque()
        self._greeted = False
        self._welcome: Optional[Welcome] = None
        self._failure: Optional[str] = None
        self._last_heard = now
        self._last_tick = now
        self._last_ping = now

    @property
    def failure(self) -> Optional[str]:
        """Why the connection is over, or ``None`` while it lives."""
        return self._failure

    @property
    def welcome(self) -> Optional[Welcome]:
        return self._welcome

    @property
    def open_requests(self) -> int:
        return len(self._open) - len(self._internal)

    @property
    def compression(self) -> Optional[str]:
        """The codec agreed in the handshake; None: plain frames."""
        return self._encoder.codec

    def wire_stats(self) -> Dict[str, Any]:
        """The codec and this connection's bytes each way, before and after it."""
        return {
            "compression": self._encoder.codec,
            "sent": self._encoder.counters.as_dict(),
            "received": self._decoder.counters.as_dict(),
        }

    def hello(self) -> bytes:
        if self._greeted:
            raise LocalProtocolError("hello was already sent")
        self._greeted = True
        return self._encoder.encode(
            Hello(
                protocol=PROTOCOL_VERSION,
                client_version=self._client_version,
                compression=list(self._offer) or None,
            )
        )

    def request(self, exchange: Exchange, build: Callable[[int], Request]) -> Tuple[int, bytes]:
        """The id picked for the request ``build(id)`` of `exchange`, and its
        bytes to send."""
        self._check_usable()
        request_id = next(self._ids)
        message = build(request_id)
        if BY_REQUEST.get(type(message)) is not exchange:
            raise LocalProtocolError(
                f"{type(message).__name__} is not a {exchange.request.__name__}"
            )
        if message.id != request_id:
            raise LocalProtocolError(f"request built with id {message.id}, not {request_id}")
        data = self._encoder.encode(message)
        self._open[request_id] = exchange
        return request_id, data

    def unsubscribe(self, stream_id: int) -> bytes:
        """Stop stream ``stream_id``: later items for it are dropped here, and
        the bytes returned ask the runner to stop sending them."""
        if self._open.pop(stream_id, None) is None or self._failure is not None:
            return b""
        request_id, data = self.request(
            UNSUBSCRIBE, lambda i: Unsubscribe(id=i, stream_id=stream_id)
        )
        self._internal.add(request_id)
        return data

    def forget(self, request_id: int) -> None:
        """Drop a unary request whose answer nobody waits for any more (its
        caller timed out or was cancelled): the answer is ignored when it comes."""
        exchange = self._open.get(request_id)
        if exchange is not None and not exchange.streams:
            self._internal.add(request_id)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes read from the runner; ``b""`` means the runner closed the link."""
        if self._failure is not None:
            return
        if not data:
            self._fail("the runner closed the connection")
            return
        self._last_heard = now
        self._decoder.feed(data)
        while self._failure is None:
            try:
                message = self._decoder.next_message()
            except (FrameError, MessageError) as exc:
                self._fail(f"the runner sent a bad frame ({exc})")
                return
            if message is None:
                return
            self._receive(message)

    def next_event(self) -> Optional[ClientEvent]:
        return self._events.popleft() if self._events else None

    def tick(self, now: float, receiving_paused: bool = False) -> bytes:
        """The heartbeat: a ping to send when one is due, or the link declared
        dead (a `Failed` event) after too long a silence.

        A ping is due when nothing was heard for an interval: a link that
        carries a stream (stats every second) is alive by its own traffic, and
        twenty hosts open in the app would otherwise spend a ping and a pong
        each every few seconds for nothing. It is due at least every third of
        the runner's `PEER_SILENCE_LIMIT_S` all the same, since a stream is
        traffic in one direction only and the runner counts the client's.

        A tick that comes much later than asked means this process was held up
        (a stalled stdout, a suspended laptop): that says nothing about the
        link, so silence is counted afresh from then. ``receiving_paused``: the
        caller has stopped reading (its consumer is slow), so silence is its
        own doing and does not count either.
        """
        if self._failure is not None or self._welcome is None:
            return b""
        if now - self._last_tick > 2 * self.heartbeat.interval_s:
            self._last_heard = now
        self._last_tick = now
        silent = now - self._last_heard
        if silent > self.heartbeat.timeout_s and not receiving_paused:
            self._fail(f"no answer for {silent:.0f} s (link dead?)")
            return b""
        if silent < self.heartbeat.interval_s and now - self._last_ping < PING_AT_LEAST_S:
            return b""
        self._last_ping = now
        request_id, data = self.request(PING, lambda i: Ping(id=i))
        self._internal.add(request_id)
        return data

    def connection_lost(self, reason: str) -> None:
        """The transport failed under us (a reset, a write error)."""
        self._fail(reason)

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise LocalProtocolError(f"connection is over: {self._failure}")
        if not self._greeted:
            raise LocalProtocolError("say hello first")

    def _receive(self, message: Message) -> None:
        if self._welcome is None:
            self._receive_handshake(message)
            return
        if isinstance(message, Error) and message.id is None:
            self._fail(message.message)
            return
        request_id = getattr(message, "id", None)
        if not isinstance(request_id, int):
            self._fail(f"the runner sent an unsolicited {message.type}")
            return
        exchange = self._open.get(request_id)
        if exchange is None:
            return  # a stream we unsubscribed from, or a request we forgot
        if request_id in self._internal:
            if not exchange.streams:
                self._open.pop(request_id)
                self._internal.discard(request_id)
            return
        self._receive_answer(request_id, exchange, message)

    def _receive_handshake(self, message: Message) -> None:
        if isinstance(message, Welcome):
            codec = message.compression
            if codec is not None and codec not in self._offer:
                self._fail(f"the runner chose compression {codec!r}, which was not offered")
                return
            # Frames after the welcome may be compressed, both ways.
            self._decoder.codec = self._encoder.codec = codec
            self._welcome = message
            self._events.append(Welcomed(message))
        elif isinstance(message, Error):
            self._events.append(Refused(message))
            self._fail(message.message)
        else:
            self._fail(f"the runner answered hello with {message.type}")

    def _receive_answer(self, request_id: int, exchange: Exchange, message: Message) -> None:
        if not exchange.allows(message):
            self._fail(
                f"the runner answered {exchange.request.__name__} {request_id} with {message.type}"
            )
            return
        last = exchange.ends_with(message)
        if last:
            del self._open[request_id]
        if exchange.streams:
            self._events.append(Streamed(request_id, message, last))
        else:
            self._events.append(Answered(request_id, message))

    def _fail(self, reason: str) -> None:
        if self._failure is not None:
            return
        self._failure = reason
        self._open.clear()
        self._internal.clear()
        self._events.append(Failed(reason))
