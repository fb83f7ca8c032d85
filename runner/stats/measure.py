"""One sample's worth of blocking reads: the GPUs, the host, the jobs, the leaks.

Everything here runs in the sampler's own thread (NVML can block for seconds
on a GPU in trouble; /proc reads are small but many), never on the event loop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

from protocol.codec import encode
from protocol.limits import MAX_PROCESS_NAME, MAX_STATS_JOBS
from protocol.stats import GpuInventory, GpuReading, JobUsage, StatsSample, StatsUpdate
from runner.gpu.occupancy import GpuOccupancy, occupancy_of
from runner.gpu.source import GpuRead, GpuSource, clip
from runner.jobs.signals import ProcessOwner
from runner.stats import procfs
from runner.stats.allocation import read_allocation
from runner.stats.host import HostProbe
from runner.stats.jobtree import JobMeasure, JobTrees, RunningJob
from runner.stats.leaks import EndedJob, LeakTracker

log = logging.getLogger(__name__)


@dataclass
class Tick:
    """A sample, its size on the wire, what it says about leaks, and who uses
    each GPU (for the GPU queue)."""

    sample: StatsSample
    wire_bytes: int
    #: Ended jobs leaking right now: job id -> pid -> start ticks.
    leaking: Dict[int, Dict[int, int]]
    #: Jobs whose leak list changed: job id -> pids (to write to the job record).
    leak_changes: Dict[int, List[int]]
    occupancy: GpuOccupancy


class Measurer:
    def __init__(
        self,
        source: GpuSource,
        host: HostProbe,
        trees: Optional[JobTrees] = None,
        leaks: Optional[LeakTracker] = None,
    ) -> None:
        self.source = source
        self.host = host
        self.trees = trees or JobTrees()
        self.leaks = leaks or LeakTracker()
        self._names: Dict[int, Optional[str]] = {}

    def open(self) -> GpuInventory:
        inventory = self.source.open()
        self.host.prime()
        return inventory

    def close(self) -> None:
        self.source.close()

    def take(
        self,
        seq: int,
        running: List[RunningJob],
        ended: List[EndedJob],
        allocated: Sequence[AllocatedJob] = (),
    ) -> Tick:
        """One sample: the host's GPUs, system and running jobs; and the GPUs of
        each `allocated` Slurm job, read on its node (`runner.stats.allocation`)."""
        for job in ended:
            self.leaks.watch(job, self.trees.forget(job.job_id))
        t = time.time()
        gpu = self._read_gpus()
        gpu_pids = [p.pid for reading in gpu.gpus for p in reading.processes]
        usage, owners = self.trees.measure(running, gpu_pids)
        scan = self.leaks.scan(pid for pid in gpu_pids if pid not in owners)
        self._names = {pid: self._names.get(pid) or _name(pid) for pid in gpu_pids}
        gpus = [self._label(reading, owners) for reading in gpu.gpus]
        jobs = _job_usage(usage, gpus)
        sample = StatsSample(
            seq=seq,
            t=t,
            gpus=gpus,
            gpu_error=gpu.error,
            host=self.host.read(),
            jobs=jobs[:MAX_STATS_JOBS],
            jobs_omitted=max(0, len(jobs) - MAX_STATS_JOBS),
            allocations=[
                reading
                for job in allocated[:MAX_STATS_JOBS]
                if (reading := read_allocation(job.job_dir, job.job_id, job.interval_s, t))
            ],
        )
        return Tick(
            sample,
            len(encode(StatsUpdate(id=0, sample=sample))),
            scan.leaking,
            scan.changes,
            occupancy_of(t, gpu, owners),
        )

    def owner_of(
        self, pid: int, running: List[RunningJob], leaking: Dict[int, Dict[int, int]]
    ) -> Optional[ProcessOwner]:
        """Whose process `pid` is: a running job's (its tree), an ended job's that
        left it on a GPU (`leaking`: job id -> pid -> start ticks, as the last
        sample found), or no job's; None when there is no such process."""
        stat = procfs.read_stat(pid)
        uids = procfs.read_uids(pid)
        if stat is None or uids is None:
            return None
        job_id = self.trees.owner(stat, running)
        if job_id is not None:
            return ProcessOwner(job_id, False, stat.start_ticks, uids)
        ticks = stat.start_ticks
        left_by = next((j for j, pids in leaking.items() if pids.get(pid) == ticks), None)
        return ProcessOwner(left_by, left_by is not None, stat.start_ticks, uids)

    def _read_gpus(self) -> GpuRead:
        try:
            return self.source.read()
        except Exception as exc:  # a source bug must not stop the host and job stats
            log.exception("GPU source %s failed", self.source.name)
            return GpuRead(error=clip(f"GPU readings failed: {exc!r}"))

    def _label(self, reading: GpuReading, owners: Dict[int, int]) -> GpuReading:
        if not reading.processes:
            return reading
        processes = [
            p.model_copy(update={"job_id": owners.get(p.pid), "name": self._names.get(p.pid)})
            for p in reading.processes
        ]
        return reading.model_copy(update={"processes": processes})


@dataclass(frozen=True)
class AllocatedJob:
    """A running Slurm job whose GPUs its node reports into `job_dir`."""

    job_id: int
    job_dir: str
    interval_s: float


def _name(pid: int) -> Optional[str]:
    name = procfs.read_comm(pid)
    return None if name is None else clip(name, MAX_PROCESS_NAME)


def _job_usage(usage: Dict[int, JobMeasure], gpus: Iterable[GpuReading]) -> List[JobUsage]:
    gpu_memory: Dict[int, int] = {}
    gpu_indexes: Dict[int, set[int]] = {}
    for reading in gpus:
        for proc in reading.processes:
            if proc.job_id is None:
                continue
            gpu_memory[proc.job_id] = gpu_memory.get(proc.job_id, 0) + (proc.gpu_memory_bytes or 0)
            gpu_indexes.setdefault(proc.job_id, set()).add(reading.index)
    return [
        JobUsage(
            job_id=job_id,
            cpu_pct=measure.cpu_pct,
            rss_bytes=measure.rss_bytes,
            processes=measure.processes,
            gpu_memory_bytes=gpu_memory.get(job_id, 0),
            gpus=sorted(gpu_indexes.get(job_id, ())),
        )
        for job_id, measure in sorted(usage.items())
    ]
