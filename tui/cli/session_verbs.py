"""The verbs that talk to a host's runner through a `HostSession`, declared as
`Verb`s: each one's arguments, and where its `Run` lives (`tui.cli.session_runs`,
loaded only for the verb being run).

Every start of ``tether`` builds every verb's parser from this module, so it
imports argparse and `tui.cli.verb`, nothing that talks to a host.
"""

from __future__ import annotations

import argparse
from typing import Tuple

from protocol.limits import JOB_SIGNALS
from tui.cli.verb import Verb, add_host
from tui.shell.verb import add_shell_arguments


def _run_arguments(run: argparse.ArgumentParser) -> None:
    add_host(run, "a,b,c or @all: the job goes where its GPUs are free, printed as HOST:ID")
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
        "--port",
        dest="ports",
        action="append",
        type=int,
        default=[],
        metavar="PORT",
        help="a port the job serves on the host (repeatable), for tether forward and the app",
    )
    run.add_argument(
        "--after",
        action="append",
        default=[],
        metavar="JOB[,JOB...]",
        help="start once these jobs succeeded; if one fails, this one ends cancelled",
    )
    run.add_argument(
        "--after-any",
        action="append",
        default=[],
        metavar="JOB[,JOB...]",
        help="start once these jobs ended, however they ended",
    )
    run.add_argument(
        "--priority",
        default="0",
        metavar="N",
        help="among jobs waiting for GPUs, higher starts first (default 0)",
    )
    run.add_argument(
        "--retry",
        default="0",
        metavar="N",
        help="run a failed attempt again, up to N more times (after 10 s, 30 s, then 90 s); "
        "the job reads which attempt it is in TETHER_ATTEMPT",
    )
    run.add_argument(
        "--retry-on",
        default="any",
        metavar="exit|lost|any",
        help="what a retry answers: a non-zero exit or a signal, a lost job, or either "
        "(default any)",
    )
    where = run.add_mutually_exclusive_group()
    where.add_argument(
        "--slurm",
        dest="executor",
        action="store_const",
        const="slurm",
        help="give the job to the host's Slurm (sbatch), whatever the host's default",
    )
    where.add_argument(
        "--here",
        dest="executor",
        action="store_const",
        const="local",
        help="run it on the host itself, even where its default is Slurm",
    )
    for flag, what in (
        ("--partition", "P: the Slurm partition"),
        ("--time", "LIMIT: Slurm's time limit, e.g. 4:00:00 or 1-00:00:00"),
        ("--nodes", "N: run the command once on each of N nodes (MASTER_ADDR, NODE_RANK...)"),
        ("--cpus", "N: CPUs for the command on each node"),
        ("--mem", "SIZE: memory on each node, e.g. 64G"),
        ("--account", "A: the Slurm account to charge"),
        ("--qos", "Q: the Slurm QOS"),
    ):
        metavar, _, text = what.partition(": ")
        run.add_argument(flag, metavar=metavar, help=f"with Slurm: {text}")
    run.add_argument(
        "--sbatch-arg",
        dest="sbatch_args",
        action="append",
        default=[],
        metavar="ARG",
        help="with Slurm: one more sbatch argument, e.g. --sbatch-arg=--constraint=a100",
    )
    run.add_argument(
        "--stall-after",
        metavar="DURATION",
        help="flag the job stalled (tether ls, the app, the runner's hook) once it has "
        "written no output and reported no metric for this long, e.g. 20m (default 30m; "
        "0: never)",
    )
    run.add_argument("--group", metavar="NAME", help="a group to list and cancel jobs by")
    run.add_argument(
        "--label",
        dest="labels",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label of your own, shown in --json (repeatable)",
    )
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


def _ls_arguments(ls: argparse.ArgumentParser) -> None:
    add_host(ls, "a,b,c or @all: every one's jobs, with a HOST column")
    ls.add_argument("--all", action="store_true", help="every job ever run")
    ls.add_argument("--json", action="store_true", help="a JSON array")
    ls.add_argument("--group", metavar="NAME", help="only the jobs of this group")


def _logs_arguments(logs: argparse.ArgumentParser) -> None:
    add_host(logs)
    logs.add_argument("job", metavar="JOB", help="its id, or HOST:ID (then -H is not needed)")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing until the job ends, then exit with its exit code",
    )
    logs.add_argument("--tail", type=int, metavar="N", help="start at the last N lines")
    logs.add_argument(
        "--attempt",
        metavar="K",
        help="an earlier attempt's log, of a job run with --retry (default: the latest)",
    )
    logs.add_argument(
        "--raw",
        action="store_true",
        help="the exact bytes, escape sequences and all, even to a terminal "
        "(which otherwise gets colours but no other escape sequence)",
    )


def _cancel_arguments(cancel: argparse.ArgumentParser) -> None:
    add_host(cancel)
    cancel.add_argument("job", nargs="?", metavar="JOB")
    cancel.add_argument(
        "--group", metavar="NAME", help="every job of this group that has not ended, instead"
    )


def _pause_arguments(pause: argparse.ArgumentParser) -> None:
    add_host(pause)
    pause.add_argument("job", metavar="JOB")


def _signal_arguments(signal: argparse.ArgumentParser) -> None:
    add_host(signal)
    signal.add_argument("job", metavar="JOB")
    signal.add_argument(
        "signal",
        metavar="SIGNAL",
        help=f"{', '.join(JOB_SIGNALS)} (SIGUSR1, usr1 and a number work too)",
    )


def _queue_arguments(queue: argparse.ArgumentParser) -> None:
    add_host(queue)
    queue.add_argument(
        "action",
        metavar="pause|resume",
        help="stop starting queued jobs (running ones go on), or start them again",
    )


def _set_arguments(set_: argparse.ArgumentParser) -> None:
    add_host(set_)
    set_.add_argument("job", metavar="JOB")
    set_.add_argument(
        "--priority",
        required=True,
        metavar="N",
        help="its new priority among jobs waiting for GPUs (while it is queued)",
    )


def _wait_arguments(wait: argparse.ArgumentParser) -> None:
    add_host(wait)
    wait.add_argument("jobs", nargs="+", metavar="JOB")
    wait.add_argument(
        "--any", action="store_true", help="return when the first of them ends, not the last"
    )


def _rerun_arguments(rerun: argparse.ArgumentParser) -> None:
    add_host(rerun)
    rerun.add_argument("job", metavar="JOB")


def _pull_arguments(pull: argparse.ArgumentParser) -> None:
    add_host(pull)
    pull.add_argument("job", metavar="JOB")
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


def _gc_arguments(gc: argparse.ArgumentParser) -> None:
    add_host(gc)
    gc.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    gc.add_argument(
        "--keep-days",
        type=float,
        metavar="DAYS",
        help="keep what a job that ended within DAYS used (default: the runner's, 14)",
    )


def _metrics_arguments(metrics: argparse.ArgumentParser) -> None:
    add_host(metrics)
    metrics.add_argument("job", metavar="JOB")
    metrics.add_argument("--json", action="store_true", help="one JSON object per line")
    metrics.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing until the job ends, then exit with its exit code",
    )


def _top_arguments(top: argparse.ArgumentParser) -> None:
    add_host(top, "a,b,c or @all with --once: a frame of each")
    top.add_argument("--json", action="store_true", help="JSON: one object per sample")
    top.add_argument("--once", action="store_true", help="print the newest sample and exit")
    top.add_argument(
        "-n",
        "--interval",
        type=float,
        metavar="SECONDS",
        help="seconds between frames (default: the runner's sampling rate, 1 s)",
    )


def _status_arguments(status: argparse.ArgumentParser) -> None:
    add_host(status, "a,b,c or @all: each one's")
    status.add_argument("--json", action="store_true")


def _forward_arguments(forward: argparse.ArgumentParser) -> None:
    add_host(forward)
    forward.add_argument(
        "target",
        metavar="JOB|:PORT",
        help="a job (its --port ports), or :PORT for one port of the host's 127.0.0.1",
    )
    forward.add_argument(
        "--local",
        metavar="PORT",
        help="the port here (default: the same number; a busy one moves to the next free)",
    )


VERBS: Tuple[Verb, ...] = (
    Verb("run", "start a job; prints its id", _run_arguments, "tui.cli.session_runs:run"),
    Verb(
        "ls",
        "list jobs (finished ones from the last day)",
        _ls_arguments,
        "tui.cli.session_runs:ls",
    ),
    Verb("logs", "print a job's output", _logs_arguments, "tui.cli.session_runs:logs"),
    Verb(
        "cancel",
        "stop a job (SIGTERM, then SIGKILL)",
        _cancel_arguments,
        "tui.cli.session_runs:cancel",
    ),
    Verb(
        "pause",
        "stop a running job's processes (SIGSTOP); its GPUs stay held",
        _pause_arguments,
        "tui.cli.session_runs:pause",
    ),
    Verb(
        "resume",
        "continue a paused job (SIGCONT)",
        _pause_arguments,
        "tui.cli.session_runs:resume",
    ),
    Verb(
        "signal",
        "send a signal to a running job's processes (USR1: a checkpoint, say)",
        _signal_arguments,
        "tui.cli.session_runs:signal",
    ),
    Verb(
        "queue",
        "pause or resume starting the host's queued jobs",
        _queue_arguments,
        "tui.cli.session_runs:queue",
    ),
    Verb(
        "set",
        "change a queued job's --priority",
        _set_arguments,
        "tui.cli.session_runs:set_job",
    ),
    Verb(
        "wait",
        "wait for jobs to end; exit with the first failure's exit code (0: all succeeded)",
        _wait_arguments,
        "tui.cli.session_runs:wait",
    ),
    Verb(
        "rerun",
        "run a job's command again, in the same snapshot; prints the new id",
        _rerun_arguments,
        "tui.cli.session_runs:rerun",
    ),
    Verb(
        "pull",
        "copy a job's files here (what it created or changed, or PATHs)",
        _pull_arguments,
        "tui.cli.session_runs:pull",
    ),
    Verb(
        "gc",
        "free the host's snapshots and stored files that no recent job uses",
        _gc_arguments,
        "tui.cli.session_runs:gc",
    ),
    Verb(
        "metrics",
        "print the metrics a training job reported",
        _metrics_arguments,
        "tui.cli.session_runs:metrics",
    ),
    Verb(
        "top",
        "the host's GPUs, CPU, memory and running jobs, live",
        _top_arguments,
        "tui.cli.session_runs:top",
    ),
    Verb(
        "status",
        "the runner's version, uptime and job counts",
        _status_arguments,
        "tui.cli.session_runs:status",
    ),
    Verb(
        "forward",
        "a job's ports (or one port) of the host on this machine's 127.0.0.1, until Ctrl-C",
        _forward_arguments,
        "tui.cli.session_runs:forward",
    ),
    Verb(
        "shell",
        "a shell on the host (with a pty), in a job's directory and environment",
        add_shell_arguments,
        "tui.shell.verb:shell",
    ),
)
