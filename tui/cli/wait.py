"""``tether wait JOB... [--any]``: block until jobs end, for scripts.

It reads the job table's own stream (`HostSession.watch_jobs`), which the
session reopens after a dropped link with the whole table, so a job that ended
while the link was down is seen on the first table after it; nothing polls.
The exit status is what a script wants to branch on: that of the first job to
fail (as a shell would report it: the code, or 128 + its signal), 0 when all
succeeded; with ``--any``, that of the first job to end.
"""

from __future__ import annotations

from typing import Dict, List

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo, JobState
from tui.cli.format import shell_exit_code
from tui.errors import RemoteError, UsageError
from tui.session import HostSession
from tui.visible import visible


async def wait(session: HostSession, job_ids: List[int], first: bool) -> int:
    """Wait for `job_ids` to end (with `first`, for one of them); the exit status."""
    wanted = list(dict.fromkeys(job_ids))
    known: Dict[int, JobInfo] = {}
    for job_id in wanted:
        try:
            known[job_id] = await session.get_job(job_id)
        except RemoteError as exc:
            if exc.code is ErrorCode.NO_SUCH_JOB:
                raise UsageError(
                    f"no job {job_id} on {session.name}: there is nothing to wait for"
                ) from None
            raise
    if not _done(known, first):
        async for jobs in session.watch_jobs():
            listed = {job.id: job for job in jobs if job.id in known}
            known.update(listed)
            for job_id in wanted:  # not in the listing: ended and aged out of it
                if job_id not in listed and known[job_id].state.is_active:
                    known[job_id] = await session.get_job(job_id)
            if _done(known, first):
                break
    ended = sorted(
        (job for job in known.values() if not job.state.is_active),
        key=lambda job: (job.finished_at or 0.0, job.id),
    )
    for job in ended:
        print(_said(job))
    if first:
        return _status(ended[0])
    failed = [job for job in ended if job.state is not JobState.SUCCEEDED]
    return _status(failed[0]) if failed else 0


def _done(known: Dict[int, JobInfo], first: bool) -> bool:
    ended = [not job.state.is_active for job in known.values()]
    return any(ended) if first else all(ended)


def _status(job: JobInfo) -> int:
    return 0 if job.state is JobState.SUCCEEDED else shell_exit_code(job)


def _said(job: JobInfo) -> str:
    """``job 3: failed (exit 2)``, ``job 4: cancelled (job 3 failed)``."""
    if job.exit_code is not None:
        detail = f"exit {job.exit_code}"
    else:
        detail = job.signal or job.reason or ""
    shown = f"job {job.id}: {job.state.value}"
    return f"{shown} ({visible(detail)})" if detail else shown
