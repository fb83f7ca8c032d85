"""The host's side of a sample: CPU, load, memory, swap and free disk, via psutil.

Each reading is a handful of small /proc reads (about 0.25 ms in all here):
``psutil.cpu_percent(percpu=True)`` reads /proc/stat once and measures against
the previous call, so the total is the mean of the cores rather than a second
read. The disk is the one holding the runner's state dir, where logs grow.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from protocol.stats import MAX_CPU_CORES, HostReading


class HostProbe:
    def __init__(self, disk_path: Path) -> None:
        self.disk_path = disk_path

    def prime(self) -> None:
        """Take the CPU baseline, so that the first reading measures a real interval."""
        psutil.cpu_percent(percpu=True)

    def read(self) -> HostReading:
        cores = psutil.cpu_percent(percpu=True)
        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        try:
            disk_total, disk_free = _disk(self.disk_path)
        except OSError:
            disk_total = disk_free = 0
        return HostReading(
            cpu_pct=round(sum(cores) / len(cores), 1) if cores else 0.0,
            cpu_per_core_pct=cores[:MAX_CPU_CORES],
            cpu_cores_omitted=max(0, len(cores) - MAX_CPU_CORES),
            load_avg=[round(x, 2) for x in os.getloadavg()],
            mem_total_bytes=memory.total,
            mem_used_bytes=memory.total - memory.available,
            mem_available_bytes=memory.available,
            swap_total_bytes=swap.total,
            swap_used_bytes=swap.used,
            disk_path=str(self.disk_path),
            disk_total_bytes=disk_total,
            disk_free_bytes=disk_free,
        )


def _disk(path: Path) -> tuple[int, int]:
    """Total and free bytes (free to this user, as ``df`` shows "Avail")."""
    usage = psutil.disk_usage(str(path))
    return usage.total, usage.free
