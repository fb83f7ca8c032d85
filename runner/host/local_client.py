"""A minimal blocking client for `tether-runner status` on the host itself.

The full client session lives on the person's side (`tui/`); the runner's own
command line needs one request, so it drives the same sans-IO
`ClientConnection` with a blocking socket instead of an event loop.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from protocol.connection.client import ClientConnection
from protocol.connection.events import Answered, ClientEvent, Failed, Refused, Welcomed
from protocol.exchanges import GET_STATUS
from protocol.messages import Error, GetStatus, StatusReply
from protocol.version import __version__
from runner.errors import RunnerError


def _next_event(sock: socket.socket, conn: ClientConnection) -> ClientEvent:
    while True:
        event = conn.next_event()
        if event is not None:
            return event
        conn.receive_data(sock.recv(65536), time.monotonic())


def fetch_status(socket_path: Path, timeout: float = 5.0) -> StatusReply:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        conn = ClientConnection(__version__, time.monotonic(), compression=())  # same machine
        sock.sendall(conn.hello())
        while True:
            event = _next_event(sock, conn)
            if isinstance(event, Welcomed):
                break
            if isinstance(event, (Refused, Failed)):
                raise RunnerError(
                    event.error.message if isinstance(event, Refused) else event.reason
                )
        _id, data = conn.request(GET_STATUS, lambda i: GetStatus(id=i))
        sock.sendall(data)
        event = _next_event(sock, conn)
        if isinstance(event, Failed):
            raise RunnerError(event.reason)
        if not isinstance(event, Answered):
            raise RunnerError(f"unexpected answer from the runner: {event}")
        if isinstance(event.message, Error):
            raise RunnerError(event.message.message)
        assert isinstance(event.message, StatusReply)  # checked against the exchange table
        return event.message
