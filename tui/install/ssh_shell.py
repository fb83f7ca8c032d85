"""`HostShell` on an asyncssh connection: exec channels and SFTP.

Files go over SFTP (``start_sftp_client``), several in flight at once. A server
with no SFTP subsystem (``Subsystem sftp`` removed from sshd_config, as some
hardened hosts do) refuses the channel; then each file is streamed through
``cat > FILE`` on an exec channel instead, which every POSIX host can do.

A link that fails midway raises `ConnectError`: the host keeps whatever was
written so far in an upload directory that the next install clears away.
"""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from typing import Optional, Sequence

import asyncssh

from protocol.units import duration
from tui.errors import ConnectError
from tui.install.errors import InstallError
from tui.install.shell import CommandResult

#: Seconds for an upload, generous for a slow link: the wheels are a few MB.
UPLOAD_TIMEOUT_S = 600.0


class SshShell:
    def __init__(self, conn: asyncssh.SSHClientConnection, name: str) -> None:
        self.conn = conn
        self.name = name

    async def run(
        self, command: str, *, input: Optional[bytes] = None, timeout: float = 60.0
    ) -> CommandResult:
        try:
            result = await asyncio.wait_for(
                self.conn.run(command, input=input, encoding=None, check=False), timeout
            )
        except asyncio.TimeoutError:
            raise InstallError(f"{self.name}: a command took over {duration(timeout)}") from None
        except (asyncssh.Error, OSError) as exc:
            raise self._lost(exc) from exc
        return CommandResult(result.exit_status, _text(result.stdout), _text(result.stderr))

    async def upload(self, files: Sequence[Path], remote_dir: str) -> None:
        try:
            await asyncio.wait_for(self._upload(files, remote_dir), UPLOAD_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise InstallError(
                f"{self.name}: uploading the runner took over {duration(UPLOAD_TIMEOUT_S)}"
            ) from None
        except (asyncssh.Error, OSError) as exc:
            if isinstance(exc, asyncssh.SFTPError) and not _link_failure(exc):
                raise InstallError(
                    f"{self.name}: could not upload the runner: {exc.reason}"
                ) from exc
            raise self._lost(exc) from exc

    async def _upload(self, files: Sequence[Path], remote_dir: str) -> None:
        try:
            sftp = await self.conn.start_sftp_client()
        except asyncssh.ChannelOpenError:
            await self._upload_with_cat(files, remote_dir)
            return
        try:
            await sftp.makedirs(
                remote_dir, attrs=asyncssh.SFTPAttrs(permissions=0o700), exist_ok=True
            )
            await sftp.put([str(p) for p in files], remote_dir)
        finally:
            sftp.exit()

    async def _upload_with_cat(self, files: Sequence[Path], remote_dir: str) -> None:
        made = await self.conn.run(
            f"mkdir -p -m 700 {shlex.quote(remote_dir)}", encoding=None, check=False
        )
        if made.exit_status != 0:
            said = _text(made.stderr).strip()
            raise InstallError(f"{self.name}: could not create {remote_dir}: {said}")
        for path in files:
            data = await asyncio.to_thread(path.read_bytes)
            target = f"{remote_dir.rstrip('/')}/{path.name}"
            result = await self.conn.run(
                f"cat > {shlex.quote(target)}", input=data, encoding=None, check=False
            )
            if result.exit_status != 0:
                said = _text(result.stderr).strip()
                raise InstallError(f"{self.name}: could not write {target}: {said}")

    def _lost(self, exc: BaseException) -> ConnectError:
        reason = exc.reason if isinstance(exc, asyncssh.Error) else str(exc)
        return ConnectError(
            f"{self.name}: the SSH connection failed while installing the runner ({reason}); "
            f"nothing was changed there, and the next contact installs it again"
        )


def _link_failure(exc: asyncssh.SFTPError) -> bool:
    return exc.code in (asyncssh.FX_CONNECTION_LOST, asyncssh.FX_NO_CONNECTION)


def _text(data: object) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return str(data or "")
