"""Signals a person sends a started job (`SignalJob`): checked, sent to the job's
whole process group, and remembered by the request's key. And one process of a
job (`SignalProcess`, ``tether top``'s process rows): sent only to a process the
stats sampler places in a running job's tree, or finds left on a GPU by an
ended job, and only when it runs as this runner's user.

A signal is not a state change the job table records: the job's own answer (it
checkpoints on USR1, dies of KILL) is what the table sees next, through the
shim's exit record as for any end. So the checks read the job's record and the
signal goes out at once; a key seen before answers as it did, and sends nothing
more (the client asks again with the same key after a lost answer).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import OrderedDict
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional, Tuple, TypeVar

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo, JobState
from protocol.signals import not_a_job_process, nothing_to_signal, signal_name, unknown_signal
from runner.errors import RunnerError
from runner.jobs.observe import signal_group
from runner.jobs.proc import is_same_process, pidfd_open
from runner.jobs.store import JobRecord
from runner.jobs.table import JobManager

#: How many signals' answers are kept for a client that asks again with the same key:
#: it asks within seconds of losing the answer, so the last few hundred are plenty.
REMEMBERED_KEYS = 256


@dataclass(frozen=True)
class Sent:
    """A signal that reached a job: its name (``USR1``), the process group it
    went to, and the job just after."""

    name: str
    process_group: int
    job: JobInfo


@dataclass(frozen=True)
class ProcessSent:
    """A signal that reached one process: its pid, the signal's name, its job, and
    whether the job had ended (the process is one it left on a GPU)."""

    pid: int
    name: str
    job_id: int
    leaked: bool


@dataclass(frozen=True)
class ProcessOwner:
    """What the stats sampler knows of a live process: the job it belongs to
    (None: none), whether that job has ended and left it on a GPU, its start
    time (its identity against pid reuse) and its real and effective uid."""

    job_id: Optional[int]
    leaked: bool
    start_ticks: int
    uids: Tuple[int, int]


#: The sampler's look-up of a pid (`runner.stats.sampler.Sampler.process_owner`):
#: None when there is no such process.
OwnerLookup = Callable[[int], Awaitable[Optional[ProcessOwner]]]

_Answer = TypeVar("_Answer")


def signal_number(name: str) -> signal.Signals:
    """The host's signal that `name` spells (one of `JOB_SIGNALS`: ``USR1``,
    ``SIGUSR1``, ``usr1``); BAD_REQUEST for any other."""
    known = signal_name(name)
    if known is None:
        raise RunnerError(unknown_signal(name), ErrorCode.BAD_REQUEST)
    return signal.Signals[f"SIG{known}"]


#: How long a signal for a process waits for jobs that have just started to say
#: which process is theirs (the runner reads it from the shim within a second).
STARTING_WAIT_S = 2.0


class JobSignals:
    """Sends the signals of `SignalJob` to the jobs of `jobs`, and those of
    `SignalProcess` to the processes `owner_of` places in them."""

    def __init__(
        self,
        jobs: JobManager,
        owner_of: Optional[OwnerLookup] = None,
        remembered: int = REMEMBERED_KEYS,
    ) -> None:
        self._jobs = jobs
        self._owner_of = owner_of
        self._remembered = remembered
        self._answers: OrderedDict[str, Sent] = OrderedDict()
        self._process_answers: OrderedDict[str, ProcessSent] = OrderedDict()

    async def send(self, job_id: int, name: str, key: Optional[str] = None) -> Sent:
        """Send signal `name` to job `job_id`, once per `key`. Refused with a
        sentence when the job is not there (NO_SUCH_JOB), not started or ended
        (JOB_NOT_ACTIVE), in Slurm, or the name is not one tether sends."""
        if key is not None and key in self._answers:
            return self._answers[key]
        sig = signal_number(name)
        short = sig.name[3:]  # USR1: the name the wire and the sentences use
        record = await self._jobs.record(job_id)
        pgid = _process_group(record, short)
        if not signal_group(record, sig):
            raise RunnerError(
                f"job {job_id} has just ended: nothing to signal", ErrorCode.JOB_NOT_ACTIVE
            )
        sent = Sent(short, pgid, await self._jobs.get(job_id))
        return self._remember(self._answers, key, sent)

    async def send_to_process(self, pid: int, name: str, key: Optional[str] = None) -> ProcessSent:
        """Send signal `name` to process `pid`, once per `key`. Refused with a
        sentence (FORBIDDEN) for init, this runner, a job's shim, a process of no
        tether job and one of another user; BAD_REQUEST for a name tether does not
        send; JOB_NOT_ACTIVE when the process is gone."""
        if key is not None and key in self._process_answers:
            return self._process_answers[key]
        sig = signal_number(name)
        self._refuse_ours(pid)
        owner = await self._owner(pid)
        if owner.job_id is None and await self._started_since():
            owner = await self._owner(pid)  # it may be a job's that had just started
        if owner.job_id is None:
            raise RunnerError(not_a_job_process(pid), ErrorCode.FORBIDDEN)
        mine = os.getuid()
        other = next((uid for uid in owner.uids if uid != mine), None)
        if other is not None:
            raise RunnerError(
                f"pid {pid} runs as uid {other}, not as this runner's user (uid {mine}): "
                "tether signals only its own user's processes",
                ErrorCode.FORBIDDEN,
            )
        if not _signal_process(pid, owner.start_ticks, sig):
            raise RunnerError(
                f"process {pid} has just ended: nothing to signal", ErrorCode.JOB_NOT_ACTIVE
            )
        sent = ProcessSent(pid, sig.name[3:], owner.job_id, owner.leaked)
        return self._remember(self._process_answers, key, sent)

    def _refuse_ours(self, pid: int) -> None:
        """Init, this runner and the jobs' shims: never signalled this way."""
        if pid == 1:
            raise RunnerError(
                "pid 1 is the host's init: tether never signals it", ErrorCode.FORBIDDEN
            )
        if pid == os.getpid():
            raise RunnerError(
                f"pid {pid} is this tether runner: tether-runner stop stops it "
                "(its jobs keep running)",
                ErrorCode.FORBIDDEN,
            )
        for record in self._jobs.active_records():
            if record.shim_pid == pid:
                raise RunnerError(
                    f"pid {pid} is the shim of job {record.id}, which keeps its exit status: "
                    f"tether cancel {record.id} stops the job, tether signal {record.id} "
                    "signals its processes",
                    ErrorCode.FORBIDDEN,
                )

    async def _started_since(self) -> bool:
        """Wait (up to `STARTING_WAIT_S`) for the jobs whose first process the
        runner has not been told of yet, as a job's is for a moment after it
        starts; whether there were any."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTING_WAIT_S
        starting = False
        while any(
            r.job_pid is None and not r.on_slurm
            for r in self._jobs.active_records()
            if r.state is JobState.RUNNING
        ):
            starting = True
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        return starting

    async def _owner(self, pid: int) -> ProcessOwner:
        owner = None if self._owner_of is None else await self._owner_of(pid)
        if owner is None:
            raise RunnerError(
                f"no process {pid} on this host (it may have just ended)",
                ErrorCode.JOB_NOT_ACTIVE,
            )
        return owner

    def _remember(
        self, answers: OrderedDict[str, _Answer], key: Optional[str], answer: _Answer
    ) -> _Answer:
        if key is not None:
            answers[key] = answer
            while len(answers) > self._remembered:
                answers.popitem(last=False)
        return answer


def _signal_process(pid: int, start_ticks: int, sig: signal.Signals) -> bool:
    """Send `sig` to `pid` while it is still the process that was looked at (its
    start time): through a pidfd where the kernel has them, so a pid that is reused
    in between is never signalled. False when it has gone."""
    fd = pidfd_open(pid)
    try:
        if not is_same_process(pid, start_ticks):
            return False
        send_by_fd = getattr(signal, "pidfd_send_signal", None)
        if fd is not None and send_by_fd is not None:
            send_by_fd(fd, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        raise RunnerError(
            f"process {pid} may not be signalled by this runner's user", ErrorCode.FORBIDDEN
        ) from None
    finally:
        if fd is not None:
            os.close(fd)
    return True


def _process_group(record: JobRecord, name: str) -> int:
    """The process group a signal for the job goes to, or the sentence that says
    why it cannot go."""
    refused = nothing_to_signal(record.id, record.state)
    if refused is not None:
        raise RunnerError(refused, ErrorCode.JOB_NOT_ACTIVE)
    if record.on_slurm:
        # There the batch script is tether's shim: a signal from ``scancel --signal``
        # reaches it as well as the job, and most of them end it, the job with it.
        where = f" (Slurm job {record.slurm_id})" if record.slurm_id is not None else ""
        raise RunnerError(
            f"job {record.id} runs in Slurm{where}, where tether sends no signal: "
            f"scancel --signal={name} would reach tether's shim too and end the job; "
            f"tether cancel {record.id} stops it",
            ErrorCode.JOB_NOT_ACTIVE,
        )
    if record.job_pid is None:
        raise RunnerError(
            f"job {record.id} is still starting: nothing to signal yet", ErrorCode.JOB_NOT_ACTIVE
        )
    return record.job_pid
