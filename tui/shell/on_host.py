"""A shell on the host a `HostSession` stands for, in a job's place or plainly.

The CLI verb and the app both come here with a session they hold: the app's is
connected already, and its SSH connection carries the shell too. This machine
gets a local pty (no SSH, no runner needed for a plain shell); a remote host
gets a channel on the session's own SSH connection.
"""

from __future__ import annotations

from typing import Optional, Sequence

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo
from tui.errors import RemoteError, ShellError
from tui.hosts import is_local
from tui.session import HostSession
from tui.shell.enter import enter_argv
from tui.shell.terminal import Terminal
from tui.visible import visible


def pty_terminal(terminal: Terminal, words: Sequence[str]) -> Optional[Terminal]:
    """The terminal to give a pty, or None to run `words` without one.

    An interactive shell needs a terminal on stdin; a command gets a pty when
    stdin and stdout are both a terminal, and otherwise runs without one, as
    ``ssh HOST COMMAND`` does, so that a pipe gets its bytes unchanged (no CR
    before each newline, stderr apart from stdout)."""
    if terminal.is_terminal():
        return terminal
    if words:
        return None
    if terminal.input_is_terminal():
        return terminal  # output to a file or a pipe, as `script` would keep it
    raise ShellError(
        "stdin is not a terminal, and an interactive shell needs one: "
        "run tether shell from a terminal, or give a command after --"
    )


async def find_job(session: HostSession, job_id: int) -> JobInfo:
    """The job's record; a job number the host does not know is said with the host's
    name, since numbers are per host (the job may be on another one)."""
    try:
        return await session.get_job(job_id)
    except RemoteError as exc:
        if exc.code is not ErrorCode.NO_SUCH_JOB:
            raise
        where = "this machine" if is_local(session.name) else visible(session.name)
        raise ShellError(
            f"no job {job_id} on {where}: job numbers belong to one host; "
            "if it ran on another, name that one with -H HOST"
        ) from None


async def open_shell(
    session: HostSession,
    job: Optional[JobInfo],
    words: Sequence[str],
    terminal: Optional[Terminal],
) -> int:
    """Run the login shell (no `words`) or `words` on the session's host, in `job`'s
    directory and environment when given, on a pty relayed to `terminal` (None: no
    pty, stdin and stdout as they are); the exit status."""
    if is_local(session.name):
        from tui.shell.local import run_local

        return await run_local(enter_argv(job, words, "from this machine"), terminal)
    from tui.remote import SshOpener
    from tui.shell.remote import run_remote

    opener = session.opener
    if not isinstance(opener, SshOpener):
        raise ShellError(f"{visible(session.name)} is not reached over SSH: no shell to open there")
    conn = await opener.ssh_connection()
    argv = enter_argv(job, words, f"from {visible(session.name)}")
    return await run_remote(conn, session.name, argv, terminal)
