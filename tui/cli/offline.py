"""``ls``, ``logs`` and ``metrics`` on a host that cannot be reached: what the
mirror (`tui.mirror`) kept, clearly marked as such.

One line on stderr says so and when it was true::

    tether: gpu1 unreachable (connection refused); showing what was known at 14:02, 12m03s ago

the exit status is `STALE_EXIT` (3), which a script tells from success (0) and
failure (1), and ``--json`` rows carry ``"stale": true`` and ``"as_of"``. A
host the mirror knows nothing of fails as before, with the reason it could not
be reached. A log that was still growing when it was copied says so: what
follows is what there was, not all there is.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from typing import Callable, Coroutine, Optional

from protocol.units import iso_time, known_at
from tui.cli.format import job_json, jobs_table
from tui.cli.job_ref import job_number
from tui.cli.metrics import MetricsPrinter
from tui.cli.output import LogOutput, write_json_list
from tui.errors import ConnectError, UsageError
from tui.mirror.host import LOG_NAME, METRICS_NAME, HostMirror, tail_offset
from tui.mirror.prefix_file import PrefixFile
from tui.visible import visible

#: The exit status of a verb answered from the mirror.
STALE_EXIT = 3
#: How far back ``ls`` without ``--all`` shows ended jobs, as the runner does.
RECENT_S = 24 * 3600.0

#: Answers a verb from the mirror after `ConnectError`; None when the mirror
#: cannot (the error then stands).
Offline = Callable[[argparse.Namespace, str, ConnectError], Coroutine[None, None, Optional[int]]]


def _say_stale(host: str, error: ConnectError, as_of: float, more: str = "") -> None:
    why = str(error)
    why = why[len(host) + 2 :] if why.startswith(f"{host}: ") else why
    print(
        f"tether: {visible(host)} unreachable ({visible(why)}); showing what was known at "
        f"{known_at(as_of, time.time())}{more}",
        file=sys.stderr,
        flush=True,
    )


async def ls(args: argparse.Namespace, host: str, error: ConnectError) -> Optional[int]:
    kept = await asyncio.to_thread(HostMirror(host).jobs)
    if kept is None:
        return None
    jobs = kept.jobs
    if not args.all:
        since = kept.as_of - RECENT_S
        jobs = [j for j in jobs if j.state.is_active or (j.finished_at or 0) >= since]
    if args.group is not None:
        jobs = [j for j in jobs if j.group == args.group]
    jobs.sort(key=lambda j: j.id, reverse=True)
    _say_stale(host, error, kept.as_of)
    if args.json:
        stale = {"stale": True, "as_of": iso_time(kept.as_of)}
        write_json_list([{**job_json(job), **stale} for job in jobs])
    elif not jobs:
        print("no jobs" + ("" if args.all else " (finished more than a day ago: --all)"))
    else:
        print(jobs_table(jobs, shutil.get_terminal_size((120, 24)).columns))
    return STALE_EXIT


def _still_running(mirror: HostMirror, job_id: int) -> str:
    job = mirror.job(job_id)
    if job is None or job.state.is_active:
        state = "running" if job is None else job.state.value
        return f"; job {job_id} was {state} then, so there may be more now"
    return ""


async def logs(args: argparse.Namespace, host: str, error: ConnectError) -> Optional[int]:
    job_id = job_number(args.job)
    if args.attempt is not None:
        raise UsageError(
            f"{host} is unreachable ({error}), and the mirror keeps only each job's latest log"
        )
    mirror = HostMirror(host)
    log = mirror.log(job_id)
    with mirror.locked(shared=True):
        size = (await asyncio.to_thread(log.prefix)).size
    written = mirror.written_at(job_id, LOG_NAME)
    if written is None or size == 0:
        return None if mirror.job(job_id) is None else _nothing_kept(host, error, job_id, "log")
    _say_stale(host, error, written, _still_running(mirror, job_id))
    offset = 0 if args.tail is None else await asyncio.to_thread(tail_offset, log, args.tail)
    out = LogOutput(args.raw)
    try:
        await _copy(log, offset, out)
    finally:
        out.close()
    return STALE_EXIT


def _nothing_kept(host: str, error: ConnectError, job_id: int, what: str) -> int:
    print(
        f"tether: {visible(host)} unreachable ({visible(str(error))}), and the mirror holds no "
        f"{what} of job {job_id} (it keeps what tether has read while the host answered)",
        file=sys.stderr,
    )
    return 1


async def _copy(log: PrefixFile, offset: int, out: LogOutput) -> None:
    blocks = log.blocks(offset)
    while True:
        block = await asyncio.to_thread(next, blocks, b"")
        if not block:
            return
        out.write(block)


async def metrics(args: argparse.Namespace, host: str, error: ConnectError) -> Optional[int]:
    job_id = job_number(args.job)
    mirror = HostMirror(host)
    with mirror.locked(shared=True):
        chunks = await asyncio.to_thread(lambda: list(mirror.metrics(job_id)))
    written = mirror.written_at(job_id, METRICS_NAME)
    if written is None or not chunks:
        if mirror.job(job_id) is None:
            return None
        return _nothing_kept(host, error, job_id, "metrics")
    _say_stale(host, error, written, _still_running(mirror, job_id))
    printer = MetricsPrinter(args.json)
    for chunk in chunks:
        await printer.add(chunk)
    summary = printer.summary(job_id)
    if summary:
        print(f"tether: {summary}", file=sys.stderr)
    return STALE_EXIT
