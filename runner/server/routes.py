"""A handler bound to its entry of `protocol.exchanges`, checked by mypy.

`UnaryRoute(SUBMIT, submit)` only type-checks when ``submit`` takes a `Submit`
and returns a `JobReply`, so a handler can never drift from the message it
serves. The connection then calls every route through the same two methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Generic, Protocol, TypeVar

from protocol.envelope import Reply, Request
from protocol.exchanges import Stream, Unary
from runner.server.services import Services
from runner.streams import Send

Req = TypeVar("Req", bound=Request)
Rep = TypeVar("Rep", bound=Reply)


@dataclass(frozen=True)
class UnaryRoute(Generic[Req, Rep]):
    exchange: Unary[Req, Rep]
    handler: Callable[[Services, Req], Awaitable[Rep]]

    async def answer(self, services: Services, request: Request) -> Reply:
        assert isinstance(request, self.exchange.request)  # the table routed it here
        return await self.handler(services, request)


@dataclass(frozen=True)
class StreamRoute(Generic[Req]):
    exchange: Stream[Req, Reply]
    handler: Callable[[Services, Req, Send], Awaitable[None]]

    async def stream(self, services: Services, request: Request, send: Send) -> None:
        assert isinstance(request, self.exchange.request)  # the table routed it here
        await self.handler(services, request, send)


class AnswersOnce(Protocol):
    """Any `UnaryRoute`, whatever its message types."""

    @property
    def exchange(self) -> Unary[Request, Reply]: ...

    async def answer(self, services: Services, request: Request) -> Reply: ...


class AnswersStream(Protocol):
    """Any `StreamRoute`, whatever its message types."""

    @property
    def exchange(self) -> Stream[Request, Reply]: ...

    async def stream(self, services: Services, request: Request, send: Send) -> None: ...


def unary(
    exchange: Unary[Req, Rep], handler: Callable[[Services, Req], Awaitable[Rep]]
) -> AnswersOnce:
    """Bind `handler` to `exchange`; mypy infers both message types from the
    exchange and checks the handler against them."""
    return UnaryRoute(exchange, handler)


def stream(
    exchange: Stream[Req, Reply], handler: Callable[[Services, Req, Send], Awaitable[None]]
) -> AnswersStream:
    """Bind a stream `handler` to `exchange`, checked like `unary`."""
    return StreamRoute(exchange, handler)
