"""stdin/stdout <-> the runner's socket, for SSH servers that forbid streamlocal
forwarding: the client runs `tether-runner bridge` on an exec channel instead."""

from __future__ import annotations

import asyncio
import sys

from runner.paths import RunnerPaths

_CHUNK = 256 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, BrokenPipeError):
        pass
    finally:
        if writer.can_write_eof():
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                pass


async def bridge(paths: RunnerPaths) -> None:
    loop = asyncio.get_running_loop()
    sock_reader, sock_writer = await asyncio.open_unix_connection(str(paths.socket))
    stdin = asyncio.StreamReader(limit=_CHUNK)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout.buffer
    )
    stdout = asyncio.StreamWriter(transport, protocol, None, loop)
    upstream = asyncio.ensure_future(_pump(stdin, sock_writer))
    downstream = asyncio.ensure_future(_pump(sock_reader, stdout))
    try:
        await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (upstream, downstream):
            task.cancel()
        await asyncio.gather(upstream, downstream, return_exceptions=True)
        sock_writer.close()
