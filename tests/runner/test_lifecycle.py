"""The job lifecycle's every transition, decided from facts alone (no processes, no files)."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import pytest

from protocol.jobs import JobState
from runner.jobs.files import ExitRecord
from runner.jobs.lifecycle import (
    STARTUP_DEADLINE_S,
    Event,
    JobFacts,
    Readiness,
    Transition,
    decide,
    readiness,
    refusal,
    retry_delay,
    retry_reason,
    should_retry,
)

NOW = 1_700_000_000.0
BOOT = "boot-a"
RUNNING = JobFacts(
    state=JobState.RUNNING,
    now=NOW,
    shim_pid=4242,
    shim_alive=True,
    shim_boot_id=BOOT,
    boot_id=BOOT,
)
QUEUED = JobFacts(state=JobState.QUEUED, now=NOW, boot_id=BOOT)


def _exit(code: Optional[int], signal: Optional[str] = None, cancelled: bool = False) -> ExitRecord:
    return ExitRecord(exit_code=code, signal=signal, finished_at=NOW - 5, cancelled=cancelled)


def _ended(exit: ExitRecord, **changes: object) -> JobFacts:
    return replace(RUNNING, exit=exit, shim_alive=False, **changes)  # type: ignore[arg-type]


def test_a_job_whose_shim_still_runs_stays_running() -> None:
    assert decide(Event.LOOKED, RUNNING) is None


def test_exit_code_zero_is_succeeded_with_the_shims_time() -> None:
    assert decide(Event.LOOKED, _ended(_exit(0))) == Transition(
        JobState.SUCCEEDED, finished_at=NOW - 5, exit_code=0
    )


def test_a_non_zero_exit_code_is_failed_and_keeps_the_code() -> None:
    assert decide(Event.LOOKED, _ended(_exit(3))) == Transition(
        JobState.FAILED, finished_at=NOW - 5, exit_code=3
    )


def test_killed_by_a_signal_is_failed_with_the_signal_and_no_code() -> None:
    assert decide(Event.LOOKED, _ended(_exit(None, "SIGKILL"))) == Transition(
        JobState.FAILED, finished_at=NOW - 5, signal="SIGKILL"
    )


def test_the_shim_saying_cancelled_is_cancelled() -> None:
    assert decide(Event.LOOKED, _ended(_exit(None, "SIGTERM", cancelled=True))) == Transition(
        JobState.CANCELLED, finished_at=NOW - 5, signal="SIGTERM"
    )


def test_a_cancel_request_wins_over_a_clean_exit() -> None:
    # The job caught SIGTERM and exited 0: a person still cancelled it.
    transition = decide(Event.LOOKED, _ended(_exit(0), cancel_requested=True))
    assert transition == Transition(JobState.CANCELLED, finished_at=NOW - 5, exit_code=0)


def test_an_exit_status_counts_even_when_the_shim_was_never_recorded() -> None:
    # The runner died between spawning the shim and recording it.
    facts = replace(QUEUED, exit=_exit(0), claim_age_s=1.0)
    assert decide(Event.LOOKED, facts) == Transition(
        JobState.SUCCEEDED, finished_at=NOW - 5, exit_code=0
    )


def test_a_shim_that_vanished_without_a_status_makes_the_job_lost_naming_it() -> None:
    transition = decide(Event.LOOKED, replace(RUNNING, shim_alive=False))
    assert transition == Transition(
        JobState.LOST,
        finished_at=NOW,
        reason="its supervisor (pid 4242) died without an exit status",
        unsupervised=True,  # what the job started may still run: it is ended
    )


def test_a_reboot_makes_the_job_lost_for_the_reboot() -> None:
    facts = replace(RUNNING, shim_alive=False, boot_id="boot-b")
    assert decide(Event.LOOKED, facts) == Transition(
        JobState.LOST, finished_at=NOW, reason="the host rebooted while it ran", unsupervised=True
    )


def test_an_unknown_boot_is_not_taken_for_a_reboot() -> None:
    facts = replace(RUNNING, shim_alive=False, shim_boot_id="", boot_id="boot-b")
    transition = decide(Event.LOOKED, facts)
    assert transition is not None
    assert transition.reason == "its supervisor (pid 4242) died without an exit status"


def test_a_reboot_does_not_override_an_exit_status_written_before_it() -> None:
    facts = _ended(_exit(0), boot_id="boot-b")
    assert decide(Event.LOOKED, facts) == Transition(
        JobState.SUCCEEDED, finished_at=NOW - 5, exit_code=0
    )


def test_a_claimed_job_whose_shim_never_reported_is_lost_after_the_deadline() -> None:
    waiting = replace(QUEUED, claim_age_s=STARTUP_DEADLINE_S - 1)
    assert decide(Event.LOOKED, waiting) is None
    late = replace(QUEUED, claim_age_s=STARTUP_DEADLINE_S + 1)
    assert decide(Event.LOOKED, late) == Transition(
        JobState.LOST,
        finished_at=NOW,
        reason="its supervisor never reported that it started",
        unsupervised=True,
    )


def test_an_unclaimed_queued_job_waits() -> None:
    assert decide(Event.LOOKED, QUEUED) is None


def test_a_queued_job_whose_shim_reported_and_runs_is_running() -> None:
    # Re-adoption: the runner died after the shim started, before recording it.
    facts = replace(QUEUED, shim_pid=4242, shim_alive=True, shim_boot_id=BOOT, claim_age_s=2.0)
    assert decide(Event.LOOKED, facts) == Transition(JobState.RUNNING)


def test_a_queued_job_whose_shim_reported_and_died_is_lost() -> None:
    facts = replace(QUEUED, shim_pid=4242, shim_alive=False, shim_boot_id=BOOT)
    transition = decide(Event.LOOKED, facts)
    assert transition is not None
    assert (transition.state, transition.reason) == (
        JobState.LOST,
        "its supervisor (pid 4242) died without an exit status",
    )


def test_a_successful_launch_is_running() -> None:
    facts = replace(QUEUED, shim_pid=4242, launching=True)
    assert decide(Event.LAUNCHED, facts) == Transition(JobState.RUNNING)


def test_a_failed_launch_is_failed_with_the_launchers_words() -> None:
    facts = replace(QUEUED, launching=True, launch_error="cwd vanished")
    assert decide(Event.LAUNCHED, facts) == Transition(
        JobState.FAILED, finished_at=NOW, reason="could not start: cwd vanished", unsupervised=True
    )


def test_a_launch_without_a_shim_report_is_failed() -> None:
    transition = decide(Event.LAUNCHED, replace(QUEUED, launching=True))
    assert transition is not None
    assert transition.state is JobState.FAILED
    assert transition.reason == "could not start: its supervisor did not report that it started"
    assert transition.unsupervised  # whatever it started is ended


def test_cancelling_a_queued_job_cancels_it_at_once() -> None:
    assert decide(Event.CANCEL, QUEUED) == Transition(
        JobState.CANCELLED, finished_at=NOW, reason="cancelled while queued"
    )


@pytest.mark.parametrize(
    "facts",
    [
        RUNNING,
        replace(QUEUED, launching=True),  # its shim may appear any moment
        replace(QUEUED, shim_pid=4242, shim_alive=True),  # started, not recorded as running
    ],
    ids=["running", "launching", "shim-reported"],
)
def test_cancelling_a_started_job_is_left_to_its_shim(facts: JobFacts) -> None:
    assert decide(Event.CANCEL, facts) is None


@pytest.mark.parametrize(
    "state", [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.LOST]
)
@pytest.mark.parametrize("event", list(Event))
def test_an_ended_job_stays_as_it_is(state: JobState, event: Event) -> None:
    # Whatever turns up later (a stale status file, a dead shim, a reboot).
    facts = replace(
        RUNNING, state=state, exit=_exit(0), shim_alive=False, boot_id="boot-b", claim_age_s=1e6
    )
    assert decide(event, facts) is None


# -- --after and --after-any ------------------------------------------------------------

S, F, C, L, R, Q = (
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.LOST,
    JobState.RUNNING,
    JobState.QUEUED,
)


@pytest.mark.parametrize(
    ("states", "after_any", "expected"),
    [
        ({3: S, 4: S}, False, Readiness(True)),
        ({3: S, 4: R}, False, Readiness(False, (4,))),
        ({3: R, 4: Q}, False, Readiness(False, (3, 4))),
        # One failure dooms the job at once, even while another still runs.
        ({3: R, 4: F}, False, Readiness(False, failed="job 4 failed")),
        ({3: C, 4: S}, False, Readiness(False, failed="job 3 was cancelled")),
        ({3: S, 4: L}, False, Readiness(False, failed="job 4 was lost")),
        ({3: S}, False, Readiness(False, failed="job 4 no longer exists")),
        # --after-any: however they ended, once all of them did.
        ({3: F, 4: R}, True, Readiness(False, (4,))),
        ({3: F, 4: C}, True, Readiness(True)),
        ({3: L, 4: S}, True, Readiness(True)),
    ],
)
def test_readiness_of_a_job_that_runs_after_others(
    states: dict[int, JobState], after_any: bool, expected: Readiness
) -> None:
    assert readiness([3, 4], states, after_any) == expected


def test_a_queued_job_whose_after_failed_ends_cancelled_with_the_reason() -> None:
    facts = replace(QUEUED, after_failed="job 12 failed")
    assert decide(Event.AFTER_FAILED, facts) == Transition(
        JobState.CANCELLED, NOW, reason="job 12 failed"
    )
    # One a shim claimed, or being launched, is not ended from here; nor an ended one.
    assert decide(Event.AFTER_FAILED, replace(facts, shim_pid=77)) is None
    assert decide(Event.AFTER_FAILED, replace(facts, launching=True)) is None
    assert decide(Event.AFTER_FAILED, replace(facts, state=JobState.CANCELLED)) is None


# -- pause and resume ---------------------------------------------------------------------

PAUSED = replace(RUNNING, state=JobState.PAUSED)


def test_pausing_a_running_job_pauses_it_and_asking_again_keeps_it_paused() -> None:
    assert decide(Event.PAUSE, RUNNING) == Transition(JobState.PAUSED)
    assert decide(Event.PAUSE, PAUSED) == Transition(JobState.PAUSED)


def test_resuming_a_paused_job_runs_it_again() -> None:
    assert decide(Event.RESUME, PAUSED) == Transition(JobState.RUNNING)


@pytest.mark.parametrize(
    ("event", "facts", "said"),
    [
        (Event.PAUSE, QUEUED, "job 3 is queued, not started: only a running job can be paused"),
        (Event.RESUME, QUEUED, "job 3 is queued, not started: only a paused job can be resumed"),
        (Event.RESUME, RUNNING, "job 3 is running, not paused: only a paused job can be resumed"),
        (
            Event.PAUSE,
            replace(RUNNING, shim_alive=False),
            "job 3 is running but its supervisor is gone: it cannot be paused",
        ),
        (
            Event.PAUSE,
            replace(RUNNING, state=JobState.SUCCEEDED),
            "job 3 has ended (succeeded): only a running job can be paused",
        ),
    ],
)
def test_what_cannot_be_paused_or_resumed_is_refused_saying_why(
    event: Event, facts: JobFacts, said: str
) -> None:
    assert decide(event, facts) is None
    assert refusal(event, 3, facts.state) == said


def test_a_paused_job_stays_paused_while_its_shim_runs_and_ends_as_a_running_one() -> None:
    assert decide(Event.LOOKED, PAUSED) is None
    ended = decide(Event.LOOKED, replace(PAUSED, exit=_exit(None, "SIGTERM"), shim_alive=False))
    assert ended == Transition(JobState.FAILED, NOW - 5, None, "SIGTERM")
    lost = decide(Event.LOOKED, replace(PAUSED, shim_alive=False))
    assert lost is not None and lost.state is JobState.LOST
    # A cancel of a paused job goes to its shim, like a running one's.
    assert decide(Event.CANCEL, PAUSED) is None


# -- retries ------------------------------------------------------------------------------

FAILED_EXIT = Transition(JobState.FAILED, NOW, exit_code=3)
LOST_JOB = Transition(JobState.LOST, NOW, reason="its supervisor (pid 1) died")


@pytest.mark.parametrize(
    ("outcome", "retry_on", "attempt", "retries", "cancelled", "again"),
    [
        (FAILED_EXIT, "any", 1, 2, False, True),
        (FAILED_EXIT, "any", 2, 2, False, True),
        (FAILED_EXIT, "any", 3, 2, False, False),  # the last of three attempts
        (FAILED_EXIT, "exit", 1, 1, False, True),
        (FAILED_EXIT, "lost", 1, 1, False, False),
        (LOST_JOB, "lost", 1, 1, False, True),
        (LOST_JOB, "exit", 1, 1, False, False),
        (LOST_JOB, "any", 1, 1, False, True),
        (FAILED_EXIT, "any", 1, 0, False, False),  # no --retry
        (FAILED_EXIT, "any", 1, 2, True, False),  # cancel stops retrying
        (Transition(JobState.SUCCEEDED, NOW, exit_code=0), "any", 1, 2, False, False),
        (Transition(JobState.CANCELLED, NOW), "any", 1, 2, False, False),
    ],
)
def test_which_ended_attempts_run_again(
    outcome: Transition, retry_on: str, attempt: int, retries: int, cancelled: bool, again: bool
) -> None:
    assert should_retry(outcome, retry_on, attempt, retries, cancelled) is again


def test_retries_back_off_10_30_then_90_seconds() -> None:
    assert [retry_delay(a) for a in (1, 2, 3, 4, 9)] == [10.0, 30.0, 90.0, 90.0, 90.0]
    assert [retry_delay(a, (0.5,)) for a in (1, 2)] == [0.5, 0.5]
    assert retry_reason(1, FAILED_EXIT, 10.0) == (
        "attempt 1 failed (exit 3); attempt 2 starts after 10 s"
    )
    assert retry_reason(2, LOST_JOB, 30.0).startswith("attempt 2 was lost (its supervisor")
