"""The runner's half of a connection (see `protocol.connection` for the rules).

It answers what the rules alone can answer (the handshake, pings,
unsubscribes, every malformed or out-of-order message) into `data_to_send`,
and hands the runner only well-formed requests to serve, as events. Everything
the runner sends goes through `send`, which checks it answers an open request
the way `protocol.exchanges` says.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Deque, Dict, Optional, Sequence, Union

from protocol.codec import FrameDecoder, FrameEncoder
from protocol.compression import SUPPORTED, choose
from protocol.connection.events import Closed, RequestReceived, ServerEvent, StreamCancelled
from protocol.envelope import Reply, Request
from protocol.errors import ErrorCode, FrameError, LocalProtocolError, MessageError
from protocol.exchanges import BY_REQUEST, Exchange
from protocol.limits import PEER_SILENCE_LIMIT_S
from protocol.messages import Error, Hello, Message, Ok, Ping, Pong, Unsubscribe, Welcome
from protocol.version import PROTOCOL_VERSION


def incompatible_message(hello: Hello, runner_version: str) -> str:
    """What a client of another protocol is told, with which side to upgrade."""
    advice = (
        "upgrade tether on this machine"
        if hello.protocol < PROTOCOL_VERSION
        else "connect again and tether upgrades the runner"
    )
    return (
        f"client tether {hello.client_version} speaks protocol {hello.protocol}, "
        f"this runner (tether {runner_version}) speaks protocol {PROTOCOL_VERSION}: {advice}"
    )


class ServerConnection:
    """The runner's half: handshake, request ids, what may answer what, silence.

    Feed every byte read to `receive_data`, then write `data_to_send` and
    drain `next_event`; write what `send` returns for each answer. Close the
    transport after a `Closed` event (once `data_to_send` is written), or when
    `silence_left` reaches zero.
    """

    def __init__(
        self,
        welcome: Welcome,
        now: float,
        silence_limit_s: float = PEER_SILENCE_LIMIT_S,
        compression: Sequence[str] = SUPPORTED,
    ) -> None:
        self._welcome = welcome
        self.silence_limit_s = silence_limit_s
        self._codecs = tuple(compression)  # what this runner can speak
        self._decoder = FrameDecoder()
        self._encoder = FrameEncoder()
        self._greeted = False
        self._open: Dict[int, Exchange] = {}
        self._highest_id = -1
        self._events: Deque[ServerEvent] = deque()
        self._outbox = bytearray()
        self._closed: Optional[str] = None
        self._last_heard = now

    @property
    def closed(self) -> Optional[str]:
        """Why the connection must close, or ``None`` while it lives."""
        return self._closed

    @property
    def greeted(self) -> bool:
        return self._greeted

    def wire_stats(self) -> Dict[str, Any]:
        """The codec agreed and this connection's bytes each way, before and after it."""
        return {
            "compression": self._encoder.codec,
            "sent": self._encoder.counters.as_dict(),
            "received": self._decoder.counters.as_dict(),
        }

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes read from the client; ``b""`` means it closed its end."""
        if self._closed is not None:
            return
        if not data:
            self._close("the client closed the connection")
            return
        self._last_heard = now
        self._decoder.feed(data)
        while self._closed is None:
            try:
                message = self._decoder.next_message()
            except MessageError as exc:
                self._answer(Error(id=exc.request_id, code=exc.code, message=str(exc)))
                continue
            except FrameError as exc:
                self._answer(Error(code=exc.code, message=f"{exc}; closing the connection"))
                self._close(str(exc))
                return
            if message is None:
                return
            self._receive(message)

    def next_event(self) -> Optional[ServerEvent]:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """What the rules answered on their own since the last call."""
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def send(self, message: Union[Reply, Error]) -> bytes:
        """The bytes of an answer to an open request; ``b""`` for an answer to
        one that is already over (a stream the client left). Raises
        `LocalProtocolError` for an answer that breaks the table: a bug here."""
        kind = type(message).__name__
        request_id = message.id
        if request_id is None:
            raise LocalProtocolError(f"{kind} answers no request")
        exchange = self._open.get(request_id)
        if exchange is None:
            if request_id <= self._highest_id:
                return b""
            raise LocalProtocolError(f"no request {request_id} to answer with {kind}")
        if not exchange.allows(message):
            raise LocalProtocolError(
                f"{kind} cannot answer {exchange.request.__name__} {request_id}"
            )
        if exchange.ends_with(message):
            del self._open[request_id]
        return self._encoder.encode(message)

    def refuse(self, error: Error) -> bytes:
        """Turn the client away before anything else (another uid, shutting down)."""
        self._close(error.message)
        return self._encoder.encode(error)

    def silence_left(self, now: float) -> float:
        """Seconds until a client that stays silent is dropped."""
        return self._last_heard + self.silence_limit_s - now

    def _receive(self, message: Message) -> None:
        if isinstance(message, Hello):
            self._hello(message)
            return
        request_id = getattr(message, "id", None)
        if not self._greeted:
            self._refuse(request_id, ErrorCode.NOT_READY, "say hello first")
            return
        if not isinstance(message, Request):
            self._refuse(request_id, ErrorCode.BAD_REQUEST, f"{message.type} is not a request")
            return
        exchange = BY_REQUEST[type(message)]
        if message.id in self._open:
            self._refuse(
                message.id, ErrorCode.BAD_REQUEST, f"request id {message.id} is already open"
            )
            return
        self._highest_id = max(self._highest_id, message.id)
        if isinstance(message, Ping):
            self._answer(Pong(id=message.id))
        elif isinstance(message, Unsubscribe):
            self._unsubscribe(message)
        else:
            self._open[message.id] = exchange
            self._events.append(RequestReceived(message, exchange))

    def _hello(self, hello: Hello) -> None:
        if self._greeted:
            self._refuse(None, ErrorCode.BAD_REQUEST, "hello was already said")
        elif hello.protocol != PROTOCOL_VERSION:
            message = incompatible_message(hello, self._welcome.runner_version)
            self._answer(Error(code=ErrorCode.INCOMPATIBLE, message=message))
            self._close(message)
        else:
            self._greeted = True
            offered = [c for c in hello.compression or () if c in self._codecs]
            codec = choose(offered)
            self._answer(self._welcome.model_copy(update={"compression": codec}))
            # Frames after the welcome may be compressed, both ways.
            self._decoder.codec = self._encoder.codec = codec

    def _unsubscribe(self, message: Unsubscribe) -> None:
        exchange = self._open.get(message.stream_id)
        if exchange is not None and exchange.streams:
            del self._open[message.stream_id]
            self._events.append(StreamCancelled(message.stream_id))
        self._answer(Ok(id=message.id))

    def _refuse(self, request_id: Optional[int], code: ErrorCode, text: str) -> None:
        self._answer(Error(id=request_id, code=code, message=text))

    def _answer(self, message: Message) -> None:
        self._outbox += self._encoder.encode(message)

    def _close(self, reason: str) -> None:
        if self._closed is None:
            self._closed = reason
            self._events.append(Closed(reason))
