"""Per-frame compression, agreed in the handshake (pure: bytes in, bytes out).

The client offers the codecs it has in `Hello.compression`; the runner picks
the first of them it has too and names it in `Welcome.compression`. A peer
that offers nothing (an older release: the field is unknown to it and
ignored) gets plain frames both ways. After the handshake, each side compresses
a frame only when that pays (`worth_compressing`); every frame says in its
header whether it is compressed, so plain and compressed frames mix freely.

Each frame is compressed on its own (no shared dictionary): a corrupt frame
spoils itself only, and is a protocol error, never wrong bytes further on.
Offsets in messages (a log's byte offsets) are those of the uncompressed data,
so resuming after a cut is exact whatever the link did.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

from protocol.limits import (
    COMPRESS_SAMPLE_BYTES,
    COMPRESS_WORTH_RATIO,
    MIN_COMPRESS_BYTES,
    ZLIB_LEVEL,
)

ZLIB = "zlib"
#: What this side can speak, best first.
SUPPORTED: Tuple[str, ...] = (ZLIB,)


class CorruptFrame(ValueError):
    """A compressed frame that does not inflate, or inflates past the limit."""


def choose(offered: Optional[Sequence[str]]) -> Optional[str]:
    """The codec the runner picks from a client's offer (None: plain frames)."""
    for name in offered or ():
        if name in SUPPORTED:
            return name
    return None


def _worth(sample: bytes) -> bool:
    return len(zlib.compress(sample, ZLIB_LEVEL)) <= COMPRESS_WORTH_RATIO * len(sample)


def compress(payload: bytes, codec: str) -> Optional[bytes]:
    """``payload`` compressed with ``codec``, or None when sending it plain
    pays better (small, or data that does not shrink such as a checkpoint)."""
    if codec != ZLIB or len(payload) < MIN_COMPRESS_BYTES:
        return None
    if len(payload) >= 4 * COMPRESS_SAMPLE_BYTES:
        middle = len(payload) // 2
        sample = payload[middle : middle + COMPRESS_SAMPLE_BYTES]
        if not _worth(sample):
            return None
    packed = zlib.compress(payload, ZLIB_LEVEL)
    if len(packed) > COMPRESS_WORTH_RATIO * len(payload):
        return None
    return packed


def decompress(data: bytes, codec: str, max_bytes: int) -> bytes:
    """One frame's payload inflated; raises `CorruptFrame` for bad data or for
    more than ``max_bytes`` of it (never inflates past that bound)."""
    if codec != ZLIB:
        raise CorruptFrame(f"unknown codec {codec!r}")
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_bytes)
    except zlib.error as exc:
        raise CorruptFrame(f"does not inflate ({exc})") from None
    if inflater.unconsumed_tail:
        raise CorruptFrame(f"inflates past the {max_bytes}-byte limit")
    if not inflater.eof:
        raise CorruptFrame("is truncated")
    if inflater.unused_data:
        raise CorruptFrame("has bytes after its end")
    return out


@dataclass
class WireCounters:
    """Bytes of frame payloads one way: as the messages are (``raw``) and as
    they crossed the link (``wire``); headers excluded on both."""

    frames: int = 0
    compressed_frames: int = 0
    raw: int = 0
    wire: int = 0

    def count(self, raw: int, wire: int, compressed: bool) -> None:
        self.frames += 1
        self.compressed_frames += int(compressed)
        self.raw += raw
        self.wire += wire

    @property
    def ratio(self) -> float:
        """raw / wire: 1.0 when nothing shrank."""
        return self.raw / self.wire if self.wire else 1.0

    def as_dict(self) -> Dict[str, Union[int, float]]:
        return {
            "frames": self.frames,
            "compressed_frames": self.compressed_frames,
            "bytes": self.raw,
            "wire_bytes": self.wire,
            "ratio": round(self.ratio, 2),
        }
