"""Reading squeue, sacct and scontrol: real output captured from the Slurm that
scripts/slurm-up starts (Slurm 22.05), and what it means for a tether job."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.slurm.states import (
    ExitCode,
    SlurmJob,
    SlurmOutputError,
    outcome,
    parse_sacct,
    parse_scontrol_job,
    parse_squeue,
)

HERE = Path(__file__).parent


def fixture(name: str) -> str:
    return (HERE / name).read_text()


def job(state: str, **fields: object) -> SlurmJob:
    values: dict[str, object] = {
        "slurm_id": 1,
        "state": state,
        "reason": None,
        "start": None,
        "nodes": None,
        "partition": "debug",
    }
    values.update(fields)
    return SlurmJob(**values)  # type: ignore[arg-type]


def test_squeue_lines_give_state_reason_start_and_nodes() -> None:
    jobs = parse_squeue(fixture("squeue_mixed.txt"))
    assert sorted(jobs) == [1, 2, 3, 4, 5]
    assert jobs[3] == SlurmJob(3, "RUNNING", None, 1796289958, "vm", "debug")
    assert jobs[4].state == "PENDING" and jobs[4].reason == "Resources"
    assert jobs[4].start is None and jobs[4].nodes is None
    assert jobs[5].reason == "Priority"
    assert jobs[2].state == "FAILED" and jobs[2].exit_code is None


def test_pending_jobs_say_why_they_wait() -> None:
    jobs = parse_squeue(fixture("squeue_mixed.txt"))
    assert outcome(jobs[4]).state == "queued"
    assert outcome(jobs[4]).reason == "waiting for resources"
    assert outcome(jobs[5]).reason == "waiting: priority"
    assert outcome(job("PENDING", reason="QOSMaxJobsPerUserLimit")).reason == (
        "waiting: QOSMaxJobsPerUserLimit"
    )
    assert outcome(job("PENDING")).reason == "waiting to be scheduled"


def test_running_job_names_its_nodes_and_slurm_id() -> None:
    running = parse_squeue(fixture("squeue_mixed.txt"))[3]
    assert outcome(running).state == "running"
    assert outcome(running).reason == "running on vm (Slurm job 3)"


def test_sacct_folds_steps_into_their_job() -> None:
    jobs = parse_sacct(fixture("sacct_mixed.txt"))
    assert sorted(jobs) == [1, 2, 3, 4, 5]
    assert jobs[2].exit_code == ExitCode(3, 0)
    assert jobs[4].nodes is None and jobs[4].start is None


def test_finished_jobs_map_to_succeeded_and_failed_with_exit_code() -> None:
    jobs = parse_sacct(fixture("sacct_mixed.txt"))
    done, failed = outcome(jobs[1]), outcome(jobs[2])
    assert (done.state, done.reason, done.exit_status) == ("succeeded", "exit 0", 0)
    assert (failed.state, failed.reason, failed.exit_status) == ("failed", "failed: exit 3", 3)


def test_a_job_killed_by_a_signal_says_which() -> None:
    killed = parse_sacct(fixture("sacct_killed.txt"))[7]
    assert killed.exit_code == ExitCode(0, 9)
    result = outcome(killed)
    assert (result.state, result.reason, result.exit_status) == (
        "failed",
        "failed: killed by SIGKILL",
        None,
    )


def test_time_limit_is_its_own_reason() -> None:
    timed_out = parse_sacct(fixture("sacct_timeout.txt"))[6]
    assert outcome(timed_out).state == "failed"
    assert outcome(timed_out).reason == "failed: time limit"


def test_cancelled_pending_and_running_jobs_are_cancelled() -> None:
    jobs = parse_sacct(fixture("sacct_cancelled.txt"))
    assert [jobs[3].state, jobs[5].state] == ["CANCELLED", "CANCELLED"]
    assert outcome(jobs[3]).state == outcome(jobs[5]).state == "cancelled"


def test_batch_step_exit_code_stands_in_for_an_empty_job_one() -> None:
    text = "12|FAILED|0:0|None|vm|1|debug\n12.batch|FAILED|7:0||vm|1|\n"
    failed = parse_sacct(text)[12]
    assert failed.exit_code == ExitCode(7, 0)
    assert outcome(failed).reason == "failed: exit 7"


def test_out_of_memory_on_a_step_fails_the_job_for_memory() -> None:
    # Slurm with cgroups marks the step that hit its limit, the job itself FAILED.
    text = "12|FAILED|0:125|None|vm|1|debug\n12.batch|OUT_OF_MEMORY|0:125||vm|1|\n"
    assert parse_sacct(text)[12].out_of_memory
    assert outcome(parse_sacct(text)[12]).reason == "failed: out of memory"
    assert outcome(job("OUT_OF_MEMORY")).reason == "failed: out of memory"


def test_a_completed_job_whose_srun_step_ran_out_of_memory_still_succeeded() -> None:
    text = "12|COMPLETED|0:0|None|vm|1|debug\n12.0|OUT_OF_MEMORY|0:125||vm|1|\n"
    assert outcome(parse_sacct(text)[12]).state == "succeeded"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("NODE_FAIL", ("lost", "lost: node failure")),
        ("PREEMPTED", ("lost", "lost: preempted")),
        ("BOOT_FAIL", ("lost", "lost: node failed to boot")),
        ("DEADLINE", ("failed", "failed: deadline passed")),
        ("SUSPENDED", ("running", "suspended by Slurm (Slurm job 1)")),
        ("COMPLETING", ("running", "running (Slurm job 1)")),
        ("REQUEUED", ("queued", "waiting to be scheduled")),
        ("SOMETHING_NEW", ("lost", "lost: Slurm reports an unknown state SOMETHING_NEW")),
    ],
)
def test_slurm_end_states_have_their_own_reasons(state: str, expected: tuple[str, str]) -> None:
    result = outcome(job(state))
    assert (result.state, result.reason) == expected


def test_a_job_slurm_no_longer_knows_is_lost() -> None:
    result = outcome(None)
    assert result.state == "lost"
    assert "vanished" in result.reason


def test_scontrol_gives_a_finished_job_exit_code_without_accounting() -> None:
    killed = parse_scontrol_job(fixture("scontrol_job_killed.txt"))
    assert killed is not None
    assert (killed.slurm_id, killed.state, killed.nodes) == (7, "FAILED", "vm")
    assert killed.exit_code == ExitCode(0, 9)
    assert parse_scontrol_job("slurm_load_jobs error: Invalid job id specified") is None


def test_cancelled_by_uid_and_narrow_column_states_read_as_cancelled() -> None:
    text = "5|CANCELLED by 0|0:0|None|None assigned|None|debug\n"
    assert parse_sacct(text)[5].state == "CANCELLED"
    assert parse_squeue("5|CANCELLED+|None|N/A||debug\n")[5].state == "CANCELLED"


def test_output_not_in_the_asked_format_is_an_error_not_a_guess() -> None:
    with pytest.raises(SlurmOutputError, match="fields"):
        parse_squeue("12 RUNNING vm\n")
    with pytest.raises(SlurmOutputError, match="SLURM_TIME_FORMAT"):
        parse_squeue("12|RUNNING|None|2026-12-03T09:30:00|vm|debug\n")
    with pytest.raises(SlurmOutputError, match="exit code"):
        ExitCode.parse("3")


def test_array_and_heterogeneous_job_lines_are_skipped() -> None:
    assert parse_squeue("12_3|RUNNING|None|1|vm|debug\n12+1|RUNNING|None|1|vm|debug\n") == {}
