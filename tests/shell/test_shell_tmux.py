"""``tether shell`` in a real terminal (tmux), as a person uses it: on this machine
and on a host behind a real sshd, in a job's place, Ctrl-C reaching the shell's
program, a resized window reaching the shell, and the shell's exit status
coming out as tether's, with the terminal given back in line mode."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import psutil

from tests.conftest import UserEnv, alive, wait_for
from tests.shell.terminal import (
    check_resize_and_ctrl_c,
    check_the_jobs_place,
    enter,
    new_tmux,
    shell_command,
    wait_pane,
)
from tests.sshd import SshClient
from tests.tui.test_tmux_e2e import Tmux

#: After the shell: its status as tether's, and whether the terminal is in line mode.
AFTER = "; echo SHELL-EXITED $?; stty -a | grep -o ' icanon'; echo STTY-DONE; sleep 60"


def check_the_exit(tmux: Tmux) -> None:
    enter(tmux, "exit 3")
    screen = wait_pane(tmux, "STTY-DONE")
    assert "SHELL-EXITED 3" in screen
    assert " icanon" in screen  # not -icanon: raw mode was undone


def _running(env: UserEnv, job_id: int) -> dict[str, object]:
    def started() -> dict[str, object] | None:
        jobs = json.loads(env.tether("ls", "--json", check=True).stdout)
        return next((j for j in jobs if j["id"] == job_id and j["state"] == "running"), None)

    return wait_for(started, timeout=30, interval=0.2)  # type: ignore[no-any-return]


def test_a_local_shell_enters_the_job_and_gives_its_status_back(
    four_gpu_runner: UserEnv, tmp_path: Path, tmux_here: None
) -> None:
    env = four_gpu_runner
    work = env.home / "work dir"
    work.mkdir()
    env.tether("run", "--gpus", "1", "--", "sleep", "120", check=True)  # takes GPU 0
    job_id = int(
        env.tether(
            "run", "--gpus", "2", "--cwd", str(work), "--env", "GREETING=hello there",
            "--", "sleep", "120", check=True,
        ).stdout
    )  # fmt: skip
    assert _running(env, job_id)["gpus"] == [1, 2]
    tmux = new_tmux(tmp_path, env.env)
    try:
        tmux.start(shlex.join(shell_command(str(job_id))) + AFTER)
        check_the_jobs_place(tmux, str(work), job_id, "1,2")
        check_resize_and_ctrl_c(tmux)
        check_the_exit(tmux)
    finally:
        tmux.kill()  # the jobs and the runner end with the test (tests/conftest.py)


def test_a_remote_shell_enters_the_job_and_gives_its_status_back(
    ssh_client: SshClient, remote_job: tuple[int, str], tmp_path: Path, tmux_here: None
) -> None:
    job_id, work = remote_job
    tmux = new_tmux(tmp_path, {**ssh_client.env.env, **ssh_client.extra_env})
    try:
        tmux.start(shlex.join(shell_command("-H", "gpu", str(job_id))) + AFTER)
        check_the_jobs_place(tmux, work, job_id, "")
        check_resize_and_ctrl_c(tmux)
        check_the_exit(tmux)
    finally:
        tmux.kill()


def test_sigterm_to_tether_hangs_the_shell_up_and_gives_the_terminal_back(
    user_env: UserEnv, tmp_path: Path, tmux_here: None
) -> None:
    tmux = new_tmux(tmp_path, user_env.env)
    try:
        tmux.start(shlex.join(shell_command()) + AFTER)
        enter(tmux, 'echo "mark=$((6*7))"')
        wait_pane(tmux, "mark=42")
        pane_shell = psutil.Process(int(tmux.tmux("display", "-p", "-t", "e2e", "#{pane_pid}")))
        (tether,) = [
            p for p in pane_shell.children() if "shell" in p.cmdline() and "tui.cli" in p.cmdline()
        ]
        (login_shell,) = tether.children(recursive=True)
        tether.terminate()
        screen = wait_pane(tmux, "STTY-DONE")
        assert "SHELL-EXITED 129" in screen  # the shell's own end: hung up (SIGHUP)
        assert " icanon" in screen
        wait_for(lambda: not alive(login_shell.pid))
    finally:
        tmux.kill()
