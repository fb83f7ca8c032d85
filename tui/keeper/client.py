"""A verb's side of a kept connection: use the host's keeper, start one, stop one.

Imports neither asyncssh nor Textual: a verb that finds a keeper pays only for
a unix socket. Every doubt (no socket, a stale one, a directory or socket that
is not the person's own and private, a peer of another account, a wrong or
missing greeting) means "no keeper": the verb connects directly, as it would
have anyway, and starts a fresh keeper for the next one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import psutil

from protocol.socket_path import RunDirError, check_private_dir, check_private_socket
from tui.keeper.greeting import MAX_GREETING_BYTES, greeted_host
from tui.keeper.place import (
    KeeperPlace,
    claim_keeper_place,
    keeper_place,
    kept_sockets,
    persist_seconds,
)
from tui.peer import Peer, is_other_account, socket_peer
from tui.rpc import ByteReader, ByteWriter

#: Seconds to wait for a keeper's greeting: it opens a channel to the runner
#: first, which over a live connection takes one round trip. A keeper whose
#: link has stalled is not waited on longer than a direct connection would take.
GREETING_TIMEOUT_S = 12.0
_STREAM_LIMIT = 1 << 20
#: Seconds `stop_keeper` waits for a keeper to remove its socket.
STOP_WAIT_S = 5.0


def _usable_place(host: str) -> Optional[KeeperPlace]:
    try:
        place = keeper_place(host)
        check_private_dir(place.directory)
        check_private_socket(place.socket)
    except (RunDirError, OSError):
        return None
    return place


async def _connect(path: Path) -> Optional[Tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=_STREAM_LIMIT)
    except OSError:  # left behind by a keeper that was killed
        return None
    if is_other_account(socket_peer(writer.get_extra_info("socket"))):
        writer.close()
        return None
    return reader, writer


async def open_kept(host: str) -> Optional[Tuple[ByteReader, ByteWriter]]:
    """A stream pair to `host`'s runner through its keeper, or None when there is
    no keeper to use (then the caller connects directly)."""
    place = _usable_place(host)
    if place is None:
        return None
    pair = await _connect(place.socket)
    if pair is None:
        return None
    reader, writer = pair
    try:
        line = await asyncio.wait_for(reader.readline(), GREETING_TIMEOUT_S)
    except (asyncio.TimeoutError, ValueError, OSError):
        line = b""
    if len(line) > MAX_GREETING_BYTES or greeted_host(line) != host:
        writer.close()
        return None
    return reader, writer


def start_keeper(host: str) -> None:
    """Start `host`'s keeper in the background, unless ``TETHER_PERSIST=0``.

    It connects on its own (its host key checked as every connection's is), so
    the verb that starts it neither waits for it nor depends on it."""
    if persist_seconds() == 0:
        return
    try:
        place = claim_keeper_place(host)
    except (RunDirError, OSError):
        return  # no private place for a socket: verbs simply connect each time
    with open(place.log, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "tui.keeper", host],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # not in the verb's process group: Ctrl-C is the verb's
            close_fds=True,
            cwd="/",  # a `tui/` folder in the caller's directory must not shadow ours
        )


class KeptConnection:
    """One live keeper, as `tether disconnect` finds it."""

    def __init__(self, socket: Path, host: str, peer: Peer) -> None:
        self.socket = socket
        self.host = host
        self.peer = peer


async def _identify(path: Path) -> Optional[KeptConnection]:
    pair = await _connect(path)
    if pair is None:
        return None
    reader, writer = pair
    peer = socket_peer(writer.get_extra_info("socket"))
    try:
        line = await asyncio.wait_for(reader.readline(), GREETING_TIMEOUT_S)
    except (asyncio.TimeoutError, ValueError, OSError):
        line = b""
    finally:
        writer.close()
    host = greeted_host(line[:MAX_GREETING_BYTES])
    if peer is None or host is None:
        return None
    return KeptConnection(path, host, peer)


async def kept_connections(host: Optional[str] = None) -> List[KeptConnection]:
    """The live keepers: `host`'s, or every one when `host` is None."""
    if host is not None:
        place = _usable_place(host)
        paths = [] if place is None else [place.socket]
    else:
        paths = list(kept_sockets())
    found = await asyncio.gather(*(_identify(p) for p in paths))
    return [k for k in found if k is not None and (host is None or k.host == host)]


async def stop_keeper(kept: KeptConnection) -> bool:
    """Ask a keeper to leave (SIGTERM) and wait until it has; False when it was
    already gone."""
    try:
        process = psutil.Process(kept.peer.pid)
        process.terminate()
        await asyncio.to_thread(process.wait, STOP_WAIT_S)
    except psutil.NoSuchProcess:
        return False
    except psutil.TimeoutExpired:
        process.kill()  # a keeper that does not leave when asked is stuck: it holds nothing
    return True
