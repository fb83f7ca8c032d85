"""Job-end notices: the terminal sequence chosen from the environment (pure), and
the app telling of a job that ends while it watches, under Pilot against a real
runner; a job that had ended before the app opened is not news."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.pilot_helpers import notices, until, until_connected
from tui.app.app import TetherApp
from tui.app.desktop_notice import BELL, terminal_notice


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TERM_PROGRAM": "WezTerm"}, "\x1b]9;t: job 3 ended\x1b\\"),
        ({"KITTY_WINDOW_ID": "1"}, "\x1b]9;t: job 3 ended\x1b\\"),
        ({"TERM": "foot"}, "\x1b]777;notify;t;job 3 ended\x1b\\"),
        ({"VTE_VERSION": "7600"}, "\x1b]777;notify;t;job 3 ended\x1b\\"),
        ({"TERM": "xterm-256color"}, BELL),
        ({"TMUX": "/tmp/x", "VTE_VERSION": "1"}, BELL),  # the outer terminal is unknown
        (
            {"TMUX": "/tmp/x", "LC_TERMINAL": "iTerm2"},
            "\x1bPtmux;\x1b\x1b]9;t: job 3 ended\x1b\x1b\\\x1b\\" + BELL,
        ),
    ],
)
def test_the_sequence_suits_the_terminal(env: dict[str, str], expected: str) -> None:
    assert terminal_notice("t", "job 3 ended", env) == expected


def test_settings_and_hostile_text() -> None:
    wez = {"TERM_PROGRAM": "WezTerm"}
    assert terminal_notice("t", "x", wez, "off") == ""
    assert terminal_notice("t", "x", wez, "bell") == BELL
    sneaky = terminal_notice("t", "a\x1b]0;pwned\x07b;c", {"TERM": "foot"})
    assert sneaky == "\x1b]777;notify;t;a ]0 pwned b c\x1b\\"


class Recording(TetherApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[str] = []

    def tell_terminal(self, sequence: str) -> None:
        self.told.append(sequence)


async def test_a_job_that_ends_while_the_app_watches_is_told(
    app_env: UserEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM_PROGRAM", "WezTerm")
    monkeypatch.delenv("TMUX", raising=False)
    old = int(app_env.tether("run", "--", "false", check=True).stdout)
    flag = tmp_path / "go"
    script = f"until [ -e '{flag}' ]; do sleep 0.1; done; exit 3"
    run = app_env.tether("run", "--name", "trainer", "--", "bash", "-c", script, check=True)
    job = int(run.stdout)
    app = Recording([""], watch_stats=False, remember_hosts=False, readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: app.current_monitor.job(old).state is JobState.FAILED)
        assert app.told == []  # ended before the app opened: not news
        flag.touch()
        await until(pilot, lambda: app.told, what="the terminal told")
        assert app.told == [f"\x1b]9;tether: local: job {job} (trainer) failed (exit 3)\x1b\\"]
        assert f"job {job} (trainer) failed (exit 3)" in notices(app)
        await app.action_quit()


async def test_a_job_that_stalls_while_the_app_watches_is_told_once(
    app_env: UserEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM_PROGRAM", "WezTerm")
    monkeypatch.delenv("TMUX", raising=False)
    flag = tmp_path / "quiet"
    script = f"until [ -e '{flag}' ]; do echo tick; sleep 0.2; done; sleep 1000"
    run = app_env.tether(
        "run", "--name", "loader", "--stall-after", "1s", "--", "bash", "-c", script, check=True
    )
    job = int(run.stdout)
    app = Recording([""], watch_stats=False, remember_hosts=False, readonly=True)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until_connected(pilot, app)
            await until(pilot, lambda: app.current_monitor.job(job).state is JobState.RUNNING)
            assert app.told == []
            flag.touch()  # from now on it says nothing
            await until(pilot, lambda: app.told, what="the terminal told")
            body = f"job {job} (loader) stalled: no output or metric for 1s"
            assert app.told == [f"\x1b]9;tether: local: {body}\x1b\\"]
            assert body in notices(app)
            assert app.current_monitor.job(job).flags == ["stalled"]
            await app.action_quit()
    finally:
        app_env.tether("cancel", str(job), check=True)
