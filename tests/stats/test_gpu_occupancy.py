"""Who uses each GPU, as the sampler sees it: the GPU queue's only view of the hardware.

A process is tether's when it is in a running job (its session, or started by
its main process); anything else on a GPU, including a process whose session
cannot be read, makes that GPU busy. Graphics-only users (a desktop) do not.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Set

from protocol.stats import GpuDevice, GpuInventory, GpuProcess, GpuReading
from runner.gpu.occupancy import GpuOccupancy, occupancy_of
from runner.gpu.source import GpuRead, GpuSource
from runner.jobs.table import JobManager
from runner.paths import RunnerPaths
from runner.stats.host import HostProbe
from runner.stats.jobtree import RunningJob
from runner.stats.measure import Measurer
from runner.stats.sampler import Sampler, StatsConfig


class ListedProcesses(GpuSource):
    """A GPU source whose GPUs carry the processes a test lists (GPU -> pids)."""

    name = "test"

    def __init__(self, processes: Dict[int, List[int]]) -> None:
        self.processes = processes

    def open(self) -> GpuInventory:
        devices = [GpuDevice(index=i, name="GPU") for i in self.processes]
        return GpuInventory(source=self.name, available=True, devices=devices)

    def read(self) -> GpuRead:
        return GpuRead(
            gpus=[
                GpuReading(index=i, processes=[GpuProcess(pid=p) for p in pids])
                for i, pids in self.processes.items()
            ]
        )

    def close(self) -> None:
        pass


def test_processes_in_a_job_session_are_tethers_and_others_are_not(tmp_path: Path) -> None:
    job = subprocess.Popen(["sleep", "30"], start_new_session=True)
    child = subprocess.Popen(["bash", "-c", "sleep 30 & wait"], start_new_session=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    source = ListedProcesses({0: [job.pid], 1: [os.getpid()], 2: [child.pid], 3: [gone.pid]})
    measurer = Measurer(source, HostProbe(tmp_path))
    measurer.open()
    try:
        only_job = measurer.take(1, [RunningJob(1, job.pid)], []).occupancy
        # GPU 1: someone else's process; 2: in no job's session; 3: cannot be read.
        assert only_job.busy(range(4)) == {1, 2, 3}
        both = measurer.take(2, [RunningJob(1, job.pid), RunningJob(2, child.pid)], [])
        assert both.occupancy.busy(range(4)) == {1, 3}
        assert both.occupancy.foreign == {1: {os.getpid()}, 3: {gone.pid}}
        # Its job has ended: a process it left on the GPU is no longer tether's.
        assert measurer.take(3, [], []).occupancy.foreign[0] == {job.pid}
    finally:
        for proc in (job, child):
            proc.kill()
            proc.wait()


def test_graphics_only_users_leave_a_gpu_free_and_unlistable_gpus_are_busy() -> None:
    reading = GpuRead(
        gpus=[
            GpuReading(index=0, processes=[GpuProcess(pid=900)]),  # Xorg
            GpuReading(index=1, error="GPU is lost (fallen off the bus?); NVML: GPU is lost"),
            GpuReading(index=2, missing={"processes": "not permitted for this user"}),
            GpuReading(index=3, processes=[GpuProcess(pid=7)], processes_omitted=3),
            GpuReading(index=4, processes=[GpuProcess(pid=7), GpuProcess(pid=8)]),
        ],
        graphics_only={0: {900}},
    )
    occupancy = occupancy_of(12.5, reading, owners={7: 1, 8: 1})
    assert occupancy == GpuOccupancy(12.5, {}, frozenset({1, 2, 3}))
    assert occupancy.busy([0, 1, 2, 3, 4, 5]) == {1, 2, 3}


async def test_the_sampler_answers_with_a_sample_taken_after_the_moment_asked(
    tmp_path: Path,
) -> None:
    paths = RunnerPaths(run_dir=tmp_path / "run", state_dir=tmp_path / "state")
    paths.ensure()
    jobs = JobManager(paths)
    await jobs.start()
    source = ListedProcesses({0: [os.getpid()], 1: []})
    sampler = Sampler(StatsConfig(interval_s=0.05, floor_s=0.05), source, tmp_path, jobs)
    await sampler.start()
    try:
        assert [d.index for d in sampler.inventory.devices] == [0, 1]
        first = await sampler.occupancy(0.0)
        assert first is not None and first.busy([0, 1]) == {0}
        source.processes = {0: [], 1: []}  # the other user's process ended
        asked = time.time()
        fresh = await sampler.occupancy(asked)
        assert fresh is not None and fresh.t >= asked
        assert fresh.busy([0, 1]) == set()
        # A moment no sample will reach in time: the newest is the answer.
        seen: Set[int] = set()
        later = await sampler.occupancy(time.time() + 3600)
        assert later is not None and later.busy([0, 1]) == seen
    finally:
        await sampler.close()
        await jobs.close()
