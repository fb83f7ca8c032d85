"""A retried job in the app, under Pilot against a real runner: the log shown
moves to the new attempt's log when it starts (each attempt's log begins at
byte 0, so a follow must not carry on by offset), and ``d`` lists the attempts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.jobs import JobState
from tests.conftest import UserEnv, make_user_env
from tests.tui.pilot_helpers import log_lines, make_app, shows, until, until_connected
from tui.app.log_panel import LogPanel
from tui.app.screens.describe import DescribeScreen

#: Attempt 1 speaks, then fails once the test has seen it (file `go`); attempt 2 succeeds.
FLAKY = (
    'echo "attempt $TETHER_ATTEMPT speaking"; [ "$TETHER_ATTEMPT" = 2 ] && exit 0; '
    "while [ ! -e go ]; do sleep 0.05; done; exit 4"
)


@pytest.fixture
def retry_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UserEnv]:
    env = make_user_env(tmp_path)
    env.env["TETHER_RETRY_BACKOFF"] = "1"
    assert env.runner("serve", "--daemon").returncode == 0
    for key, value in env.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.chdir(env.home)
    yield env
    env.stop_runner()


async def test_the_log_follows_a_retried_job_into_its_next_attempt(retry_env: UserEnv) -> None:
    run = retry_env.tether("run", "--retry", "1", "--name", "flaky", "--", "bash", "-c", FLAKY)
    job = int(run.stdout)
    app = make_app(watch_stats=False, readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: panel.job_id == job, what="the job's log")
        await until(pilot, lambda: log_lines(panel) == ["attempt 1 speaking"], what="attempt 1")
        (retry_env.home / "go").touch()
        await until(
            pilot,
            lambda: log_lines(panel) == ["attempt 2 speaking"],
            what="attempt 2's own log, not appended to the first",
            timeout=60,
        )
        assert panel.attempt == 2
        await until(pilot, lambda: app.current_monitor.job(job).state is JobState.SUCCEEDED)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DescribeScreen))
        await shows(pilot, app, "attempt 1: failed (exit 4)")
        await shows(pilot, app, "2 of 2, retried on any")
        await app.action_quit()
