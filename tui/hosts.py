"""Turning what the person typed after ``-H`` into a session.

No host, ``local`` or ``localhost`` means this machine's runner over its unix
socket, with no SSH at all. Anything else is what ``ssh`` itself would accept.
"""

from __future__ import annotations

import os
from typing import Optional

from tui.errors import ConnectError
from tui.local import open_local
from tui.session import HostSession

LOCAL_NAMES = frozenset({"", "local", "localhost"})


def resolve_host(host: Optional[str]) -> str:
    """The host a verb acts on: the flag, else ``TETHER_HOST``, else this machine."""
    chosen = host if host is not None else os.environ.get("TETHER_HOST", "")
    return chosen.strip()


def is_local(host: str) -> bool:
    return host in LOCAL_NAMES


def make_session(host: str, *, reconnect: bool = True) -> HostSession:
    if is_local(host):
        return HostSession("local", open_local, reconnect=reconnect)
    from tui.ssh.opener import ssh_opener

    return HostSession(host, ssh_opener(host), reconnect=reconnect)


__all__ = ["ConnectError", "is_local", "make_session", "resolve_host"]
