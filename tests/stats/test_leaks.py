"""Leaked GPU memory: a process an ended job left behind is found, and killed on
request, while anything that is not the job's is left alone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from runner.stats import procfs
from runner.stats.leaks import EndedJob, LeakTracker, kill_leaked
from tests.conftest import wait_for
from tests.stats.conftest import process_gone
from tests.stats.jobs_for_tests import running_job


def test_a_process_left_in_an_ended_jobs_session_is_a_leak_until_it_exits(
    tmp_path: Path,
) -> None:
    with running_job(tmp_path) as job:
        worker, orphan = job.pid_of("worker"), job.pid_of("orphan")
        job.proc.send_signal(signal.SIGKILL)
        job.proc.wait()
        tracker = LeakTracker()
        tracker.watch(EndedJob(4, job.pid, time.time()), {})
        scan = tracker.scan([orphan, worker])
        assert sorted(scan.leaking[4]) == sorted([orphan, worker])
        assert scan.changes == {4: sorted([orphan, worker])}
        assert tracker.scan([orphan, worker]).changes == {}  # unchanged: nothing to write
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: process_gone(worker))
        assert tracker.scan([orphan, worker]).changes == {4: [orphan]}
        assert tracker.confirm(4, [orphan, worker, os.getpid()]) == {
            orphan: procfs.read_stat(orphan).start_ticks  # type: ignore[union-attr]
        }


def test_a_session_member_started_after_the_job_ended_is_not_its_leak(tmp_path: Path) -> None:
    # A recycled session id would belong to a process started after the job ended.
    with running_job(tmp_path) as job:
        orphan = job.pid_of("orphan")
        tracker = LeakTracker()
        tracker.watch(EndedJob(4, job.pid, time.time() - 3600), {})
        assert tracker.scan([orphan]).leaking == {}


def test_a_gpu_process_that_left_the_session_is_still_known_from_the_run(tmp_path: Path) -> None:
    with running_job(tmp_path) as job:
        job.pid_of("worker")
        escaped = job.spawn_escaped()
        ticks = procfs.read_stat(escaped).start_ticks  # type: ignore[union-attr]
        tracker = LeakTracker()
        tracker.watch(EndedJob(9, job.pid, time.time()), {escaped: ticks})
        assert tracker.scan([escaped]).leaking == {9: {escaped: ticks}}
        tracker.watch(EndedJob(10, job.pid + 10**6, time.time()), {escaped: ticks + 1})
        assert 10 not in tracker.scan([escaped]).leaking  # same pid, another process


def test_processes_of_no_ended_job_are_not_leaks() -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        tracker = LeakTracker()
        tracker.watch(EndedJob(1, 999_999_999, time.time()), {})
        scan = tracker.scan([stranger.pid, os.getpid()])
        assert scan.leaking == {} and scan.changes == {}
    finally:
        stranger.kill()
        stranger.wait()


def test_kill_leaked_escalates_to_sigkill_and_spares_a_recycled_pid() -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            "print('ready', flush=True); time.sleep(300)",
        ],
        stdout=subprocess.PIPE,
    )
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        ticks = procfs.read_stat(stubborn.pid).start_ticks  # type: ignore[union-attr]
        other = procfs.read_stat(bystander.pid).start_ticks  # type: ignore[union-attr]
        survivors = asyncio.run(
            kill_leaked({stubborn.pid: ticks, bystander.pid: other + 1}, grace_s=0.3)
        )
        assert survivors == []
        assert stubborn.wait(timeout=10) == -signal.SIGKILL
        assert bystander.poll() is None  # its start time did not match: not touched
    finally:
        for proc in (stubborn, bystander):
            proc.kill()
            proc.wait()
