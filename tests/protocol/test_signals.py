"""The signals a job may be sent: how a name is read, and the sentences that
refuse one (`protocol.signals`)."""

from __future__ import annotations

import pydantic
import pytest

from protocol.jobs import JobState
from protocol.limits import JOB_SIGNALS, MAX_PID
from protocol.signals import (
    SignalJob,
    SignalProcess,
    nothing_to_signal,
    signal_name,
    unknown_signal,
)


@pytest.mark.parametrize("text", ["USR1", "SIGUSR1", "usr1", "sigusr1", " Usr1 "])
def test_a_name_is_read_with_or_without_sig_in_any_case(text: str) -> None:
    assert signal_name(text) == "USR1"


def test_kill_term_int_and_usr1_are_among_the_signals_sent() -> None:
    assert {"KILL", "TERM", "INT", "USR1"} <= set(JOB_SIGNALS)
    assert all(signal_name(name) == name for name in JOB_SIGNALS)


@pytest.mark.parametrize("text", ["STOP", "SIGCONT", "FOO", "", "10", "SIG"])
def test_other_names_are_not_signals_a_job_is_sent(text: str) -> None:
    assert signal_name(text) is None


def test_an_unknown_name_is_refused_with_the_names_that_are_accepted() -> None:
    said = unknown_signal("FOO")
    assert said.startswith("unknown signal 'FOO': give ")
    assert all(name in said for name in JOB_SIGNALS)


def test_stop_and_cont_point_at_pause_and_resume() -> None:
    for text in ("STOP", "sigcont"):
        said = unknown_signal(text)
        assert "tether pause" in said and "tether resume" in said


def test_only_a_running_or_paused_job_can_be_signalled() -> None:
    assert nothing_to_signal(12, JobState.RUNNING) is None
    assert nothing_to_signal(12, JobState.PAUSED) is None
    assert nothing_to_signal(12, JobState.QUEUED) == "job 12 is queued: nothing to signal"
    assert (
        nothing_to_signal(12, JobState.SUCCEEDED)
        == "job 12 has ended (succeeded): nothing to signal"
    )


def test_a_signal_name_longer_than_any_signal_is_not_a_valid_request() -> None:
    with pytest.raises(pydantic.ValidationError):
        SignalJob(id=1, job_id=1, signal="X" * 100)


@pytest.mark.parametrize("pid", [0, -1, -4242, MAX_PID + 1])
def test_a_process_signal_names_one_process_never_a_group(pid: int) -> None:
    """``kill(0)`` would signal the runner's own group and ``kill(-N)`` group N:
    such a pid is no message at all."""
    with pytest.raises(pydantic.ValidationError):
        SignalProcess(id=1, pid=pid, signal="TERM")
    assert SignalProcess(id=1, pid=2, signal="TERM").pid == 2
