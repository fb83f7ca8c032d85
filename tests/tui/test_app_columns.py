"""``C`` chooses the jobs table's columns, under Pilot against a real runner with
its stats sampler: a busy job's CPU and memory appear in its row, kept current."""

from __future__ import annotations

import re

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.conftest import PY
from tests.tui.pilot_helpers import make_app, screen_text, until, until_connected
from tui.app.screens.columns import ColumnsScreen

BUSY = (
    "import time\nend = time.time() + 60\nblob = bytearray(64 << 20)\nwhile time.time() < end: pass"
)


USAGE = re.compile(r"\d+%\s+\d+(\.\d)? MiB")


def _row(app: object, name: str) -> str:
    return next(line for line in screen_text(app).splitlines() if f" {name} " in line)  # type: ignore[arg-type]


async def test_columns_are_chosen_and_a_running_jobs_usage_shows(app_env: UserEnv) -> None:
    job = int(app_env.tether("run", "--name", "busy", "--", PY, "-c", BUSY, check=True).stdout)
    app = make_app(readonly=True)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await until_connected(pilot, app)
            await until(pilot, lambda: app.current_monitor.job(job).state is JobState.RUNNING)
            await pilot.press("C")
            await until(pilot, lambda: isinstance(app.screen, ColumnsScreen), what="the chooser")
            # The list: AGE RUNTIME GPUS CPU MEM GMEM EXIT. Tick AGE, CPU, MEM; untick GPUS.
            await pilot.press("space", "down", "down", "space", "down", "space", "down", "space")
            await pilot.press("enter")
            await until(pilot, lambda: len(app.screen_stack) == 1)
            header = await until(
                pilot,
                lambda: next(
                    (ln for ln in screen_text(app).splitlines() if ln.startswith(" ID")), ""
                ),
            )
            assert header.split() == [
                "ID▼",
                "NAME",
                "STATE",
                "AGE",
                "RUNTIME",
                "CPU",
                "MEM",
                "EXIT",
            ]

            def busy_cpu() -> int:
                found = re.search(r"(\d+)%", _row(app, "busy"))
                return int(found.group(1)) if found else 0

            # A busy loop: most of a core, once two samples have been compared.
            await until(pilot, lambda: busy_cpu() >= 30, what="the job's CPU", timeout=60)
            row = _row(app, "busy")
            assert USAGE.search(row), row
            mem = float(re.search(r"(\d+(?:\.\d)?) MiB", row).group(1))  # type: ignore[union-attr]
            assert mem >= 64, row  # it holds 64 MiB
            # Sorting moves among the shown columns: > from ID is NAME, < wraps to EXIT.
            await pilot.press("less_than_sign", "less_than_sign")
            await until(pilot, lambda: "MEM▼" in screen_text(app), what="sorted by MEM")
            await app.action_quit()
    finally:
        app_env.tether("cancel", str(job))
