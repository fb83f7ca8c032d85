"""The opener a CLI verb uses for a remote host: its keeper, else SSH directly.

A verb that had to connect directly starts a keeper on its way (once), so the
next verb for that host finds one. The direct path is the one verbs always took
(`tui.remote.SshOpener`), imported only when needed: a verb answered through a
keeper never loads asyncssh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

from tui.keeper.client import open_kept, start_keeper
from tui.keeper.place import persist_seconds
from tui.rpc import ByteReader, ByteWriter

if TYPE_CHECKING:
    from tui.remote import SshOpener


class KeptOpener:
    def __init__(self, host: str) -> None:
        self.host = host
        self.keep = persist_seconds() > 0  # a bad TETHER_PERSIST is said here, before contact
        self._direct: Optional[SshOpener] = None
        self._started_keeper = False
        #: Whether the last stream came through the keeper.
        self.via_keeper = False

    async def __call__(self) -> Tuple[ByteReader, ByteWriter]:
        if self.keep:
            pair = await open_kept(self.host)
            if pair is not None:
                self.via_keeper = True
                return pair
        self.via_keeper = False
        pair = await self.direct()()
        if self.keep and not self._started_keeper:
            self._started_keeper = True
            start_keeper(self.host)
        return pair

    def direct(self) -> SshOpener:
        if self._direct is None:
            from tui.remote import ssh_opener

            self._direct = ssh_opener(self.host)
        return self._direct

    async def aclose(self) -> None:
        if self._direct is not None:
            await self._direct.aclose()
