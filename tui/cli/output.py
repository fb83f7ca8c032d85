"""Writing a verb's output to stdout.

Writes happen on the event loop, synchronously. Handing them to a thread
(`asyncio.to_thread`) made Ctrl-C print an asyncio traceback when it landed
mid-write, and cost a thread hop per chunk. A reader that stalls the pipe stalls
the loop too, which the connection's heartbeat tells apart from a dead link
(`tui.rpc`).
"""

from __future__ import annotations

import sys


def write_bytes(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def write_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
