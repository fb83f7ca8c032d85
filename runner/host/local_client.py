"""A minimal blocking client for `tether-runner status` on the host itself.

The full client session lives on the person's side (`tui/`); the runner's own
command line needs only one request, so it speaks the protocol synchronously.
"""

from __future__ import annotations

import socket
from pathlib import Path

from protocol.codec import FrameDecoder, encode
from protocol.messages import Error, GetStatus, Hello, Message, StatusReply, Welcome
from protocol.version import PROTOCOL_VERSION, __version__
from runner.errors import RunnerError


def _exchange(sock: socket.socket, decoder: FrameDecoder, message: Message) -> Message:
    sock.sendall(encode(message))
    while True:
        reply = decoder.next_message()
        if reply is not None:
            return reply
        data = sock.recv(65536)
        if not data:
            raise RunnerError("the runner closed the connection")
        decoder.feed(data)


def fetch_status(socket_path: Path, timeout: float = 5.0) -> StatusReply:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        decoder = FrameDecoder()
        welcome = _exchange(
            sock, decoder, Hello(protocol=PROTOCOL_VERSION, client_version=__version__)
        )
        if not isinstance(welcome, Welcome):
            raise RunnerError(str(getattr(welcome, "message", welcome)))
        reply = _exchange(sock, decoder, GetStatus(id=1))
        if isinstance(reply, Error):
            raise RunnerError(reply.message)
        if not isinstance(reply, StatusReply):
            raise RunnerError(f"unexpected reply {reply.type}")
        return reply
