"""Running tether's fixed commands on a host, over SSH or on this machine.

Installing, probing and `tether doctor` need three things from a host: run one
command line (the host's login shell runs it, as sshd does), feed it bytes on
stdin, and copy files there. `HostShell` is that interface; `tui.install.ssh_shell`
implements it on an asyncssh connection and `LocalShell` here on this machine,
so `tether doctor` works the same on both and tests can drive either.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, Sequence

from protocol.units import duration
from tui.install.errors import InstallError


@dataclass(frozen=True)
class CommandResult:
    exit_status: Optional[int]
    stdout: str
    stderr: str


class HostShell(Protocol):
    #: The host as the person typed it, for messages.
    name: str

    async def run(
        self, command: str, *, input: Optional[bytes] = None, timeout: float = 60.0
    ) -> CommandResult:
        """Run `command` (a POSIX shell line) on the host and wait for it to end."""
        ...

    async def upload(self, files: Sequence[Path], remote_dir: str) -> None:
        """Copy `files` into `remote_dir` (created 0700 if missing) under their own names."""
        ...


class LocalShell:
    """This machine, as a host: commands go to ``sh -c`` and files are copied."""

    def __init__(self, name: str = "this machine") -> None:
        self.name = name

    async def run(
        self, command: str, *, input: Optional[bytes] = None, timeout: float = 60.0
    ) -> CommandResult:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=Path.home(),
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise InstallError(f"{self.name}: a command took over {duration(timeout)}") from None
        return CommandResult(
            proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        )

    async def upload(self, files: Sequence[Path], remote_dir: str) -> None:
        def copy() -> None:
            os.makedirs(remote_dir, mode=0o700, exist_ok=True)
            for path in files:
                shutil.copyfile(path, os.path.join(remote_dir, path.name))

        await asyncio.to_thread(copy)
