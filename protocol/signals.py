"""Signals a person sends a started job (``tether signal``, the app's ``K``), or
one process of it (``tether top``'s ``K`` on a process row).

The wire carries a signal's name, never its number: the numbers differ between
the person's machine and the host (SIGUSR1 is 10 on Linux, 30 on macOS), the
names do not. Only `JOB_SIGNALS` (`protocol.limits`) may be sent. STOP and CONT are not among them:
`PauseJob` sends those and records the job as paused, where a bare SIGSTOP would
leave a stopped job shown as running.
"""

from __future__ import annotations

from typing import Literal, Optional, Tuple

from pydantic import Field

from protocol.envelope import Reply, Request
from protocol.jobs import JobInfo, JobState
from protocol.limits import JOB_SIGNALS, MAX_PID, MAX_REQUEST_KEY_CHARS, MAX_SIGNAL_NAME_CHARS

#: The signals that stop or continue a job: `PauseJob`'s, refused here with a pointer.
PAUSE_SIGNALS: Tuple[str, ...] = ("STOP", "CONT", "TSTP")


class SignalJob(Request):
    """Send one signal (a name of `JOB_SIGNALS`) to a running or paused job's
    whole process group. A signal is not idempotent, so ``key`` makes it exactly
    once: asked again with the same key (after a lost answer) it answers as the
    first did and sends nothing more."""

    type: Literal["signal_job"] = "signal_job"
    job_id: int
    #: A name of `JOB_SIGNALS`; a string rather than a closed set, so that a name
    #: this runner does not send is refused in a sentence, not as a bad message.
    signal: str = Field(min_length=1, max_length=MAX_SIGNAL_NAME_CHARS)
    key: Optional[str] = Field(default=None, min_length=1, max_length=MAX_REQUEST_KEY_CHARS)


class SignalSent(Reply):
    """The signal reached the job's process group ``process_group`` (the job's
    first process leads it); ``job`` is the job just after."""

    type: Literal["signal_sent"] = "signal_sent"
    signal: str
    process_group: int
    job: JobInfo


class SignalProcess(Request):
    """Send one signal (a name of `JOB_SIGNALS`) to one process: a process of a
    running or paused job's tree, or one an ended job left holding GPU memory.
    The runner refuses any other pid (init, itself, a job's shim, a process of
    no job, a process of another user) with a sentence. ``key`` as `SignalJob`'s."""

    type: Literal["signal_process"] = "signal_process"
    #: A process id; 0 and below (process groups to ``kill``) are no message at all.
    pid: int = Field(ge=1, le=MAX_PID)
    signal: str = Field(min_length=1, max_length=MAX_SIGNAL_NAME_CHARS)
    key: Optional[str] = Field(default=None, min_length=1, max_length=MAX_REQUEST_KEY_CHARS)


class ProcessSignalled(Reply):
    """The signal reached process ``pid``, of job ``job_id``: a process of its
    tree while it runs, or (``leaked``) one it left on a GPU after it ended."""

    type: Literal["process_signalled"] = "process_signalled"
    pid: int
    signal: str
    job_id: int
    leaked: bool = False


def signal_name(text: str) -> Optional[str]:
    """The name in `JOB_SIGNALS` that `text` spells (``USR1``, ``SIGUSR1``,
    ``usr1``), or None."""
    name = text.strip().upper()
    if name.startswith("SIG"):
        name = name[3:]
    return name if name in JOB_SIGNALS else None


def accepted_signals() -> str:
    """The names a person may give, as a sentence's end: ``TERM, INT, … or QUIT``."""
    return f"{', '.join(JOB_SIGNALS[:-1])} or {JOB_SIGNALS[-1]}"


def unknown_signal(text: str) -> str:
    """Why `text` is not sent: a pause signal points at pause and resume, any
    other names the accepted ones."""
    shown = text.strip().upper()
    if shown.startswith("SIG"):
        shown = shown[3:]
    if shown in PAUSE_SIGNALS:
        return (
            f"SIG{shown} is not sent this way: tether pause stops a job and "
            "tether resume continues it, and both keep its state true"
        )
    return f"unknown signal {text.strip()!r}: give {accepted_signals()} (or SIGUSR1, usr1, 10)"


def nothing_to_signal(job_id: int, state: JobState) -> Optional[str]:
    """Why a job in `state` cannot be signalled, or None when it can (it runs,
    or is paused: a paused job hears all but KILL once resumed)."""
    if state in (JobState.RUNNING, JobState.PAUSED):
        return None
    if state is JobState.QUEUED:
        return f"job {job_id} is queued: nothing to signal"
    return f"job {job_id} has ended ({state.value}): nothing to signal"


def not_a_job_process(pid: int) -> str:
    """Why process `pid`, which belongs to no tether job, is not signalled: the
    runner's refusal, and the app's before it asks."""
    return (
        f"pid {pid} is not a process of a running tether job, nor one an ended job "
        "left on a GPU: tether signals only those"
    )
