"""The world the snapshot tests picture: real jobs on a real runner, with what
would change from run to run frozen.

A real runner runs the jobs (`runner_world`): three small ones (a finished data
preparation, a failed sweep point, a training run that keeps running), and on
request a long queue behind them, held by a paused queue. The app's monitor
(`FrozenMonitor`) reads those jobs once, through the real session, and fixes
their times; the clock is `NOW`; the stats are the recorded H100 readings
(`tests/fixtures/nvml_h100.json`, converted by the runner's own replay code)
instead of the live sampler, one copy of the recording per GPU shown, each from
another instant. With no GPUs the host says what a host without an NVIDIA
driver says.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

import pynvml

from protocol.jobs import JobInfo, JobSpec
from protocol.stats import GpuInventory, HostReading, StatsSample
from runner.gpu.nvml import init_failure_reason
from runner.gpu.replay import ReplaySource
from tests.conftest import UserEnv, make_user_env, wait_for
from tests.tui.conftest import H100, PY
from tests.tui.pilot_helpers import until
from tui.app.app import TetherApp
from tui.app.host_monitor import HostChange, HostMonitor
from tui.app.jobs_table import JobsTable
from tui.app.log_panel import LogPanel
from tui.local import open_local
from tui.session import HostSession

#: The instant every snapshot is taken at (UNIX seconds).
NOW = 1_795_373_000.0

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
#: Shown times of the three first jobs (created, started, finished) relative to NOW.
TIMES = {1: (-3700.0, -3600.0, -3541.0), 2: (-1900.0, -1800.0, -1750.0), 3: (-800.0, -754.0, None)}
#: The id of the training job that keeps running (the others queue behind it).
TRAINING = 3


def job_times(job_id: int) -> tuple[float, Optional[float], Optional[float]]:
    """Shown times of job `job_id` relative to NOW: the first three's, then one
    queued job submitted a second after the other, the newest a second ago."""
    if job_id in TIMES:
        return TIMES[job_id]
    return (-300.0 + job_id - 1, None, None)


# -- the runner -----------------------------------------------------------------------


@contextlib.contextmanager
def runner_world(root: Path, queued: int = 0) -> Iterator[UserEnv]:
    """A real runner in a HOME under `root` that ran the three jobs of `TIMES`
    (the third still running), then, with its queue paused, took `queued` more;
    this process's environment is the runner's while the world lasts, so the
    app's sessions find it."""
    env = make_user_env(root)
    env.env["TETHER_GPU_SOURCE"] = "none"
    if queued:
        # Queued jobs ask for GPUs: the runner may hand out eight (an inventory
        # given by hand; no readings: the pictures show the recording's).
        env.env["TETHER_GPUS"] = "0,1,2,3,4,5,6,7"
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
        log = env.job_dir(TRAINING) / "output.log"
        wait_for(lambda: b"checkpoint saved" in log.read_bytes())
        if queued:
            env.tether("queue", "pause", check=True)
            asyncio.run(_submit_sweep(queued))
        yield env
    finally:
        env.tether("cancel", str(TRAINING))
        env.stop_runner()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sweep_spec(index: int) -> JobSpec:
    """The `index`-th job of a hyperparameter sweep: most with short names, every
    fifth a long one; GPU counts from none to eight; every seventh waits for the
    training job."""
    lr = ("1e-4", "3e-4", "1e-3", "3e-3")[index % 4]
    seed = index // 4
    if index % 5 == 1:
        name = f"finetune-llama-7b-lora-r16-alpha32-seq4096-lr{lr}-seed{seed}"
    else:
        name = f"sweep-lr{lr}-seed{seed}"
    return JobSpec(
        argv=["python", "train.py", "--lr", lr, "--seed", str(seed)],
        name=name,
        gpus=(None, "1", "2", "8")[index % 4],
        after=[TRAINING] if index % 7 == 0 else [],
        group="sweep",
    )


async def _submit_sweep(count: int) -> None:
    """`count` jobs through one session (a CLI process each would take minutes)."""
    session = HostSession("local", open_local)
    await session.start()
    try:
        for index in range(count):
            await session.submit(sweep_spec(index))
    finally:
        await session.close()


# -- the GPUs -------------------------------------------------------------------------


def no_driver_inventory() -> GpuInventory:
    """What a host without an NVIDIA driver reports, in the runner's own words."""
    missing = pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    return GpuInventory(source="nvml", available=False, reason=init_failure_reason(pynvml, missing))


def recorded_samples(
    gpus: int, shifts: Optional[Sequence[int]] = None
) -> tuple[GpuInventory, list[StatsSample]]:
    """64 instants of the H100 recording, ending under load, for `gpus` GPUs: GPU k
    shows the instant `shifts[k]` away (ahead: cooling down after the load; by
    default it lags 6k² instants). No GPUs: the host has no driver."""
    if shifts is None:
        shifts = [-6 * k * k for k in range(gpus)]
    source = ReplaySource(H100)
    inventory = source.open()
    readings = [source.read().gpus[0] for _ in range(source.instants)]
    last = len(readings) - 1
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
            readings[min(last, max(0, seq + shifts[k]))].model_copy(update={"index": k})
            for k in range(gpus)
        ]
        samples.append(StatsSample(seq=seq, t=NOW - (63 - seq) * 2.0, gpus=gpu_readings, host=host))
    if gpus == 0:
        return no_driver_inventory(), samples
    devices = [inventory.devices[0].model_copy(update={"index": k}) for k in range(gpus)]
    return inventory.model_copy(update={"devices": devices}), samples


# -- the app --------------------------------------------------------------------------


class FrozenMonitor(HostMonitor):
    """The real session and runner (logs, metrics, actions), with the job table,
    the stats and the time fixed so that the picture is the same every run."""

    def __init__(
        self, host: str, gpus: int, shifts: Optional[Sequence[int]] = None, **kwargs: Any
    ) -> None:
        super().__init__(host, clock=lambda: NOW, **kwargs)
        self.gpu, samples = recorded_samples(gpus, shifts)
        self.history = deque(samples)
        self.frozen_jobs: list[JobInfo] = []

    def _restart_watchers(self, session: HostSession) -> None:
        self._watchers = [self._spawn(self._freeze_jobs(session))]

    async def _freeze_jobs(self, session: HostSession) -> None:
        jobs = await session.list_jobs(include_finished=True)
        frozen = []
        for job in jobs:
            created, started, finished = job_times(job.id)
            frozen.append(
                job.model_copy(
                    update={
                        "created_at": NOW + created,
                        "started_at": None if started is None else NOW + started,
                        "finished_at": None if finished is None else NOW + finished,
                    }
                )
            )
        self.jobs = sorted(frozen, key=lambda j: j.id, reverse=True)
        self.jobs_known = True
        self._notify(HostChange.JOBS)
        self._notify(HostChange.STATS)


class SnapshotApp(TetherApp):
    def __init__(self, gpus: int, shifts: Optional[Sequence[int]] = None) -> None:
        self._gpus = gpus
        self._shifts = shifts
        super().__init__(
            [""], clock=lambda: NOW, remember_hosts=False, local_cwd="/home/me/project"
        )

    def _new_monitor(self, host: str) -> HostMonitor:
        monitor = FrozenMonitor(host, self._gpus, self._shifts)
        monitor.ask_host_key = self._ask_host_key
        return monitor


async def settled(pilot: Any) -> None:
    """Connected, the table filled, the highlighted job's log open (the training
    job's read to its last line, and its metrics too where they show)."""
    app = pilot.app
    await until(pilot, lambda: app.current_monitor.connected and app.current_monitor.jobs)
    view = app.current_view
    panel = view.query_one(LogPanel)
    table = view.query_one(JobsTable)
    await until(
        pilot,
        lambda: table.selected_job is not None and panel.job_id == table.selected_job.id,
    )
    if panel.job_id == TRAINING:
        await until(pilot, lambda: any(b"checkpoint saved" in line for line in panel.window.lines))
        if view.metrics_shown:  # wide: the curves beside the log, read to their last step
            latest = view.query_one("#metric-latest")
            await until(pilot, lambda: "step 2,990" in str(latest.render()))
    await pilot.pause(0.3)
