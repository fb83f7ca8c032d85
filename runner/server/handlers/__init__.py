"""The runner's answer to every request of `protocol.exchanges`, one module per
family; each family binds its own handlers (its ``UNARY`` and ``STREAMS``), so a
new request of a family touches that family's module alone. A test checks the
routes cover the exchange table exactly (the connection itself answers pings
and unsubscribes)."""

from __future__ import annotations

from typing import Dict

from runner.server.handlers import cluster, control, jobs, logs, metrics, stats, sync
from runner.server.routes import AnswersOnce, AnswersStream

_FAMILIES = (cluster, control, jobs, logs, metrics, stats, sync)

#: Requests answered by one reply, by request type.
UNARY: Dict[type, AnswersOnce] = {
    route.exchange.request: route for family in _FAMILIES for route in family.UNARY
}
#: Requests that open a stream, by request type.
STREAMS: Dict[type, AnswersStream] = {
    route.exchange.request: route for family in _FAMILIES for route in family.STREAMS
}
