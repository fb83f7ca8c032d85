"""The runner's answer to every request of `protocol.exchanges`, one module per
family. `UNARY` and `STREAMS` are the routing table the connection uses; a test
checks they cover the exchange table exactly (the connection itself answers
pings and unsubscribes)."""

from __future__ import annotations

from typing import Dict, Tuple

from protocol import exchanges as ex
from runner.server.handlers import control, jobs, logs, metrics, stats
from runner.server.routes import AnswersOnce, AnswersStream, stream, unary

_UNARY: Tuple[AnswersOnce, ...] = (
    unary(ex.SUBMIT, jobs.submit),
    unary(ex.LIST_JOBS, jobs.list_jobs),
    unary(ex.GET_JOB, jobs.get_job),
    unary(ex.CANCEL, jobs.cancel),
    unary(ex.GET_STATUS, control.get_status),
    unary(ex.SHUTDOWN, control.shutdown),
    unary(ex.READ_LOG, logs.read_log),
    unary(ex.TAIL_OFFSET, logs.tail),
    unary(ex.READ_METRICS, metrics.read_metrics),
    unary(ex.GET_STATS, stats.get_stats),
)

_STREAMS: Tuple[AnswersStream, ...] = (
    stream(ex.FOLLOW_LOG, logs.follow),
    stream(ex.FOLLOW_METRICS, metrics.follow),
    stream(ex.WATCH_JOBS, jobs.watch_jobs),
    stream(ex.SUBSCRIBE_STATS, stats.subscribe),
)

#: Requests answered by one reply, by request type.
UNARY: Dict[type, AnswersOnce] = {route.exchange.request: route for route in _UNARY}
#: Requests that open a stream, by request type.
STREAMS: Dict[type, AnswersStream] = {route.exchange.request: route for route in _STREAMS}
