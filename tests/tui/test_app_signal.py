"""The app's signal picker (``K``), against a real runner and a real job that
traps USR1: picked with the arrows and Enter, it reaches the job's processes;
a job that is not running, and read-only mode, open nothing."""

from __future__ import annotations

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.pilot_helpers import log_lines, make_app, notices, shows, until, until_connected
from tui.app.log_panel import LogPanel
from tui.app.screens.signal_picker import SignalPickerScreen

TRAPS_USR1 = 'trap "echo got usr1" USR1; echo ready; while true; do sleep 0.1; done'


def _run(env: UserEnv, *argv: str) -> int:
    return int(env.tether("run", "--", *argv, check=True).stdout)


async def test_k_picks_usr1_with_the_arrows_and_the_job_hears_it(app_env: UserEnv) -> None:
    job_id = _run(app_env, "bash", "-c", TRAPS_USR1)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        monitor = app.current_monitor
        await until(pilot, lambda: monitor.job(job_id).state is JobState.RUNNING)
        app.current_view.table.select_job(job_id)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: "ready" in log_lines(panel), what="the job's trap set")

        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, SignalPickerScreen), what="the picker")
        await shows(pilot, app, "SIGUSR1")
        await pilot.press("escape")  # closed: nothing sent
        await until(pilot, lambda: not isinstance(app.screen, SignalPickerScreen))

        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, SignalPickerScreen), what="the picker")
        await pilot.press("down", "down", "down", "enter")  # TERM, INT, KILL, USR1
        await until(pilot, lambda: f"sent SIGUSR1 to job {job_id} (process group" in notices(app))
        await until(pilot, lambda: "got usr1" in log_lines(panel), what="the job hearing it")
        assert log_lines(panel).count("got usr1") == 1  # once: Esc sent nothing
        assert monitor.job(job_id).state is JobState.RUNNING
        assert "got usr1" in app_env.tether("logs", str(job_id), check=True).stdout.decode()

        app_env.tether("cancel", str(job_id), check=True)
        await until(pilot, lambda: monitor.job(job_id).state is JobState.CANCELLED)
        await pilot.press("K")  # an ended job: said why, nothing opens
        await until(pilot, lambda: f"job {job_id} has ended (cancelled)" in notices(app))
        assert not isinstance(app.screen, SignalPickerScreen)
        await app.action_quit()


async def test_readonly_opens_no_signal_picker(app_env: UserEnv) -> None:
    job_id = _run(app_env, "sleep", "60")
    app = make_app([""], watch_stats=False, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: app.current_monitor.job(job_id).state is JobState.RUNNING)
        await pilot.press("K")
        await pilot.pause(0.3)
        assert len(app.screen_stack) == 1
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Send a signal to job" not in titles
        await app.action_quit()
    app_env.tether("cancel", str(job_id), check=True)
