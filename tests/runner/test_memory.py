"""`runner.memory`: after a burst the runner gives freed heap back to the system
(glibc's ``malloc_trim``), measured on this process's own RSS."""

from __future__ import annotations

import platform

import psutil
import pytest

from runner import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_goes_back_to_the_system() -> None:
    assert memory._TRIM is not None
    process = psutil.Process()
    # Many small blocks, freed all but every 64th, leave glibc's heap fragmented:
    # freed, but not returned until trimmed.
    blocks = [bytearray(4000) for _ in range(40_000)]
    keep = blocks[::64]
    del blocks
    before = process.memory_info().rss
    memory.release_memory()
    after = process.memory_info().rss
    assert before - after > 50 * 1024 * 1024, (before, after)
    assert len(keep) == 625
