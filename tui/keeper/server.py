"""The keeper: one SSH connection to a host, offered on a private unix socket.

It runs as its own process (``python -m tui.keeper HOST``, started by
`tui.keeper.client.start_keeper`) and lives as long as it is useful:

- it connects as a verb would (`tui.remote.SshOpener`: ``ssh HOST``'s options,
  tether's host key rule, the runner found or started by the bootstrap), and
  checks the runner's socket once for that connection;
- each client gets a channel of its own to the runner, greeted once the channel
  is open (`tui.keeper.greeting`), then relayed byte for byte;
- it leaves after `persist_seconds` with no client, when its SSH connection
  ends or a channel cannot be opened (the next verb connects directly and
  starts a fresh keeper), and on SIGTERM (``tether disconnect``).

One keeper per host: the lock file beside the socket is held for the keeper's
life, so a second one started at the same moment steps aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import stat
import sys
import time
from typing import Optional, Set

import asyncssh

from protocol.socket_path import open_private
from tui.errors import TetherError
from tui.keeper.greeting import greeting
from tui.keeper.place import KeeperPlace, claim_keeper_place, persist_seconds
from tui.peer import is_other_account, socket_peer
from tui.relay import relay
from tui.remote import SshOpener

#: Seconds to open a client's channel before the link is judged stalled.
OPEN_TIMEOUT_S = 10.0


def _say(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}", file=sys.stderr, flush=True)


class Keeper:
    def __init__(self, host: str, place: KeeperPlace, idle_s: float) -> None:
        self.host = host
        self.place = place
        self.idle_s = idle_s
        self.opener = SshOpener(host)
        self.opener.drop_on_abandon = False
        self._done = asyncio.Event()
        self._why = ""
        self._clients: Set[asyncio.Task[None]] = set()
        self._idle_since = time.monotonic()
        self._socket_inode: Optional[int] = None

    def finish(self, why: str) -> None:
        if not self._done.is_set():
            self._why = why
            self._done.set()

    async def run(self) -> int:
        try:
            first = await self.opener()
        except TetherError as exc:
            _say(f"could not connect: {exc}")
            return 1
        first[1].close()  # it proved the route; each client gets a channel of its own
        conn = await self.opener.ssh_connection()
        server = await self._listen()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.finish, f"{signal.Signals(sig).name} received")
        watchers = [
            asyncio.ensure_future(self._watch_connection(conn)),
            asyncio.ensure_future(self._watch_idle()),
        ]
        _say(f"keeping the connection to {self.host} on {self.place.socket}")
        try:
            await self._done.wait()
        finally:
            server.close()
            self._remove_socket()
            for task in [*watchers, *self._clients]:
                task.cancel()
            await asyncio.gather(*watchers, *self._clients, return_exceptions=True)
            await self.opener.aclose()
        _say(f"left: {self._why}")
        return 0

    async def _listen(self) -> asyncio.AbstractServer:
        path = self.place.socket
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()  # left by a keeper that was killed: we hold the lock now
        old_umask = os.umask(0o177)  # never, even for an instant, open to others
        try:
            server = await asyncio.start_unix_server(self._serve, str(path))
        finally:
            os.umask(old_umask)
        self._socket_inode = path.lstat().st_ino
        return server

    def _remove_socket(self) -> None:
        """Remove the socket, unless it is no longer ours."""
        with contextlib.suppress(OSError):
            if self.place.socket.lstat().st_ino == self._socket_inode:
                self.place.socket.unlink()

    async def _watch_connection(self, conn: asyncssh.SSHClientConnection) -> None:
        await conn.wait_closed()
        self.finish(f"the SSH connection to {self.host} ended")

    async def _watch_idle(self) -> None:
        while True:
            idle_for = time.monotonic() - self._idle_since
            if not self._clients and idle_for >= self.idle_s:
                self.finish(f"no client for {self.idle_s:g} s")
                return
            await asyncio.sleep(max(0.05, min(1.0, self.idle_s - idle_for)))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if is_other_account(socket_peer(writer.get_extra_info("socket"))):
            writer.close()
            return
        self._clients.add(task)
        try:
            await self._serve_client(reader, writer)
        except asyncio.CancelledError:
            pass  # our own shutdown; see PortForward._accept for why not re-raised
        finally:
            self._clients.discard(task)
            self._idle_since = time.monotonic()
            writer.close()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            channel = await asyncio.wait_for(self.opener.open_again(), OPEN_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.finish(f"no channel to the runner within {OPEN_TIMEOUT_S:g} s")
            return
        except TetherError as exc:
            self.finish(f"no channel to the runner: {exc}")
            return
        writer.write(greeting(self.host))
        await relay((reader, writer), channel)


def _hold_lock(place: KeeperPlace) -> Optional[int]:
    """The lock's descriptor, held; None when another keeper holds it."""
    fd = open_private(place.lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tui.keeper HOST", file=sys.stderr)
        return 2
    host = argv[0]
    try:
        idle_s = persist_seconds()
        place = claim_keeper_place(host)
    except (TetherError, OSError) as exc:
        _say(f"cannot keep a connection to {host}: {exc}")
        return 1
    lock = _hold_lock(place)
    if lock is None:
        return 0  # another keeper for this host got there first
    return asyncio.run(Keeper(host, place, idle_s).run())
