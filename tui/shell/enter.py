"""The command that enters a job's place on its host: its working directory and
its environment, then the person's login shell (or one command line in it).

Built from the job record alone (`protocol.job_env` says which variables the
runner gave the job, ``CUDA_VISIBLE_DEVICES`` included), and the same argv for
both ends: run as it is on this machine, and as one ``shlex``-quoted line on a
remote host, where sshd hands it to the account's login shell. Like the
runner's bootstrap (`tui.ssh.bootstrap`), the script is a fixed POSIX ``sh``
line with no single quote or backslash in it, and everything that varies travels as a
positional argument: whatever the login shell is (bash, zsh, fish), it passes
the script to ``sh`` unchanged, and no directory or value can change what the
script does.

A working directory that is gone (a synced job's copy collected, a folder
removed) is said on stderr; an interactive shell then starts in the home
directory, since a shell with the job's GPUs is still worth having, but a
command is not run at all: it may act on relative paths, and running it
elsewhere could do harm.
"""

from __future__ import annotations

import shlex
from typing import List, Optional, Sequence

from protocol.job_env import job_env
from protocol.jobs import JobInfo
from tui.visible import visible

#: Exit status of the script when the job's directory is gone and a command
#: was asked for (the shell's own status otherwise).
GONE_EXIT = 1

ENTER_SCRIPT = " ".join(
    line.strip()
    for line in """
    cwd=$1; gone=$2; n=$3; shift 3;
    while [ "$n" -gt 0 ]; do export "$1"; shift; n=$((n - 1)); done;
    if [ -n "$cwd" ] && ! cd -- "$cwd" 2>/dev/null; then
        printf "%s" "$gone" >&2;
        if [ $# -gt 0 ]; then exit @GONE@; fi;
        cd || exit @GONE@;
    fi;
    shell=${SHELL:-/bin/sh};
    if [ $# -eq 0 ]; then exec "$shell" -l; fi;
    exec "$shell" -lc "$1"
    """.strip().splitlines()
).replace("@GONE@", str(GONE_EXIT))


def command_line(words: Sequence[str]) -> str:
    """What the login shell runs for ``-- COMMAND``: one word as the line it is (so
    ``'nvidia-smi | head'`` keeps its pipe, as ``ssh HOST LINE`` would), several
    words quoted one by one (so ``sh -c 'exit 3'`` stays three words, which
    ``ssh`` would have joined with spaces)."""
    return words[0] if len(words) == 1 else shlex.join(words)


def enter_argv(job: Optional[JobInfo], words: Sequence[str], where: str) -> List[str]:
    """The argv that opens the login shell (no `words`) or runs `words` in it, in
    `job`'s directory and with its variables; with no job, plainly. `where` names
    the host in the note about a directory that is gone (``on gpu1``)."""
    cwd, note, env = "", "", {}
    if job is not None:
        cwd, env = job.cwd, job_env(job)
        instead = "the command was not run" if words else "the shell starts in your home directory"
        note = (
            f"tether: job {job.id}'s working directory {visible(cwd)} is gone {where} "
            f"(or not open to you): {instead}\n"
        )
    pairs = [f"{key}={value}" for key, value in env.items()]
    line = [command_line(words)] if words else []
    return ["sh", "-c", ENTER_SCRIPT, "tether-shell", cwd, note, str(len(pairs)), *pairs, *line]


def remote_command(argv: Sequence[str]) -> str:
    """`argv` as the one line an SSH server gives the account's login shell."""
    return shlex.join(argv)
