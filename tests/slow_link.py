"""A slow, far link in user space: a TCP relay that delays and paces each direction.

These machines' kernels have no netem or tbf, so the link is built here: a relay
on 127.0.0.1 between an SSH client and a test sshd. Each chunk read is held for
the one-way delay after it has been "serialised" at the link's rate, in each
direction on its own; the "bad-wifi" profile also stalls the whole link (both
ways, nothing delivered) for 1-3 s at random moments. Test tooling only (the
tests and scripts/bench_link.py use it; the product never imports it).

    with SlowLink(sshd_port, PROFILES["vpn"]) as link:
        ... connect to 127.0.0.1:link.port ...
        link.cut()  # close every relayed connection, like a dropped link
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Set, Tuple

if TYPE_CHECKING:
    from tests.sshd import SshWorld

_CHUNK = 16 * 1024
#: Chunks queued inside the relay per direction (about what a router buffers).
_QUEUE_CHUNKS = 32


@dataclass(frozen=True)
class Profile:
    name: str
    rate_bps: float  # bits per second, each direction
    delay_s: float  # one way
    #: Mean seconds between stalls (0: never), and how long one lasts.
    stall_every_s: float = 0.0
    stall_s: Tuple[float, float] = (1.0, 3.0)

    @property
    def rtt_s(self) -> float:
        return 2 * self.delay_s


PROFILES = {
    "vpn": Profile("vpn", 20e6, 0.025),
    "bad-wifi": Profile("bad-wifi", 20e6, 0.025, stall_every_s=6.0),
}


class _Pacer:
    """One direction: when the next chunk may leave, at the link's rate."""

    def __init__(self, rate_bps: float) -> None:
        self._rate = rate_bps / 8.0
        self._free_at = 0.0

    def departs(self, now: float, size: int) -> float:
        start = max(now, self._free_at)
        self._free_at = start + size / self._rate
        return self._free_at


class SlowLink:
    """The relay, run on its own thread's event loop; `port` is where to connect."""

    def __init__(self, target_port: int, profile: Profile, seed: Optional[int] = None) -> None:
        self.target_port = target_port
        self.profile = profile
        self.port = 0
        self.stalls = 0
        self.cuts = 0
        #: Bytes delivered, both directions together (what crossed the link).
        self.bytes_relayed = 0
        self._random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Optional[asyncio.AbstractServer] = None
        self._writers: Set[asyncio.StreamWriter] = set()
        self._stalled_until = 0.0
        self._tasks: Set[asyncio.Task[None]] = set()

    # -- the thread's side -----------------------------------------------------------

    def start(self) -> SlowLink:
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def cut(self) -> int:
        """Close every relayed connection at once (a dropped link); how many."""
        self.cuts += 1
        return self._call(self._cut())

    def __enter__(self) -> SlowLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: asyncio.Future[object] | object) -> int:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)  # type: ignore[arg-type]

    # -- the loop's side -------------------------------------------------------------

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        sock: socket.socket = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        if self.profile.stall_every_s > 0:
            self._spawn(self._stall_now_and_then())
        return 0

    async def _stop(self) -> int:
        if self._server is not None:
            self._server.close()
        await self._cut()
        for task in list(self._tasks):
            task.cancel()
        return 0

    async def _cut(self) -> int:
        writers = list(self._writers)
        for writer in writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        return len(writers) // 2

    def _spawn(self, coro: object) -> None:
        task = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stall_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self._random.expovariate(1.0 / self.profile.stall_every_s))
            low, high = self.profile.stall_s
            self._stalled_until = time.monotonic() + self._random.uniform(low, high)
            self.stalls += 1
            await asyncio.sleep(max(0.0, self._stalled_until - time.monotonic()))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        for w in (writer, up_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._writers.add(w)
        self._spawn(self._direction(reader, up_writer, writer))
        self._spawn(self._direction(up_reader, writer, up_writer))

    async def _direction(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, peer: asyncio.StreamWriter
    ) -> None:
        queue: asyncio.Queue[Optional[Tuple[float, bytes]]] = asyncio.Queue(_QUEUE_CHUNKS)
        pacer = _Pacer(self.profile.rate_bps)
        deliver = self._loop.create_task(self._deliver(queue, sink))
        try:
            while True:
                data = await source.read(_CHUNK)
                if not data:
                    break
                due = pacer.departs(time.monotonic(), len(data)) + self.profile.delay_s
                await queue.put((due, data))
            await queue.put(None)
            await deliver
        except (ConnectionError, OSError):
            pass
        finally:
            deliver.cancel()
            for w in (sink, peer):
                with contextlib.suppress(Exception):
                    w.transport.abort()
                self._writers.discard(w)

    async def _deliver(
        self, queue: asyncio.Queue[Optional[Tuple[float, bytes]]], sink: asyncio.StreamWriter
    ) -> None:
        while True:
            item = await queue.get()
            if item is None:
                with contextlib.suppress(Exception):
                    sink.write_eof()
                return
            due, data = item
            while True:
                now = time.monotonic()
                wait = max(due, self._stalled_until) - now
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            sink.write(data)
            self.bytes_relayed += len(data)
            await sink.drain()


def add_slow_host(home: Path, alias: str, link: SlowLink, world: SshWorld) -> None:
    """Make ``alias`` in a client HOME (made by `SshWorld.client`) reach the
    world's runner through ``link``: an SSH host block on the relay's port, its
    host key known under that port, and the runner's path in tether's config."""
    user, key = world.account.name, world.client_key
    server = next(s for s in world.servers.values() if s.port == link.target_port)
    ssh = home / ".ssh"
    with (ssh / "config").open("a") as config:
        config.write(
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {link.port}\n  User {user}\n"
            f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
        )
    with (ssh / "known_hosts").open("a") as known:
        known.write(f"[127.0.0.1]:{link.port} {server.host_key_line}\n")
    with (home / ".config" / "tether" / "config.toml").open("a") as tether:
        tether.write(f'[hosts."{alias}"]\nrunner = "{world.runner}"\n\n')
