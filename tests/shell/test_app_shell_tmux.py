"""``S`` in the app, in a real terminal against a host behind a real sshd: the app
steps aside for a shell in the highlighted job's place, on the SSH connection
it already holds, and comes back, at the new size, when the shell exits."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.shell.terminal import (
    check_resize_and_ctrl_c,
    check_the_jobs_place,
    enter,
    new_tmux,
    wait_pane,
)
from tests.sshd import SshClient, SshWorld


def logins(world: SshWorld) -> int:
    return world.gpu.log.read_text().count("Accepted publickey")


def test_the_app_opens_a_shell_in_the_job_over_its_own_connection_and_returns(
    ssh_client: SshClient,
    ssh_world: SshWorld,
    remote_job: tuple[int, str],
    tmp_path: Path,
    tmux_here: None,
) -> None:
    job_id, work = remote_job
    tmux = new_tmux(tmp_path, {**ssh_client.env.env, **ssh_client.extra_env})
    try:
        tmux.start(f"{sys.executable} -m tui.cli -H gpu; echo APP-EXITED $?; sleep 60")
        tmux.wait_for(lambda s: "● gpu" in s and "tick" in s, what="the job's log, connected")
        before = logins(ssh_world)
        tmux.keys("S")
        # Keys typed before the app has stepped aside are the app's (as for a person).
        tmux.wait_for(lambda s: "● gpu" not in s, what="the app stepping aside")
        check_the_jobs_place(tmux, work, job_id, "")
        assert logins(ssh_world) == before  # no second login: the app's connection
        check_resize_and_ctrl_c(tmux)
        # Meanwhile the app's log view had new lines to show every moment: none may be
        # drawn (or queued to draw, which blocks the loop once Textual's queue is full).
        enter(tmux, 'sleep 3; echo "mark=$((11*11))"')
        wait_pane(tmux, "mark=121")
        enter(tmux, "exit 3")
        screen = tmux.wait_for("shell on gpu exited 3", what="the app, back")
        assert "ticker" in screen  # the jobs table, redrawn
        rows = screen.splitlines()
        rule = next(i for i, row in enumerate(rows) if row.startswith("─jobs"))
        assert len(rows[rule]) == 100, screen  # drawn at the size the shell left it,
        assert rows[rule + 1].startswith(" ID"), screen  # not wrapped from a wider one
        tmux.keys("q")
        wait_pane(tmux, "APP-EXITED 0")
    finally:
        tmux.kill()
