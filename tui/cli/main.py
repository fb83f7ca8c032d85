"""`tether`: with a verb, a scriptable command; without one, the full-screen app."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, Awaitable, Callable, List, Optional

from protocol.version import __version__
from tui.cli import install_verbs, verbs
from tui.cli.metrics import metrics as job_metrics
from tui.cli.top import top as top_verb
from tui.errors import TetherError
from tui.hosts import is_local, make_session, resolve_host


def _add_host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-H",
        "--host",
        dest="host",
        metavar="HOST",
        help="what `ssh HOST` accepts (alias, user@host, host:port); default $TETHER_HOST, "
        "else this machine",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tether",
        description="Run training on GPU hosts over SSH and watch it. No verb: open the app.",
    )
    parser.add_argument("--version", action="version", version=f"tether {__version__}")
    parser.add_argument(
        "-H",
        "--host",
        dest="hosts",
        action="append",
        metavar="HOST",
        help="host(s) to open in the app (repeatable)",
    )
    verbs_ = parser.add_subparsers(dest="verb", metavar="VERB")

    run = verbs_.add_parser("run", help="start a job; prints its id")
    _add_host(run)
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

    ls = verbs_.add_parser("ls", help="list jobs (finished ones from the last day)")
    _add_host(ls)
    ls.add_argument("--all", action="store_true", help="every job ever run")
    ls.add_argument("--json", action="store_true", help="a JSON array")

    logs = verbs_.add_parser("logs", help="print a job's output")
    _add_host(logs)
    logs.add_argument("job", type=int, metavar="JOB")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing until the job ends, then exit with its exit code",
    )
    logs.add_argument("--tail", type=int, metavar="N", help="start at the last N lines")

    cancel = verbs_.add_parser("cancel", help="stop a job (SIGTERM, then SIGKILL)")
    _add_host(cancel)
    cancel.add_argument("job", type=int, metavar="JOB")

    metrics = verbs_.add_parser("metrics", help="print the metrics a training job reported")
    _add_host(metrics)
    metrics.add_argument("job", type=int, metavar="JOB")
    metrics.add_argument("--json", action="store_true", help="one JSON object per line")
    metrics.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing until the job ends, then exit with its exit code",
    )

    top = verbs_.add_parser("top", help="the host's GPUs, CPU, memory and running jobs, live")
    _add_host(top)
    top.add_argument("--json", action="store_true", help="JSON: one object per sample")
    top.add_argument("--once", action="store_true", help="print the newest sample and exit")
    top.add_argument(
        "-n",
        "--interval",
        type=float,
        metavar="SECONDS",
        help="seconds between frames (default: the runner's sampling rate, 1 s)",
    )

    status = verbs_.add_parser("status", help="the runner's version, uptime and job counts")
    _add_host(status)
    status.add_argument("--json", action="store_true")
    install_verbs.add_parsers(verbs_, _add_host)
    return parser


def _verb_call(args: argparse.Namespace, host: str) -> Callable[[Any], Awaitable[int]]:
    if args.verb == "run":
        words = args.command[1:] if args.command[:1] == ["--"] else args.command
        return lambda s: verbs.run(
            s, words, args.name, args.cwd, args.env, args.gpus, is_local(host)
        )
    if args.verb == "ls":
        return lambda s: verbs.ls(s, args.all, args.json)
    if args.verb == "logs":
        if args.tail is not None and args.tail < 0:
            raise TetherError("--tail takes a number of lines, 0 or more")
        return lambda s: verbs.logs(s, args.job, args.follow, args.tail)
    if args.verb == "cancel":
        return lambda s: verbs.cancel(s, args.job)
    if args.verb == "metrics":
        return lambda s: job_metrics(s, args.job, args.json, args.follow)
    if args.verb == "top":
        if args.interval is not None and not args.interval > 0:
            raise TetherError("--interval takes a number of seconds greater than 0")
        return lambda s: top_verb(s, args.json, args.once, args.interval)
    return lambda s: verbs.status(s, args.json)


async def _run_verb(args: argparse.Namespace) -> int:
    top_hosts = args.hosts or []
    if len(top_hosts) > 1:
        raise TetherError("a verb acts on one host: give one -H")
    host = resolve_host(args.host or (top_hosts[0] if top_hosts else None))
    if args.verb in install_verbs.VERBS:
        return await install_verbs.run(args, host)
    call = _verb_call(args, host)
    following = args.verb in ("logs", "metrics") and args.follow
    session = make_session(host, reconnect=following or (args.verb == "top" and not args.once))
    try:
        await session.start()
        session.listeners.append(verbs.report_state)
        return await call(session)
    finally:
        session.listeners.clear()
        await session.close()


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        from tui.app.launch import run_app

        # No -H: this machine (or $TETHER_HOST) plus the hosts added in the app before.
        return run_app(args.hosts or [resolve_host(None)], with_remembered=not args.hosts)
    try:
        return asyncio.run(_run_verb(args))
    except TetherError as exc:
        print(f"tether: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
