"""Job attribution on real processes: a job's whole tree is one job, GPU pids map
to it at once, and the host is not scanned for it every sample."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runner.stats.jobtree import JobTrees, RunningJob
from tests.conftest import wait_for
from tests.stats.jobs_for_tests import running_job


def test_a_job_that_spawns_children_is_counted_as_one_job(tmp_path: Path) -> None:
    with running_job(tmp_path) as job:
        worker, orphan = job.pid_of("worker"), job.pid_of("orphan")
        trees = JobTrees(refresh_period_s=0)
        running = [RunningJob(7, job.pid)]

        def whole_tree() -> bool:
            usage, _ = trees.measure(running, [])
            return usage[7].processes == 3  # the job, its worker, its orphaned grandchild

        wait_for(whole_tree, timeout=30)
        usage, owners = trees.measure(running, [worker, orphan])
        assert list(usage) == [7]
        assert usage[7].rss_bytes > 3 * 1024 * 1024
        assert owners == {worker: 7, orphan: 7}


def test_the_busy_worker_shows_as_its_jobs_cpu(tmp_path: Path) -> None:
    with running_job(tmp_path) as job:
        job.pid_of("worker")
        trees = JobTrees(refresh_period_s=0)
        running = [RunningJob(1, job.pid)]
        trees.measure(running, [])
        # A busy loop gets most of a core, even on a loaded two-core machine.
        wait_for(lambda: trees.measure(running, [])[0][1].cpu_pct > 20, timeout=30, interval=0.3)


def test_a_gpu_pid_new_since_the_last_scan_is_placed_without_scanning_again(
    tmp_path: Path,
) -> None:
    with running_job(tmp_path) as job:
        job.pid_of("worker")
        trees = JobTrees(refresh_period_s=3600)
        running = [RunningJob(3, job.pid)]
        trees.measure(running, [])
        assert trees.scans == 1
        escaped = job.spawn_escaped()  # a new process, in a session of its own
        _, owners = trees.measure(running, [escaped])
        assert owners == {escaped: 3}
        usage, _ = trees.measure(running, [])
        assert usage[3].processes == 4  # it is counted with the job from then on
        assert trees.scans == 1  # found through its parent, not by walking /proc


def test_processes_outside_the_job_belong_to_no_job(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        with running_job(tmp_path) as job:
            job.pid_of("worker")
            trees = JobTrees(refresh_period_s=0)
            usage, owners = trees.measure([RunningJob(1, job.pid)], [stranger.pid, 1])
            assert owners == {}
            assert usage[1].processes >= 1
    finally:
        stranger.kill()
        stranger.wait()


def test_an_ended_job_is_forgotten_with_the_gpu_pids_it_had(tmp_path: Path) -> None:
    with running_job(tmp_path) as job:
        worker = job.pid_of("worker")
        trees = JobTrees(refresh_period_s=0)
        trees.measure([RunningJob(5, job.pid)], [worker])
        seen = trees.forget(5)
        assert list(seen) == [worker]
        usage, owners = trees.measure([], [worker])
        assert usage == {} and owners == {}
