"""Reaching the runner on this machine: its unix socket, starting it if needed.

No SSH is involved. The runner is started as a separate process
(``python -m runner serve --daemon``), never imported: `tui` and `runner` stay
apart so that the client side can live where the runner cannot, and vice versa.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Tuple

from protocol.socket_path import socket_path
from tui.errors import ConnectError
from tui.rpc import ByteReader, ByteWriter

_STREAM_LIMIT = 1 << 20


async def start_local_runner() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runner",
        "serve",
        "--daemon",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Not the caller's directory: a `runner/` folder there would shadow ours.
        cwd="/",
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        detail = (err or out).decode(errors="replace").strip()
        raise ConnectError(f"could not start the local runner: {detail}", retryable=False)


async def open_local(
    path: Path | None = None, autostart: bool = True
) -> Tuple[ByteReader, ByteWriter]:
    """A stream pair to the local runner, starting the runner when none answers."""
    target = path or socket_path()
    try:
        return await asyncio.open_unix_connection(str(target), limit=_STREAM_LIMIT)
    except NotADirectoryError as exc:
        raise ConnectError(
            f"cannot reach the local runner: {target.parent} is not a directory"
        ) from exc
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        if not autostart:
            raise ConnectError(
                f"no tether runner is listening on {target} ({exc.strerror})"
            ) from exc
    await start_local_runner()
    try:
        return await asyncio.open_unix_connection(str(target), limit=_STREAM_LIMIT)
    except OSError as exc:
        raise ConnectError(f"started the local runner but cannot reach {target}: {exc}") from exc
