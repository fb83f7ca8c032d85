"""A shell on this machine: the same argv as on a remote host, on a local pty.

The shell runs in a session of its own with the pty as its controlling
terminal, so job control works in it and Ctrl-C reaches its foreground
program through the pty, as in any terminal. Without a terminal (a command
with stdin or stdout redirected) there is no pty at all: the command gets
tether's own stdin, stdout and stderr, and its bytes are left exactly as they
are.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios
from typing import Callable, Optional, Sequence, Tuple

from tui.errors import ShellError
from tui.shell.relay import relay
from tui.shell.terminal import Terminal, read_fd, writable

#: Bytes read from the pty at once.
READ_CHUNK = 64 * 1024


def exit_status(returncode: int) -> int:
    """A process's status as a shell reports it: 128 + N when signal N ended it."""
    return 128 - returncode if returncode < 0 else returncode


async def run_local(argv: Sequence[str], terminal: Optional[Terminal]) -> int:
    """Run `argv` on a pty relayed to `terminal`, or with tether's own stdin and
    stdout when there is none; its exit status."""
    if terminal is None:
        proc = await _spawn(argv, None, None)
        return exit_status(await proc.wait())
    master, slave = pty.openpty()
    try:
        set_size(slave, terminal.size())
        proc = await _spawn(argv, slave, _take_terminal)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    shell = LocalPty(master, proc)
    try:
        return await relay(terminal, shell)
    finally:
        shell.close()


async def _spawn(
    argv: Sequence[str], pty_fd: Optional[int], preexec: Optional[Callable[[], None]]
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=pty_fd,
            stdout=pty_fd,
            stderr=pty_fd,
            start_new_session=pty_fd is not None,
            preexec_fn=preexec,
        )
    except OSError as exc:
        raise ShellError(f"could not start {argv[0]} on this machine: {exc.strerror}") from None


def _take_terminal() -> None:
    """In the child, after ``setsid``: make the pty on its stdin its controlling
    terminal (without one, a shell has no job control and Ctrl-C reaches nothing)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def set_size(fd: int, size: Tuple[int, int]) -> None:
    columns, rows = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class LocalPty:
    """The master side of the shell's pty, and the shell's process."""

    def __init__(self, master: int, proc: asyncio.subprocess.Process) -> None:
        os.set_blocking(master, False)
        self._master: Optional[int] = master
        self._proc = proc
        self._exited = asyncio.ensure_future(proc.wait())

    async def read(self) -> bytes:
        """The pty's output until the shell has exited and nothing it wrote is left
        (a background job that keeps the pty open does not hold tether)."""
        master = self._fd()
        while True:
            try:
                return os.read(master, READ_CHUNK)
            except BlockingIOError:
                pass
            except OSError:  # EIO: every process on the pty has let it go
                return b""
            if self._exited.done():
                return b""
            reading = asyncio.ensure_future(read_fd(master, READ_CHUNK))
            await asyncio.wait({reading, self._exited}, return_when=asyncio.FIRST_COMPLETED)
            if reading.done():
                return reading.result()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def write(self, data: bytes) -> None:
        master = self._fd()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(master, view) :]
            except BlockingIOError:  # the shell is not reading: wait for room
                await writable(master)

    def resize(self, size: Tuple[int, int]) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                set_size(self._master, size)

    def hang_up(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGHUP)

    async def wait(self) -> int:
        return exit_status(await self._exited)

    def close(self) -> None:
        self._exited.cancel()
        master, self._master = self._master, None
        if master is not None:
            os.close(master)

    def _fd(self) -> int:
        if self._master is None:
            raise ShellError("the shell's terminal is already closed")
        return self._master
