"""Bytes both ways between two streams, until either ends: a keeper's client and
its channel to the runner (`tui.keeper`), a forwarded port's local connection
and its SSH channel (`tui.forward`).

Neither relay looks inside: a keeper's client and the runner speak the protocol
end to end (handshake, heartbeats and all), so a keeper cannot fall out of step
with either side's version.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Awaitable, Callable

from tui.rpc import ByteReader, ByteWriter

#: Bytes moved per read: a few of the runner's 256 KiB log chunks at most.
RELAY_CHUNK = 256 * 1024


async def _pump(read: Callable[[int], Awaitable[bytes]], writer: ByteWriter) -> None:
    while True:
        data = await read(RELAY_CHUNK)
        if not data:
            return
        writer.write(data)
        await writer.drain()


async def relay(
    client: tuple[ByteReader, ByteWriter], channel: tuple[ByteReader, ByteWriter]
) -> None:
    """Until either side ends (or fails): then both are closed. A failure is not
    raised: a client that left and a channel that broke end the same way, and a
    broken SSH connection is noticed by its owner's own watcher."""
    up = asyncio.ensure_future(_pump(client[0].read, channel[1]))
    down = asyncio.ensure_future(_pump(channel[0].read, client[1]))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        for task in (up, down):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        channel[1].close()
        client[1].close()
