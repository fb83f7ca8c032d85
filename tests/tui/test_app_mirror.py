"""The app and the local mirror, over a real sshd: while a host is open, its
running jobs' logs are copied into the mirror in the background; opened again
when the host cannot be reached, the app shows the job table and the log as the
mirror kept them, marked stale, and goes live when the host comes back."""

from __future__ import annotations

import os
import time

from tests.conftest import wait_for
from tests.ssh.test_fleet import refused_port
from tests.ssh.test_mirror import ALIAS, _alias
from tests.sshd import SshClient, SshWorld
from tests.tui.pilot_helpers import log_lines, make_app, screen_text, until, until_connected
from tui.app.log_panel import LogPanel
from tui.mirror.host import HostMirror

JOB = (
    "import os, sys, time\n"
    "for i in range(50):\n    print(f'mirrored line {i}', flush=True)\n"
    "while not os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\n"
)


async def test_the_app_keeps_running_jobs_in_the_mirror_and_opens_on_it_offline(
    client_env: SshClient, ssh_world: SshWorld
) -> None:
    _alias(client_env, ssh_world.gpu.port)
    flag = ssh_world.flag(f"app-mirror-{os.getpid()}-{time.monotonic_ns()}")
    run = client_env.tether(
        "run", "-H", ALIAS, "--name", "kept", "--", "python3", "-c", JOB, str(flag), check=True
    )
    job = int(run.stdout)
    copy = client_env.home / ".cache" / "tether" / "mirror" / ALIAS / "jobs" / str(job)
    expected = [f"mirrored line {i}" for i in range(50)]
    try:
        app = make_app([ALIAS])
        async with app.run_test(size=(100, 30)) as pilot:
            await until_connected(pilot, app)
            await until(pilot, lambda: len(app.current_monitor.history) >= 2, what="stats")
            # Nobody opened its log: the mirror keeper read it all the same.
            await until(
                pilot,
                lambda: (
                    (copy / "output.log").exists()
                    and (copy / "output.log").read_text().splitlines() == expected
                ),
                what="the running job's log in the mirror",
            )
            await app.action_quit()
        stats = HostMirror(ALIAS, copy.parent.parent.parent).stats()
        assert stats is not None and len(stats.samples) >= 2  # written when the app closed

        _alias(client_env, refused_port())
        app = make_app([ALIAS])
        async with app.run_test(size=(100, 30)) as pilot:
            monitor = app.current_monitor
            await until(pilot, lambda: monitor.job(job) is not None, what="the mirrored table")
            assert monitor.gpu == stats.gpu
            assert [s.seq for s in monitor.history] == [s.seq for s in stats.samples]
            assert not monitor.connected and monitor.stale_age() is not None
            await until(pilot, lambda: "stale" in screen_text(app), what="the stale mark")
            panel = app.current_view.query_one(LogPanel)
            await until(pilot, lambda: log_lines(panel)[-10:] == expected[-10:], what="the log")
            assert "from the mirror, as of" in screen_text(app)
            assert "50 lines" in screen_text(app)
            assert "kept" in screen_text(app)

            # The host is back: R, and the same log goes on live.
            _alias(client_env, ssh_world.gpu.port)
            await pilot.press("R")
            await until(pilot, lambda: monitor.connected, what="connected again")
            flag.write_text("")
            await until(
                pilot, lambda: monitor.job(job).state.value == "succeeded", what="the job ended"
            )
            await until(pilot, lambda: "stale" not in screen_text(app), what="live again")
            await app.action_quit()
    finally:
        flag.write_text("")
    wait_for(lambda: b"mirrored line 49" in ssh_world.remote_log(job), timeout=10)


HANDOVER_JOB = (
    "import os, sys, time\n"
    "for i in range(20000):\n    print(f'early {i:05d} ' + 'x' * 100)\n"
    "sys.stdout.flush()\n"
    "i = 0\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    print(f'late {i}', flush=True); i += 1; time.sleep(0.05)\n"
    "print('the end')\n"
)


async def test_a_log_on_screen_is_read_once_and_its_copy_stays_whole(
    client_env: SshClient, ssh_world: SshWorld
) -> None:
    _alias(client_env, ssh_world.gpu.port)
    flag = ssh_world.flag(f"handover-{os.getpid()}-{time.monotonic_ns()}")
    run = client_env.tether(
        "run", "-H", ALIAS, "--", "python3", "-c", HANDOVER_JOB, str(flag), check=True
    )
    job = int(run.stdout)
    copy = client_env.home / ".cache" / "tether" / "mirror" / ALIAS / "jobs" / str(job)
    try:
        app = make_app([ALIAS], watch_stats=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await until_connected(pilot, app)
            monitor = app.current_monitor
            panel = app.current_view.query_one(LogPanel)
            await until(pilot, lambda: panel.job_id == job and panel.window.start > 0)
            keeper = monitor.mirror_keeper
            assert keeper is not None
            # The keeper reads the log from its start, reaches the panel, and leaves
            # the rest to the panel's own follow.
            await until(pilot, lambda: (job, "log") not in keeper.followed, what="the handover")
            assert (job, "metrics") in keeper.followed
            # From then on the panel's chunks grow the copy, with no gap.
            mark = panel.window.end + 200
            await until(pilot, lambda: panel.window.end >= mark, what="more late lines")
            log = copy / "output.log"
            await until(pilot, lambda: log.stat().st_size >= mark, what="the copy keeping up")
            assert ssh_world.remote_log(job).startswith(log.read_bytes())
            flag.write_text("")
            await until(pilot, lambda: monitor.job(job).state.value == "succeeded")
            await app.action_quit()
    finally:
        flag.write_text("")
    whole = ssh_world.remote_log(job)
    assert whole.endswith(b"the end\n")
    assert (copy / "output.log").read_bytes() == whole
