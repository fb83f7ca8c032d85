"""Each running job's process tree, kept between samples, and which job a GPU pid is.

A job is everything its main process started: its descendants and any process
still in its session (the shim starts every job as the leader of a session of
its own), so a trainer with data-loader workers or a ``torchrun`` with one
process per GPU counts as one job.

Cheap by construction. Each tree's processes are kept between samples (pid,
start time, CPU time at the last sample) and measured with one small read of
``/proc/PID/stat`` each, which holds CPU time and RSS (a `psutil.Process`
would read two files, at about three times the cost); who belongs to a tree is
found again only
when it may have changed, i.e. when the host has created a process since the
last look (``/proc/loadavg`` names the last pid handed out), and then at most
once per refresh period. A GPU pid the cached trees do not know yet is placed
on the spot by reading its own session and parents, never by listing every
process on the host.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from runner.stats import procfs

#: Most parents followed up from a GPU pid looking for a job.
MAX_ANCESTRY = 64


@dataclass(frozen=True)
class RunningJob:
    """What the trees need to know of a running job."""

    job_id: int
    pid: int  # the job's main process, leader of the job's session


@dataclass
class JobMeasure:
    """One job's whole tree at one instant."""

    cpu_pct: float = 0.0
    rss_bytes: int = 0
    processes: int = 0


@dataclass
class _Proc:
    """One process of a tree, as it was at the last sample."""

    start_ticks: int
    cpu_ticks: int
    at: float  # monotonic time of that reading


@dataclass
class _Tree:
    job_id: int
    root: int
    root_start: Optional[int]
    procs: Dict[int, _Proc] = field(default_factory=dict)
    scanned: bool = False
    #: GPU pids seen in this job (pid -> start ticks): leak suspects once it ends.
    gpu_pids: Dict[int, int] = field(default_factory=dict)

    def add(self, stat: procfs.ProcStat, now: float) -> None:
        known = self.procs.get(stat.pid)
        if known is None or known.start_ticks != stat.start_ticks:
            self.procs[stat.pid] = _Proc(stat.start_ticks, stat.cpu_ticks, now)

    def owns_session(self, stat: procfs.ProcStat) -> bool:
        """In the job's session, and started after the job (a reused pid is not)."""
        return (
            stat.sid == self.root
            and self.root_start is not None
            and stat.start_ticks >= self.root_start
        )


class JobTrees:
    """Called from the sampler's thread only."""

    def __init__(
        self, refresh_period_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.refresh_period_s = refresh_period_s
        self._clock = clock
        self._trees: Dict[int, _Tree] = {}
        self._scanned_at: Optional[float] = None
        self._scanned_last_pid: Optional[int] = None
        #: How many full /proc scans were made (the benchmark reports it).
        self.scans = 0

    def forget(self, job_id: int) -> Dict[int, int]:
        """Drop an ended job's tree; returns the GPU pids seen in it (pid -> start ticks)."""
        tree = self._trees.pop(job_id, None)
        return {} if tree is None else tree.gpu_pids

    def measure(
        self, jobs: Iterable[RunningJob], gpu_pids: Iterable[int]
    ) -> Tuple[Dict[int, JobMeasure], Dict[int, int]]:
        """Each running job's usage, and the job id of each GPU pid that is in one."""
        self._sync(jobs)
        self._refresh_if_grown()
        owners = self._attribute(gpu_pids)
        return {job_id: self._measure(tree) for job_id, tree in self._trees.items()}, owners

    def owner(self, stat: procfs.ProcStat, jobs: Iterable[RunningJob]) -> Optional[int]:
        """The running job whose tree the process of `stat` is in, or None: its
        cached tree (the same process, by start time), else placed by its
        session or parents as a GPU pid is."""
        self._sync(jobs)
        for tree in self._trees.values():
            known = tree.procs.get(stat.pid)
            if known is not None and known.start_ticks == stat.start_ticks:
                return tree.job_id
        index = {pid: tree for tree in self._trees.values() for pid in tree.procs}
        index.pop(stat.pid, None)  # a cached process of that pid has gone: this is another
        sessions = {tree.root: tree for tree in self._trees.values()}
        placed = self._place(stat, index, sessions)
        return None if placed is None else placed.job_id

    # -- membership --------------------------------------------------------------

    def _sync(self, jobs: Iterable[RunningJob]) -> None:
        wanted = {job.job_id: job for job in jobs}
        for job_id in list(self._trees):
            if job_id not in wanted:
                del self._trees[job_id]
        for job_id, job in wanted.items():
            tree = self._trees.get(job_id)
            if tree is None or tree.root != job.pid:
                root = procfs.read_stat(job.pid)
                tree = _Tree(job_id, job.pid, None if root is None else root.start_ticks)
                if root is not None:
                    tree.add(root, self._clock())
                self._trees[job_id] = tree

    def _refresh_if_grown(self) -> None:
        if not self._trees:
            return
        now = self._clock()
        unscanned = any(not tree.scanned for tree in self._trees.values())
        if not unscanned:
            if self._scanned_at is not None and now - self._scanned_at < self.refresh_period_s:
                return
            if procfs.last_pid() == self._scanned_last_pid:
                return
        self._scanned_last_pid = procfs.last_pid()
        self._scanned_at = now
        self._rescan(procfs.scan(), now)

    def _rescan(self, stats: List[procfs.ProcStat], now: float) -> None:
        self.scans += 1
        children: Dict[int, List[procfs.ProcStat]] = {}
        by_pid: Dict[int, procfs.ProcStat] = {}
        for stat in stats:
            children.setdefault(stat.ppid, []).append(stat)
            by_pid[stat.pid] = stat
        for tree in self._trees.values():
            tree.scanned = True
            members: Dict[int, procfs.ProcStat] = {}
            root = by_pid.get(tree.root)
            if root is not None and root.start_ticks == tree.root_start:
                members[root.pid] = root
                stack = [root.pid]
                while stack:
                    for child in children.get(stack.pop(), []):
                        if child.pid not in members:
                            members[child.pid] = child
                            stack.append(child.pid)
            for stat in stats:
                if stat.pid not in members and tree.owns_session(stat):
                    members[stat.pid] = stat
            for pid in list(tree.procs):
                if pid not in members:
                    del tree.procs[pid]
            for stat in members.values():
                tree.add(stat, now)

    # -- GPU pids ------------------------------------------------------------------

    def _attribute(self, gpu_pids: Iterable[int]) -> Dict[int, int]:
        index = {pid: tree for tree in self._trees.values() for pid in tree.procs}
        sessions = {tree.root: tree for tree in self._trees.values()}
        owners: Dict[int, int] = {}
        for pid in gpu_pids:
            tree = index.get(pid)
            stat = procfs.read_stat(pid)
            if tree is None and stat is not None:
                tree = self._place(stat, index, sessions)
            if tree is None or stat is None:
                continue
            owners[pid] = tree.job_id
            tree.gpu_pids[pid] = stat.start_ticks
        return owners

    def _place(
        self,
        stat: procfs.ProcStat,
        index: Dict[int, _Tree],
        sessions: Dict[int, _Tree],
    ) -> Optional[_Tree]:
        """The tree a process not yet cached belongs to: by its session, else by
        a parent that is in a tree. It is cached from then on."""
        tree = sessions.get(stat.sid)
        if tree is None or not tree.owns_session(stat):
            tree = None
            parent = stat.ppid
            for _ in range(MAX_ANCESTRY):
                if parent <= 1:
                    break
                tree = index.get(parent)
                if tree is not None:
                    break
                up = procfs.read_stat(parent)
                if up is None:
                    break
                parent = up.ppid
        if tree is not None:
            tree.add(stat, self._clock())
            index[stat.pid] = tree
        return tree

    # -- usage -------------------------------------------------------------------

    def _measure(self, tree: _Tree) -> JobMeasure:
        """CPU since the last sample (% of one core, summed over the tree) and RSS.
        A process new since the last sample counts from when it was found."""
        measure = JobMeasure()
        for pid, proc in list(tree.procs.items()):
            stat = procfs.read_stat(pid)
            now = self._clock()
            if stat is None or stat.start_ticks != proc.start_ticks:
                del tree.procs[pid]  # gone (or a zombie, or a recycled pid) since
                continue
            elapsed = now - proc.at
            if elapsed > 0:
                cpu_s = procfs.ticks_to_seconds(stat.cpu_ticks - proc.cpu_ticks)
                measure.cpu_pct += 100.0 * cpu_s / elapsed
            proc.cpu_ticks, proc.at = stat.cpu_ticks, now
            measure.rss_bytes += stat.rss_bytes
            measure.processes += 1
        measure.cpu_pct = round(measure.cpu_pct, 1)
        return measure
