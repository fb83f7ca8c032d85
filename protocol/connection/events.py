"""What the two sides of a connection report: one event type per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from protocol.envelope import Request
from protocol.exchanges import Exchange
from protocol.limits import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S
from protocol.messages import Error, Message, Welcome

# -- events the client side produces ---------------------------------------------


@dataclass(frozen=True)
class Welcomed:
    """The runner accepted the handshake."""

    welcome: Welcome


@dataclass(frozen=True)
class Refused:
    """The runner refused the handshake (``incompatible``, ``forbidden``); a
    `Failed` event follows."""

    error: Error


@dataclass(frozen=True)
class Answered:
    """The one reply to request ``request_id``, or the `Error` in its place."""

    request_id: int
    message: Message


@dataclass(frozen=True)
class Streamed:
    """One message of stream ``stream_id``; ``last`` when it ends the stream
    (its end message, or an `Error`)."""

    stream_id: int
    message: Message
    last: bool


@dataclass(frozen=True)
class Failed:
    """The connection is over: nothing more will be sent or received on it."""

    reason: str


ClientEvent = Union[Welcomed, Refused, Answered, Streamed, Failed]

# -- events the server side produces ---------------------------------------------


@dataclass(frozen=True)
class RequestReceived:
    """A request to answer with `ServerConnection.send`: one reply, or a stream
    of items when ``exchange.streams``."""

    request: Request
    exchange: Exchange


@dataclass(frozen=True)
class StreamCancelled:
    """The client unsubscribed from stream ``stream_id``: stop producing it."""

    stream_id: int


@dataclass(frozen=True)
class Closed:
    """The connection must close once `data_to_send` has been written."""

    reason: str


ServerEvent = Union[RequestReceived, StreamCancelled, Closed]


@dataclass(frozen=True)
class Heartbeat:
    """How often the client pings, and how long a silent link may stay up."""

    interval_s: float = HEARTBEAT_INTERVAL_S
    timeout_s: float = HEARTBEAT_TIMEOUT_S


#: The heartbeat the product uses; tests pass a faster one.
DEFAULT_HEARTBEAT = Heartbeat()
