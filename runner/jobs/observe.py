"""What is known of a job right now, read from its files and the process table.

The job table asks here and hands the answer to `runner.jobs.lifecycle`, which
decides; keeping the reads apart keeps the decision pure. The reads are a few
small files and one ``/proc`` stat, cheap enough for the event loop.
"""

from __future__ import annotations

import os
import time
from typing import Optional

from runner.jobs.files import JobFiles
from runner.jobs.lifecycle import JobFacts
from runner.jobs.proc import is_same_process
from runner.jobs.store import JobRecord


def record_shim(record: JobRecord, files: JobFiles) -> None:
    """Copy who runs the job (as the shim reported it) onto the record."""
    shim = files.read_shim()
    assert shim is not None
    record.shim_pid = shim.shim_pid
    record.shim_start = shim.shim_start
    record.job_pid = shim.job_pid
    record.started_at = shim.started_at
    record.boot_id = shim.boot_id


def shim_alive(record: JobRecord) -> bool:
    """Whether the very shim recorded for the job (pid and start time) still runs."""
    return (
        record.shim_pid is not None
        and record.shim_start is not None
        and is_same_process(record.shim_pid, record.shim_start)
    )


def signal_group(record: JobRecord, sig: int) -> bool:
    """Send `sig` to the job's whole process group (its leader is the job's first
    process) while the job's shim lives: the shim has not reaped the job then, so
    the id cannot belong to anything else. False when the job is gone. Never the
    runner's own group (nor 0 or 1, which would mean it, or every process)."""
    pgid = record.job_pid
    if pgid is None or pgid <= 1 or pgid == os.getpgrp() or not shim_alive(record):
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def observe(record: JobRecord, files: JobFiles, boot_id: str, launching: bool) -> JobFacts:
    """The facts of one job; a shim that reported itself is recorded on the way."""
    exit_record = files.read_exit()
    if record.shim_pid is None and files.read_shim() is not None:
        record_shim(record, files)
    now = time.time()
    claim_age: Optional[float] = None
    try:
        claim_age = now - files.claim_path.stat().st_mtime
    except FileNotFoundError:
        pass
    return JobFacts(
        state=record.state,
        now=now,
        exit=exit_record,
        shim_pid=record.shim_pid,
        shim_alive=shim_alive(record),
        shim_boot_id=record.boot_id,
        boot_id=boot_id,
        claim_age_s=claim_age,
        cancel_requested=record.cancel_requested,
        launching=launching,
    )
