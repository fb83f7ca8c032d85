"""Process identity that survives pid reuse: a pid plus its start time."""

from __future__ import annotations

import os
import signal
from typing import List, Optional


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


def job_leftovers(job_id: int, metrics_path: str) -> List[int]:
    """This account's processes whose environment names the job: its own
    ``TETHER_JOB_ID`` and ``TETHER_METRICS`` (a path only this runner's job has),
    whichever process group or session they moved to. Found by reading /proc,
    which takes a few milliseconds: call it off the event loop."""
    wanted = {f"TETHER_JOB_ID={job_id}".encode(), f"TETHER_METRICS={metrics_path}".encode()}
    uid = os.getuid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                variables = set(f.read().split(b"\0"))
        except OSError:
            continue  # gone, or not ours to read
        if wanted <= variables:
            found.append(int(entry.name))
    return found


def kill_all(pids: List[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
