"""Where the queue's GPUs come from, and which of them others are using."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import AbstractSet, Iterable, List, Set

import pytest

from protocol.jobs import JobSpec, JobState
from runner.errors import RunnerError
from runner.gpu.inventory import ForeignGpuProbe, gpu_inventory, started_by_tether
from runner.gpu.scheduler import GpuScheduler
from runner.jobs.table import JobManager
from runner.paths import RunnerPaths


def test_tether_gpus_sets_the_inventory_and_bad_values_say_what_is_wrong() -> None:
    assert gpu_inventory({"TETHER_GPUS": "3, 1,0"}) == [0, 1, 3]
    assert gpu_inventory({"TETHER_GPUS": ""}) == []
    with pytest.raises(RunnerError, match="TETHER_GPUS lists GPU 1 twice"):
        gpu_inventory({"TETHER_GPUS": "1,1"})
    with pytest.raises(RunnerError, match="'cuda:0' is not an index"):
        gpu_inventory({"TETHER_GPUS": "cuda:0"})


def test_without_a_driver_there_are_no_gpus_and_none_busy() -> None:
    if Path("/dev/nvidiactl").exists():
        pytest.skip("this machine has an NVIDIA driver")
    assert gpu_inventory({}) == []
    assert ForeignGpuProbe({}).busy([0, 1], set()) == set()


def test_processes_in_a_job_session_are_tethers_and_others_are_not() -> None:
    job = subprocess.Popen(["sleep", "30"], start_new_session=True)
    child = subprocess.Popen(["bash", "-c", "sleep 30 & wait"], start_new_session=True)
    try:
        assert started_by_tether(job.pid, {job.pid})
        assert not started_by_tether(os.getpid(), {job.pid})  # someone else's process
        assert not started_by_tether(child.pid, {job.pid})
        assert started_by_tether(child.pid, {job.pid, child.pid})
    finally:
        for proc in (job, child):
            proc.kill()
            proc.wait()
    assert not started_by_tether(job.pid, {job.pid})  # gone


class ReplayedProbe(ForeignGpuProbe):
    """The GPU stand-in: which GPUs another user's process occupies, as NVML would say."""

    def __init__(self, busy: Set[int]) -> None:
        super().__init__({})
        self.occupied = busy
        self.sessions_seen: List[AbstractSet[int]] = []

    def busy(self, candidates: Iterable[int], job_sessions: AbstractSet[int]) -> Set[int]:
        self.sessions_seen.append(set(job_sessions))
        return self.occupied & set(candidates)

    def close(self) -> None:
        pass


async def test_a_gpu_someone_else_uses_is_skipped_until_it_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = RunnerPaths(run_dir=tmp_path / "run", state_dir=tmp_path / "state")
    paths.ensure()
    jobs = JobManager(paths, cancel_grace_s=2.0)
    probe = ReplayedProbe(busy={0})
    scheduler = GpuScheduler(jobs, inventory=[0, 1], probe=probe, recheck_s=0.1)
    await jobs.start()
    await scheduler.start()
    try:
        spec = JobSpec(argv=["sleep", "30"], cwd=str(tmp_path), gpus="1")
        first = await scheduler.submit(spec)
        assert (first.state, first.gpus) == (JobState.RUNNING, [1])
        second = await scheduler.submit(spec)
        assert second.state is JobState.QUEUED
        assert (await jobs.get(second.id)).queue_position == 1
        assert first.job_pid in probe.sessions_seen[-1]  # tether's own job is not "others"
        probe.occupied = set()  # the other user's process ended
        await asyncio.wait_for(_until(lambda: second.state is JobState.RUNNING), 30)
        assert second.gpus == [0]
        await jobs.cancel(first.id)
        await jobs.cancel(second.id)
        assert scheduler.queue.held == {}
    finally:
        await scheduler.close()
        await jobs.close()


async def _until(predicate) -> None:  # type: ignore[no-untyped-def]
    while not predicate():
        await asyncio.sleep(0.02)
