"""A local file that holds an exact prefix of a file on a host, or nothing.

The data file only grows by appending at its end, and after each append a small
sidecar (``NAME.meta``, replaced atomically) records how many bytes are good,
their CRC-32, and how far into the host's file they reach. A reader trusts the
sidecar, never the data file's length:

- a client killed between the append and the sidecar leaves extra bytes at the
  end: cut back to the recorded length;
- a disk that filled up (or a file someone truncated or edited) leaves fewer
  bytes, or bytes whose CRC differs: the file is dropped, and the next read from
  the host fills it again.

So what a reader gets is always bytes the host really had at those offsets, as
far as the mirror knows, never a guess. CRC-32 continues across appends
(``zlib.crc32(new, crc)``), so an append costs only its own bytes.

Blocking file I/O: called off the event loop (`tui.mirror.writer`).
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

#: Bytes read at a time when checking or copying a data file.
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Prefix:
    """What the sidecar vouches for: ``size`` good bytes with ``crc``, reaching
    ``host_offset`` into the host's file (the same as ``size`` for a log; a
    metrics file is stored as parsed records, so its offsets differ)."""

    size: int = 0
    crc: int = 0
    host_offset: int = 0
    #: Which attempt of the job (``--retry``) the bytes are of; 0: not known.
    attempt: int = 0


class PrefixFile:
    """One mirrored file. Another client process may append to the same file (the
    app and a CLI verb), so callers hold the host's lock (`tui.mirror.host`)
    and the sidecar is read again each time: the CRC is checked only when it
    changed since this object last checked it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta_path = path.with_name(path.name + ".meta")
        self._vouched: Optional[Prefix] = None  # the sidecar as last checked here

    def prefix(self) -> Prefix:
        """The good part, checked (and repaired) whenever the sidecar changed."""
        recorded = _read_meta(self.meta_path)
        if recorded is None or recorded != self._vouched:
            recorded = self._checked(recorded)
            self._vouched = recorded
        return recorded

    def _checked(self, recorded: Optional[Prefix]) -> Prefix:
        if recorded is None:
            self._drop()
            return Prefix()
        try:
            actual = self.path.stat().st_size
        except FileNotFoundError:
            actual = 0
        if actual < recorded.size or _crc(self.path, recorded.size) != recorded.crc:
            self._drop()
            return Prefix()
        if actual > recorded.size:  # an append whose sidecar was never written
            with self.path.open("r+b") as data:
                data.truncate(recorded.size)
        return recorded

    def _drop(self) -> None:
        for path in (self.path, self.meta_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def append(self, data: bytes, host_offset: int, attempt: int = 0) -> None:
        """Add `data` at the end; the good part then reaches `host_offset` on the
        host (in the file of `attempt`, when it is known)."""
        before = self.prefix()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.path.open("ab") as out:
            out.write(data)
        crc = zlib.crc32(data, before.crc)
        after = Prefix(before.size + len(data), crc, host_offset, attempt or before.attempt)
        _write_meta(self.meta_path, after)
        self._vouched = after

    def reset(self) -> None:
        """Forget every byte: the host's file is not the one this was a prefix of."""
        self._drop()
        self._vouched = None

    def read_at(self, offset: int, count: int) -> bytes:
        """`count` good bytes from `offset` (fewer at the end of the good part)."""
        end = min(offset + count, self.prefix().size)
        if end <= offset:
            return b""
        with self.path.open("rb") as data:
            data.seek(offset)
            return data.read(end - offset)

    def blocks(self, offset: int = 0) -> Iterator[bytes]:
        """The good bytes from `offset`, a block at a time."""
        size = self.prefix().size
        if offset >= size:
            return
        with self.path.open("rb") as data:
            data.seek(offset)
            left = size - offset
            while left > 0:
                block = data.read(min(_BLOCK, left))
                if not block:
                    return
                left -= len(block)
                yield block


def _crc(path: Path, size: int) -> Optional[int]:
    crc = 0
    try:
        with path.open("rb") as data:
            left = size
            while left > 0:
                block = data.read(min(_BLOCK, left))
                if not block:
                    return None
                crc = zlib.crc32(block, crc)
                left -= len(block)
    except FileNotFoundError:
        return 0 if size == 0 else None
    return crc


def _read_meta(path: Path) -> Optional[Prefix]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        prefix = Prefix(
            int(raw["size"]), int(raw["crc"]), int(raw["host_offset"]), int(raw.get("attempt", 0))
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if min(prefix.size, prefix.crc, prefix.host_offset, prefix.attempt) < 0:
        return None
    return prefix


def _write_meta(path: Path, prefix: Prefix) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(
        json.dumps(
            {
                "size": prefix.size,
                "crc": prefix.crc,
                "host_offset": prefix.host_offset,
                "attempt": prefix.attempt,
            }
        ),
        encoding="utf-8",
    )
    os.replace(tmp, path)
