"""Reaching the runner on this machine: its unix socket, starting it if needed.

No SSH is involved. The runner is started as a separate process
(``python -m runner serve --daemon``), never imported: `tui` and `runner` stay
apart so that the client side can live where the runner cannot, and vice versa.

Where the socket lives is the rule in `protocol.socket_path`; a home too deep
for a socket path puts it in /tmp, where another account could have planted a
directory and a fake runner listening in it to collect job environments. So
before a byte is sent the socket's directory must be the person's own and
private, the socket too, and the process on the other end (``SO_PEERCRED``)
must run as the person.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Optional, Tuple

from protocol.socket_path import (
    RunDirChoice,
    RunDirError,
    check_private_dir,
    check_private_socket,
    choose_run_dir,
    owner_name,
)
from tui.errors import ConnectError
from tui.peer import is_other_account, socket_peer
from tui.rpc import ByteReader, ByteWriter

_STREAM_LIMIT = 1 << 20


async def start_local_runner() -> None:
    await _runner_verb("serve", "--daemon", doing="start")


async def replace_local_runner() -> None:
    """Stop the runner on this machine that refused this client's protocol (one
    started by another tether install, before an upgrade); the next contact
    starts this install's. Its jobs keep running, and the new runner adopts them."""
    await _runner_verb("stop", doing="stop")


async def _runner_verb(*args: str, doing: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runner",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Not the caller's directory: a `runner/` folder there would shadow ours.
        cwd="/",
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        detail = (err or out).decode(errors="replace").strip()
        raise ConnectError(f"could not {doing} the local runner: {detail}", retryable=False)


def _choose(path: Optional[Path]) -> RunDirChoice:
    if path is not None:
        return RunDirChoice(path.parent)
    try:
        return choose_run_dir()
    except RunDirError as exc:
        raise ConnectError(f"cannot reach the local runner: {exc}", retryable=False) from exc


def _verify_place(choice: RunDirChoice, target: Path) -> None:
    """Refuse a socket directory or socket that is not the person's own and private;
    FileNotFoundError when there is no socket (no runner yet)."""
    try:
        check_private_dir(choice.path)
        check_private_socket(target)
    except RunDirError as exc:
        raise ConnectError(f"cannot reach the local runner: {exc}", retryable=False) from exc
    except NotADirectoryError as exc:
        raise ConnectError(
            f"cannot reach the local runner: {choice.path} is not a directory"
        ) from exc


def _verify_peer(target: Path, writer: asyncio.StreamWriter) -> None:
    """Refuse a socket whose listening process runs as another account."""
    peer = socket_peer(writer.get_extra_info("socket"))
    if peer is not None and is_other_account(peer):
        writer.close()
        raise ConnectError(
            f"cannot reach the local runner: the process listening on {target} "
            f"(pid {peer.pid}) runs as {owner_name(peer.uid)}, not as you; refusing to talk to it",
            retryable=False,
        )


async def _connect(choice: RunDirChoice) -> Tuple[ByteReader, ByteWriter]:
    target = choice.socket
    _verify_place(choice, target)
    reader, writer = await asyncio.open_unix_connection(str(target), limit=_STREAM_LIMIT)
    _verify_peer(target, writer)
    return reader, writer


class LocalOpener:
    """Opens the runner on this machine (`open_local`); one that speaks another
    protocol is replaced (`Link` asks `replace_incompatible`)."""

    async def __call__(self) -> Tuple[ByteReader, ByteWriter]:
        return await open_local()

    async def replace_incompatible(self) -> None:
        await replace_local_runner()


async def open_local(
    path: Path | None = None, autostart: bool = True
) -> Tuple[ByteReader, ByteWriter]:
    """A stream pair to the local runner, starting the runner when none answers.

    `path` names a socket to use instead of the rule's; it is held to the same
    checks. Nothing is written before they pass."""
    choice = _choose(path)
    try:
        return await _connect(choice)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        if not autostart:
            raise ConnectError(
                f"no tether runner is listening on {choice.socket} "
                f"({exc.strerror}){choice.passed_over_note()}"
            ) from exc
    await start_local_runner()
    choice = _choose(path)  # the runner may have had to pass over a planted directory
    try:
        return await _connect(choice)
    except OSError as exc:
        raise ConnectError(
            f"started the local runner but cannot reach {choice.socket}: "
            f"{exc}{choice.passed_over_note()}"
        ) from exc
