"""`runner.stats.allocation`: a Slurm job's GPUs read on its node into its
directory, and read back by the runner, stale readings said as such. The
sampler is a real process replaying the recorded H100."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from protocol.stats import AllocationGpus
from runner.stats.allocation import GPUS_FILE, allocated_gpus, read_allocation
from tests.conftest import REPO, wait_for
from tests.stats.conftest import RECORDING


def test_the_gpus_slurm_gave_come_from_its_environment() -> None:
    assert allocated_gpus({"SLURM_JOB_GPUS": "2,0"}) == [0, 2]
    assert allocated_gpus({"SLURM_JOB_GPUS": "0", "SLURM_STEP_GPUS": "1"}) == [1]
    assert allocated_gpus({"SLURM_JOB_GPUS": ""}) is None
    assert allocated_gpus({"CUDA_VISIBLE_DEVICES": "0"}) is None  # Slurm's word only
    assert allocated_gpus({"SLURM_JOB_GPUS": "GPU-1234"}) is None


def _sampler(job_dir: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner.stats.allocation", str(job_dir), "7"],
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "TETHER_GPU_SOURCE": f"replay:{RECORDING}",
            "TETHER_STATS_INTERVAL": "1",
            **env,
        },
    )


def test_the_sampler_reads_the_jobs_gpus_until_told_to_stop(tmp_path: Path) -> None:
    sampler = _sampler(tmp_path, SLURM_JOB_GPUS="0")
    try:
        first = wait_for(lambda: read_allocation(str(tmp_path), 7, 1.0, time.time()), timeout=20)
        assert first.job_id == 7 and first.error is None
        assert [g.index for g in first.gpus] == [0]
        assert first.devices[0].name == "NVIDIA H100 80GB HBM3"
        assert first.gpus[0].mem_total_bytes == 85520809984
        second = wait_for(
            lambda: (r := read_allocation(str(tmp_path), 7, 1.0, time.time())) and r.t > first.t,
            timeout=10,
        )
        assert second
    finally:
        sampler.send_signal(signal.SIGTERM)
        assert sampler.wait(timeout=10) == 0


def test_without_gpus_from_slurm_nothing_is_sampled(tmp_path: Path) -> None:
    sampler = _sampler(tmp_path)
    assert sampler.wait(timeout=20) == 0
    assert not (tmp_path / GPUS_FILE).exists()


def test_a_reading_the_node_stopped_refreshing_is_said_to_be_stale(tmp_path: Path) -> None:
    old = AllocationGpus(job_id=7, node="gpu01", t=1000.0)
    (tmp_path / GPUS_FILE).write_text(old.model_dump_json())
    fresh = read_allocation(str(tmp_path), 9, 1.0, 1010.0)
    assert fresh is not None and (fresh.job_id, fresh.error) == (9, None)
    stale = read_allocation(str(tmp_path), 9, 1.0, 1100.0)
    assert stale is not None and stale.error == "no reading from gpu01 for 100 s"
    (tmp_path / GPUS_FILE).write_text("{half a json")
    assert read_allocation(str(tmp_path), 9, 1.0, 1010.0) is None
    assert read_allocation(str(tmp_path / "none"), 9, 1.0, 1010.0) is None
