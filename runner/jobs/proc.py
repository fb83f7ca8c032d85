"""Process identity that survives pid reuse: a pid plus its start time."""

from __future__ import annotations

import os
from typing import Optional


def start_ticks(pid: int) -> Optional[int]:
    """The process's start time in clock ticks since boot, or None if it is gone.

    Read from /proc/PID/stat (field 22); the command name may hold spaces and
    parentheses, so parse from the last ')'.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read(4096)
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None  # a zombie has finished; only its parent's wait is missing
    return int(fields[19])


def boot_id() -> str:
    """Changes on every boot: a job recorded under another boot cannot be running."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def is_same_process(pid: int, ticks: int) -> bool:
    return pid > 0 and start_ticks(pid) == ticks


def pidfd_open(pid: int) -> Optional[int]:
    """A pidfd that becomes readable when `pid` exits (Linux 5.3+), else None."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd
