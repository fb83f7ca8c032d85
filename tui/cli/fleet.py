"""Several hosts at once: ``tether hosts``, and ``ls`` / ``status`` with
``-H a,b,c`` or ``-H @all``.

Each host is asked in parallel with its own deadline (`tui.fleet`); a host that
fails is one line on stderr saying why, the others answer in full, and the exit
status is 1 when any failed, so a script can tell.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, List, Optional, Tuple, TypeVar

from protocol.host_layout import state_dir
from protocol.jobs import JobInfo
from protocol.messages import StatusReply
from protocol.units import duration, iso_time
from tui.cli.format import job_json, jobs_table
from tui.cli.output import write_json_list
from tui.cli.verbs import status_counts, status_fields, status_health
from tui.config import load_config
from tui.errors import TetherError, UsageError
from tui.fleet import DEFAULT_TIMEOUT_S, HostReport, Seen, known_hosts, on_host, survey_all
from tui.session import HostSession
from tui.visible import visible

T = TypeVar("T")


def every_host() -> List[str]:
    """The hosts tether knows: this machine once its runner has run here, the
    app's, those reached with ``-H`` before, and ``[fleet] hosts`` in the config."""
    from tui.app.host_list import HostListError, load_hosts
    from tui.ssh.route_cache import routed_hosts

    try:
        remembered = load_hosts()
    except HostListError as exc:
        print(f"tether: {exc} (its hosts are left out)", file=sys.stderr)
        remembered = []
    here = ["local"] if state_dir(Path.home(), os.environ).exists() else []  # used before
    return known_hosts(here, load_config().fleet, remembered, routed_hosts())


def _timeout(args: argparse.Namespace) -> float:
    value: Optional[float] = getattr(args, "timeout", None)
    if value is None:
        return DEFAULT_TIMEOUT_S
    if not 0 < value <= 600:
        raise TetherError(f"--timeout takes seconds from 0 to 600, not {value:g}")
    return value


# -- tether hosts --------------------------------------------------------------------


async def hosts(args: argparse.Namespace, host: str) -> int:
    names = every_host()
    if not names:
        print(
            "tether knows no hosts yet: open some in the app, use -H HOST once, "
            "or list them under [fleet] hosts in ~/.config/tether/config.toml"
        )
        return 0
    reports = await survey_all(names, _timeout(args))
    if args.json:
        print(json.dumps([_report_json(r) for r in reports], indent=2))
    else:
        print(_hosts_table(reports, time.time()))
    return 0 if all(r.reachable for r in reports) else 1


def _report_json(report: HostReport) -> dict[str, object]:
    seen = report.seen or report.last
    fields: dict[str, object] = {
        "host": report.host,
        "link": "connected" if report.reachable else "unreachable",
        "problem": report.problem,
        "stale": not report.reachable,
        "as_of": iso_time(seen.at) if seen else None,
    }
    for key in ("version", "gpus_total", "gpus_free", "running", "queued"):
        fields[key] = getattr(seen, key) if seen else None
    return fields


def _hosts_table(reports: List[HostReport], now: float) -> str:
    rows: List[Tuple[str, ...]] = [
        ("HOST", "LINK", "VERSION", "GPUS FREE", "RUNNING", "QUEUED", "SEEN", "")
    ]
    for report in reports:
        seen = report.seen or report.last
        link = "connected" if report.reachable else "unreachable"
        why = _unprefixed(report.problem or "", report.host)
        rows.append((visible(report.host), link, *_seen_cells(seen, report, now), visible(why)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _unprefixed(text: str, host: str) -> str:
    """A connect error names its host first: said once, in the HOST column."""
    return text[len(host) + 2 :] if text.startswith(f"{host}: ") else text


def _seen_cells(seen: Optional[Seen], report: HostReport, now: float) -> Tuple[str, ...]:
    if seen is None:
        return ("-", "-", "-", "-", "never")
    gpus = f"{seen.gpus_free}/{seen.gpus_total}" if seen.gpus_total else "no GPUs"
    when = "now" if report.reachable else f"{duration(now - seen.at)} ago"
    cells: Tuple[str, ...] = (visible(seen.version), gpus, str(seen.running), str(seen.queued))
    if not report.reachable:  # the last known numbers, marked as such
        cells = tuple(f"({cell})" for cell in cells)
    return (*cells, when)


# -- ls and status on several hosts ------------------------------------------------------


async def ls_many(names: List[str], include_all: bool, as_json: bool, timeout_s: float) -> int:
    results = await _each(names, lambda s: s.list_jobs(include_finished=include_all), timeout_s)
    listed: List[Tuple[str, JobInfo]] = [
        (name, job) for name, jobs in results if jobs is not None for job in jobs
    ]
    if as_json:
        write_json_list([{"host": name, **job_json(job)} for name, job in listed])
    elif not listed:
        print("no jobs" + ("" if include_all else " (finished more than a day ago: --all)"))
    else:
        print(_with_host_column(listed))
    return 0 if all(value is not None for _, value in results) else 1


def _with_host_column(listed: List[Tuple[str, JobInfo]]) -> str:
    width = shutil.get_terminal_size((120, 24)).columns
    hosts = [visible(name) for name, _ in listed]
    column = max(len("HOST"), *(len(h) for h in hosts))
    table = jobs_table([job for _, job in listed], max(40, width - column - 2)).splitlines()
    lines = [f"{'HOST'.ljust(column)}  {table[0]}"]
    lines += [f"{h.ljust(column)}  {row}" for h, row in zip(hosts, table[1:])]
    return "\n".join(lines)


async def status_many(names: List[str], as_json: bool, timeout_s: float) -> int:
    results = await _each(names, lambda s: s.status(), timeout_s)
    answered: List[Tuple[str, StatusReply]] = [(n, r) for n, r in results if r is not None]
    if as_json:
        out = [{"host": name, **status_fields(reply)} for name, reply in answered]
        print(json.dumps(out, indent=2))
    else:
        for name, reply in answered:
            print(
                f"{visible(name)}: runner {visible(reply.runner_version)}, "
                f"up {duration(reply.uptime_s)}, {status_health(reply)}; "
                f"jobs: {status_counts(reply)}"
            )
    return 0 if len(answered) == len(results) else 1


async def _each(
    names: List[str], ask: Callable[[HostSession], Awaitable[T]], timeout_s: float
) -> List[Tuple[str, Optional[T]]]:
    """(host, answer) for each host, None where it failed (said on stderr)."""

    async def one(name: str) -> Tuple[str, Optional[T]]:
        try:
            return name, await on_host(name, ask, timeout_s)
        except TetherError as exc:
            said = str(exc)  # a connect error names its host already
            print(
                f"tether: {said if said.startswith(name) else f'{name}: {said}'}", file=sys.stderr
            )
            return name, None

    return list(await asyncio.gather(*(one(name) for name in names)))


async def top_many(names: List[str], as_json: bool, timeout_s: float) -> int:
    """``top --once`` of each host: a frame each, under its name (``--json``: one
    line per host, ``{"host": NAME, "top": FRAME}``, the frame nested because it
    has a ``host`` of its own, the machine's readings)."""
    from tui.cli.top import one_frame

    results = await _each(names, one_frame, timeout_s)
    answered = [(name, frame) for name, frame in results if frame is not None]
    for i, (name, frame) in enumerate(answered):
        if as_json:
            print(json.dumps({"host": name, "top": frame.json()}))
        else:
            print(("\n" if i else "") + f"{visible(name)}\n{frame.text(False)}")
    return 0 if len(answered) == len(results) else 1


# -- the verbs' entry points ------------------------------------------------------------

#: The verbs that take several hosts (``-H a,b,c``, ``-H @all``).
MANY_HOST_VERBS = ("ls", "status", "top --once", "run")


async def run_on_many(args: argparse.Namespace, text: str) -> int:
    """``tether VERB -H a,b,c`` (or ``@all``) for a verb that reads several hosts,
    or ``run``, which goes to one of them (`tui.cli.place`)."""
    from tui.fleet import split_hosts

    names = split_hosts(text, every_host) or [text]
    if args.verb == "ls":
        return await ls_many(names, args.all, args.json, DEFAULT_TIMEOUT_S)
    if args.verb == "status":
        return await status_many(names, args.json, DEFAULT_TIMEOUT_S)
    if args.verb == "top" and args.once:
        return await top_many(names, args.json, DEFAULT_TIMEOUT_S)
    if args.verb == "run":
        from tui.cli.place import run_placed

        return await run_placed(args, names, DEFAULT_TIMEOUT_S)
    what = "acts on one host at a time"
    if args.verb == "top":
        what = "follows one host: add --once for a frame of each"
    raise UsageError(
        f"{what} (-H a,b,c and -H @all work with {', '.join(MANY_HOST_VERBS)} and hosts)"
    )
