"""Snapshots of the main screens at 80x24 and 160x48 (pytest-textual-snapshot).

The jobs, their logs and their metrics are real: a real runner runs them once
for the module (`tests.tui.snapshot_world`, which `test_snapshot_matrix` pictures
too). What would change from run to run is frozen: the clock the app
reads, the jobs' start and end times, and the stats, which are the recorded H100
readings (`tests/fixtures/nvml_h100.json`, converted by the runner's own replay
code) instead of the live sampler. At 160x48 the host has four GPUs, each
replaying the same recording from another instant (GPU 3 is still idle).

Update after an intended change with ``pytest tests/tui/test_snapshots.py
--snapshot-update`` and look at the SVGs in ``__snapshots__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.pilot_helpers import until
from tests.tui.snapshot_world import NOW, SnapshotApp, runner_world, settled
from tui.app.host_monitor import HostKeyQuestion
from tui.app.log_panel import LogPanel
from tui.session import SessionState

SIZES = [(80, 24), (160, 48)]


@pytest.fixture(scope="module")
def snapshot_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserEnv]:
    with runner_world(tmp_path_factory.mktemp("snapshots")) as env:
        yield env


def gpus_for(size: tuple[int, int]) -> int:
    return 1 if size[0] < 120 else 4


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snapshot_runner: UserEnv, snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(SnapshotApp(gpus_for(size)), terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_metrics_view(snapshot_runner: UserEnv, snap_compare: Any, size: tuple[int, int]) -> None:
    async def metrics(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("m")
        await until(
            pilot,
            lambda: (
                "step 2,990" in str(pilot.app.current_view.query_one("#metric-latest").render())
            ),
        )

    assert snap_compare(SnapshotApp(gpus_for(size)), terminal_size=size, run_before=metrics)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_failed_job_selected(
    snapshot_runner: UserEnv, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def failed(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("down")
        panel = pilot.app.current_view.query_one(LogPanel)
        await until(pilot, lambda: panel.ended is not None and panel.ended.state is JobState.FAILED)
        await pilot.pause(0.2)

    assert snap_compare(SnapshotApp(gpus_for(size)), terminal_size=size, run_before=failed)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_new_job_form(snapshot_runner: UserEnv, snap_compare: Any, size: tuple[int, int]) -> None:
    async def bad_form(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("n")
        app = pilot.app
        app.screen.query_one("#command").value = "python train.py --epochs 3"
        app.screen.query_one("#env").value = "BROKEN"
        await pilot.press("enter")
        await pilot.pause(0.2)

    assert snap_compare(SnapshotApp(gpus_for(size)), terminal_size=size, run_before=bad_form)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snapshot_runner: UserEnv, snap_compare: Any, size: tuple[int, int]) -> None:
    async def help_screen(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(SnapshotApp(gpus_for(size)), terminal_size=size, run_before=help_screen)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_full_screen_log(
    snapshot_runner: UserEnv, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def full(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("f")
        panel = await until(pilot, lambda: pilot.app.screen.query(LogPanel).first(None))
        await until(pilot, lambda: any(b"checkpoint saved" in line for line in panel.window.lines))
        await pilot.pause(0.3)

    assert snap_compare(SnapshotApp(gpus_for(size)), terminal_size=size, run_before=full)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_reconnecting_with_stale_data(
    snapshot_runner: UserEnv, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def away(pilot: Any) -> None:
        await settled(pilot)
        monitor = pilot.app.current_monitor
        monitor.stale_since = NOW - 83
        reason = "local: connection lost (no answer for 12 s)"
        monitor.session.listeners.clear()  # the picture shows this state, whatever the link does
        monitor._set_link(SessionState("reconnecting", reason, 3, NOW + 4.2))
        await pilot.pause(0.3)

    assert snap_compare(SnapshotApp(gpus_for(size)), terminal_size=size, run_before=away)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_unknown_host_key_dialog(
    snapshot_runner: UserEnv, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def ask(pilot: Any) -> None:
        await settled(pilot)
        question = HostKeyQuestion(
            "gpu1", "SHA256:q0s2+8Q3J6b8l5m2n8vJd4yQe2m4V6Y9sK1aZ3xW7cE", "ssh-ed25519", None
        )
        pilot.app.run_worker(pilot.app._ask_host_key(question))
        await pilot.pause(0.3)

    assert snap_compare(SnapshotApp(gpus_for(size)), terminal_size=size, run_before=ask)


def test_snapshot_runner_jobs_are_the_ones_pictured(snapshot_runner: UserEnv) -> None:
    """The pictures show real jobs: these are their states on the runner."""
    import json

    jobs = json.loads(snapshot_runner.tether("ls", "--json", check=True).stdout)
    assert [(j["name"], j["state"], j["exit_code"]) for j in jobs] == [
        ("train-digits", "running", None),
        ("lr-sweep-3e-2", "failed", 1),
        ("prepare-data", "succeeded", 0),
    ]
