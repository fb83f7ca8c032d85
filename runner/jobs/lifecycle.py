"""The job lifecycle: what state a job is in, decided from what is known of it.

This is the one place that decides a job's state. The job table gathers the
facts (the record, the shim's exit status on disk, whether the shim still runs,
the boot the shim started under, the time) and applies the `Transition` this
module returns; nothing here touches a file, a process or the clock, so every
rule is a plain unit test.

The states and how a job moves between them::

    queued ──launched──▶ running ──exit status──▶ succeeded | failed | cancelled
       │  └─launch failed──▶ failed    │  ▲   └─shim gone, no status──▶ lost
       ├─cancelled before launch──▶ cancelled
       └─a job it runs --after failed──▶ cancelled ("job 12 failed")
                                    pause│  │resume
                                         ▼  │
                                        paused ──exit status / shim gone──▶ (as running)

A running job that failed (or was lost) with attempts left (``--retry N``)
goes back to queued as its next attempt instead of ending (`should_retry`),
after the backoff `retry_delay` says.

A queued job with ``--after`` may start only once `readiness` says so; the GPU
queue (or, without GPUs, an immediate launch) takes it from there.

A job that has ended never changes again. A shim that vanished without writing
an exit status means the job's outcome is unknowable: it is ``lost``, with the
reason (the host rebooted, or the shim died), and never left ``running``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

from protocol.jobs import JobState
from runner.jobs.files import ExitRecord

#: A claimed job whose shim has not reported in this long never started.
STARTUP_DEADLINE_S = 60.0

REASON_REBOOTED = "the host rebooted while it ran"
REASON_NEVER_REPORTED = "its supervisor never reported that it started"
REASON_CANCELLED_QUEUED = "cancelled while queued"


def reason_shim_died(shim_pid: int) -> str:
    return f"its supervisor (pid {shim_pid}) died without an exit status"


def reason_could_not_start(detail: str) -> str:
    return f"could not start: {detail}"


def reason_after(job_id: int, state: Optional[JobState]) -> str:
    """Why a job's ``--after`` can never be met: said of the job it waited for."""
    if state is None:
        return f"job {job_id} no longer exists"
    if state is JobState.FAILED:
        return f"job {job_id} failed"
    return f"job {job_id} was {state.value}"


@dataclass(frozen=True)
class Readiness:
    """What a queued job's ``--after`` says now: it may start (`ready`), waits
    for `waiting_for`, or never can (`failed`, the reason)."""

    ready: bool
    waiting_for: Tuple[int, ...] = ()
    failed: Optional[str] = None


def readiness(
    after: Sequence[int], states: Mapping[int, JobState], after_any: bool = False
) -> Readiness:
    """Whether a job that runs after `after` (their `states` now) may start.

    Plain ``--after`` needs every one to succeed, so the first that fails, is
    cancelled or is lost dooms the job at once, even while others still run.
    ``--after-any`` only needs them to have ended. A job missing from `states`
    (its record is gone) counts as failed: nothing can make it succeed.
    """
    waiting = []
    for job_id in after:
        state = states.get(job_id)
        if state is not None and state.is_active:
            waiting.append(job_id)
        elif not after_any and state is not JobState.SUCCEEDED:
            return Readiness(False, failed=reason_after(job_id, state))
    return Readiness(not waiting, tuple(waiting))


class Event(enum.Enum):
    """What made the runner look at the job."""

    #: The runner looked at the job's files and shim: its shim exited, the
    #: periodic sweep, or a re-adoption after a runner (re)start.
    LOOKED = "looked"
    #: The launcher (``python -m runner.jobs.shim``) returned.
    LAUNCHED = "launched"
    #: A person asked to cancel the job.
    CANCEL = "cancel"
    #: A job it runs ``--after`` ended so that it can never start
    #: (`JobFacts.after_failed` says how).
    AFTER_FAILED = "after_failed"
    #: A person asked to stop (SIGSTOP) or continue (SIGCONT) the job's group.
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True)
class JobFacts:
    """Everything the lifecycle needs to know of one job at one instant."""

    state: JobState
    now: float
    #: The exit status the shim wrote, if it has.
    exit: Optional[ExitRecord] = None
    #: The pid of the shim known to run the job (recorded, or reported on disk).
    shim_pid: Optional[int] = None
    #: Whether that very process (pid and start time) still runs.
    shim_alive: bool = False
    #: The boot the shim started under, and the boot now ("" when unknown).
    shim_boot_id: Optional[str] = None
    boot_id: str = ""
    #: Seconds since a shim claimed the job; None when none has.
    claim_age_s: Optional[float] = None
    cancel_requested: bool = False
    #: A launch of the job is under way (its shim may appear any moment).
    launching: bool = False
    #: For `Event.LAUNCHED`: why the launcher failed, None when it succeeded.
    launch_error: Optional[str] = None
    #: For `Event.AFTER_FAILED`: why its ``--after`` can never be met.
    after_failed: Optional[str] = None


@dataclass(frozen=True)
class Transition:
    """The state a job moves to, and for an ended job how and when it ended."""

    state: JobState
    finished_at: Optional[float] = None
    exit_code: Optional[int] = None
    signal: Optional[str] = None
    reason: Optional[str] = None
    #: The job's shim is gone without having seen it end: processes of the job
    #: may be left, with nobody to record or stop them, and must be ended.
    unsupervised: bool = False

    @property
    def ended(self) -> bool:
        return not self.state.is_active


def decide(event: Event, facts: JobFacts) -> Optional[Transition]:
    """The job's next state after `event`, or None when it stays as it is.

    For `Event.CANCEL`, None means the job cannot be cancelled on the spot: its
    shim must be told (and the outcome arrives later as its exit status).
    """
    if not facts.state.is_active:
        return None
    if event is Event.CANCEL:
        return _cancel(facts)
    if event is Event.LAUNCHED:
        return _launched(facts)
    if event is Event.AFTER_FAILED:
        return _after_failed(facts)
    if event is Event.PAUSE:
        return _pause(facts)
    if event is Event.RESUME:
        return _resume(facts)
    return _looked(facts)


def _pause(facts: JobFacts) -> Optional[Transition]:
    """Only a job whose shim runs it can be stopped; asked again, a paused job
    stays paused (the table stops its group once more, which changes nothing)."""
    if facts.state in (JobState.RUNNING, JobState.PAUSED) and facts.shim_alive:
        return Transition(JobState.PAUSED)
    return None


def _resume(facts: JobFacts) -> Optional[Transition]:
    """Only a paused job resumes: resuming a running one is refused, since the
    person meant some other job."""
    if facts.state is JobState.PAUSED and facts.shim_alive:
        return Transition(JobState.RUNNING)
    return None


def refusal(event: Event, job_id: int, state: JobState) -> str:
    """Why `decide` left the job alone for a pause or resume: the sentence a
    person reads, saying what can be paused or resumed."""
    verb = "paused" if event is Event.PAUSE else "resumed"
    can = "a running job" if event is Event.PAUSE else "a paused job"
    if not state.is_active:
        return f"job {job_id} has ended ({state.value}): only {can} can be {verb}"
    if state is JobState.QUEUED:
        return f"job {job_id} is queued, not started: only {can} can be {verb}"
    if event is Event.RESUME and state is JobState.RUNNING:
        return f"job {job_id} is running, not paused: only {can} can be {verb}"
    return f"job {job_id} is {state.value} but its supervisor is gone: it cannot be {verb}"


#: The waits before a failed attempt runs again: the first retry, the second,
#: and every later one.
RETRY_BACKOFF_S = (10.0, 30.0, 90.0)


def should_retry(
    outcome: Transition, retry_on: str, attempt: int, retries: int, cancel_requested: bool
) -> bool:
    """Whether an attempt that ended as `outcome` runs again rather than ending
    the job: it failed (``exit``: a non-zero code or a signal) or was lost, as
    `retry_on` (``exit``, ``lost`` or ``any``) allows, attempts are left
    (attempt `attempt` of ``retries + 1``), and nobody asked to cancel it."""
    if cancel_requested or attempt > retries:
        return False
    if outcome.state is JobState.FAILED:
        return retry_on in ("exit", "any")
    if outcome.state is JobState.LOST:
        return retry_on in ("lost", "any")
    return False


def retry_delay(attempt: int, backoff: Sequence[float] = RETRY_BACKOFF_S) -> float:
    """How long after attempt `attempt` failed the next one starts: the
    `backoff` entry for it, the last one for every attempt beyond."""
    if not backoff:
        return 0.0
    return backoff[min(attempt, len(backoff)) - 1]


def retry_reason(attempt: int, outcome: Transition, delay_s: float) -> str:
    """What a job waiting to run again says: how its last attempt ended."""
    if outcome.state is JobState.LOST:
        how = f"was lost ({outcome.reason})"
    elif outcome.exit_code is not None:
        how = f"failed (exit {outcome.exit_code})"
    else:
        how = f"failed ({outcome.signal or 'no exit status'})"
    return f"attempt {attempt} {how}; attempt {attempt + 1} starts after {delay_s:g} s"


def _not_started(facts: JobFacts) -> bool:
    return facts.state is JobState.QUEUED and facts.shim_pid is None and not facts.launching


def _cancel(facts: JobFacts) -> Optional[Transition]:
    if _not_started(facts):
        return Transition(JobState.CANCELLED, facts.now, reason=REASON_CANCELLED_QUEUED)
    return None


def _after_failed(facts: JobFacts) -> Optional[Transition]:
    """A job that never started ends `cancelled`, saying which job it waited for
    failed; one already starting (it cannot be: it waited) is left alone."""
    if _not_started(facts) and facts.after_failed is not None:
        return Transition(JobState.CANCELLED, facts.now, reason=facts.after_failed)
    return None


def _launched(facts: JobFacts) -> Transition:
    if facts.launch_error is not None or facts.shim_pid is None:
        detail = facts.launch_error or "its supervisor did not report that it started"
        return Transition(
            JobState.FAILED, facts.now, reason=reason_could_not_start(detail), unsupervised=True
        )
    return Transition(JobState.RUNNING)


def _looked(facts: JobFacts) -> Optional[Transition]:
    if facts.exit is not None:
        return ended_by_exit(facts.exit, facts.cancel_requested)
    if facts.shim_pid is None:
        if facts.claim_age_s is not None and facts.claim_age_s > STARTUP_DEADLINE_S:
            return _lost(facts, REASON_NEVER_REPORTED)
        return None  # not started yet, or starting
    if facts.shim_alive:
        started = facts.state in (JobState.RUNNING, JobState.PAUSED)
        return None if started else Transition(JobState.RUNNING)
    if facts.shim_boot_id and facts.shim_boot_id != facts.boot_id:
        return _lost(facts, REASON_REBOOTED)
    return _lost(facts, reason_shim_died(facts.shim_pid))


def ended_by_exit(exit: ExitRecord, cancel_requested: bool) -> Transition:
    """The shim's exit status decides: a requested cancel wins over the code,
    since a job that catches SIGTERM and exits 0 was still cancelled."""
    if exit.cancelled or cancel_requested:
        state = JobState.CANCELLED
    elif exit.exit_code == 0:
        state = JobState.SUCCEEDED
    else:
        state = JobState.FAILED  # a non-zero code, or killed by a signal (no code)
    return Transition(state, exit.finished_at, exit.exit_code, exit.signal)


def _lost(facts: JobFacts, reason: str) -> Transition:
    return Transition(JobState.LOST, facts.now, reason=reason, unsupervised=True)
