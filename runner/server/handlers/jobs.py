"""Submitting (or running again), listing, inspecting, cancelling, signalling and
watching jobs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Tuple

from protocol import exchanges as ex
from protocol.errors import ErrorCode
from protocol.messages import (
    Cancel,
    CancelGroup,
    GetJob,
    JobList,
    JobReply,
    ListJobs,
    Ok,
    PauseJob,
    PauseQueue,
    SetPriority,
    Submit,
    WatchJobs,
)
from protocol.signals import ProcessSignalled, SignalJob, SignalProcess, SignalSent
from protocol.sync import Rerun
from runner.errors import RunnerError
from runner.jobs.store import JobRecord
from runner.jobs.table_watch import TableChange, TableWatch, parts
from runner.memory import release_memory
from runner.server.routes import AnswersOnce, AnswersStream, stream, unary
from runner.server.services import Services
from runner.streams import Send

#: After a job changes, wait this long for more changes to send one update for all.
WATCH_JOBS_COALESCE_S = 0.05
#: With no job changing, how often a watcher's table is looked at anyway: queue
#: places and waits move without a record changing, and finished jobs age out.
WATCH_JOBS_LOOK_S = 1.0


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
    jobs, more = await services.jobs.listing(msg.include_finished, msg.group, msg.before)
    return JobList(id=msg.id, jobs=jobs, more=more)


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


async def pause_job(services: Services, msg: PauseJob) -> JobReply:
    """Stop or continue a started job's process group; its GPUs stay its own."""
    return JobReply(id=msg.id, job=await services.jobs.pause(msg.job_id, msg.paused))


async def signal_job(services: Services, msg: SignalJob) -> SignalSent:
    """One signal to a started job's whole process group (`runner.jobs.signals`)."""
    sent = await services.signals.send(msg.job_id, msg.signal, key=msg.key)
    return SignalSent(id=msg.id, signal=sent.name, process_group=sent.process_group, job=sent.job)


async def signal_process(services: Services, msg: SignalProcess) -> ProcessSignalled:
    """One signal to one process of a running job, or one an ended job left on a
    GPU (`runner.jobs.signals`: what may be signalled, and the refusals)."""
    sent = await services.signals.send_to_process(msg.pid, msg.signal, key=msg.key)
    return ProcessSignalled(
        id=msg.id, pid=sent.pid, signal=sent.name, job_id=sent.job_id, leaked=sent.leaked
    )


async def pause_queue(services: Services, msg: PauseQueue) -> Ok:
    """Stop or restart starting queued jobs; running ones go on."""
    await services.gpus.set_paused(msg.paused)
    return Ok(id=msg.id)


#: A group cancel answers with the first this many jobs it stopped, and the count:
#: thousands of jobs would not fit one frame.
MAX_GROUP_REPLY_JOBS = 200
#: A group cancel of more jobs than this hands its garbage back to the system.
RELEASE_AFTER_JOBS = 1000


async def cancel_group(services: Services, msg: CancelGroup) -> JobList:
    """Cancel every job of the group that has not ended, all at once (each gets
    SIGTERM together, so the grace periods overlap); the reply lists them as
    the cancels left them. A job that ends meanwhile is left out. Asked again
    with the same key, the jobs that cancel stopped answer again."""
    jobs = services.jobs
    ids = await jobs.active_in_group(msg.group)
    if not ids and msg.key is not None:
        ids = await jobs.cancelled_with(msg.key)
        listed = [await jobs.get(i) for i in ids[:MAX_GROUP_REPLY_JOBS]]
        return JobList(id=msg.id, jobs=listed, more=len(ids) > len(listed), total=len(ids))
    keys = [None if msg.key is None else f"{msg.key}:{i}" for i in ids]
    results = await asyncio.gather(
        *(jobs.cancel(i, key=k) for i, k in zip(ids, keys)), return_exceptions=True
    )
    if len(ids) > RELEASE_AFTER_JOBS:
        await asyncio.to_thread(release_memory)
    cancelled = []
    for result in results:
        if isinstance(result, RunnerError) and result.code is ErrorCode.JOB_NOT_ACTIVE:
            continue  # it ended on its own meanwhile
        if isinstance(result, BaseException):
            raise result
        cancelled.append(result)
    return JobList(
        id=msg.id,
        jobs=cancelled[:MAX_GROUP_REPLY_JOBS],
        more=len(cancelled) > MAX_GROUP_REPLY_JOBS,
        total=len(cancelled),
    )


async def watch_jobs(services: Services, msg: WatchJobs, send: Send) -> None:
    """The job table whole, then what changed after every change (a burst is
    sent once; `runner.jobs.table_watch`)."""
    watch = TableWatch(services.jobs, msg.include_finished)
    changed = asyncio.Event()

    def on_change(record: JobRecord) -> None:
        watch.note(record)
        changed.set()

    services.jobs.on_change.append(on_change)
    try:
        whole = TableChange(jobs=await watch.whole())
        for part in parts(msg.id, whole, reset=True, more=watch.more):
            await send(part)
        while True:
            # Queue places move without a record changing: looked at on each wake.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), WATCH_JOBS_LOOK_S)
            changed.clear()
            await asyncio.sleep(WATCH_JOBS_COALESCE_S)
            change = await watch.change()
            if change:
                for part in parts(msg.id, change, more=watch.more):
                    await send(part)
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
    unary(ex.PAUSE_JOB, pause_job),
    unary(ex.PAUSE_QUEUE, pause_queue),
    unary(ex.SIGNAL_JOB, signal_job),
    unary(ex.SIGNAL_PROCESS, signal_process),
    unary(ex.STOP_GROUP, cancel_group),
)
STREAMS: Tuple[AnswersStream, ...] = (stream(ex.WATCH_JOBS, watch_jobs),)
