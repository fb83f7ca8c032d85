"""``tether shell [-H HOST] [JOB] [-- COMMAND...]``: its arguments and its run.

Importing this module costs argparse alone: the parser is built for every
``tether`` command line, and the session, asyncio and SSH are loaded only
once a shell is asked for (`run_shell`).

The arguments land in ``args.host``, ``args.job`` (the word typed, or None) and
``args.command`` (the words after ``--``, or []). JOB and COMMAND are split
here rather than by argparse, which would take the first word after ``--`` for
JOB.
"""

from __future__ import annotations

import argparse
from typing import Any, List, Optional, Sequence, Union


def add_shell_arguments(parser: argparse.ArgumentParser) -> None:
    """The verb's arguments on its (sub)parser."""
    parser.usage = "%(prog)s [-h] [-H HOST] [JOB] [-- COMMAND ...]"
    parser.add_argument(
        "-H",
        "--host",
        dest="host",
        metavar="HOST",
        help="what `ssh HOST` accepts (alias, user@host, host:port); default $TETHER_HOST, "
        "else this machine",
    )
    parser.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        action=_JobAndCommand,
        metavar="[JOB] [-- COMMAND ...]",
        help="a job: the shell starts in its working directory with its environment "
        "(TETHER_JOB_ID, its GPUs' CUDA_VISIBLE_DEVICES); a COMMAND runs instead of "
        "the login shell, with a pty when stdin and stdout are a terminal",
    )
    parser.set_defaults(job=None, command=[])


class _JobAndCommand(argparse.Action):
    """``[JOB] [-- COMMAND...]`` into ``job`` and ``command``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Union[str, Sequence[Any], None],
        option_string: Optional[str] = None,
    ) -> None:
        words: List[str] = [str(v) for v in values or []]
        before, command = words, []
        if "--" in words:
            cut = words.index("--")
            before, command = words[:cut], words[cut + 1 :]
        if len(before) > 1:
            numbered = before[0].isdigit()
            if numbered and before[1].startswith("-"):
                raise argparse.ArgumentError(self, "options go before JOB: -H HOST JOB")
            rest = " ".join(before[1:] if numbered else before)
            raise argparse.ArgumentError(
                self, f"one JOB at most; to run a command, put it after --: -- {rest}"
            )
        if "--" in words and not command:
            raise argparse.ArgumentError(self, "nothing after --: give a command, or leave -- out")
        namespace.job = before[0] if before else None
        namespace.command = command


def parse_job_id(job: Optional[str]) -> Optional[int]:
    """JOB as typed into a job number (None: no job); `ShellError` for another word."""
    if job is None:
        return None
    if job.isdigit():
        return int(job)
    from tui.errors import ShellError

    raise ShellError(
        f"JOB is a job number, like 12, not {job!r}; to run a command, put it after --"
    )


async def run_shell(host: str, job: Optional[str], command: List[str]) -> int:
    """``tether shell`` on `host` (as `tui.hosts.resolve_host` gave it): the login
    shell, or `command`, in `job`'s place when given; the shell's exit status.
    Raises `TetherError` (one sentence) for what stopped it from starting."""
    from tui.hosts import make_session
    from tui.shell.on_host import find_job, open_shell, pty_terminal
    from tui.shell.terminal import Terminal

    job_id = parse_job_id(job)
    terminal = pty_terminal(Terminal(), command)  # before connecting: said at once
    session = make_session(host, reconnect=False)
    try:
        record = None
        if job_id is not None:
            await session.start()
            record = await find_job(session, job_id)
        return await open_shell(session, record, command, terminal)
    finally:
        await session.close()


async def shell(args: argparse.Namespace, host: str) -> int:
    """The verb's `Run` in the CLI's table (`tui.cli.session_verbs`)."""
    return await run_shell(host, args.job, args.command)
