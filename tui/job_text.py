"""How a job reads to a person, in the app and in the verbs alike: its command,
how it ended and how long it ran.

Below both the app and the CLI, so neither imports the other for it; the
numbers themselves follow `protocol.units`.
"""

from __future__ import annotations

import shlex
import time
from typing import Optional

from protocol.jobs import JobInfo, JobState
from protocol.units import duration, plural, size


def runtime(job: JobInfo, now: Optional[float] = None) -> str:
    """How long the job has run (``-`` before it starts), up to now or its end."""
    if job.started_at is None:
        return "-"
    end = job.finished_at if job.finished_at is not None else (now or time.time())
    return duration(end - job.started_at)


def command_line(job: JobInfo) -> str:
    """The command as the person typed it: a ``bash -lc`` line unwrapped."""
    if len(job.argv) == 3 and job.argv[:2] == ["bash", "-lc"]:
        return job.argv[2]
    return shlex.join(job.argv)


def exit_text(job: JobInfo) -> str:
    """The exit code, else the signal, else ``-`` (still running, or lost)."""
    if job.exit_code is not None:
        return str(job.exit_code)
    if job.signal:
        return job.signal
    return "-"


def snapshot_text(job: JobInfo) -> Optional[str]:
    """``snapshot 1a2b3c4d5e6f (2,104 files, 81.3 MiB)`` for a synced job."""
    snap = job.snapshot
    if snap is None:
        return None
    return f"snapshot {snap.id[:12]} ({plural(snap.files, 'file')}, {size(snap.bytes)})"


def queue_state(job: JobInfo, now: Optional[float] = None, start: bool = True) -> str:
    """The STATE cell: ``queued #2``, ``waiting for job 3``, ``queued #1 (priority 5)``,
    ``running 2/3`` (the second of three attempts, ``--retry 2``), ``queued 2/3
    (retry in 8s)``, ``paused (GPUs 0,1 held)`` (a paused job's GPUs, and their
    memory, are still its own), ``running (stalled)``, ``failed (GPU leak)``.
    `start`: with Slurm's expected start of a pending job (the app's narrow
    column leaves that to the describe view)."""
    state = _order_state(job)
    if job.attempts > 1:
        state += f" {job.attempt}/{job.attempts}"
    if job.state is JobState.QUEUED and job.retry_at is not None:
        wait = max(0.0, job.retry_at - (now or time.time()))
        state += f" (retry in {duration(wait)})"
    if job.state is JobState.PAUSED and job.gpus:
        state += f" (GPUs {','.join(map(str, job.gpus))} held)"
    if job.executor == "slurm" and job.state.is_active:
        if job.state is JobState.QUEUED and job.slurm_id is not None and job.reason:
            # Slurm's pending reason: "waiting for resources, starts in 12m"
            state += f" ({job.reason}{expected_start_text(job, now) if start else ''})"
        elif job.nodes and job.state is JobState.RUNNING:
            state += f" on {job.nodes}"
    if job.flags:  # the runner's watchdog: "running (stalled)", "running (idle GPUs)"
        state += f" ({', '.join(job.flags)})"
    if job.leaked_gpu_pids:
        state += " (GPU leak)"
    return state


def expected_start_text(job: JobInfo, now: Optional[float] = None) -> str:
    """``, starts in 12m`` while Slurm expects the pending job to start later."""
    if job.expected_start is None:
        return ""
    wait = job.expected_start - (now or time.time())
    return f", starts in {duration(wait)}" if wait >= 1 else ""


def _order_state(job: JobInfo) -> str:
    if job.waiting_for:
        ids = ",".join(map(str, job.waiting_for))
        state = f"waiting for job{'s' if len(job.waiting_for) > 1 else ''} {ids}"
    else:
        state = job.state.value
        if job.queue_position is not None:
            state += f" #{job.queue_position}"
    if job.priority and job.state is JobState.QUEUED:
        state += f" (priority {job.priority})"
    return state
