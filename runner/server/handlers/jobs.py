"""Submitting (or running again), listing, inspecting, cancelling and watching jobs."""

from __future__ import annotations

import asyncio
from typing import Tuple

from protocol import exchanges as ex
from protocol.messages import (
    Cancel,
    GetJob,
    JobList,
    JobReply,
    ListJobs,
    SetPriority,
    Submit,
    WatchJobs,
)
from protocol.sync import Rerun
from runner.server.routes import AnswersOnce, AnswersStream, stream, unary
from runner.server.services import Services
from runner.streams import Send

#: After a job changes, wait this long for more changes to send one table for all.
WATCH_JOBS_COALESCE_S = 0.05


async def submit(services: Services, msg: Submit) -> JobReply:
    record = await services.gpus.submit(msg.spec, key=msg.key)
    return JobReply(id=msg.id, job=await services.jobs.get(record.id))


async def rerun(services: Services, msg: Rerun) -> JobReply:
    """A new job from job `job_id`'s spec (in a fresh copy of its snapshot, if it
    ran in one); `key` as a submit's."""
    spec = await services.jobs.spec_of(msg.job_id)
    record = await services.gpus.submit(spec, key=msg.key)
    return JobReply(id=msg.id, job=await services.jobs.get(record.id))


async def list_jobs(services: Services, msg: ListJobs) -> JobList:
    return JobList(id=msg.id, jobs=await services.jobs.listing(msg.include_finished))


async def get_job(services: Services, msg: GetJob) -> JobReply:
    return JobReply(id=msg.id, job=await services.jobs.get(msg.job_id))


async def cancel(services: Services, msg: Cancel) -> JobReply:
    # An ended job that left processes on a GPU is finished off instead.
    jobs = services.jobs
    if not jobs.is_active(msg.job_id) and await services.stats.finish_off(msg.job_id):
        return JobReply(id=msg.id, job=await jobs.get(msg.job_id))
    return JobReply(id=msg.id, job=await jobs.cancel(msg.job_id, key=msg.key))


async def set_priority(services: Services, msg: SetPriority) -> JobReply:
    """A queued job's new priority; it moves in the GPU queue at once."""
    record = await services.gpus.set_priority(msg.job_id, msg.priority)
    return JobReply(id=msg.id, job=await services.jobs.get(record.id))


async def watch_jobs(services: Services, msg: WatchJobs, send: Send) -> None:
    """The job table now, then again after every change (a burst is sent once)."""
    changed = asyncio.Event()

    def on_change(_record: object) -> None:
        changed.set()

    services.jobs.on_change.append(on_change)
    try:
        while True:
            changed.clear()
            jobs = await services.jobs.listing(msg.include_finished)
            await send(JobList(id=msg.id, jobs=jobs))
            await changed.wait()
            await asyncio.sleep(WATCH_JOBS_COALESCE_S)
    finally:
        services.jobs.on_change.remove(on_change)


#: This family's requests, bound to their handlers (mypy checks each pair).
UNARY: Tuple[AnswersOnce, ...] = (
    unary(ex.SUBMIT, submit),
    unary(ex.RERUN, rerun),
    unary(ex.LIST_JOBS, list_jobs),
    unary(ex.GET_JOB, get_job),
    unary(ex.CANCEL, cancel),
    unary(ex.SET_PRIORITY, set_priority),
)
STREAMS: Tuple[AnswersStream, ...] = (stream(ex.WATCH_JOBS, watch_jobs),)
