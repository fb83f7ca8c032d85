"""Uploads and copies share the store; a collection has it to itself.

A collection decides from what it sees on disk that a blob is unused; an upload
finishing that blob, or a copy reading it, at the same moment would lose it. So
they never overlap: uploads and copies come in together, a collection waits for
them to leave and keeps new ones waiting while it runs (a collection is short
and rare; uploads then go on where they were).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator


class StoreGate:
    def __init__(self) -> None:
        self._users = 0
        self._collecting = False
        self._no_users = asyncio.Event()
        self._no_users.set()
        self._not_collecting = asyncio.Event()
        self._not_collecting.set()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Use the store alongside others (an upload, a copy)."""
        while self._collecting:
            await self._not_collecting.wait()
        self._users += 1
        self._no_users.clear()
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0:
                self._no_users.set()

    @contextlib.asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        """Have the store alone (a collection)."""
        while self._collecting or self._users:
            if self._collecting:
                await self._not_collecting.wait()
            else:
                await self._no_users.wait()
        self._collecting = True
        self._not_collecting.clear()
        try:
            yield
        finally:
            self._collecting = False
            self._not_collecting.set()
