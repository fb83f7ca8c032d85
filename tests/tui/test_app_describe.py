"""The describe view (``d``) under Pilot against a real runner: everything the job
was given, kept current as it runs and ends; Enter opens its log, Esc goes back."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, screen_text, shows, until, until_connected
from tui.app.screens.describe import DescribeScreen
from tui.app.screens.log_screen import LogScreen


async def test_describe_shows_the_job_as_given_and_follows_it_to_its_end(
    app_env: UserEnv,
) -> None:
    work = Path(tempfile.mkdtemp(prefix="d-", dir="/tmp")) / "work dir"  # short: one line
    work.mkdir()
    flag = app_env.home / "go"
    wait_then_fail = f"until [ -e '{flag}' ]; do sleep 0.1; done; exit 3"
    given = ["--name", "described", "--cwd", str(work), "--env", "LR=3e-4", "--env", "MODE=fast"]
    job = int(app_env.tether("run", *given, "--", "bash", "-c", wait_then_fail, check=True).stdout)
    app = make_app([""], watch_stats=False, readonly=True)  # describing changes nothing
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        await shows(pilot, app, f"job {job}: described")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DescribeScreen), what="the view")
        text = await shows(pilot, app, "LR=3e-4")
        for expected in (
            f"job          {job} on local",
            "state        running",
            f"directory    {work}",
            "environment  LR=3e-4",
            "             MODE=fast",
            "GPUs         - (asked: none)",
            "exit         -",
        ):
            assert expected in text, (expected, text)
        assert "bash -c 'until [ -e" in text
        flag.touch()
        text = await shows(pilot, app, "state        failed")
        assert "exit         3" in text
        assert "finished     20" in text  # a date now, with how long ago

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LogScreen), what="its log")
        assert f"job {job}" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1, what="back to the host")

        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DescribeScreen))
        await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1, what="back again")
        await app.action_quit()
