"""The client session: one host's runner as calls and streams. No Textual here.

The CLI verbs and the app both hold a `HostSession` per host. It connects
through an *opener* (the local socket, SSH streamlocal, an SSH exec bridge:
``tui.hosts.make_session`` chooses), says hello, and then offers one method per
request of the wire (`protocol.exchanges` names which).

Connecting
    `HostSession.start` connects once and raises if it cannot (the CLI prints
    the sentence and exits). `HostSession.keep_connected` connects in the
    background and keeps retrying (the app). Either way, a link that drops later
    is made again after a backoff (`BACKOFF_S`, jittered), every step reported to
    `HostSession.listeners` as a `SessionState`: ``connecting``, ``connected``,
    ``reconnecting`` (attempt and time of the next try), ``offline`` (a failure
    that waiting will not fix, until `HostSession.reconnect_now`), ``closed``.

Calls (``submit``, ``list_jobs``, ``get_job``, ``cancel``, ``status``,
``stop_runner``, ``read_log``, ``tail_offset``, ``read_metrics``,
``stats_snapshot``)
    Each waits while the session (re)connects and returns the typed reply. A
    call whose link drops before its answer is asked again on the next
    connection, except ``submit`` and ``stop_runner``, which raise
    `ConnectionLost` instead: whether they took effect is then unknown.

Streams (``watch_jobs``, ``follow_log``, ``follow_metrics``, ``subscribe_stats``)
    Async iterators that survive dropped links: each holds a cursor
    (`tui.session.cursors`) and, on the next connection, asks the runner to go
    on from it, so nothing is lost and nothing is delivered twice. Leaving the
    ``async for`` (or ``aclose()``) unsubscribes.

Errors (`tui.errors`)
    `ConnectError` when the host cannot be reached or the session is offline or
    closed (``retryable`` says whether waiting may help); its `IncompatibleRunner`
    when the runner speaks another protocol or is newer than this client;
    `ConnectionLost` only from ``submit`` and ``stop_runner``; `RemoteError`
    (with its `ErrorCode`) when the runner refuses a request; `StreamGap` when a
    resumed stream could not continue where it was. Every other call and stream
    retries a lost link itself.

Concurrency
    Every call and stream may run in many tasks at once on one session: they
    share one connection, writes are serialised and answers routed by id. A
    stream's iterator belongs to one task. Listeners run on the event loop and
    must not block. `HostSession.close` ends everything the session started.
"""

from __future__ import annotations

from tui.session.cursors import StatsEvent, StreamGap
from tui.session.host import HostSession
from tui.session.link import Opener
from tui.session.state import BACKOFF_S, SessionState, backoff_delay

__all__ = [
    "BACKOFF_S",
    "HostSession",
    "Opener",
    "SessionState",
    "StatsEvent",
    "StreamGap",
    "backoff_delay",
]
