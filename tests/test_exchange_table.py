"""Every request of the wire has exactly its two halves: one runner route, one
`HostSession` method. A new request without either fails here, not in use."""

from __future__ import annotations

import inspect
import typing

from protocol import exchanges
from protocol.envelope import Reply, Request
from protocol.messages import Message
from runner.server.handlers import STREAMS, UNARY
from tui.session import HostSession

#: The exchange constants of `protocol.exchanges`, by name.
NAMED = {
    name: value
    for name, value in vars(exchanges).items()
    if isinstance(value, (exchanges.Unary, exchanges.Stream))
}
SERVED = [e for e in exchanges.EXCHANGES if e.client is not None]


def _union_members() -> list[type]:
    union = typing.get_args(Message)[0]
    return list(typing.get_args(union))


def test_every_request_of_the_wire_is_in_the_table_once() -> None:
    requests = [m for m in _union_members() if issubclass(m, Request)]
    assert sorted(r.__name__ for r in requests) == sorted(
        e.request.__name__ for e in exchanges.EXCHANGES
    )
    assert len(exchanges.BY_REQUEST) == len(exchanges.EXCHANGES)
    assert set(NAMED.values()) == set(exchanges.EXCHANGES)


def test_every_reply_of_the_wire_answers_something() -> None:
    replies = {m for m in _union_members() if issubclass(m, Reply)}
    answered: set[type] = set()
    for exchange in exchanges.EXCHANGES:
        if isinstance(exchange, exchanges.Unary):
            answered.add(exchange.reply)
        else:
            answered.update(exchange.items)
            if exchange.end is not None:
                answered.add(exchange.end)
    assert replies == answered


def test_the_runner_routes_each_served_request_exactly_once() -> None:
    assert not set(UNARY) & set(STREAMS)
    assert set(UNARY) == {e.request for e in SERVED if not e.streams}
    assert set(STREAMS) == {e.request for e in SERVED if e.streams}
    for route in [*UNARY.values(), *STREAMS.values()]:
        assert exchanges.BY_REQUEST[route.exchange.request] is route.exchange


def test_each_served_request_has_one_session_method_and_only_it_sends_it() -> None:
    methods = {
        name: inspect.getsource(member)
        for name, member in inspect.getmembers(HostSession, inspect.isfunction)
    }
    names = [e.client for e in SERVED]
    assert len(names) == len(set(names)), "two requests claim the same session method"
    for constant, exchange in NAMED.items():
        if exchange.client is None:
            continue
        assert exchange.client in methods, f"HostSession has no {exchange.client}()"
        users = [name for name, source in methods.items() if constant in source]
        assert users == [exchange.client], f"{constant} is sent by {users}"
