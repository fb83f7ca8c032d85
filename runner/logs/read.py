"""Reading job logs by byte offset: slices, tails, and follows at the reader's pace.

A log is a plain file the job writes to directly. Readers never hold it open
longer than a read and never read more than one bounded chunk at a time, so a
200 GB log costs the runner nothing but the chunk in flight.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Tuple

from protocol.limits import MAX_LOG_CHUNK_BYTES

_TAIL_BLOCK = 64 * 1024


def read_slice(path: Path, offset: int, max_bytes: int = MAX_LOG_CHUNK_BYTES) -> Tuple[bytes, int]:
    """Up to `max_bytes` from `offset`, and the file's size at the time."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return b"", 0
    try:
        size = os.fstat(fd).st_size
        if offset >= size:
            return b"", size
        return os.pread(fd, min(max_bytes, MAX_LOG_CHUNK_BYTES, size - offset), offset), size
    finally:
        os.close(fd)


def tail_offset(path: Path, lines: int) -> Tuple[int, int]:
    """The offset where the last `lines` lines start, and the file's size.

    Scans backwards in fixed blocks, so the cost follows the tail asked for, not
    the file. A last line without a newline counts as a line, as `tail` does.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0, 0
    try:
        size = os.fstat(fd).st_size
        if lines == 0:
            return size, size
        position = size
        # The final newline ends the last line; it does not start a new one.
        if size and os.pread(fd, 1, size - 1) == b"\n":
            position -= 1
        remaining = lines
        while position > 0:
            start = max(0, position - _TAIL_BLOCK)
            block = os.pread(fd, position - start, start)
            index = len(block)
            while True:
                index = block.rfind(b"\n", 0, index)
                if index < 0:
                    break
                remaining -= 1
                if remaining == 0:
                    return start + index + 1, size
            position = start
        return 0, size
    finally:
        os.close(fd)
