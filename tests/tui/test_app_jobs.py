"""Pilot tests of the job actions, against a real runner: new, cancel, rerun, filter,
full-screen log, help, command palette, quit."""

from __future__ import annotations

import asyncio
import json

from protocol.jobs import JobSpec, JobState
from protocol.limits import MAX_LIST_JOBS
from tests.conftest import UserEnv
from tests.tui.conftest import PY
from tests.tui.pilot_helpers import (
    log_lines,
    make_app,
    notices,
    run_job,
    screen_text,
    shows,
    type_text,
    until,
    until_connected,
)
from tui.app.jobs_table import JobsTable
from tui.app.log_panel import LogPanel
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.help import HelpScreen
from tui.app.screens.log_screen import LogScreen
from tui.app.screens.new_job import NewJobScreen
from tui.hosts import make_session


async def test_new_job_from_the_form_runs_and_its_output_shows_in_the_log(app_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        job_id = await run_job(
            pilot,
            app,
            "for i in 1 2 3; do echo hello $i $GREETING; done",
            name="greeter",
            env="GREETING=there",
        )
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: "hello 3 there" in log_lines(panel), what="the output")
        assert log_lines(panel)[:3] == ["hello 1 there", "hello 2 there", "hello 3 there"]
        await until(pilot, lambda: app.current_monitor.job(job_id).state is JobState.SUCCEEDED)
        await until(
            pilot,
            lambda: "greeter" in screen_text(app) and "succeeded" in screen_text(app),
            what="the table showing the job's end",
        )
        # The job is on the runner exactly as the form described it.
        listed = json.loads(app_env.tether("ls", "--json", check=True).stdout)
        assert listed[0]["name"] == "greeter"
        assert listed[0]["argv"] == [
            "bash",
            "-lc",
            "for i in 1 2 3; do echo hello $i $GREETING; done",
        ]
        await app.action_quit()


async def test_the_form_refuses_bad_fields_with_a_sentence_and_keeps_them(app_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewJobScreen))
        await pilot.press("enter")
        await shows(pilot, app, "type a command to run")
        await type_text(pilot, "echo hi")
        app.screen.query_one("#env").focus()
        await type_text(pilot, "NOEQUALS")
        await pilot.press("enter")
        await shows(pilot, app, "environment takes KEY=VALUE pairs, got 'NOEQUALS'")
        assert app.screen.focused is app.screen.query_one("#env")
        app.screen.query_one("#env").value = ""
        app.screen.query_one("#gpus").focus()
        await type_text(pilot, "lots")
        await pilot.press("enter")
        await shows(pilot, app, "GPUs takes a count or 'all'")
        app.screen.query_one("#gpus").value = ""
        app.screen.query_one("#cwd").focus()
        await type_text(pilot, "/no/such/dir")
        await pilot.press("enter")
        # The runner's own refusal shows in the form, which stays open; nothing started.
        await until(pilot, lambda: "/no/such/dir does not exist on this host" in screen_text(app))
        assert isinstance(app.screen, NewJobScreen)
        assert app.screen.focused is app.screen.query_one("#cwd")
        assert app.current_monitor.jobs == []
        await pilot.press("escape")
        assert not isinstance(app.screen, NewJobScreen)
        await app.action_quit()


async def test_cancel_asks_first_and_only_yes_stops_the_job(app_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        job_id = await run_job(pilot, app, "echo started; sleep 600")
        await until(pilot, lambda: app.current_monitor.job(job_id).state is JobState.RUNNING)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await shows(pilot, app, f"Cancel job {job_id}")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert app.current_monitor.job(job_id).state is JobState.RUNNING
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(
            pilot,
            lambda: app.current_monitor.job(job_id).state is JobState.CANCELLED,
            what="the job cancelled",
        )
        table = app.current_view.query_one(JobsTable)
        await until(pilot, lambda: "cancelled" in screen_text(app))
        assert table.selected_job.id == job_id
        # A second cancel says why nothing happens, instead of asking again.
        await pilot.press("c")
        await until(pilot, lambda: "has already ended (cancelled)" in notices(app))
        assert not isinstance(app.screen, ConfirmScreen)
        await app.action_quit()


async def test_z_pauses_a_running_job_and_resumes_it(app_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        job_id = await run_job(pilot, app, "echo started; sleep 600")
        monitor = app.current_monitor
        await until(pilot, lambda: monitor.job(job_id).state is JobState.RUNNING)
        await pilot.press("z")
        await until(pilot, lambda: monitor.job(job_id).state is JobState.PAUSED, what="paused")
        await until(pilot, lambda: f"job {job_id} paused" in notices(app))
        listed = {j["id"]: j for j in json.loads(app_env.tether("ls", "--json").stdout)}
        assert listed[job_id]["state"] == "paused"  # the runner's word, not the app's
        await pilot.press("z")
        await until(pilot, lambda: monitor.job(job_id).state is JobState.RUNNING, what="resumed")
        await until(pilot, lambda: f"job {job_id} resumed" in notices(app))
        app_env.tether("cancel", str(job_id), check=True)
        await until(pilot, lambda: monitor.job(job_id).state is JobState.CANCELLED)
        await pilot.press("z")  # an ended job: said why, nothing sent
        await until(pilot, lambda: "has ended (cancelled): only a running job" in notices(app))
        await app.action_quit()


async def test_rerun_opens_the_form_with_the_same_settings_and_runs_them(app_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        first = await run_job(pilot, app, "echo $A-$B", name="pair", env="A=1 B='two words'")
        await until(pilot, lambda: app.current_monitor.job(first).state is JobState.SUCCEEDED)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, NewJobScreen))
        form = app.screen.form()
        assert form.command == "echo $A-$B"
        assert form.name == "pair"
        assert form.env == "A=1 B='two words'"
        await pilot.press("enter")
        second = await until(
            pilot, lambda: [j for j in app.current_monitor.jobs if j.id != first], what="rerun"
        )
        rerun = second[0]
        original = app.current_monitor.job(first)
        assert (rerun.argv, rerun.env, rerun.name, rerun.cwd) == (
            original.argv,
            original.env,
            original.name,
            original.cwd,
        )
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: panel.job_id == rerun.id and "1-two words" in log_lines(panel))
        await app.action_quit()


async def test_filter_cycles_through_states_and_shows_only_matching_jobs(app_env: UserEnv) -> None:
    app_env.tether("run", "--name", "good", "--", "true", check=True)
    app_env.tether("run", "--name", "bad", "--", "false", check=True)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        table = app.current_view.query_one(JobsTable)
        await until(
            pilot,
            lambda: (
                {j.state for j in app.current_monitor.jobs} == {JobState.SUCCEEDED, JobState.FAILED}
            ),
        )
        # What the table shows, which follows the monitor by a redraw: newest first.
        await until(pilot, lambda: [j.name for j in table.shown_jobs] == ["bad", "good"])
        seen = {}
        for _ in range(len(JobState) + 2):
            await pilot.press("s")
            seen[table.state_filter] = [j.name for j in table.shown_jobs]
        assert seen["failed"] == ["bad"]
        assert seen["succeeded"] == ["good"]
        assert seen["active"] == []
        assert seen[None] == ["bad", "good"]
        while table.state_filter != "failed":
            await pilot.press("s")
        await shows(pilot, app, "jobs (failed) 1/2")
        await app.action_quit()


async def test_enter_or_f_opens_the_log_full_screen_and_escape_returns(app_env: UserEnv) -> None:
    app_env.tether(
        "run", "--", PY, "-c", "print('\\n'.join(f'row {i}' for i in range(500)))", check=True
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: app.current_view.selected_job is not None)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        panel = app.screen.query_one(LogPanel)
        await until(pilot, lambda: log_lines(panel)[-1:] == ["row 499"], what="the tail")
        assert len(log_lines(panel)) >= 20  # the full screen shows far more than the pane
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)
        app.current_view.query_one(JobsTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        await pilot.press("escape")
        await app.action_quit()


async def test_help_lists_every_action_with_its_key(app_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(100, 48)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await until(pilot, lambda: "tether keys" in screen_text(app))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        # Every row, on screen or further down the scrolling list.
        rows = [f"{keys} {what}" for _, section in help_screen._sections for keys, what in section]
        assert any(row.startswith("Ctrl+P") for row in rows)
        for key, words in [
            ("n", "Start a job"),
            ("c", "Cancel the highlighted job"),
            ("r", "Run the highlighted"),
            ("f", "full screen"),
            ("h", "Switch to another"),
            ("a", "Open another host"),
            ("?", "Help"),
            ("q", "Quit"),
            ("/", "Search"),
            ("m", "metric curves"),
            ("C", "Choose the jobs table's columns"),
            ("d", "Everything about the highlighted job"),
            ("K", "Signal the highlighted running job"),
            ("s", "Filter jobs"),
            ("End / G", "follow again"),
        ]:
            assert any(row.startswith(key) and words in row for row in rows), (key, words)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await app.action_quit()


async def test_command_palette_offers_the_actions_by_name(app_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await pilot.press("ctrl+p")
        await type_text(pilot, "new job")
        await until(pilot, lambda: "Start a job on this host" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, NewJobScreen))
        await pilot.press("escape")
        await app.action_quit()


async def test_quit_closes_every_session_and_leaves_jobs_running(app_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        job_id = await run_job(pilot, app, "sleep 30")
        monitor = app.current_monitor
        await pilot.press("q")
        await until(pilot, lambda: monitor.session is None or monitor.link.kind != "connected")
    assert app.return_code == 0
    listed = json.loads(app_env.tether("ls", "--json", check=True).stdout)
    assert [(j["id"], j["state"]) for j in listed] == [(job_id, "running")]
    app_env.tether("cancel", str(job_id), check=True)


async def test_an_empty_host_says_how_to_start_a_job_and_a_filter_how_to_see_the_rest(
    app_env: UserEnv,
) -> None:
    app = make_app([""], watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await until(
            pilot, lambda: "no jobs yet: press n to start one" in screen_text(app), what="a hint"
        )
        app_env.tether("run", "--", "true", check=True)
        await until(pilot, lambda: "job 1: true" in screen_text(app), what="job 1")
        await pilot.press("s")  # active only: job 1 has ended
        await until(
            pilot,
            lambda: "no active jobs here: s changes the filter" in screen_text(app),
            what="the filter's hint",
        )
        await app.action_quit()


async def test_readonly_offers_nothing_that_starts_or_stops_a_job(app_env: UserEnv) -> None:
    job = int(app_env.tether("run", "--", "sleep", "30", check=True).stdout)
    app = make_app([""], watch_stats=False, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: f"job {job}: sleep 30" in screen_text(app), what="the job")
        # The footer is drawn after the bindings are checked, a moment later.
        await until(pilot, lambda: "Pull" in screen_text(app).splitlines()[-1], what="footer")
        footer = screen_text(app).splitlines()[-1]
        assert "Log" in footer and "Pull" in footer
        assert not any(word in footer for word in ("New", "Cancel", "Rerun"))
        await pilot.press("c", "n", "r")  # nothing opens, nothing is asked
        await pilot.pause()
        assert len(app.screen_stack) == 1
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Pull job outputs" in titles
        assert not titles & {"New job", "Cancel job", "Rerun job"}
        await app.action_quit()
    listed = json.loads(app_env.tether("ls", "--json", check=True).stdout)
    assert [j["state"] for j in listed if j["id"] == job] == ["running"]
    app_env.tether("cancel", str(job), check=True)


async def test_the_form_queues_a_job_after_another_and_the_table_says_so(
    app_env: UserEnv,
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        first = await run_job(pilot, app, "sleep 600")
        second = await run_job(pilot, app, "echo after", after=str(first), priority="5")
        await shows(pilot, app, f"waiting for job {first}")
        job = app.current_monitor.job(second)
        assert (job.after, job.after_any, job.priority) == ([first], False, 5)
        assert job.state is JobState.QUEUED
        app.current_view.table.select_job(first)
        await shows(pilot, app, f"job {first}: sleep")  # the log beside follows the highlight
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(
            pilot,
            lambda: app.current_monitor.job(second).state is JobState.CANCELLED,
            what="the waiting job cancelled with the one it waited for",
        )
        assert f"job {first} was cancelled" in (app.current_monitor.job(second).reason or "")
        await app.action_quit()


async def test_a_queue_longer_than_a_page_is_held_whole_and_only_the_screen_is_drawn(
    app_env: UserEnv,
) -> None:
    app_env.tether("queue", "pause", check=True)  # they wait: nothing starts
    count = MAX_LIST_JOBS + 50  # more than one page of a listing
    session = make_session("local")
    await session.start()
    try:
        spec = JobSpec(argv=["true"])
        for _ in range(count // 50):
            await asyncio.gather(*(session.submit(spec) for _ in range(50)))
        oldest = min(job.id for job in await session.list_jobs())
    finally:
        await session.close()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: len(app.current_monitor.jobs) == count, timeout=30)
        await until(pilot, lambda: f"jobs (all) {count}/{count}" in screen_text(app))
        assert "newest" not in screen_text(app)
        table = app.current_view.query_one(JobsTable)
        table.focus()
        await pilot.press("end")
        await until(
            pilot, lambda: table.selected_job is not None and table.selected_job.id == oldest
        )
        tail = [line.split() for line in screen_text(app).splitlines()]
        assert [str(oldest), "true", "queued"] in [words[:3] for words in tail]  # on screen
        # Drawn: the rows that were on screen, not the whole queue.
        assert len(table._rows) < 100
        await app.action_quit()
