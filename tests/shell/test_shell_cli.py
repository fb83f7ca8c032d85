"""``tether shell`` without a terminal, as scripts and pipes run it: a command gets
no pty and exact bytes, an interactive shell is refused at once, and a job that
is not there (or whose directory is gone) is said in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import UserEnv
from tests.shell.terminal import shell_command
from tests.sshd import SshClient, one_line_error

#: Whether it has a terminal, where it runs, its stdin back, and its own stderr.
PROBE = ["sh", "-c", "tty; pwd; cat; echo to-stderr >&2; exit 3"]
STDIN = b"bytes \x00\xff\r\n as sent\n"


def shell(
    env: dict[str, str], cwd: Path, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        shell_command(*args), env=env, cwd=cwd, input=stdin, capture_output=True, timeout=60
    )


def test_a_command_without_a_terminal_runs_with_no_pty_and_exact_bytes_locally(
    local_runner: UserEnv,
) -> None:
    env = local_runner
    work = env.home / "work"
    work.mkdir()
    job_id = int(env.tether("run", "--cwd", str(work), "--", "sleep", "60", check=True).stdout)
    done = shell(env.env, env.home, str(job_id), "--", *PROBE, stdin=STDIN)
    assert (done.returncode, done.stderr) == (3, b"to-stderr\n")
    assert done.stdout == b"not a tty\n" + str(work).encode() + b"\n" + STDIN


def test_a_command_without_a_terminal_runs_with_no_pty_and_exact_bytes_over_ssh(
    ssh_client: SshClient, remote_job: tuple[int, str]
) -> None:
    job_id, work = remote_job
    env = {**ssh_client.env.env, **ssh_client.extra_env}
    done = shell(env, ssh_client.home, "-H", "gpu", str(job_id), "--", *PROBE, stdin=STDIN)
    assert (done.returncode, done.stderr) == (3, b"to-stderr\n")
    assert done.stdout == b"not a tty\n" + work.encode() + b"\n" + STDIN


def test_an_interactive_shell_without_a_terminal_is_refused_before_connecting(
    user_env: UserEnv,
) -> None:
    done = shell(user_env.env, user_env.home, "-H", "nowhere.invalid", "12")
    assert one_line_error(done) == (
        "tether: stdin is not a terminal, and an interactive shell needs one: "
        "run tether shell from a terminal, or give a command after --"
    )


def test_an_unknown_job_is_named_with_its_host(
    local_runner: UserEnv, ssh_client: SshClient, remote_job: tuple[int, str]
) -> None:
    done = shell(local_runner.env, local_runner.home, "999", "--", "true")
    assert one_line_error(done) == (
        "tether: no job 999 on this machine: job numbers belong to one host; "
        "if it ran on another, name that one with -H HOST"
    )
    env = {**ssh_client.env.env, **ssh_client.extra_env}
    done = shell(env, ssh_client.home, "-H", "gpu", "99999", "--", "true")
    assert one_line_error(done).startswith("tether: no job 99999 on gpu: job numbers belong")


def test_a_command_for_a_job_whose_directory_is_gone_is_not_run(local_runner: UserEnv) -> None:
    env = local_runner
    work = env.home / "collected"
    work.mkdir()
    job_id = int(env.tether("run", "--cwd", str(work), "--", "true", check=True).stdout)
    work.rmdir()
    done = shell(env.env, env.home, str(job_id), "--", "sh", "-c", "echo ran; exit 3")
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.decode() == (
        f"tether: job {job_id}'s working directory {work} is gone from this machine "
        "(or not open to you): the command was not run\n"
    )
