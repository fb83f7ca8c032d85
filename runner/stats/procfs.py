"""The few facts about a process the stats need, read straight from /proc.

One small read of ``/proc/PID/stat`` gives a process's parent, session and start
time: enough to place any pid in (or out of) a job's process tree without
psutil's per-call overhead, and without walking every process on the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    sid: int
    start_ticks: int
    cpu_ticks: int = 0  # user + system time so far
    rss_bytes: int = 0


def read_stat(pid: int) -> Optional[ProcStat]:
    """Parent, session, start time, CPU time and RSS of `pid` (one small read), or
    None once it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return None
    return _parse_stat(pid, raw)


def _parse_stat(pid: int, raw: bytes) -> Optional[ProcStat]:
    # The command name may hold spaces and parentheses: parse from the last ')'.
    end = raw.rfind(b")")
    if end < 0:
        return None
    fields = raw[end + 2 :].split()
    if len(fields) < 22 or fields[0] in (b"Z", b"X"):
        return None
    # fields[i] is field i + 3 of proc(5): ppid 4, session 6, utime 14, stime 15,
    # starttime 22, rss 24 (pages).
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        sid=int(fields[3]),
        start_ticks=int(fields[19]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        rss_bytes=int(fields[21]) * _PAGE_SIZE,
    )


_MEMINFO_KEYS = (b"MemTotal", b"MemFree", b"MemAvailable", b"SwapTotal", b"SwapFree")


def meminfo() -> Dict[str, int]:
    """Memory and swap from one read of /proc/meminfo, in bytes: ``MemTotal``,
    ``MemFree``, ``MemAvailable``, ``SwapTotal``, ``SwapFree`` (those present)."""
    with open("/proc/meminfo", "rb") as f:
        lines = f.read(16384).split(b"\n")
    info: Dict[str, int] = {}
    for line in lines:
        name, _, rest = line.partition(b":")
        if name in _MEMINFO_KEYS:
            parts = rest.split()
            info[name.decode()] = int(parts[0]) * (1024 if parts[1:] == [b"kB"] else 1)
            if len(info) == len(_MEMINFO_KEYS):
                break
    return info


def read_comm(pid: int) -> Optional[str]:
    """The process's short name (at most 15 characters), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read(64).decode(errors="replace").strip()
    except OSError:
        return None


def read_uids(pid: int) -> Optional[Tuple[int, int]]:
    """The process's real and effective uid (``Uid:`` of /proc/PID/status), or None
    once it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            raw = f.read(16384)
    except OSError:
        return None
    for line in raw.split(b"\n"):
        if line.startswith(b"Uid:"):
            fields = line.split()
            if len(fields) >= 3:
                return int(fields[1]), int(fields[2])
    return None


def last_pid() -> Optional[int]:
    """The pid most recently handed out on this host (from /proc/loadavg): if it has
    not moved, no process was created and no process tree can have grown."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return int(f.read(128).split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def boot_time() -> float:
    """UNIX time of boot, to turn start ticks into wall-clock time."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def ticks_to_seconds(ticks: int) -> float:
    return ticks / _CLOCK_TICKS


def scan() -> List[ProcStat]:
    """Every process on the host.

    The one full walk of /proc the stats ever make, and only when a job's tree
    may have grown (see `last_pid`) and not more often than the tree refresh
    period allows.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    found = []
    for name in entries:
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                found.append(stat)
    return found
