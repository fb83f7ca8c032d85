"""The shell key (``S``) in the app under Pilot: offered in the palette and in
``--readonly`` (a shell changes no job), and said to be impossible where the app
cannot step aside for it. The shell itself is driven in a real terminal, in
tests/shell/test_app_shell_tmux.py: Pilot's headless driver cannot suspend."""

from __future__ import annotations

from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, notices, screen_text, until, until_connected


async def test_shell_is_offered_read_only_and_says_why_it_cannot_open_headless(
    app_env: UserEnv,
) -> None:
    job = int(app_env.tether("run", "--", "sleep", "30", check=True).stdout)
    app = make_app([""], watch_stats=False, readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: f"job {job}: sleep 30" in screen_text(app), what="the job")
        assert app.check_action("open_shell", ())
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Shell on the host" in titles
        await pilot.press("S")
        await until(
            pilot,
            lambda: "a shell needs the app on a terminal" in notices(app),
            what="why no shell opened",
        )
        assert "no shell on local" in {n.title for n in app._notifications}
        assert len(app.screen_stack) == 1
        await app.action_quit()
    app_env.tether("cancel", str(job), check=True)
