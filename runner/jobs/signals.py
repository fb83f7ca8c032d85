"""Signals a person sends a started job (`SignalJob`): checked, sent to the job's
whole process group, and remembered by the request's key.

A signal is not a state change the job table records: the job's own answer (it
checkpoints on USR1, dies of KILL) is what the table sees next, through the
shim's exit record as for any end. So the checks read the job's record and the
signal goes out at once; a key seen before answers as it did, and sends nothing
more (the client asks again with the same key after a lost answer).
"""

from __future__ import annotations

import signal
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo
from protocol.signals import nothing_to_signal, signal_name, unknown_signal
from runner.errors import RunnerError
from runner.jobs.observe import signal_group
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


def signal_number(name: str) -> signal.Signals:
    """The host's signal that `name` spells (one of `JOB_SIGNALS`: ``USR1``,
    ``SIGUSR1``, ``usr1``); BAD_REQUEST for any other."""
    known = signal_name(name)
    if known is None:
        raise RunnerError(unknown_signal(name), ErrorCode.BAD_REQUEST)
    return signal.Signals[f"SIG{known}"]


class JobSignals:
    """Sends the signals of `SignalJob` to the jobs of `jobs`."""

    def __init__(self, jobs: JobManager, remembered: int = REMEMBERED_KEYS) -> None:
        self._jobs = jobs
        self._remembered = remembered
        self._answers: OrderedDict[str, Sent] = OrderedDict()

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
        if key is not None:
            self._answers[key] = sent
            while len(self._answers) > self._remembered:
                self._answers.popitem(last=False)
        return sent


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
