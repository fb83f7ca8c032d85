"""The verbs that talk to a host's runner through a `HostSession`, declared as
`Verb`s: each one's arguments, and how it binds them to a call on the session.

A binder checks the arguments before anything connects (a bad ``--tail`` is
reported without touching the host) and returns the call to make once the
session is up. `on_session` opens the session around that call: one that
keeps following (``logs -f``, ``metrics -f``, ``top``) reconnects when its link
drops; the others fail at once.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Awaitable, Callable, Optional, Tuple

from protocol.manifest import ManifestError, check_relative_path
from tui.cli import transfer, verbs
from tui.cli.metrics import metrics as job_metrics
from tui.cli.top import top as top_verb
from tui.cli.verb import Run, Verb, add_host
from tui.errors import ConnectError, TetherError
from tui.hosts import is_local, make_session
from tui.session import HostSession, SessionState
from tui.sync import SyncLimits, parse_file_count, parse_size
from tui.sync.pull import check_pull_paths

SessionCall = Callable[[HostSession], Awaitable[int]]
Binder = Callable[[argparse.Namespace, str], SessionCall]


def _never(args: argparse.Namespace) -> bool:
    return False


#: How long a verb that changes something (run, cancel) keeps reconnecting to
#: ask again, before it gives up and says what may have happened.
RETRY_CHANGE_S = 60.0


def on_session(
    bind: Binder,
    follows: Callable[[argparse.Namespace], bool] = _never,
    *,
    changes: bool = False,
) -> Run:
    """A verb's `Run`: bind the arguments, open a session to the host, make the call.

    A verb that `follows` reconnects for as long as it runs. One that `changes`
    something reconnects for `RETRY_CHANGE_S` when its link drops before the
    answer and asks again (the request's idempotency key makes that safe);
    the others fail at once."""

    async def run(args: argparse.Namespace, host: str) -> int:
        call = bind(args, host)
        session = make_session(host, reconnect=follows(args) or changes)
        try:
            await session.start()
            session.listeners.append(verbs.report_state)
            if changes and not follows(args):
                return await _retrying_for(session, call, host, RETRY_CHANGE_S)
            return await call(session)
        finally:
            session.listeners.clear()
            await session.close()

    return run


async def _retrying_for(session: HostSession, call: SessionCall, host: str, limit_s: float) -> int:
    """`call`, given up on once the link has been down for `limit_s`."""
    down_since: Optional[float] = None

    def on_state(state: SessionState) -> None:
        nonlocal down_since
        if state.kind == "connected":
            down_since = None
        elif down_since is None:
            down_since = time.monotonic()

    session.listeners.append(on_state)
    task = asyncio.ensure_future(call(session))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if done:
                return task.result()
            if down_since is not None and time.monotonic() - down_since > limit_s:
                raise ConnectError(
                    f"{host}: the link dropped before the runner answered and did not come "
                    f"back within {limit_s:.0f} s; what was asked may have happened: "
                    f"look with `tether ls{'' if is_local(host) else ' -H ' + host}`",
                    retryable=False,
                )
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _following(args: argparse.Namespace) -> bool:
    return bool(args.follow)


# -- run -----------------------------------------------------------------------------


def _run_arguments(run: argparse.ArgumentParser) -> None:
    add_host(run)
    run.add_argument("--name", help="a name to show instead of the command")
    run.add_argument(
        "--cwd", metavar="DIR", help="working directory (default: here locally, home remotely)"
    )
    run.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a variable (repeatable)",
    )
    run.add_argument("--gpus", metavar="N|all", help="wait for N free GPUs and get them alone")
    run.add_argument(
        "--sync",
        nargs="?",
        const=".",
        metavar="DIR",
        help="run in a snapshot of DIR (default: here) sent to the host first: git's list of "
        "files in a work tree, all of them elsewhere, less .tetherignore; --cwd is then a "
        "folder inside it",
    )
    run.add_argument(
        "--sync-max",
        metavar="SIZE",
        help="send a tree of up to SIZE (e.g. 10G; default 2G)",
    )
    run.add_argument(
        "--sync-max-files",
        metavar="N",
        help="send a tree of up to N files (default 100,000)",
    )
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")


def _run(args: argparse.Namespace, host: str) -> SessionCall:
    if args.name is not None and not args.name.strip():
        raise TetherError("--name is empty: give a name, or leave it out to show the command")
    if args.cwd is not None and not args.cwd.strip():
        raise TetherError(
            "--cwd is empty: give a directory, or leave it out "
            "(here for a local job, the home directory on a remote host)"
        )
    words = args.command[1:] if args.command[:1] == ["--"] else args.command
    sync = _sync_request(args)
    local = is_local(host)
    return lambda s: verbs.run(s, words, args.name, args.cwd, args.env, args.gpus, local, sync)


def _sync_request(args: argparse.Namespace) -> Optional[transfer.SyncRequest]:
    if args.sync is None:
        if args.sync_max is not None or args.sync_max_files is not None:
            raise TetherError("--sync-max and --sync-max-files go with --sync [DIR]")
        return None
    if not args.sync.strip():
        raise TetherError("--sync takes a folder (or nothing, for this one), not an empty word")
    if args.cwd is not None:
        try:
            check_relative_path(args.cwd.rstrip("/") or args.cwd)
        except ManifestError as exc:
            raise TetherError(
                f"with --sync, --cwd is a folder inside the snapshot: {exc}"
            ) from None
    limits = SyncLimits()
    if args.sync_max is not None:
        limits = SyncLimits(parse_size(args.sync_max), limits.max_files)
    if args.sync_max_files is not None:
        limits = SyncLimits(limits.max_bytes, parse_file_count(args.sync_max_files))
    return transfer.SyncRequest(Path(args.sync).expanduser(), limits)


# -- ls, logs, cancel ----------------------------------------------------------------


def _ls_arguments(ls: argparse.ArgumentParser) -> None:
    add_host(ls)
    ls.add_argument("--all", action="store_true", help="every job ever run")
    ls.add_argument("--json", action="store_true", help="a JSON array")


def _ls(args: argparse.Namespace, host: str) -> SessionCall:
    return lambda s: verbs.ls(s, args.all, args.json)


def _logs_arguments(logs: argparse.ArgumentParser) -> None:
    add_host(logs)
    logs.add_argument("job", type=int, metavar="JOB")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing until the job ends, then exit with its exit code",
    )
    logs.add_argument("--tail", type=int, metavar="N", help="start at the last N lines")
    logs.add_argument(
        "--raw",
        action="store_true",
        help="the exact bytes, escape sequences and all, even to a terminal "
        "(which otherwise gets colours but no other escape sequence)",
    )


def _logs(args: argparse.Namespace, host: str) -> SessionCall:
    if args.tail is not None and args.tail < 0:
        raise TetherError("--tail takes a number of lines, 0 or more")
    return lambda s: verbs.logs(s, args.job, args.follow, args.tail, args.raw)


def _cancel_arguments(cancel: argparse.ArgumentParser) -> None:
    add_host(cancel)
    cancel.add_argument("job", type=int, metavar="JOB")


def _cancel(args: argparse.Namespace, host: str) -> SessionCall:
    return lambda s: verbs.cancel(s, args.job)


# -- rerun, pull, gc -----------------------------------------------------------------


def _rerun_arguments(rerun: argparse.ArgumentParser) -> None:
    add_host(rerun)
    rerun.add_argument("job", type=int, metavar="JOB")


def _rerun(args: argparse.Namespace, host: str) -> SessionCall:
    return lambda s: transfer.rerun(s, args.job)


def _pull_arguments(pull: argparse.ArgumentParser) -> None:
    add_host(pull)
    pull.add_argument("job", type=int, metavar="JOB")
    pull.add_argument(
        "paths",
        nargs="*",
        default=[],  # else argparse names PATH as required when JOB is missing
        metavar="PATH",
        help="files or folders relative to the job's working directory "
        "(default: what the job created or changed there)",
    )
    pull.add_argument(
        "--to", metavar="DIR", help="where to put them (default ./tether-out/HOST/JOB)"
    )
    pull.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep pulling new and changed files until the job ends",
    )


def _pull(args: argparse.Namespace, host: str) -> SessionCall:
    paths = check_pull_paths(args.paths)
    if args.to is not None and not args.to.strip():
        raise TetherError("--to is empty: give a folder, or leave it out for ./tether-out/HOST/JOB")
    return lambda s: transfer.pull(s, host, args.job, paths, args.to, args.follow)


def _always(args: argparse.Namespace) -> bool:
    return True


def _gc_arguments(gc: argparse.ArgumentParser) -> None:
    add_host(gc)
    gc.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    gc.add_argument(
        "--keep-days",
        type=float,
        metavar="DAYS",
        help="keep what a job that ended within DAYS used (default: the runner's, 14)",
    )


def _gc(args: argparse.Namespace, host: str) -> SessionCall:
    if args.keep_days is not None and not args.keep_days >= 0:
        raise TetherError("--keep-days takes a number of days, 0 or more")
    return lambda s: transfer.gc(s, args.dry_run, args.keep_days)


# -- metrics, top, status ------------------------------------------------------------


def _metrics_arguments(metrics: argparse.ArgumentParser) -> None:
    add_host(metrics)
    metrics.add_argument("job", type=int, metavar="JOB")
    metrics.add_argument("--json", action="store_true", help="one JSON object per line")
    metrics.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing until the job ends, then exit with its exit code",
    )


def _metrics(args: argparse.Namespace, host: str) -> SessionCall:
    return lambda s: job_metrics(s, args.job, args.json, args.follow)


def _top_arguments(top: argparse.ArgumentParser) -> None:
    add_host(top)
    top.add_argument("--json", action="store_true", help="JSON: one object per sample")
    top.add_argument("--once", action="store_true", help="print the newest sample and exit")
    top.add_argument(
        "-n",
        "--interval",
        type=float,
        metavar="SECONDS",
        help="seconds between frames (default: the runner's sampling rate, 1 s)",
    )


def _top(args: argparse.Namespace, host: str) -> SessionCall:
    if args.interval is not None and not args.interval > 0:
        raise TetherError("--interval takes a number of seconds greater than 0")
    return lambda s: top_verb(s, args.json, args.once, args.interval)


def _top_follows(args: argparse.Namespace) -> bool:
    return not args.once


def _status_arguments(status: argparse.ArgumentParser) -> None:
    add_host(status)
    status.add_argument("--json", action="store_true")


def _status(args: argparse.Namespace, host: str) -> SessionCall:
    return lambda s: verbs.status(s, args.json)


VERBS: Tuple[Verb, ...] = (
    Verb("run", "start a job; prints its id", _run_arguments, on_session(_run, changes=True)),
    Verb(
        "ls",
        "list jobs (finished ones from the last day)",
        _ls_arguments,
        on_session(_ls),
    ),
    Verb("logs", "print a job's output", _logs_arguments, on_session(_logs, _following)),
    Verb(
        "cancel",
        "stop a job (SIGTERM, then SIGKILL)",
        _cancel_arguments,
        on_session(_cancel, changes=True),
    ),
    Verb(
        "rerun",
        "run a job's command again, in the same snapshot; prints the new id",
        _rerun_arguments,
        on_session(_rerun, changes=True),
    ),
    Verb(
        "pull",
        "copy a job's files here (what it created or changed, or PATHs)",
        _pull_arguments,
        on_session(_pull, _always),
    ),
    Verb(
        "gc",
        "free the host's snapshots and stored files that no recent job uses",
        _gc_arguments,
        on_session(_gc),
    ),
    Verb(
        "metrics",
        "print the metrics a training job reported",
        _metrics_arguments,
        on_session(_metrics, _following),
    ),
    Verb(
        "top",
        "the host's GPUs, CPU, memory and running jobs, live",
        _top_arguments,
        on_session(_top, _top_follows),
    ),
    Verb(
        "status",
        "the runner's version, uptime and job counts",
        _status_arguments,
        on_session(_status),
    ),
)
