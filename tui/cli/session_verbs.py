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
from typing import Awaitable, Callable, Optional, Tuple

from tui.cli import verbs
from tui.cli.metrics import metrics as job_metrics
from tui.cli.top import top as top_verb
from tui.cli.verb import Run, Verb, add_host
from tui.errors import ConnectError, TetherError
from tui.hosts import is_local, make_session
from tui.session import HostSession, SessionState

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
    return lambda s: verbs.run(s, words, args.name, args.cwd, args.env, args.gpus, is_local(host))


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
