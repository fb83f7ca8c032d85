"""Pilot tests of the app over a real OpenSSH server (tests/sshd.py): the unknown
host key dialog, jobs and logs over SSH, and a killed SSH connection."""

from __future__ import annotations

import subprocess

from protocol.jobs import JobState
from tests.sshd import SshClient, SshWorld
from tests.tui.pilot_helpers import (
    log_lines,
    make_app,
    run_job,
    screen_text,
    until,
    until_connected,
)
from tui.app.log_panel import LogPanel
from tui.app.screens.host_key import HostKeyScreen


def fingerprint(host_key_line: str) -> str:
    result = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input=host_key_line, capture_output=True, text=True, check=True
    )
    return result.stdout.split()[1]


def forget_gpu_key(client: SshClient, world: SshWorld) -> None:
    prefix = f"[127.0.0.1]:{world.gpu.port} "
    kept = [ln for ln in world.known_hosts().splitlines(True) if not ln.startswith(prefix)]
    client.known_hosts.write_text("".join(kept))


async def test_unknown_host_key_is_asked_about_and_accepting_remembers_it(
    client_env: SshClient, ssh_world: SshWorld
) -> None:
    forget_gpu_key(client_env, ssh_world)
    app = make_app(["gpu"], watch_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HostKeyScreen), what="the key dialog")
        expected = fingerprint(ssh_world.gpu.host_key_line)
        await until(pilot, lambda: expected in screen_text(app), what=expected)
        assert "Its ssh-ed25519 key fingerprint is:" in screen_text(app)
        assert ssh_world.gpu.host_key_line not in client_env.known_hosts.read_text()
        await pilot.press("a")
        await until_connected(pilot, app)
        line = f"[127.0.0.1]:{ssh_world.gpu.port} {ssh_world.gpu.host_key_line}"
        assert line in client_env.known_hosts.read_text()
        job_id = await run_job(pilot, app, "echo over ssh; hostname >/dev/null; echo $((6*7))")
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: log_lines(panel) == ["over ssh", "42"], what="remote output")
        await until(pilot, lambda: app.current_monitor.job(job_id).state is JobState.SUCCEEDED)
        await app.action_quit()


async def test_refusing_an_unknown_host_key_leaves_the_host_offline_and_untrusted(
    client_env: SshClient, ssh_world: SshWorld
) -> None:
    forget_gpu_key(client_env, ssh_world)
    before = client_env.known_hosts.read_bytes()
    app = make_app(["gpu"], watch_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HostKeyScreen))
        await pilot.press("r")
        await until(pilot, lambda: app.current_monitor.link.kind == "offline")
        text = " ".join(screen_text(app).split())
        assert "offline: gpu: the host key of" in text
        assert client_env.known_hosts.read_bytes() == before
        await app.action_quit()


async def test_killed_ssh_connection_shows_reconnecting_and_the_log_resumes_exactly(
    client_env: SshClient, ssh_world: SshWorld
) -> None:
    app = make_app(["gpu"], watch_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        job_id = await run_job(
            pilot, app, "for i in $(seq 0 199); do echo line $i; sleep 0.02; done"
        )
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: panel.job_id == job_id and panel.window.line_count > 40)
        assert ssh_world.gpu.kill_connections() > 0
        await until(
            pilot,
            lambda: "reconnecting (attempt" in screen_text(app),
            what="reconnecting on screen",
        )
        await until(pilot, lambda: app.current_monitor.connected, timeout=30, what="back")
        await until(pilot, lambda: panel.ended is not None, timeout=40, what="the job's end")
        assert [line.decode() for line in panel.window.lines] == [f"line {i}" for i in range(200)]
        await app.action_quit()
