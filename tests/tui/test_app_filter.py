"""``/`` in the jobs table under Pilot against a real runner: the jobs whose id,
name, command or state have every typed word, live as one types; Enter keeps the
filter (named in the title), Esc clears it. In the log, ``/`` still searches."""

from __future__ import annotations

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, screen_text, shows, type_text, until, until_connected
from tui.app.log_panel import LogPanel


async def test_slash_filters_the_jobs_by_words_and_esc_brings_them_back(app_env: UserEnv) -> None:
    jobs = {
        name: int(app_env.tether("run", "--name", name, "--", *argv, check=True).stdout)
        for name, argv in (
            ("train-small", ["true"]),
            ("train-big", ["sleep", "60"]),
            ("eval", ["echo", "needle-in-argv"]),
        )
    }
    app = make_app(watch_stats=False, readonly=True)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until_connected(pilot, app)
            monitor = app.current_monitor
            await until(pilot, lambda: monitor.job(jobs["train-big"]).state is JobState.RUNNING)
            await until(pilot, lambda: monitor.job(jobs["eval"]).state is JobState.SUCCEEDED)
            table = app.current_view.table

            def shown() -> set[str]:
                return {job.name for job in table.shown_jobs}

            await pilot.press("slash")
            await type_text(pilot, "TRAIN")
            await until(pilot, lambda: shown() == {"train-small", "train-big"}, what="train")
            await type_text(pilot, " runn")
            await until(pilot, lambda: shown() == {"train-big"}, what="train and running")
            await pilot.press("enter")
            await shows(pilot, app, "/TRAIN runn")
            assert table.has_focus
            await pilot.press("slash", *["backspace"] * 11)
            await type_text(pilot, "needle")  # the command, not the name
            await until(pilot, lambda: shown() == {"eval"}, what="by command")
            await type_text(pilot, " nothing-has-this")
            await until(pilot, lambda: shown() == set(), what="nothing")
            await pilot.press("escape")
            await until(pilot, lambda: len(shown()) == 3, what="all back")
            assert "/needle" not in screen_text(app) and table.has_focus

            panel = app.current_view.query_one(LogPanel)
            panel.lines.focus()
            await pilot.press("slash")  # the log's own search, not the jobs filter
            await until(pilot, lambda: app.focused is not None and app.focused.id == "log-search")
            await pilot.press("escape")
            assert len(shown()) == 3
            await app.action_quit()
    finally:
        app_env.tether("cancel", str(jobs["train-big"]))
