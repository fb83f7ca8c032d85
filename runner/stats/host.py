"""The host's side of a sample: CPU, load, memory, swap and free disk.

A handful of small reads (about 0.15 ms in all here): ``psutil.cpu_percent``
reads /proc/stat once per sample and measures against the previous call (the
total is the mean of the cores, not a second read); memory and swap come from
one read of /proc/meminfo (psutil would read it twice, and /proc/vmstat too).
"Used" memory is what is not available, as ``free`` and htop count it. The disk
is the one holding the runner's state dir, where the logs grow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Tuple

import psutil

from protocol.limits import MAX_CPU_CORES
from protocol.stats import HostReading
from runner.stats import procfs


class HostProbe:
    def __init__(self, disk_path: Path) -> None:
        self.disk_path = disk_path

    def prime(self) -> None:
        """Take the CPU baseline, so that the first reading measures a real interval."""
        psutil.cpu_percent(percpu=True)

    def read(self) -> HostReading:
        cores = psutil.cpu_percent(percpu=True)
        memory = procfs.meminfo()
        total = memory.get("MemTotal", 0)
        available = min(memory.get("MemAvailable", memory.get("MemFree", 0)), total)
        swap_total = memory.get("SwapTotal", 0)
        disk_total, disk_free = _disk(self.disk_path)
        return HostReading(
            cpu_pct=round(sum(cores) / len(cores), 1) if cores else 0.0,
            cpu_per_core_pct=cores[:MAX_CPU_CORES],
            cpu_cores_omitted=max(0, len(cores) - MAX_CPU_CORES),
            load_avg=[round(x, 2) for x in os.getloadavg()],
            mem_total_bytes=total,
            mem_used_bytes=total - available,
            mem_available_bytes=available,
            swap_total_bytes=swap_total,
            swap_used_bytes=max(0, swap_total - memory.get("SwapFree", swap_total)),
            disk_path=str(self.disk_path),
            disk_total_bytes=disk_total,
            disk_free_bytes=disk_free,
        )


def _disk(path: Path) -> Tuple[int, int]:
    """Total bytes, and bytes free to this user (what ``df`` shows as "Avail")."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return 0, 0
    return stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
