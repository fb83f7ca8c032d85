"""Who is on the other end of a unix socket (``SO_PEERCRED``).

A socket in a private directory is already out of other accounts' reach; the
peer's uid is the second check, for the places where a directory could have been
planted (/tmp) or loosened after the fact.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import NamedTuple, Optional


class Peer(NamedTuple):
    pid: int
    uid: int


def socket_peer(sock: Optional[socket.socket]) -> Optional[Peer]:
    """The process at the other end of `sock`; None where the system cannot say
    (not Linux), which leaves the private directory as the guarantee."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return Peer(pid, uid)


def is_other_account(peer: Optional[Peer]) -> bool:
    return peer is not None and peer.uid != os.getuid()
