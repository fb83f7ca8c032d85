"""Where the queue's GPUs come from, and which of them others are using.

The GPU queue never reads the hardware: it reads the stats sampler's readings
through `GpuReadings`. Here a stand-in plays the sampler, saying what a real one
would have seen; how the real sampler tells tether's processes from others' is
pinned in tests/stats/test_gpu_occupancy.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional

import pytest

from protocol.jobs import JobSpec, JobState
from protocol.stats import GpuDevice, GpuInventory
from runner.errors import RunnerError
from runner.gpu.inventory import configured_inventory
from runner.gpu.nvml import NvmlSource
from runner.gpu.occupancy import GpuOccupancy
from runner.gpu.scheduler import GpuScheduler
from runner.jobs.table import JobManager
from runner.paths import RunnerPaths

NO_DRIVER = GpuInventory(source="nvml", available=False, reason="no NVIDIA driver")


def _gpus(*indices: int) -> GpuInventory:
    devices = [GpuDevice(index=i, name="NVIDIA H100 80GB HBM3") for i in indices]
    return GpuInventory(source="replay", available=True, devices=devices)


class SamplerStandIn:
    """Plays the stats sampler: the GPUs it found and who uses them. `foreign` is
    what any sample shows; the newest sample so far, taken at `latest_t`, also
    shows `stale` (processes gone since). Asked for a sample newer than that, it
    takes a fresh one, as the sampler's next tick would."""

    def __init__(self, inventory: GpuInventory) -> None:
        self.inventory = inventory
        self.foreign: Dict[int, FrozenSet[int]] = {}
        self.stale: Dict[int, FrozenSet[int]] = {}
        self.latest_t = 0.0
        self.asked: List[float] = []

    async def occupancy(self, newer_than: float) -> Optional[GpuOccupancy]:
        self.asked.append(newer_than)
        if newer_than <= self.latest_t:
            return GpuOccupancy(self.latest_t, {**self.stale, **self.foreign})
        self.latest_t, self.stale = time.time(), {}
        return GpuOccupancy(self.latest_t, dict(self.foreign))


class NeverAsked(SamplerStandIn):
    async def occupancy(self, newer_than: float) -> Optional[GpuOccupancy]:
        raise AssertionError("the queue asked who uses GPUs it cannot be lending")


def test_tether_gpus_sets_the_inventory_and_bad_values_say_what_is_wrong() -> None:
    assert configured_inventory({"TETHER_GPUS": "3, 1,0"}) == [0, 1, 3]
    assert configured_inventory({"TETHER_GPUS": ""}) == []
    assert configured_inventory({}) is None  # then: what the GPU source finds
    with pytest.raises(RunnerError, match="TETHER_GPUS lists GPU 1 twice"):
        configured_inventory({"TETHER_GPUS": "1,1"})
    with pytest.raises(RunnerError, match="'cuda:0' is not an index"):
        configured_inventory({"TETHER_GPUS": "cuda:0"})


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunnerPaths:
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = RunnerPaths(run_dir=tmp_path / "run", state_dir=tmp_path / "state")
    paths.ensure()
    return paths


async def test_the_inventory_is_what_the_source_found_unless_tether_gpus_says(
    paths: RunnerPaths,
) -> None:
    jobs = JobManager(paths)
    await jobs.start()
    found = SamplerStandIn(_gpus(0, 1, 2))
    try:
        for environ, expected in [({}, (0, 1, 2)), ({"TETHER_GPUS": "1"}, (1,))]:
            scheduler = GpuScheduler(jobs, found, environ=environ)
            await scheduler.start()
            assert scheduler.queue.inventory == expected
            await scheduler.close()
        with pytest.raises(RunnerError, match="'gpu2' is not an index"):
            GpuScheduler(jobs, found, environ={"TETHER_GPUS": "0,gpu2"})
    finally:
        await jobs.close()


async def test_without_a_driver_there_are_no_gpus_and_none_busy(
    paths: RunnerPaths, tmp_path: Path
) -> None:
    if Path("/dev/nvidiactl").exists():
        pytest.skip("this machine has an NVIDIA driver")
    source = NvmlSource()
    found = source.open()
    source.close()
    assert not found.available and found.devices == []
    jobs = JobManager(paths, cancel_grace_s=2.0)
    await jobs.start()
    bare = GpuScheduler(jobs, NeverAsked(found), environ={})
    await bare.start()
    assert bare.queue.inventory == ()
    await bare.close()
    # GPUs given by TETHER_GPUS on a host without a driver: no one can be using them.
    given = GpuScheduler(jobs, NeverAsked(found), environ={"TETHER_GPUS": "0"}, recheck_s=60)
    await given.start()
    try:
        job = await given.submit(JobSpec(argv=["sleep", "30"], cwd=str(tmp_path), gpus="1"))
        assert (job.state, job.gpus) == (JobState.RUNNING, [0])
        await jobs.cancel(job.id)
    finally:
        await given.close()
        await jobs.close()


async def test_a_gpu_someone_else_uses_is_skipped_until_it_is_free(
    paths: RunnerPaths, tmp_path: Path
) -> None:
    jobs = JobManager(paths, cancel_grace_s=2.0)
    sampler = SamplerStandIn(_gpus(0, 1))
    sampler.foreign = {0: frozenset({31337})}
    scheduler = GpuScheduler(jobs, sampler, recheck_s=0.1, environ={})
    await jobs.start()
    await scheduler.start()
    try:
        spec = JobSpec(argv=["sleep", "30"], cwd=str(tmp_path), gpus="1")
        first = await scheduler.submit(spec)
        assert (first.state, first.gpus) == (JobState.RUNNING, [1])
        second = await scheduler.submit(spec)
        assert second.state is JobState.QUEUED
        assert (await jobs.get(second.id)).queue_position == 1
        sampler.foreign = {}  # the other user's process ended
        await asyncio.wait_for(_until(lambda: second.state is JobState.RUNNING), 30)
        assert second.gpus == [0]
        await jobs.cancel(first.id)
        await jobs.cancel(second.id)
        assert scheduler.queue.held == {}
    finally:
        await scheduler.close()
        await jobs.close()


async def test_allow_busy_lends_a_gpu_someone_else_uses(paths: RunnerPaths, tmp_path: Path) -> None:
    jobs = JobManager(paths, cancel_grace_s=2.0)
    sampler = NeverAsked(_gpus(0))
    scheduler = GpuScheduler(jobs, sampler, environ={"TETHER_GPUS_ALLOW_BUSY": "1"})
    await jobs.start()
    await scheduler.start()
    try:
        job = await scheduler.submit(JobSpec(argv=["sleep", "30"], cwd=str(tmp_path), gpus="1"))
        assert (job.state, job.gpus) == (JobState.RUNNING, [0])
        await jobs.cancel(job.id)
    finally:
        await scheduler.close()
        await jobs.close()


async def test_an_ended_jobs_gpus_go_to_the_next_job_on_a_sample_taken_after_it_ended(
    paths: RunnerPaths, tmp_path: Path
) -> None:
    """Samples from before the first job ended still show its processes, no longer
    any running job's: read those and the GPU looks taken by someone else."""
    jobs = JobManager(paths, cancel_grace_s=2.0)
    sampler = SamplerStandIn(_gpus(0))
    scheduler = GpuScheduler(jobs, sampler, recheck_s=600, environ={})  # no recheck to help
    await jobs.start()
    await scheduler.start()
    try:
        spec = JobSpec(argv=["sleep", "30"], cwd=str(tmp_path), gpus="1")
        first = await scheduler.submit(spec)
        second = await scheduler.submit(spec)
        assert (first.state, second.state) == (JobState.RUNNING, JobState.QUEUED)
        assert first.job_pid is not None
        # The newest sample saw the first job's process, as a running job's then.
        sampler.latest_t, sampler.stale = time.time(), {0: frozenset({first.job_pid})}
        ended = time.time()
        await jobs.cancel(first.id)
        await asyncio.wait_for(_until(lambda: second.state is JobState.RUNNING), 10)
        assert second.gpus == [0]
        assert sampler.asked[-1] >= ended
        await jobs.cancel(second.id)
    finally:
        await scheduler.close()
        await jobs.close()


async def _until(predicate) -> None:  # type: ignore[no-untyped-def]
    while not predicate():
        await asyncio.sleep(0.02)
