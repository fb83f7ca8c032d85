"""Sorting the jobs table by keys under Pilot against a real runner: ``>``/``<``
choose the column (its header marked), ``I`` inverts, the highlight stays on its job."""

from __future__ import annotations

from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, screen_text, until, until_connected
from tui.app.app import TetherApp


def _rows(app: TetherApp) -> list[str]:
    """The names in the jobs table's rows, top to bottom, as drawn."""
    lines = screen_text(app).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(" ID"))
    rows = [line.split() for line in lines[start + 1 : start + 4]]
    return [row[1] for row in rows if len(row) > 1]  # rows not drawn yet: fewer names


async def test_keys_sort_the_jobs_by_any_column_and_the_header_says_which(
    app_env: UserEnv,
) -> None:
    for name, command in (("bravo", "true"), ("alpha", "exit 3"), ("charlie", "sleep 30")):
        app_env.tether("run", "--name", name, "--", "bash", "-c", command, check=True)
    app = make_app([""], watch_stats=False, readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        monitor = app.current_monitor
        await until(pilot, lambda: sum(not j.state.is_active for j in monitor.jobs) == 2)
        await until(pilot, lambda: " ID▼ " in screen_text(app), what="the default order")
        await until(
            pilot, lambda: _rows(app) == ["charlie", "alpha", "bravo"], what="the rows in order"
        )
        await pilot.press("down")  # alpha highlighted
        await until(pilot, lambda: app.current_view.selected_job.name == "alpha")

        await pilot.press("greater_than_sign")
        await until(pilot, lambda: "NAME▼" in screen_text(app), what="sorted by name")
        assert " ID " in screen_text(app)  # the mark moved
        await until(
            pilot, lambda: _rows(app) == ["charlie", "bravo", "alpha"], what="the rows in order"
        )
        assert app.current_view.selected_job.name == "alpha"

        await pilot.press("I")
        await until(pilot, lambda: "NAME▲" in screen_text(app), what="inverted")
        await until(
            pilot, lambda: _rows(app) == ["alpha", "bravo", "charlie"], what="the rows in order"
        )

        await pilot.press("greater_than_sign")  # state: queued, running, then ends
        await until(pilot, lambda: "STATE▲" in screen_text(app))
        await until(
            pilot, lambda: _rows(app) == ["charlie", "bravo", "alpha"], what="the rows in order"
        )
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")  # wraps to EXIT
        await until(pilot, lambda: "EXIT▲" in screen_text(app), what="wrapped to the last")
        assert app.current_view.selected_job.name == "alpha"
        await app.action_quit()
    app_env.tether("cancel", str(max(j.id for j in monitor.jobs)), check=True)
