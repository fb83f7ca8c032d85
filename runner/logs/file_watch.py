"""Wake-ups when a file is written to, so followers sleep instead of polling.

Linux inotify through ctypes (the stdlib has no binding and the runner must not
need a compiled extension beyond its few dependencies). One inotify descriptor
per runner, read by the event loop; each watched path has a set of asyncio
Events that are set on every write. Where inotify is missing (another OS, a
filesystem without it, the watch limit reached) `watch` returns None and the
caller falls back to a short poll.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import struct
from pathlib import Path
from typing import Dict, Optional, Set

log = logging.getLogger(__name__)

_IN_MODIFY = 0x00000002
_IN_CLOSE_WRITE = 0x00000008
_IN_ATTRIB = 0x00000004
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


def _libc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name or "libc.so.6", use_errno=True)
    except OSError:
        return None


class FileWatcher:
    def __init__(self) -> None:
        self._libc = _libc()
        self._fd: Optional[int] = None
        self._by_wd: Dict[int, Set[asyncio.Event]] = {}
        self._wd_by_path: Dict[str, int] = {}
        if self._libc is not None and hasattr(self._libc, "inotify_init1"):
            fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                asyncio.get_running_loop().add_reader(fd, self._drain)

    @property
    def available(self) -> bool:
        return self._fd is not None

    def watch(self, path: Path, event: asyncio.Event) -> bool:
        """Set `event` whenever `path` is written to; False if that cannot be done."""
        if self._fd is None or self._libc is None:
            return False
        key = str(path)
        wd = self._wd_by_path.get(key)
        if wd is None:
            wd = self._libc.inotify_add_watch(
                self._fd, os.fsencode(key), _IN_MODIFY | _IN_CLOSE_WRITE | _IN_ATTRIB
            )
            if wd < 0:
                return False
            self._wd_by_path[key] = wd
        self._by_wd.setdefault(wd, set()).add(event)
        return True

    def unwatch(self, path: Path, event: asyncio.Event) -> None:
        key = str(path)
        wd = self._wd_by_path.get(key)
        if wd is None:
            return
        events = self._by_wd.get(wd, set())
        events.discard(event)
        if not events:
            self._by_wd.pop(wd, None)
            self._wd_by_path.pop(key, None)
            if self._fd is not None and self._libc is not None:
                self._libc.inotify_rm_watch(self._fd, wd)

    def _drain(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, _mask, _cookie, name_len = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + name_len
            for event in self._by_wd.get(wd, ()):
                event.set()

    def close(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        self._by_wd.clear()
        self._wd_by_path.clear()
