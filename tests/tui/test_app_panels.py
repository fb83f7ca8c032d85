"""Pilot tests of the GPU panel (fed by the runner replaying recorded H100 readings)
and the metric curves (fed by jobs writing to $TETHER_METRICS)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from protocol.jobs import JobState
from tests.conftest import UserEnv, make_user_env
from tests.tui.conftest import PY
from tests.tui.pilot_helpers import make_app, screen_text, shows, until, until_connected
from tui.app.gpu_panel import GpuPanel
from tui.app.jobs_table import JobsTable
from tui.app.metrics_panel import MetricsPanel

BRAILLE = re.compile("[\u2801-\u28ff]")


@pytest.fixture
def stats_interval() -> str:
    """Quick samples: the panel's tests wait for a history of readings."""
    return "0.25"


def metrics_job(env: UserEnv, name: str, scale: float, malformed: bool = False) -> int:
    script = textwrap.dedent(
        f"""
        import json, os
        with open(os.environ['TETHER_METRICS'], 'a') as out:
            for step in range(200):
                record = {{'step': step, 'loss': {scale} / (step + 1), 'acc': step / 200}}
                out.write(json.dumps(record) + '\\n')
            if {malformed}:
                out.write('not json at all\\n')
        """
    )
    return int(env.tether("run", "--name", name, "--", PY, "-c", script, check=True).stdout)


async def test_gpu_panel_shows_each_recorded_h100_reading_with_a_sparkline(
    app_env: UserEnv,
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(GpuPanel)
        await until(pilot, lambda: len(app.current_monitor.history) >= 8, what="some history")
        await until(pilot, lambda: "79.6 GiB" in screen_text(app), what="the H100's memory")
        row = next(line for line in screen_text(app).splitlines() if "79.6 GiB" in line)
        assert re.search(
            r" 0 util [█░]{8}\s+\d+%  mem [█░]{8}\s+\d+\.\d/79\.6 GiB\s+\d+°C\s+\d+W", row
        )
        assert re.search("[▁▂▃▄▅▆▇█]{4,}$", row.rstrip()), row  # the recent history
        latest = app.current_monitor.latest
        assert latest is not None and f"{latest.gpus[0].temperature_c:3.0f}°C" in str(
            panel.render()
        )
        # The host line carries the host's own numbers.
        host_line = screen_text(app).splitlines()[1]
        assert re.search(r"CPU \d+%  mem \d+\.\d/\d+\.\d GiB  load \d\.\d\d", host_line), host_line
        await app.action_quit()


@pytest.fixture
def gpuless_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UserEnv:
    env = make_user_env(tmp_path)
    env.env["TETHER_GPU_SOURCE"] = "none"
    assert env.runner("serve", "--daemon").returncode == 0
    for key, value in env.env.items():
        monkeypatch.setenv(key, value)
    yield env
    env.stop_runner()


async def test_a_host_without_gpus_says_so_instead_of_an_empty_panel(gpuless_env: UserEnv) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: "no GPUs: GPU sampling is turned off" in screen_text(app))
        await app.action_quit()


async def test_metric_curves_show_latest_values_and_overlay_other_jobs(app_env: UserEnv) -> None:
    first = metrics_job(app_env, "small-lr", 1.0, malformed=True)
    second = metrics_job(app_env, "big-lr", 3.0)
    app = make_app(watch_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until_connected(pilot, app)
        await until(
            pilot,
            lambda: (
                all(j.state is JobState.SUCCEEDED for j in app.current_monitor.jobs)
                and len(app.current_monitor.jobs) == 2
            ),
        )
        table = app.current_view.query_one(JobsTable)
        table.focus()
        await until(
            pilot,
            lambda: table.selected_job is not None and table.selected_job.id == second,
            what="newest first",
        )
        await pilot.press("m")
        metrics = app.current_view.query_one(MetricsPanel)
        text = await until(
            pilot, lambda: "loss 0.015" in screen_text(app) and screen_text(app), what="latest"
        )
        assert f"job {second}  step 199" in text and "acc 0.995" in text
        assert len(BRAILLE.findall(text)) > 50  # a curve, drawn in braille dots
        # One chart per metric, each titled with its newest value.
        assert [s.label for s in metrics.plot_series()] == ["loss", "acc"]
        assert [c.name for c in metrics.charts()] == ["loss", "acc"]
        # Overlay the first job: pick it, press o, come back.
        await pilot.press("down")
        await until(pilot, lambda: metrics.job_id == first)
        text = await until(
            pilot, lambda: "malformed lines skipped" in screen_text(app) and screen_text(app)
        )
        assert "1 malformed lines skipped (line at byte" in text and "not valid JSON" in text
        await pilot.press("o", "up")
        await until(pilot, lambda: metrics.job_id == second)
        await until(
            pilot,
            lambda: (
                [s.label for s in metrics.plot_series()]
                == [f"{second}:loss", f"{first}:loss", f"{second}:acc", f"{first}:acc"]
            ),
            what="both jobs' curves in each chart",
        )
        await shows(pilot, app, f"overlay: {first}")
        assert f"■ job {second} ■ job {first}" in screen_text(app)  # the colours, once
        # Pick series from the list on the left: acc off, two charts become one.
        series = metrics.query_one("#metric-series")
        series.focus()
        while (
            series.highlighted is None
            or series.get_option_at_index(series.highlighted).value != "acc"
        ):
            await pilot.press("down")
        await pilot.press("space")
        await until(pilot, lambda: [c.name for c in metrics.charts()] == ["loss"], what="loss")
        assert len(metrics.plot_series()) == 2
        top = screen_text(app)
        await pilot.press("l")
        assert metrics.log_y
        await until(pilot, lambda: "(log)" in screen_text(app), what="log scale, marked")
        assert screen_text(app) != top
        await pilot.press("e", "e")
        await until(pilot, lambda: "(log, smoothed 0.9)" in screen_text(app), what="smoothing")
        await app.action_quit()
