"""``tether disconnect [-H HOST]``: close kept connections (`tui.keeper`), as
``ssh -O exit`` does for a ControlMaster. Without ``-H``, every host's."""

from __future__ import annotations

import argparse

from tui.hosts import is_local
from tui.keeper.client import kept_connections, stop_keeper


async def disconnect(args: argparse.Namespace, host: str) -> int:
    if is_local(host) and args.host is not None:
        print("this machine's runner is reached without SSH: there is no connection to close")
        return 0
    chosen = None if is_local(host) else host
    kept = await kept_connections(chosen)
    if not kept:
        print(f"no kept connection to {chosen}" if chosen else "no kept connections")
        return 0
    for connection in kept:
        await stop_keeper(connection)
        print(f"closed the kept connection to {connection.host}")
    return 0
