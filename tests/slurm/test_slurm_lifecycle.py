"""How a Slurm job's state is decided (`runner.jobs.slurm_lifecycle`): Slurm's
word and the shim's exit status together."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from protocol.jobs import JobState
from runner.jobs.files import ExitRecord
from runner.jobs.slurm_lifecycle import REASON_CANCELLED_PENDING, decide_slurm
from runner.slurm.states import ExitCode, SlurmJob


def _slurm(
    state: str, reason: Optional[str] = None, code: str = "0:0", oom: bool = False
) -> SlurmJob:
    return SlurmJob(7, state, reason, 100, "node1", "debug", ExitCode.parse(code), oom)


def test_pending_keeps_the_job_queued_with_slurms_reason() -> None:
    look = decide_slurm(JobState.QUEUED, _slurm("PENDING", "Resources"), None, False, 1.0)
    assert (look.transition, look.reason) == (None, "waiting for resources")
    assert look.expected_start == 100.0  # Slurm's estimate while it waits
    running = decide_slurm(JobState.QUEUED, _slurm("RUNNING"), None, False, 1.0)
    assert running.expected_start is None  # a start time once running is no estimate
    behind_unlimited = replace(_slurm("PENDING", "Resources"), start=365 * 86400 + 10)
    look = decide_slurm(JobState.QUEUED, behind_unlimited, None, False, 10.0)
    assert look.expected_start is None  # Slurm's "in a year" is no estimate


def test_running_in_slurm_moves_a_queued_job_to_running_once() -> None:
    look = decide_slurm(JobState.QUEUED, _slurm("RUNNING"), None, False, 1.0)
    assert look.transition is not None and look.transition.state is JobState.RUNNING
    assert look.nodes == "node1"
    assert decide_slurm(JobState.RUNNING, _slurm("RUNNING"), None, False, 1.0).transition is None


def test_a_shim_that_started_the_command_outruns_slurms_last_answer() -> None:
    pending = _slurm("PENDING", "Resources")  # said before the job started
    look = decide_slurm(JobState.QUEUED, pending, None, False, 1.0, started=True)
    assert look.transition is not None and look.transition.state is JobState.RUNNING
    assert look.expected_start is None
    assert (
        decide_slurm(JobState.RUNNING, pending, None, False, 1.0, started=True).transition is None
    )


def test_the_shims_exit_status_decides_how_the_command_ended() -> None:
    exit = ExitRecord(exit_code=3, signal=None, finished_at=50.0, cancelled=False)
    look = decide_slurm(JobState.RUNNING, _slurm("FAILED", code="3:0"), exit, False, 60.0)
    assert look.transition is not None
    assert (look.transition.state, look.transition.exit_code) == (JobState.FAILED, 3)
    assert look.transition.finished_at == 50.0


def test_a_time_limit_outranks_the_sigterm_the_shim_saw() -> None:
    exit = ExitRecord(exit_code=None, signal="SIGTERM", finished_at=50.0, cancelled=True)
    look = decide_slurm(JobState.RUNNING, _slurm("TIMEOUT", code="0:15"), exit, False, 60.0)
    assert look.transition is not None
    assert (look.transition.state, look.transition.reason) == (
        JobState.FAILED,
        "failed: time limit",
    )
    oom = decide_slurm(JobState.RUNNING, _slurm("OUT_OF_MEMORY", oom=True), exit, False, 60.0)
    assert oom.transition is not None and oom.transition.reason == "failed: out of memory"


def test_ended_in_slurm_without_an_exit_status() -> None:
    cancelled = decide_slurm(JobState.QUEUED, _slurm("CANCELLED"), None, True, 9.0)
    assert cancelled.transition is not None
    assert (cancelled.transition.state, cancelled.transition.reason) == (
        JobState.CANCELLED,
        REASON_CANCELLED_PENDING,
    )
    failed = decide_slurm(JobState.RUNNING, _slurm("NODE_FAIL"), None, False, 9.0)
    assert failed.transition is not None and failed.transition.state is JobState.LOST
    assert failed.transition.reason == "lost: node failure"
    vanished = decide_slurm(JobState.RUNNING, None, None, False, 9.0)
    assert vanished.transition is not None and vanished.transition.state is JobState.LOST
