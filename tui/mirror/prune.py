"""Keeping the mirror under its size cap (``[mirror] max_size``, 2 GiB by default).

What goes first is the copy of the job whose copy was written longest ago: a
job someone followed yesterday is worth more than one from last month. Job
lists are small and are never evicted; only the jobs' logs and metrics are.
`prune` with `check` also reads every kept file through its sidecar, so damaged
copies are dropped now rather than when next read (``tether mirror --prune``).

Blocking file I/O: called in a worker thread, or from the ``mirror`` verb.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

from tui.mirror.host import LOG_NAME, METRICS_NAME
from tui.mirror.prefix_file import PrefixFile


@dataclass
class HostUsage:
    host_dir: str
    bytes: int = 0
    jobs: int = 0


@dataclass
class PruneReport:
    bytes_before: int = 0
    bytes_after: int = 0
    jobs_dropped: int = 0
    damaged: int = 0
    hosts: Dict[str, HostUsage] = field(default_factory=dict)


def _job_dirs(root: Path) -> List[Tuple[float, int, Path, str]]:
    """(last written, bytes, path, host dir) of every job copy under `root`."""
    found = []
    try:
        hosts = list(os.scandir(root))
    except FileNotFoundError:
        return []
    for host in hosts:
        jobs = Path(host.path) / "jobs"
        if not host.is_dir() or not jobs.is_dir():
            continue
        for job in os.scandir(jobs):
            if not job.is_dir():
                continue
            size, newest = 0, 0.0
            for entry in os.scandir(job.path):
                stat = entry.stat(follow_symlinks=False)
                size += stat.st_size
                newest = max(newest, stat.st_mtime)
            found.append((newest, size, Path(job.path), host.name))
    return found


def prune(root: Path, max_bytes: int, check: bool = False) -> PruneReport:
    """Drop the least recently written job copies until the mirror holds at most
    `max_bytes`; with `check`, drop damaged copies first."""
    report = PruneReport()
    if check:
        for _, _, path, _ in _job_dirs(root):
            for name in (LOG_NAME, METRICS_NAME):
                kept = PrefixFile(path / name)
                had = kept.path.exists() or kept.meta_path.exists()
                if had and kept.prefix().size == 0 and not kept.path.exists():
                    report.damaged += 1
    copies = sorted(_job_dirs(root))
    total = sum(size for _, size, _, _ in copies)
    report.bytes_before = total
    for _, size, path, _ in copies:
        if total <= max_bytes:
            break
        shutil.rmtree(path, ignore_errors=True)
        total -= size
        report.jobs_dropped += 1
    for _, size, _, host in _job_dirs(root):
        usage = report.hosts.setdefault(host, HostUsage(host))
        usage.bytes += size
        usage.jobs += 1
    report.bytes_after = total
    return report
