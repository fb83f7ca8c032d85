"""Snapshots of the main screens at 80x24 and 160x48 (pytest-textual-snapshot).

The jobs, their logs and their metrics are real: a real runner runs them once
for the module. What would change from run to run is frozen: the clock the app
reads, the jobs' start and end times, and the stats, which are the recorded H100
readings (`tests/fixtures/nvml_h100.json`, converted by the runner's own replay
code) instead of the live sampler. At 160x48 the host has four GPUs, each
replaying the same recording from another instant (GPU 3 is still idle).

Update after an intended change with ``pytest tests/tui/test_snapshots.py
--snapshot-update`` and look at the SVGs in ``__snapshots__``.
"""

from __future__ import annotations

import os
import textwrap
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from protocol.jobs import JobInfo, JobState
from protocol.stats import GpuInventory, HostReading, StatsSample
from runner.gpu.replay import ReplaySource
from tests.conftest import UserEnv, make_user_env, wait_for
from tests.tui.conftest import H100, PY
from tests.tui.pilot_helpers import until
from tui.app.app import TetherApp
from tui.app.host_monitor import HostChange, HostKeyQuestion, HostMonitor
from tui.app.log_panel import LogPanel
from tui.session import HostSession, SessionState

#: The instant every snapshot is taken at (UNIX seconds).
NOW = 1_795_373_000.0
SIZES = [(80, 24), (160, 48)]

TRAIN = textwrap.dedent(
    """
    import json, math, os, sys, time
    out = sys.stdout
    with open(os.environ['TETHER_METRICS'], 'a') as metrics:
        for step in range(0, 3000, 10):
            loss = 2.3 * math.exp(-step / 700) + 0.05 + 0.03 * math.sin(step / 37)
            metrics.write(json.dumps({'step': step, 'loss': round(loss, 5),
                                      'acc': round(1 - loss / 2.5, 5), 'lr': 3e-4}) + '\\n')
    for epoch in range(1, 4):
        out.write(f'\\x1b[1mepoch {epoch}/3\\x1b[0m  lr=3.0e-04\\n')
        for pct in range(0, 101, 5):
            out.write(f'\\rtrain: {pct:3d}%|' + '#' * (pct // 5) + ' ' * (20 - pct // 5) + '|')
        loss, acc = 0.9 / epoch, 0.7 + epoch / 12
        out.write(f'\\n  loss \\x1b[33m{loss:.4f}\\x1b[0m  acc \\x1b[32m{acc:.3f}\\x1b[0m\\n')
    out.flush()
    sys.stdout.buffer.write(b'checkpoint saved: \\xffckpt-3.pt (bad byte shown, not fatal)\\n')
    sys.stdout.buffer.flush()
    time.sleep(600)
    """
)
FAIL = (
    "import sys; print('Traceback (most recent call last):'); "
    "print('ValueError: loss is NaN'); sys.exit(1)"
)
PREP = "print('downloaded 1797 digits'); print('\\x1b[32mok\\x1b[0m')"
#: Shown times of each job (created, started, finished) relative to NOW.
TIMES = {1: (-3700.0, -3600.0, -3541.0), 2: (-1900.0, -1800.0, -1750.0), 3: (-800.0, -754.0, None)}


@pytest.fixture(scope="module")
def snapshot_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserEnv]:
    env = make_user_env(tmp_path_factory.mktemp("snapshots"))
    env.env["TETHER_GPU_SOURCE"] = "none"
    # Jobs run `python` from the login PATH, so the command on screen does not
    # carry the checkout's path (which differs between a clone and CI).
    bin_dir = env.home / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(PY)
    (env.home / ".profile").write_text('PATH="$HOME/bin:$PATH"\n')
    saved = {key: os.environ.get(key) for key in env.env}
    os.environ.update(env.env)
    try:
        assert env.runner("serve", "--daemon").returncode == 0
        env.tether("run", "--name", "prepare-data", "--", "python", "-c", PREP, check=True)
        env.tether("run", "--name", "lr-sweep-3e-2", "--", "python", "-c", FAIL, check=True)
        env.tether("run", "--name", "train-digits", "--", "python", "-c", TRAIN, check=True)
        wait_for(lambda: b"checkpoint saved" in env.job_dir(3).joinpath("output.log").read_bytes())
        yield env
    finally:
        env.tether("cancel", "3")
        env.stop_runner()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def recorded_samples(gpus: int) -> tuple[GpuInventory, list[StatsSample]]:
    """64 instants of the H100 recording, ending under load; GPU k lags 6k² instants."""
    source = ReplaySource(H100)
    inventory = source.open()
    readings = [source.read().gpus[0] for _ in range(source.instants)]
    host = HostReading(
        cpu_pct=37.5,
        load_avg=[7.91, 8.02, 7.5],
        mem_total_bytes=270_000_000_000,
        mem_used_bytes=44_300_000_000,
        mem_available_bytes=225_000_000_000,
        swap_total_bytes=0,
        swap_used_bytes=0,
        disk_path="/",
        disk_total_bytes=10**12,
        disk_free_bytes=4 * 10**11,
    )
    samples = []
    for seq in range(64):
        gpu_readings = [
            readings[max(0, seq - 6 * k * k)].model_copy(update={"index": k}) for k in range(gpus)
        ]
        samples.append(StatsSample(seq=seq, t=NOW - (63 - seq) * 2.0, gpus=gpu_readings, host=host))
    devices = [inventory.devices[0].model_copy(update={"index": k}) for k in range(gpus)]
    return inventory.model_copy(update={"devices": devices}), samples


class FrozenMonitor(HostMonitor):
    """The real session and runner (logs, metrics, actions), with the job table,
    the stats and the time fixed so that the picture is the same every run."""

    def __init__(self, host: str, gpus: int, **kwargs: Any) -> None:
        super().__init__(host, clock=lambda: NOW, **kwargs)
        self.gpu, samples = recorded_samples(gpus)
        self.history = deque(samples)
        self.frozen_jobs: list[JobInfo] = []

    def _restart_watchers(self, session: HostSession) -> None:
        self._watchers = [self._spawn(self._freeze_jobs(session))]

    async def _freeze_jobs(self, session: HostSession) -> None:
        jobs = await session.list_jobs(include_finished=True)
        frozen = []
        for job in jobs:
            created, started, finished = TIMES[job.id]
            frozen.append(
                job.model_copy(
                    update={
                        "created_at": NOW + created,
                        "started_at": NOW + started,
                        "finished_at": None if finished is None else NOW + finished,
                    }
                )
            )
        self.jobs = sorted(frozen, key=lambda j: j.id, reverse=True)
        self.jobs_known = True
        self._notify(HostChange.JOBS)
        self._notify(HostChange.STATS)


class SnapshotApp(TetherApp):
    def __init__(self, gpus: int) -> None:
        self._gpus = gpus
        super().__init__(
            [""], clock=lambda: NOW, remember_hosts=False, local_cwd="/home/me/project"
        )

    def _new_monitor(self, host: str) -> HostMonitor:
        monitor = FrozenMonitor(host, self._gpus)
        monitor.ask_host_key = self._ask_host_key
        return monitor


def gpus_for(size: tuple[int, int]) -> int:
    return 1 if size[0] < 120 else 4


async def settled(pilot: Any) -> None:
    """Connected, the table filled, the selected job's log read to its last line."""
    app = pilot.app
    await until(pilot, lambda: app.current_monitor.connected and app.current_monitor.jobs)
    panel = app.current_view.query_one(LogPanel)
    await until(pilot, lambda: any(b"checkpoint saved" in line for line in panel.window.lines))
    await pilot.pause(0.3)


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
