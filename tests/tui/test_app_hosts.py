"""Pilot tests of hosts and links: the state always on screen, stale data with its
age, resuming after the runner dies, adding, switching and remembering hosts."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import textwrap

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.conftest import PY
from tests.tui.pilot_helpers import make_app, screen_text, shows, type_text, until, until_connected
from tui.app.host_bar import HostTab
from tui.app.host_list import hosts_path, load_hosts
from tui.app.launch import hosts_to_open
from tui.app.log_panel import LogPanel
from tui.app.screens.add_host import AddHostScreen
from tui.app.screens.host_picker import HostPickerScreen
from tui.local import open_local
from tui.session import HostSession


def no_autostart(host: str) -> HostSession:
    """The local session, minus starting a runner: a dead runner stays dead."""
    return HostSession("local", lambda: open_local(autostart=False))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_runner_dies_host_shows_reconnecting_and_stale_then_log_resumes_exactly(
    app_env: UserEnv,
) -> None:
    script = textwrap.dedent(
        """
        import time
        for i in range(250):
            print(f'line {i}', flush=True)
            time.sleep(0.02)
        """
    )
    job = int(app_env.tether("run", "--", PY, "-c", script, check=True).stdout)
    app = make_app(session_factory=no_autostart, watch_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: panel.window.line_count > 40, what="some output")
        pid = app_env.runner_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        text = await until(
            pilot,
            lambda: "reconnecting (attempt" in screen_text(app) and screen_text(app),
            what="the reconnecting state on screen",
        )
        assert re.search(r"next try in \d+s", text)
        await until(pilot, lambda: re.search(r"\[stale \d+s\]", screen_text(app)), what="stale")
        assert "◐ local #" in screen_text(app)  # the host bar says it too
        assert app.current_monitor.jobs  # the last known jobs stay on screen
        assert app_env.runner("serve", "--daemon").returncode == 0
        await pilot.press("R")  # try now instead of waiting out the backoff
        await until(pilot, lambda: app.current_monitor.connected, what="reconnected")
        await until(pilot, lambda: "stale" not in screen_text(app))
        await until(
            pilot,
            lambda: (
                app.current_monitor.job(job).state is JobState.SUCCEEDED and panel.ended is not None
            ),
            timeout=30,
            what="the job's end",
        )
        assert [line.decode() for line in panel.window.lines] == [f"line {i}" for i in range(250)]
        await app.action_quit()


async def test_unreachable_host_says_why_and_keeps_trying(app_env: UserEnv) -> None:
    ssh_dir = app_env.home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(f"Host nowhere\n  HostName 127.0.0.1\n  Port {closed_port()}\n")
    app = make_app(["nowhere"], watch_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        text = await until(
            pilot,
            lambda: "reconnecting (attempt" in screen_text(app) and screen_text(app),
            what="a retry schedule",
        )
        assert "nowhere: cannot reach 127.0.0.1 port" in " ".join(text.split())
        await app.action_quit()


async def test_add_host_offers_ssh_aliases_checks_the_name_and_remembers_it(
    app_env: UserEnv,
) -> None:
    port = closed_port()
    ssh_dir = app_env.home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(
        "Include extra.conf\n"
        f"Host gpu-a\n  HostName 127.0.0.1\n  Port {port}\n"
        "Host *.corp\n  User someone\n"
    )
    (ssh_dir / "extra.conf").write_text(f"Host gpu-b gpu-c\n  HostName 127.0.0.1\n  Port {port}\n")
    app = make_app(remember_hosts=True, watch_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AddHostScreen))
        text = await until(pilot, lambda: "gpu-c" in screen_text(app) and screen_text(app))
        assert "gpu-a" in text and "gpu-b" in text and ".corp" not in text
        await type_text(pilot, "localhost")
        await pilot.press("enter")
        await shows(pilot, app, "this machine is already open")
        app.screen.query_one("#host").value = ""
        await type_text(pilot, "b")  # filters the list as one types
        await until(pilot, lambda: "gpu-a" not in screen_text(app))
        await pilot.press("down", "enter")
        await until(pilot, lambda: not isinstance(app.screen, AddHostScreen))
        assert [m.label for m in app.monitors] == ["local", "gpu-b"]
        await until(pilot, lambda: app.current_monitor.label == "gpu-b")
        assert load_hosts() == ["gpu-b"]
        assert hosts_path() == app_env.home / ".config" / "tether" / "hosts.json"
        await until(pilot, lambda: "gpu-b: cannot reach" in screen_text(app), what="its reason")
        # Switch back with the picker, which shows each host's state.
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HostPickerScreen))
        await shows(pilot, app, "● local")
        await pilot.press("up", "enter")
        await until(pilot, lambda: app.current_monitor.label == "local")
        # And with the mouse, on the host bar.
        tab = next(t for t in app.query(HostTab) if t.monitor.label == "gpu-b")
        await pilot.click(tab)
        await until(pilot, lambda: app.current_monitor.label == "gpu-b")
        await app.action_quit()


def test_remembered_hosts_open_after_the_given_ones_and_a_damaged_list_is_reported(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert hosts_to_open([""], True) == ([""], [])
    hosts_path().parent.mkdir(parents=True)
    hosts_path().write_text(json.dumps(["gpu1", "gpu2"]))
    assert hosts_to_open([""], True) == (["", "gpu1", "gpu2"], [])
    assert hosts_to_open(["gpu2"], False) == (["gpu2"], [])
    hosts_path().write_text("{not json")
    hosts, notes = hosts_to_open([""], True)
    assert hosts == [""]
    assert "is not valid JSON" in notes[0] and "fix or delete it" in notes[0]


async def test_remembered_hosts_show_as_tabs_each_with_its_state(app_env: UserEnv) -> None:
    ssh_dir = app_env.home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(f"Host far\n  HostName 127.0.0.1\n  Port {closed_port()}\n")
    app = make_app(["", "far"], watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        bar = await until(
            pilot,
            lambda: (line := screen_text(app).splitlines()[0]) and "◐ far #" in line and line,
            what="both hosts in the bar",
        )
        assert "● local" in bar
        await app.action_quit()


async def test_the_hosts_screen_shows_twenty_hosts_at_80x24_with_gpus_jobs_and_links(
    app_env: UserEnv,
) -> None:
    job = int(app_env.tether("run", "--name", "w", "--", "sleep", "60", check=True).stdout)
    gone = [f"127.0.0.1:{closed_port()}" for _ in range(19)]
    app = make_app(["", *gone])
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until_connected(pilot, app)
            monitor = app.current_monitor
            await until(pilot, lambda: monitor.job(job).state is JobState.RUNNING)
            await until(pilot, lambda: monitor.latest is not None, what="a stats sample")
            await pilot.press("h")
            await until(pilot, lambda: isinstance(app.screen, HostPickerScreen))
            text = await shows(pilot, app, "1 run 0 wait")
            local = next(line for line in text.splitlines() if "● local" in line)
            assert re.search(r"\d+x [█░]{4}\s*\d+% [█░]{4} \d+/\d+G", local), local
            assert "cannot reach" in text  # the others, each with its link
            # Twenty rows scroll: the last one is reached, and Enter opens it.
            await pilot.press("end", "enter")
            await until(pilot, lambda: app.current_monitor.host == gone[-1], what="the last host")
            await app.action_quit()
    finally:
        app_env.tether("cancel", str(job))
