"""Relaying a terminal to a shell's pty, local or remote, until the shell ends.

Keys go one way, output the other, and a new window size (SIGWINCH) goes to
the pty, which tells the shell's foreground program, as a terminal on the host
would. The relay ends when the shell's output ends; its exit status is then
the relay's. The terminal going away (EOF on stdin) or SIGHUP/SIGTERM to
tether hang the shell up first, so that tether never dies with the terminal in
raw mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any, Callable, Dict, Iterator, Protocol, Set, Tuple

from tui.shell.terminal import Terminal

#: Seconds a hung-up shell has to end before the relay stops waiting for it.
HANG_UP_GRACE_S = 5.0


class PtyProcess(Protocol):
    """A shell (or one command) running on a pty, local or remote."""

    async def read(self) -> bytes:
        """What it printed next; b"" once its output has ended."""

    async def write(self, data: bytes) -> None:
        """Keys for it, as typed."""

    def resize(self, size: Tuple[int, int]) -> None:
        """The terminal is now `size` (columns, rows)."""

    def hang_up(self) -> None:
        """The terminal is gone: end the shell as a hangup would."""

    async def wait(self) -> int:
        """Its exit status, once its output has ended (128 + N for signal N)."""


async def relay(terminal: Terminal, process: PtyProcess) -> int:
    """Run `process` on `terminal` (in raw mode) until it ends; its exit status."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(signum: int) -> None:
        if not stopped.done():
            stopped.set_result(signum)

    output = asyncio.ensure_future(_pump_output(process, terminal))
    keys = asyncio.ensure_future(_pump_keys(terminal, process, lambda: stop(signal.SIGHUP)))
    handlers: Dict[int, Callable[[], None]] = {
        signal.SIGWINCH: lambda: process.resize(terminal.size()),
        signal.SIGHUP: lambda: stop(signal.SIGHUP),
        signal.SIGTERM: lambda: stop(signal.SIGTERM),
    }
    try:
        with terminal.raw(), _signal_handlers(loop, handlers):
            process.resize(terminal.size())  # a resize before the handler was in place
            either: Set[asyncio.Future[Any]] = {output, stopped}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not output.done():  # the terminal went away, or tether was told to stop
                process.hang_up()
                await asyncio.wait({output}, timeout=HANG_UP_GRACE_S)
                if not output.done():  # a shell that ignores its hangup is left to it
                    return 128 + stopped.result()
            output.result()  # an error on the output's way is the relay's
            return await process.wait()
    finally:
        for task in (keys, output):
            task.cancel()
        await asyncio.gather(keys, output, return_exceptions=True)


async def _pump_output(process: PtyProcess, terminal: Terminal) -> None:
    while True:
        data = await process.read()
        if not data:
            return
        await terminal.write(data)


async def _pump_keys(terminal: Terminal, process: PtyProcess, gone: Callable[[], None]) -> None:
    while True:
        data = await terminal.read()
        if not data:
            gone()
            return
        await process.write(data)


@contextlib.contextmanager
def _signal_handlers(
    loop: asyncio.AbstractEventLoop, handlers: Dict[int, Callable[[], None]]
) -> Iterator[None]:
    """`handlers` on the loop for the block; the handlers before them back after it
    (the app's own SIGWINCH handler, say, which Textual installs again itself)."""
    before: Dict[int, Any] = {}
    try:
        for signum, handler in handlers.items():
            before[signum] = signal.getsignal(signum)
            loop.add_signal_handler(signum, handler)
        yield
    finally:
        for signum, previous in before.items():
            loop.remove_signal_handler(signum)
            if previous is not None:
                signal.signal(signum, previous)
