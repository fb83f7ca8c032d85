"""The one line a keeper says to each client before relaying its bytes.

It is sent once the keeper's channel to the runner is open, so a client that
reads it knows the path to the runner is up; it names the host, so a client
never talks through the keeper of another host (two hosts whose names hash
alike, or a socket renamed by hand). Anything else, or nothing, and the client
connects directly instead.
"""

from __future__ import annotations

from typing import Optional

_WORD = b"tether-keeper "
#: A greeting is one short line; more than this is not one.
MAX_GREETING_BYTES = 1024


def greeting(host: str) -> bytes:
    return _WORD + host.encode() + b"\n"


def greeted_host(line: bytes) -> Optional[str]:
    """The host a greeting names, or None when `line` is not a greeting."""
    if not line.startswith(_WORD) or not line.endswith(b"\n"):
        return None
    try:
        return line[len(_WORD) : -1].decode()
    except UnicodeDecodeError:
        return None
