"""A Slurm job's state, decided from what Slurm says and what its shim wrote.

On a cluster the shim runs inside the job's allocation (``sbatch`` starts it),
writing the log and the exit status into the job's directory on the shared
filesystem exactly as on a plain host. So the exit status, when there is one,
is the truth about the command; Slurm adds what the shim cannot know: why the
job still waits (its pending reason), where it runs (its nodes), and why it
was killed (time limit, memory, node failure, preemption), which outranks the
SIGTERM the shim saw. A job neither ``squeue`` nor ``sacct`` knows any more,
with no exit status, is lost.

Slurm is asked before the files are read: a job Slurm says has ended had its
shim write the exit status before it ended, so the status is seen.

Pure, like `runner.jobs.lifecycle`: Slurm's answer, the exit status and the
time go in, a `SlurmLook` comes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from protocol.jobs import JobState
from runner.jobs.files import ExitRecord
from runner.jobs.lifecycle import Transition, ended_by_exit
from runner.slurm.states import SlurmJob, outcome

#: Slurm's end states that say why the job was killed, whatever the shim saw.
KILLED_BY_SLURM = frozenset(
    {"TIMEOUT", "OUT_OF_MEMORY", "DEADLINE", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "REVOKED"}
)

REASON_CANCELLED_PENDING = "cancelled while pending in Slurm"
#: An expected start this far away is no estimate: Slurm puts a job queued
#: behind one without a time limit a year out.
NO_ESTIMATE_S = 300 * 86400.0


@dataclass(frozen=True)
class SlurmLook:
    """What a look at a Slurm job found: a transition (None: same state), and
    what to show beside the state meanwhile (the pending reason, the nodes, and
    when Slurm expects a pending job to start, where it says)."""

    transition: Optional[Transition]
    reason: Optional[str]
    nodes: Optional[str]
    expected_start: Optional[float] = None


def decide_slurm(
    state: JobState,
    slurm: Optional[SlurmJob],
    exit: Optional[ExitRecord],
    cancel_requested: bool,
    now: float,
    started: bool = False,
) -> SlurmLook:
    """The job's next state, from Slurm's `slurm` (None: Slurm knows it no more),
    the shim's `exit` status, and whether the shim has `started` the command in
    the allocation (it says so before Slurm's next answer can)."""
    said = outcome(slurm)
    nodes = slurm.nodes if slurm is not None else None
    killed = slurm is not None and (slurm.state in KILLED_BY_SLURM or slurm.out_of_memory)
    if exit is not None:
        ended = ended_by_exit(exit, cancel_requested)
        if killed and said.state in ("failed", "lost"):
            ended = Transition(
                JobState(said.state), exit.finished_at, exit.exit_code, exit.signal, said.reason
            )
        return SlurmLook(ended, None, nodes)
    if said.state == "queued" and not started:
        start = float(slurm.start) if slurm is not None and slurm.start else None
        if start is not None and start - now > NO_ESTIMATE_S:
            start = None  # behind a job with no time limit: Slurm says "in a year"
        return SlurmLook(None, said.reason, nodes, start)
    if said.state in ("queued", "running"):
        moved = (
            None if state in (JobState.RUNNING, JobState.PAUSED) else Transition(JobState.RUNNING)
        )
        return SlurmLook(moved, None, nodes)
    # Ended in Slurm without an exit status: it never started, or its shim was
    # killed before it could write one. Slurm's word is all there is.
    if said.state == "cancelled" or cancel_requested:
        reason = REASON_CANCELLED_PENDING if state is JobState.QUEUED else "cancelled in Slurm"
        return SlurmLook(Transition(JobState.CANCELLED, now, reason=reason), None, nodes)
    ended_state = JobState(said.state)
    return SlurmLook(
        Transition(ended_state, now, said.exit_status, reason=said.reason), None, nodes
    )
