"""GPU memory left behind by jobs that have ended, and finishing it off.

When a job ends or is cancelled, a process of its session (a data-loader
worker, a child that ignored SIGTERM, a daemonised helper) may live on and keep
its GPU memory: the next job then finds the GPU full. Every sample, the GPU
pids that belong to no running job are checked against the jobs that ended:

- a process in an ended job's session that started before the job ended (a
  session id cannot be handed out again while any process still uses it, and
  a process of a new session with a recycled id would have started later), or
- a process that was seen on the GPU as part of the job while it ran (it may
  have left the session with ``setsid``), with the same start time.

Such a process is a leak of that job. `LeakTracker` runs in the sampler's
thread; `kill_leaked` runs on the event loop when ``tether cancel`` is asked to
finish an ended job off.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

from runner.stats import procfs

#: An ended job is watched this long after it ended (longer while it leaks).
WATCH_ENDED_S = 24 * 3600.0
#: Most ended jobs watched at once (the most recent are kept).
MAX_WATCHED = 1000
#: Seconds between two looks for ended jobs no longer worth watching.
PRUNE_EVERY_S = 60.0
#: Seconds a leaked process gets after SIGKILL before it is reported stuck.
KILL_WAIT_S = 5.0


@dataclass(frozen=True)
class EndedJob:
    """An ended job as the tracker needs it."""

    job_id: int
    pid: Optional[int]  # the job's main process: its session id
    finished_at: float
    reported: List[int] = field(default_factory=list)  # leaks as last written to its record


@dataclass
class _Watched:
    job: EndedJob
    seen: Dict[int, int]  # GPU pids seen while it ran: pid -> start ticks
    reported: List[int]


class LeakTracker:
    def __init__(self, watch_ended_s: float = WATCH_ENDED_S) -> None:
        self.watch_ended_s = watch_ended_s
        self._watched: Dict[int, _Watched] = {}
        self._boot_time = procfs.boot_time()
        self._pruned_at = 0.0
        # Indexes, so a sample costs a lookup per GPU pid however many jobs ended.
        self._by_session: Dict[int, List[_Watched]] = {}
        self._by_seen_pid: Dict[int, List[_Watched]] = {}

    def watch(self, job: EndedJob, seen_gpu_pids: Dict[int, int]) -> None:
        self._watched[job.job_id] = _Watched(job, dict(seen_gpu_pids), list(job.reported))
        if len(self._watched) > MAX_WATCHED:
            oldest = sorted(self._watched.values(), key=lambda w: w.job.finished_at)
            for stale in oldest[: len(self._watched) - MAX_WATCHED]:
                del self._watched[stale.job.job_id]
        self._reindex()

    def _reindex(self) -> None:
        self._by_session = {}
        self._by_seen_pid = {}
        for watched in self._watched.values():
            if watched.job.pid is not None:
                self._by_session.setdefault(watched.job.pid, []).append(watched)
            for pid in watched.seen:
                self._by_seen_pid.setdefault(pid, []).append(watched)

    def scan(self, unowned_gpu_pids: Iterable[int]) -> LeakScan:
        """Which ended jobs leak now (job id -> pid -> start ticks), and which
        jobs' leak lists changed since they were last written (job id -> pids)."""
        leaking: Dict[int, Dict[int, int]] = {}
        for pid in unowned_gpu_pids:
            stat = procfs.read_stat(pid)
            if stat is None:
                continue
            job_id = self._owner(stat)
            if job_id is not None:
                leaking.setdefault(job_id, {})[pid] = stat.start_ticks
        changes: Dict[int, List[int]] = {}
        for job_id, watched in self._watched.items():
            now_leaking = sorted(leaking.get(job_id, {}))
            if now_leaking != watched.reported:
                watched.reported = now_leaking
                changes[job_id] = now_leaking
        now = time.time()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            self._forget_old(now)
        return LeakScan(leaking, changes)

    def confirm(self, job_id: int, pids: Iterable[int]) -> Dict[int, int]:
        """Those of `pids` that are, right now, processes the ended job left behind
        (pid -> start ticks): what ``tether cancel`` may kill."""
        confirmed = {}
        for pid in pids:
            stat = procfs.read_stat(pid)
            if stat is not None and self._owner(stat) == job_id:
                confirmed[pid] = stat.start_ticks
        return confirmed

    def _owner(self, stat: procfs.ProcStat) -> Optional[int]:
        started = self._boot_time + procfs.ticks_to_seconds(stat.start_ticks)
        for watched in self._by_session.get(stat.sid, []):
            if started <= watched.job.finished_at:
                return watched.job.job_id
        for watched in self._by_seen_pid.get(stat.pid, []):
            if watched.seen[stat.pid] == stat.start_ticks:
                return watched.job.job_id
        return None

    def _forget_old(self, now: float) -> None:
        old = [
            job_id
            for job_id, watched in self._watched.items()
            if not watched.reported and now - watched.job.finished_at > self.watch_ended_s
        ]
        for job_id in old:
            del self._watched[job_id]
        if old:
            self._reindex()


@dataclass
class LeakScan:
    leaking: Dict[int, Dict[int, int]]
    changes: Dict[int, List[int]]


async def kill_leaked(processes: Dict[int, int], grace_s: float) -> List[int]:
    """SIGTERM each leaked process, SIGKILL what is left after `grace_s`; returns the
    pids still alive after that (stuck in the driver). A pid is signalled only while
    it is still the very process found leaking (same start time)."""
    alive = _signal(processes, signal.SIGTERM)
    alive = await _wait_gone(alive, grace_s)
    if alive:
        alive = _signal(alive, signal.SIGKILL)
        alive = await _wait_gone(alive, KILL_WAIT_S)
    return sorted(alive)


def _still_there(pid: int, ticks: int) -> bool:
    stat = procfs.read_stat(pid)
    return stat is not None and stat.start_ticks == ticks


def _signal(processes: Dict[int, int], sig: int) -> Dict[int, int]:
    alive = {}
    for pid, ticks in processes.items():
        if not _still_there(pid, ticks):
            continue
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass  # not ours after all: report it as left over
        alive[pid] = ticks
    return alive


async def _wait_gone(processes: Dict[int, int], timeout: float) -> Dict[int, int]:
    deadline = time.monotonic() + timeout
    alive = dict(processes)
    while alive:
        alive = {pid: t for pid, t in alive.items() if _still_there(pid, t)}
        if not alive or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    return alive
