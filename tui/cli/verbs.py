"""One coroutine per verb, each on a connected `HostSession`; they return the exit code."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from protocol.errors import ErrorCode
from protocol.jobs import Executor, JobInfo, JobSpec, JobState, RetryOn, SlurmRequest
from protocol.messages import LogChunk, StatusReply
from protocol.units import duration, iso_time, plural
from tui.cli.format import job_json, jobs_table, shell_exit_code
from tui.cli.output import LogOutput, write_json_list
from tui.cli.transfer import SyncRequest, upload
from tui.errors import RemoteError, TetherError, UsageError
from tui.job_text import command_line
from tui.session import HostSession, SessionState
from tui.visible import visible, visible_lines

_SHELL_CHARS = set(" \t\n|&;<>()$`\\\"'*?[]#~=%")


def argv_from_words(words: List[str]) -> List[str]:
    """A single word with shell syntax in it is a command line for the login shell."""
    if len(words) == 1 and any(c in _SHELL_CHARS for c in words[0]):
        return ["bash", "-lc", words[0]]
    return words


def local_cwd(cwd: Optional[str]) -> str:
    """On this machine a relative --cwd means relative to here, as in a shell."""
    return os.path.abspath(os.path.expanduser(cwd)) if cwd else os.getcwd()


def parse_env(pairs: List[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise TetherError(f"--env takes KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


@dataclass(frozen=True)
class QueueOrder:
    """Where a job stands among others: the jobs it runs after (all of them
    succeeded, or with `after_any` however they ended), its priority, and how
    often a failed attempt goes back to the queue (`retry`, on `retry_on`)."""

    after: List[int] = field(default_factory=list)
    after_any: bool = False
    priority: int = 0
    retry: int = 0
    retry_on: RetryOn = "any"
    #: ``--stall-after`` in seconds (None: the runner's default; 0: never).
    stall_after: Optional[float] = None


@dataclass(frozen=True)
class JobTags:
    """What a person files a job under: a group, and labels of their own."""

    group: Optional[str] = None
    labels: Dict[str, str] = field(default_factory=dict)


async def run(
    session: HostSession,
    words: List[str],
    name: Optional[str],
    cwd: Optional[str],
    env: List[str],
    gpus: Optional[str],
    local: bool,
    sync: Optional[SyncRequest] = None,
    ports: Sequence[int] = (),
    order: Optional[QueueOrder] = None,
    tags: Optional[JobTags] = None,
    executor: Optional[Executor] = None,
    slurm: Optional[SlurmRequest] = None,
    shown_host: Optional[str] = None,
) -> int:
    """Submit the command; with `sync`, in a snapshot of that folder sent first
    (``cwd`` is then a folder inside the snapshot). An ``--after`` naming a job
    the host does not have is a usage error (exit 2): nothing was queued. The id
    is printed alone, or as ``HOST:ID`` with `shown_host` (a job placed among
    several hosts)."""
    if not words:
        raise TetherError(
            "nothing to run: give a command after --, e.g. tether run -- python train.py"
        )
    if local and sync is None:
        cwd = local_cwd(cwd)
    order = order or QueueOrder()
    tags = tags or JobTags()
    try:
        spec = JobSpec(
            argv=argv_from_words(words),
            name=name,
            cwd=cwd,
            env=parse_env(env),
            gpus=gpus,
            ports=list(ports),
            after=order.after,
            after_any=order.after_any,
            priority=order.priority,
            retry=order.retry,
            retry_on=order.retry_on,
            stall_after=order.stall_after,
            executor=executor,
            slurm=slurm,
            group=tags.group,
            labels=tags.labels,
        )
    except ValueError as exc:
        raise TetherError(first_validation_error(exc)) from exc
    if sync is not None:
        spec = spec.model_copy(update={"snapshot": await upload(session, sync)})
    try:
        job = await session.submit(spec)
    except RemoteError as exc:
        if exc.code is ErrorCode.NO_SUCH_JOB and spec.after:
            raise UsageError(str(exc)) from None
        raise
    print(f"{shown_host}:{job.id}" if shown_host else job.id)
    return 0


async def set_priority(session: HostSession, job_id: int, priority: int) -> int:
    """Change a queued job's priority; says where it now stands."""
    job = await session.set_priority(job_id, priority)
    where = f", #{job.queue_position} in the GPU queue" if job.queue_position else ""
    print(f"job {job.id}: priority {job.priority}{where}")
    return 0


def first_validation_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first["msg"]).removeprefix("Value error, ")
    return str(exc)


async def ls(
    session: HostSession, include_all: bool, as_json: bool, group: Optional[str] = None
) -> int:
    jobs = await session.list_jobs(include_finished=include_all, group=group)
    if as_json:
        write_json_list([job_json(j) for j in jobs])
    elif not jobs:
        where = "" if group is None else f" in group {group}"
        print(
            f"no jobs{where}"
            + ("" if include_all else " (finished more than a day ago: tether ls --all)")
        )
    else:
        print(jobs_table(jobs, shutil.get_terminal_size((120, 24)).columns))
    return 0


async def logs(
    session: HostSession,
    job_id: int,
    follow: bool,
    tail: Optional[int],
    raw: bool = False,
    attempt: Optional[int] = None,
) -> int:
    """Print a job's output: exact bytes to a pipe or with `raw`, else made safe for
    the terminal (`LogOutput`); with `follow`, until the job ends (its exit code).
    `attempt` prints an earlier attempt's log (``--retry``), which has ended."""
    job = await session.get_job(job_id)  # an unknown job fails here, before any output
    if attempt is not None and attempt > job.attempt:
        have = "1 attempt" if job.attempt == 1 else f"{job.attempt} attempts"
        raise UsageError(f"job {job_id} has had {have}, not {attempt}")
    if attempt is not None and attempt >= job.attempt:
        attempt = None  # the latest: the log that may still grow
    offset = 0
    if tail is not None:
        offset = (await session.tail_offset(job_id, tail, attempt)).offset
    out = LogOutput(raw)
    try:
        if follow and attempt is None:
            return await _follow(session, job_id, offset, out, job.attempt)
        async for message in session.follow_log(job_id, offset, True, attempt):
            if isinstance(message, LogChunk):
                out.write(message.data)
        return 0
    finally:
        out.close()


async def _follow(
    session: HostSession, job_id: int, offset: int, out: LogOutput, attempt: int
) -> int:
    """Follow the job's log until it ends: attempt by attempt for a job run with
    ``--retry`` (each follow names its attempt, so a reconnect resumes in the
    same log), saying on stderr where the next begins."""
    while True:
        async for message in session.follow_log(job_id, offset, attempt=attempt):
            if isinstance(message, LogChunk):
                out.write(message.data)
                continue
            job = message.job
            if not job.state.is_active or job.attempt <= attempt:
                return shell_exit_code(job)
            attempt, offset = attempt + 1, 0
            print(
                f"tether: job {job.id}: attempt {attempt - 1} ended; "
                f"following attempt {attempt} of {job.attempts}",
                file=sys.stderr,
                flush=True,
            )
            break
        else:
            return 1


#: Seconds a cancel may take before the CLI says what it is waiting for.
CANCEL_QUIET_S = 0.5


async def cancel(session: HostSession, job_id: int) -> int:
    before = await session.get_job(job_id)
    cancelling = asyncio.ensure_future(session.cancel(job_id))
    done, _ = await asyncio.wait({cancelling}, timeout=CANCEL_QUIET_S)
    if not done and before.state.is_active:  # say why we wait
        print(_cancel_wait_text(before), file=sys.stderr, flush=True)
    job = await cancelling
    if not before.state.is_active and before.leaked_gpu_pids:
        pids = ", ".join(map(str, before.leaked_gpu_pids))
        print(
            f"job {job.id} had already ended ({job.state.value}); "
            f"killed the processes it left on the GPU: {pids}"
        )
        return 0
    how = f"exit {job.exit_code}" if job.exit_code is not None else (job.signal or job.state.value)
    if job.state is JobState.CANCELLED:
        if before.executor == "slurm":  # pending or running: Slurm's word, as squeue's
            how = _slurm_cancel_text(before, job, how)
        print(f"cancelled job {job.id} ({visible(job.name)}): {visible(how)}")
    elif job.state.is_active:
        print(f"job {job.id} is still stopping; check with tether ls")
    else:
        print(f"job {job.id} ended before the cancel took effect: {job.state.value} ({how})")
    return 0


def _cancel_wait_text(job: JobInfo) -> str:
    if job.executor == "slurm":
        return f"tether: job {job.id}: asked Slurm to cancel it (scancel); waiting for it to end"
    return (
        f"tether: job {job.id} got SIGTERM; waiting for it to stop (SIGKILL follows "
        "after the runner's grace period, 10 s unless TETHER_CANCEL_GRACE says otherwise)"
    )


def _slurm_cancel_text(before: JobInfo, job: JobInfo, how: str) -> str:
    """``cancelled while pending in Slurm``, or ``SIGTERM; it was running in Slurm on n01``."""
    if before.state is JobState.QUEUED:
        return job.reason or "cancelled while pending in Slurm"
    where = f" on {before.nodes}" if before.nodes else ""
    return f"{how}; it was running in Slurm{where}"


async def cancel_group(session: HostSession, group: str) -> int:
    """Cancel every job of `group` that has not ended; says how many it stopped."""
    jobs, total = await session.cancel_group(group)
    for job in jobs:
        print(f"cancelled job {job.id} ({visible(job.name)})")
    if total > len(jobs):
        print(f"… and {total - len(jobs):,} more")
    print(f"cancelled {plural(total, 'job')} of group {group}")
    return 0


async def pause(session: HostSession, job_id: int, paused: bool) -> int:
    """Pause or resume a job; says what became of it (and that its GPUs stay held)."""
    job = await session.pause_job(job_id, paused)
    if job.state is JobState.PAUSED:
        held = f"; its GPUs ({','.join(map(str, job.gpus))}) stay held" if job.gpus else ""
        print(f"paused job {job.id} ({visible(job.name)}){held}: tether resume {job.id}")
    else:
        print(f"resumed job {job.id} ({visible(job.name)}): {job.state.value}")
    return 0


async def pause_queue(session: HostSession, paused: bool) -> int:
    await session.pause_queue(paused)
    if paused:
        print("queue paused: no queued job starts until tether queue resume; running ones go on")
    else:
        print("queue resumed: queued jobs start as their turn comes")
    return 0


def status_fields(reply: StatusReply) -> Dict[str, object]:
    """A runner's status as ``status --json`` gives it (one host or several)."""
    fields = reply.model_dump(exclude={"id", "type"})
    fields["started_at"] = iso_time(reply.started_at)  # times in JSON: ISO 8601, UTC
    return fields


def status_counts(reply: StatusReply) -> str:
    """``2 running, 1 queued`` (``none`` when there are no jobs)."""
    counts = ", ".join(f"{n} {visible(state)}" for state, n in reply.job_counts.items() if n)
    return counts or "none"


def slurm_line(reply: StatusReply) -> str:
    """``cluster tether, partitions debug* short, accounting on; jobs go to Slurm
    with --slurm`` (the default partition starred, as sinfo does)."""
    cluster = reply.slurm
    if cluster is None:
        return "none"
    parts = " ".join(
        visible(p) + ("*" if p == cluster.default_partition else "") for p in cluster.partitions
    )
    where = "by default" if reply.executor == "slurm" else "with --slurm"
    accounting = "on" if cluster.accounting else "off"
    return (
        f"cluster {visible(cluster.name)}, partitions {parts or '-'}, accounting {accounting}; "
        f"jobs go to Slurm {where}"
    )


def status_health(reply: StatusReply) -> str:
    return "degraded" if reply.problems else "healthy"


async def status(session: HostSession, as_json: bool) -> int:
    reply = await session.status()
    if as_json:
        fields = status_fields(reply)
        # This connection's codec and bytes before/after it (`protocol.compression`).
        fields["wire"] = (await session.connection()).wire_stats()
        print(json.dumps(fields, indent=2))
        return 0
    print(
        f"tether runner {visible(reply.runner_version)} on {visible(reply.hostname)} "
        f"(pid {reply.pid}), "
        f"up {duration(reply.uptime_s)}, {status_health(reply)}"
    )
    for problem in reply.problems:
        print(f"  degraded: {visible(problem)}")
    print(f"jobs: {status_counts(reply)}")
    if reply.queue_paused:
        print("queue: paused (no queued job starts until tether queue resume)")
    if reply.slurm is not None:
        print(f"slurm: {slurm_line(reply)}")
    print(
        f"clients: {reply.clients}; state: {visible(reply.state_dir)}; "
        f"socket: {visible(reply.socket_path)}"
    )
    return 0


def report_state(state: SessionState) -> None:
    """Tell a person on stderr when a verb loses or regains its link. Not when it
    goes offline: the verb ends with that error, printed once by `main`."""
    if state.kind == "reconnecting":
        print(f"tether: {visible_lines(state.describe())}", file=sys.stderr)
    elif state.kind == "connected":
        print("tether: reconnected", file=sys.stderr)


__all__ = ["JobInfo", "cancel", "command_line", "logs", "ls", "run", "status"]
