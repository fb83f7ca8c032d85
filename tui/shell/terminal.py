"""The person's terminal while a shell runs on it: raw mode, its size, its bytes.

In raw mode every key is a byte for the shell's pty, Ctrl-C and Ctrl-Z
included: the far end's line discipline turns them into signals for whatever
runs there, exactly as in a terminal on that host; nothing is handled here.
The modes the terminal had are put back on every way out (an error, a
cancelled task, SIGTERM or SIGHUP to tether, which end the shell rather than
tether in the middle of it: see `tui.shell.relay`).

Reads wait on the event loop (``add_reader``), so they never block it; a file
or ``/dev/null`` on stdin, which cannot be waited on, is read directly, a
bounded chunk at a time. Writes go to a worker thread, one at a time and in
order: a terminal that stops reading (a paused pane, a slow link under it)
stalls that thread, never the loop that carries the SSH connection. stdout is
left in blocking mode, because it is one open file with stdin and stderr, and
with the shell tether was started from.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import tty
from dataclasses import dataclass
from typing import Iterator, Tuple

#: Bytes read from stdin at once: a burst of keys, a paste arriving in pieces.
READ_CHUNK = 4096
#: What a shell is given when the terminal's size cannot be read.
DEFAULT_SIZE = (80, 24)


@dataclass(frozen=True)
class Terminal:
    """The terminal on `fd_in` (keys) and `fd_out` (what the shell prints)."""

    fd_in: int = 0
    fd_out: int = 1

    def is_terminal(self) -> bool:
        """Whether both ends are a terminal: a pty is only worth giving then."""
        return os.isatty(self.fd_in) and os.isatty(self.fd_out)

    def input_is_terminal(self) -> bool:
        return os.isatty(self.fd_in)

    def size(self) -> Tuple[int, int]:
        """Columns and rows, as the terminal says now."""
        for fd in (self.fd_out, self.fd_in):
            try:
                columns, rows = os.get_terminal_size(fd)
            except OSError:
                continue
            if columns > 0 and rows > 0:
                return columns, rows
        return DEFAULT_SIZE

    @contextlib.contextmanager
    def raw(self) -> Iterator[None]:
        """Raw mode on the keys' terminal, and its modes back however the block ends."""
        saved = termios.tcgetattr(self.fd_in)
        try:
            tty.setraw(self.fd_in, termios.TCSADRAIN)
            yield
        finally:
            termios.tcsetattr(self.fd_in, termios.TCSADRAIN, saved)

    async def read(self) -> bytes:
        """The next keys (or input bytes); b"" once the input has ended."""
        return await read_fd(self.fd_in, READ_CHUNK)

    async def write(self, data: bytes) -> None:
        await write_fd(self.fd_out, data)


async def read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from `fd` once there are some; b"" at its end (EOF, or
    EIO from a terminal or pty whose other side is gone)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            await _readable(loop, fd)
        except PermissionError:  # a plain file or /dev/null: epoll refuses it
            pass
        try:
            return os.read(fd, limit)
        except BlockingIOError:
            continue
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise


async def _readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _wake, ready)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def writable(fd: int) -> None:
    """Once `fd` (non-blocking) has room for a write."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, _wake, ready)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def write_fd(fd: int, data: bytes) -> None:
    """All of `data` to `fd`, from a worker thread (see the module docstring)."""
    await asyncio.to_thread(_write_all, fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
