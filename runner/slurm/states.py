"""What Slurm says about a job, read from ``squeue`` and ``sacct``, and what it means for
tether (sans-IO: text in, frozen values out).

Both commands are asked for explicit fields with ``|`` between them and, through
``SLURM_TIME_FORMAT=%s`` in their environment (`TIME_FORMAT_ENV`), times as epoch
seconds. ``squeue`` knows pending reasons and live jobs; ``sacct`` knows finished ones
and their exit codes, step by step: a job's exit code or an out-of-memory kill may show
only on its ``batch`` step, so steps are folded into their job.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from typing import Dict, Literal, Optional

#: ``squeue --noheader --format=...``: id, state, reason, start (expected while
#: pending), node list, partition.
SQUEUE_FORMAT = "%i|%T|%r|%S|%N|%P"
#: ``sacct --noheader --parsable2 --format=...``: the same, plus the exit code.
SACCT_FORMAT = "JobIDRaw,State,ExitCode,Reason,NodeList,Start,Partition"
#: The environment that makes Slurm's commands print times as epoch seconds.
TIME_FORMAT_ENV = {"SLURM_TIME_FORMAT": "%s"}

#: Slurm states a job is waiting in, and those it is alive in (sacct and squeue words).
PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD"})
LIVE_STATES = frozenset(
    {
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SIGNALING",
        "STAGE_OUT",
        "RESIZING",
        "SUSPENDED",
        "STOPPED",
    }
)
#: Slurm states a job can still be cancelled in.
ACTIVE_STATES = PENDING_STATES | LIVE_STATES

#: tether's job states (`protocol.jobs.JobState` values) a Slurm job can map to.
TetherState = Literal["queued", "running", "succeeded", "failed", "cancelled", "lost"]

#: Slurm's end states that are neither success nor cancellation, as tether says them.
_END_STATES: Dict[str, tuple[TetherState, str]] = {
    "TIMEOUT": ("failed", "failed: time limit"),
    "OUT_OF_MEMORY": ("failed", "failed: out of memory"),
    "DEADLINE": ("failed", "failed: deadline passed"),
    "NODE_FAIL": ("lost", "lost: node failure"),
    "PREEMPTED": ("lost", "lost: preempted"),
    "BOOT_FAIL": ("lost", "lost: node failed to boot"),
    "REVOKED": ("lost", "lost: revoked by a sibling cluster"),
}

#: Slurm's pending reasons that read better as a sentence; the rest are shown in
#: Slurm's own words ("waiting: QOSMaxJobsPerUserLimit").
_PENDING_REASONS = {
    "None": "waiting to be scheduled",
    "Resources": "waiting for resources",
    "Priority": "waiting: priority",
    "Dependency": "waiting for a dependency",
    "DependencyNeverSatisfied": "waiting: dependency never satisfied",
    "BeginTime": "waiting for its start time",
    "JobHeldUser": "held by its owner",
    "JobHeldAdmin": "held by an administrator",
    "PartitionDown": "waiting: partition down",
    "Reservation": "waiting for a reservation",
}


class SlurmOutputError(ValueError):
    """A line from ``squeue``, ``sacct`` or ``scontrol`` that is not in the asked format."""


@dataclass(frozen=True)
class ExitCode:
    """Slurm's ``N:SIG``: the exit status, and the signal that ended it (0 if none)."""

    status: int
    signal: int

    @classmethod
    def parse(cls, text: str) -> ExitCode:
        status, sep, sig = text.partition(":")
        if not sep or not status.isdigit() or not sig.isdigit():
            raise SlurmOutputError(f"not a Slurm exit code (N:SIG): {text!r}")
        return cls(int(status), int(sig))

    @property
    def ok(self) -> bool:
        return self.status == 0 and self.signal == 0

    def describe(self) -> str:
        """``exit 3`` or ``killed by SIGKILL``."""
        if self.signal:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exit {self.status}"


@dataclass(frozen=True)
class SlurmJob:
    """One Slurm job as ``squeue``, ``sacct`` or ``scontrol`` reported it."""

    slurm_id: int
    #: Slurm's own word: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT...
    state: str
    #: Why it waits (Slurm's word: Priority, Resources...), None when Slurm says None.
    reason: Optional[str]
    #: Epoch seconds: when Slurm expects it to start while pending, when it started
    #: once running; None when Slurm does not know.
    start: Optional[int]
    #: Slurm's node list (``gpu[01-04]``), None before nodes are given.
    nodes: Optional[str]
    partition: Optional[str]
    #: None where the source does not tell (``squeue``).
    exit_code: Optional[ExitCode] = None
    #: A step of the job (its batch script, an ``srun``) was killed for its memory.
    out_of_memory: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a Slurm job means for tether: a job state and the sentence to show with it."""

    state: TetherState
    reason: str
    #: The exit status of a job that ran to its end (None otherwise).
    exit_status: Optional[int] = None


def _optional(text: str) -> Optional[str]:
    return None if text in ("", "None", "None assigned", "(null)", "N/A") else text


def _epoch(text: str) -> Optional[int]:
    """An epoch time; None for Slurm's words for no time (N/A, Unknown, None)."""
    if text.isdigit():
        return int(text)
    if text in ("", "N/A", "Unknown", "None"):
        return None
    raise SlurmOutputError(f"not an epoch time (is SLURM_TIME_FORMAT=%s set?): {text!r}")


def _state_word(text: str) -> str:
    """``CANCELLED by 1000`` is CANCELLED; a state Slurm abbreviates with ``+`` (sacct's
    ``CANCELLED+`` when the column is narrow) loses the ``+``."""
    return text.split(" ", 1)[0].rstrip("+")


def _fields(line: str, count: int, source: str) -> list[str]:
    fields = line.split("|")
    if len(fields) != count:
        raise SlurmOutputError(f"{source} line has {len(fields)} fields, not {count}: {line!r}")
    return fields


def _job(
    job_id: str,
    state: str,
    reason: str,
    start: str,
    nodes: str,
    partition: str,
    exit_code: Optional[ExitCode] = None,
) -> SlurmJob:
    """A job from the fields ``squeue`` and ``sacct`` both print, as they print them."""
    return SlurmJob(
        slurm_id=int(job_id),
        state=_state_word(state),
        reason=_optional(reason),
        start=_epoch(start),
        nodes=_optional(nodes),
        partition=_optional(partition),
        exit_code=exit_code,
    )


def parse_squeue(text: str) -> Dict[int, SlurmJob]:
    """Jobs from ``squeue --noheader --format=SQUEUE_FORMAT``, by Slurm job id. Array
    and heterogeneous job ids (``12_3``, ``12+1``) are not tether's and are skipped."""
    jobs: Dict[int, SlurmJob] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        job_id, state, reason, start, nodes, partition = _fields(line, 6, "squeue")
        if not job_id.isdigit():
            continue
        jobs[int(job_id)] = _job(job_id, state, reason, start, nodes, partition)
    return jobs


def parse_sacct(text: str) -> Dict[int, SlurmJob]:
    """Jobs from ``sacct --noheader --parsable2 --format=SACCT_FORMAT``, by Slurm job id,
    each with what its steps add: the batch step's exit code when the job's own is 0:0,
    and whether any step ran out of memory."""
    jobs: Dict[int, SlurmJob] = {}
    steps: list[tuple[int, str, str, ExitCode]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        raw_id, state, exit_code, reason, nodes, start, partition = _fields(line, 7, "sacct")
        job_id, _, step = raw_id.partition(".")
        if not job_id.isdigit():
            continue
        if step:
            steps.append((int(job_id), step, _state_word(state), ExitCode.parse(exit_code)))
            continue
        jobs[int(job_id)] = _job(
            job_id, state, reason, start, nodes, partition, ExitCode.parse(exit_code)
        )
    for owner, step, state, code in steps:
        job = jobs.get(owner)
        if job is None:
            continue
        if state == "OUT_OF_MEMORY":
            job = replace(job, out_of_memory=True)
        if step == "batch" and job.exit_code is not None and job.exit_code.ok:
            job = replace(job, exit_code=code)
        jobs[owner] = job
    return jobs


def parse_scontrol_job(text: str) -> Optional[SlurmJob]:
    """The job in ``scontrol show job --oneliner ID`` (``Key=Value`` words), the one place
    besides ``sacct`` that tells a finished job's exit code: where accounting is off."""
    values: Dict[str, str] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key not in values:
            values[key] = value
    job_id = values.get("JobId", "")
    if not job_id.isdigit() or "JobState" not in values:
        return None
    exit_code = values.get("ExitCode")
    return SlurmJob(
        slurm_id=int(job_id),
        state=_state_word(values["JobState"]),
        reason=_optional(values.get("Reason", "")),
        start=_epoch(values.get("StartTime", "")),
        nodes=_optional(values.get("NodeList", "")),
        partition=_optional(values.get("Partition", "")),
        exit_code=ExitCode.parse(exit_code) if exit_code else None,
    )


def pending_sentence(reason: Optional[str]) -> str:
    """Slurm's pending reason as a person reads it."""
    if reason is None:
        return _PENDING_REASONS["None"]
    word = reason.split(",", 1)[0]
    return _PENDING_REASONS.get(word, f"waiting: {reason}")


def outcome(job: Optional[SlurmJob]) -> Outcome:
    """What `job` means for tether; None is a job neither ``squeue`` nor ``sacct``
    knows any more: lost."""
    if job is None:
        return Outcome("lost", "lost: vanished from Slurm (unknown to squeue and sacct)")
    if job.state in PENDING_STATES:
        return Outcome("queued", pending_sentence(job.reason))
    if job.state in LIVE_STATES:
        return Outcome("running", _running_sentence(job))
    if job.state == "CANCELLED":
        return Outcome("cancelled", "cancelled")
    if job.state in _END_STATES:
        state, sentence = _END_STATES[job.state]
        return Outcome(state, sentence)
    if job.state in ("COMPLETED", "FAILED", "SPECIAL_EXIT"):
        return _ended(job)
    return Outcome("lost", f"lost: Slurm reports an unknown state {job.state}")


def _running_sentence(job: SlurmJob) -> str:
    where = f" on {job.nodes}" if job.nodes else ""
    if job.state == "SUSPENDED":
        return f"suspended by Slurm{where} (Slurm job {job.slurm_id})"
    return f"running{where} (Slurm job {job.slurm_id})"


def _ended(job: SlurmJob) -> Outcome:
    code = job.exit_code
    if job.out_of_memory and not (code is not None and code.ok):
        return Outcome("failed", "failed: out of memory", None)
    if code is None:
        # squeue saw it end and nothing says how (accounting off, scontrol not asked).
        return Outcome("succeeded" if job.state == "COMPLETED" else "failed", job.state.lower())
    if code.ok and job.state == "COMPLETED":
        return Outcome("succeeded", "exit 0", 0)
    status = None if code.signal else code.status
    return Outcome("failed", f"failed: {code.describe()}", status)
