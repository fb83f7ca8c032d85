"""A job's large files read over SFTP, on the SSH connection tether already holds.

Through the runner every byte of a pull passes one more Python process (the
runner reads it, frames it, the SSH server relays it); OpenSSH's sftp-server reads
it straight from the disk. On a 2-core host that doubles the rate of a 1 GiB pull
(scripts/bench_sync.py). So `tether pull` reads a file of `SFTP_MIN_BYTES` or more
over SFTP when the host is reached over SSH and its server offers SFTP, and
through the runner otherwise (this machine, a server without SFTP) or whenever
SFTP fails (a cut link: the session reconnects and the runner carries on from the
``.part``).

The runner still decides what is pulled: it lists the files (never through a link
leading out of the job's directory) and `tui.sync.pull` checks with it, once a
file has arrived, that it is still that very file.

asyncssh (0.13 s to import) is loaded here only once a source is opened on an
SSH session, which has loaded it already: a pull from this machine's runner, and
every other verb that imports `tui.sync`, never pays for it.
"""

from __future__ import annotations

import posixpath
import sys
from typing import TYPE_CHECKING, AsyncIterator, Dict, List, Optional, Tuple

from tui.session import HostSession

if TYPE_CHECKING:
    import asyncssh

#: Files this big or bigger come over SFTP; smaller ones are not worth a round trip.
SFTP_MIN_BYTES = 1024 * 1024
#: One read request (OpenSSH serves up to 256 KiB), and how many are in flight.
SFTP_BLOCK_BYTES = 256 * 1024
SFTP_BLOCKS = 64
#: Contiguous bytes handed on at once (one write to the ``.part``, off the loop).
SFTP_HANDOFF_BYTES = 4 * 1024 * 1024


class SftpFailed(Exception):
    """SFTP stopped working (a cut link, a refused read): use the runner instead."""


class SftpSource:
    """Reads files under one job's working directory over SFTP."""

    def __init__(self, sftp: asyncssh.SFTPClient, root: str) -> None:
        self._sftp = sftp
        self._root = root
        self.usable = True

    @classmethod
    async def open(cls, session: HostSession, workdir: str) -> Optional[SftpSource]:
        """A source for `session`'s host, or None where SFTP cannot be used."""
        # Only `tui.remote` makes SSH openers (`tui.hosts` imports it for a remote
        # host): while it is not loaded, the session is this machine's.
        if "tui.remote" not in sys.modules or not posixpath.isabs(workdir):
            return None
        from tui.remote import SshOpener

        opener = session.opener
        if not isinstance(opener, SshOpener):
            return None
        sftp = await opener.sftp()
        return None if sftp is None else cls(sftp, workdir)

    async def stat(self, path: str) -> Tuple[int, int]:
        """Size and whole-second mtime of `path` (relative to the job's directory)."""
        import asyncssh  # loaded with the SSH session this source rides on

        try:
            attrs = await self._sftp.stat(self._path(path))
        except (asyncssh.Error, OSError) as exc:
            raise SftpFailed(str(exc)) from exc
        return int(attrs.size or 0), int(attrs.mtime or 0)

    async def chunks(self, path: str, start: int, end: int) -> AsyncIterator[Tuple[int, bytes]]:
        """(offset, data) from `start` to `end`, in order: the blocks come back in
        any order from the reads in flight and are handed on once contiguous, so
        the ``.part`` they are written to never has a hole."""
        import asyncssh  # loaded with the SSH session this source rides on

        try:
            async with self._sftp.open(
                self._path(path), "rb", block_size=SFTP_BLOCK_BYTES, max_requests=SFTP_BLOCKS
            ) as remote:
                early: Dict[int, bytes] = {}
                at = start
                run: List[bytes] = []  # contiguous, handed on a few MiB at a time
                async for offset, data in await remote.read_parallel(end - start, start):
                    early[offset] = data
                    while at in early:
                        block = early.pop(at)
                        run.append(block)
                        at += len(block)
                    held = sum(map(len, run))
                    if held >= SFTP_HANDOFF_BYTES or (held and at == end):
                        yield at - held, b"".join(run)
                        run.clear()
                if at != end:
                    raise SftpFailed(f"{path} came back short at byte {at}")
        except (asyncssh.Error, OSError) as exc:
            raise SftpFailed(str(exc)) from exc

    def _path(self, path: str) -> str:
        return posixpath.join(self._root, path)
