"""Marking jobs with space and cancelling them all after one question, under Pilot
against a real runner; an unmarked job, and one that ended, are left alone."""

from __future__ import annotations

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, notices, screen_text, shows, until, until_connected
from tui.app.screens.confirm import ConfirmScreen


async def test_space_marks_jobs_and_cancel_asks_once_for_all_of_them(app_env: UserEnv) -> None:
    ended = int(app_env.tether("run", "--name", "done", "--", "true", check=True).stdout)
    sleeping = [
        int(app_env.tether("run", "--name", f"s{n}", "--", "sleep", "600", check=True).stdout)
        for n in range(3)
    ]
    kept, *chosen = sleeping[::-1]  # the table: newest first, so kept is the top row
    app = make_app()
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until_connected(pilot, app)
            monitor = app.current_monitor

            def running() -> bool:
                return all(monitor.job(j).state is JobState.RUNNING for j in sleeping)

            await until(pilot, running)
            await until(pilot, lambda: monitor.job(ended).state is JobState.SUCCEEDED)
            await pilot.press("down", "space", "space", "space")  # the two below, and "done"
            await shows(pilot, app, "3 marked")
            text = screen_text(app)
            for job in (*chosen, ended):
                assert f"*{job} " in text
            assert f"*{kept} " not in text
            await pilot.press("space")  # at the bottom: "done" unmarked again
            await shows(pilot, app, "2 marked")
            await pilot.press("space")  # and marked again
            await shows(pilot, app, "3 marked")

            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            ids = ", ".join(map(str, chosen))
            await shows(pilot, app, f"Cancel 2 jobs on local: {ids}?")
            assert "(1 marked job ended already)" in screen_text(app)
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
            await pilot.pause(0.3)
            assert running()

            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(
                pilot,
                lambda: all(monitor.job(j).state is JobState.CANCELLED for j in chosen),
                what="the marked jobs cancelled",
            )
            await until(pilot, lambda: "cancelled 2 jobs" in notices(app))
            assert monitor.job(kept).state is JobState.RUNNING
            assert "marked" not in screen_text(app)  # the marks went with the cancel
            await app.action_quit()
    finally:
        app_env.tether("cancel", str(kept))
