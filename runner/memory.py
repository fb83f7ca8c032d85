"""Handing memory back to the system after a burst of work.

A group cancel of 10,000 jobs builds and drops tens of megabytes of short-lived
objects; CPython frees them, but glibc's allocator keeps the freed heap, so a
runner that did it once stayed at 160 MB where a fresh one on the same jobs
takes 50. After such a burst the runner collects its garbage and asks glibc to
return free pages (``malloc_trim``), off the event loop. Elsewhere (musl,
macOS) the collection alone is done.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from typing import Callable, Optional


def _malloc_trim() -> Optional[Callable[[int], int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc
        return None
    return trim


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Collect garbage and give free heap pages back. Blocking: run it in a thread."""
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)
