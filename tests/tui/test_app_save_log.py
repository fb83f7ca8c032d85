"""Ctrl+S saves the highlighted job's whole log here, byte for byte, under Pilot
against a real runner: from the jobs table and from the full-screen log."""

from __future__ import annotations

from pathlib import Path

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, notices, until, until_connected
from tui.app.screens.log_screen import LogScreen

#: Not UTF-8, a carriage return, a long tail: saved as written, not as drawn.
SCRIPT = r"printf 'first\r\nbad \377 byte\n'; head -c 300000 /dev/zero | tr '\0' x; echo; echo end"


async def test_ctrl_s_saves_the_log_as_the_job_wrote_it(app_env: UserEnv) -> None:
    job = int(
        app_env.tether("run", "--name", "saver", "--", "bash", "-c", SCRIPT, check=True).stdout
    )
    expected = b"first\r\nbad \xff byte\n" + b"x" * 300000 + b"\nend\n"
    app = make_app(readonly=True, watch_stats=False)  # saving changes nothing on the host
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: app.current_monitor.job(job).state is JobState.SUCCEEDED)
        saved = Path.cwd() / "tether-out" / "local" / f"{job}.log"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: f"to {saved}" in notices(app), what="the saved notice")
        assert saved.read_bytes() == expected
        assert "saved 293 KiB" in notices(app)
        assert not saved.with_name(f"{job}.log.part").exists()

        saved.unlink()
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: saved.exists(), what="saved from the full-screen log")
        assert saved.read_bytes() == expected
        await app.action_quit()


async def test_a_save_that_cannot_be_written_says_why(app_env: UserEnv) -> None:
    job = int(app_env.tether("run", "--", "echo", "hi", check=True).stdout)
    (Path.cwd() / "tether-out").write_text("a file where the folder goes")
    app = make_app(readonly=True, watch_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: app.current_monitor.job(job).state is JobState.SUCCEEDED)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "cannot write" in notices(app), what="why not")
        assert f"log of job {job} not saved" in {n.title for n in app._notifications}
        await app.action_quit()
