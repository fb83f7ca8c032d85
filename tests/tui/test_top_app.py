"""``tether top`` on a terminal (`TopApp`), driven by Pilot against a real runner
replaying the recorded H100, with real jobs: the jobs and the GPU's process
appear, the selection stays on its job while samples come and rows move, the
sort keys reorder the rows and mark the header, ``K`` sends the selected job or
process the signal picked, a process of no tether job is refused, ``q`` quits."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from protocol.signals import not_a_job_process
from tests.conftest import UserEnv, make_user_env
from tests.stats.conftest import RECORDED_LOAD_PID, process_gone, read_pid, steady_load_recording
from tests.tui.pilot_helpers import notices, screen_text, until
from tui.app.screens.help import HelpScreen
from tui.app.screens.signal_picker import SignalPickerScreen
from tui.app.top_app import TopApp
from tui.app.top_table import TopTable
from tui.hosts import make_session
from tui.session import HostSession

#: A job whose worker writes its pid where the replay puts the recorded GPU
#: process, then waits: the GPU's process row is a process of this job.
WORKER = (
    'python3 -c \'import os, time; open("{pid}.tmp", "w").write(str(os.getpid()));'
    ' os.rename("{pid}.tmp", "{pid}"); time.sleep(300)\' & wait'
)


@pytest.fixture
def top_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UserEnv]:
    """A runner replaying the H100's steady load five times a second, the recorded
    GPU pid mapped onto the pid in ~/gpu.pid; its environment made this process's,
    so the session finds it."""
    env = make_user_env(tmp_path)
    steady = steady_load_recording(tmp_path / "steady-load.json")
    env.env.update(
        {
            "TETHER_GPU_SOURCE": f"replay:{steady}#load",
            "TETHER_GPU_REPLAY_PID_MAP": f"{RECORDED_LOAD_PID}=@{env.home / 'gpu.pid'}",
            "TETHER_STATS_INTERVAL": "0.2",
        }
    )
    result = env.runner("serve", "--daemon")
    assert result.returncode == 0, result.stderr
    for key, value in env.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("TETHER_HOST", raising=False)
    monkeypatch.chdir(env.home)
    yield env
    env.stop_runner()


@pytest.fixture
def stranger(top_env: UserEnv) -> Iterator[int]:
    """A process of no tether job, put "on the GPU" (until a job's worker takes its place)."""
    proc = subprocess.Popen(["sleep", "300"])
    pid_file = top_env.home / "gpu.pid"
    (top_env.home / "gpu.pid.tmp").write_text(str(proc.pid))
    os.rename(top_env.home / "gpu.pid.tmp", pid_file)
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
async def session(top_env: UserEnv) -> AsyncIterator[HostSession]:
    session = make_session("")
    await session.start()
    yield session
    await session.close()


def _run(env: UserEnv, name: str, *argv: str) -> int:
    return int(env.tether("run", "--name", name, "--", *argv, check=True).stdout)


def _job(env: UserEnv, job_id: int) -> dict[str, Any]:
    listed = json.loads(env.tether("ls", "--all", "--json", check=True).stdout)
    (job,) = [j for j in listed if j["id"] == job_id]
    return job  # type: ignore[no-any-return]


def _keys(app: TopApp) -> list[str]:
    return [row.key for row in app.query_one(TopTable).shown]


def _selected(app: TopApp) -> str:
    row = app.query_one(TopTable).selected
    return row.key if row is not None else ""


def _screen(app: TopApp) -> str:
    return screen_text(app)  # type: ignore[arg-type]  # any App's screen reads the same


async def _select(pilot: Pilot[Any], app: TopApp, key: str) -> None:
    """Move the selection down with j to the row of `key` (from the top)."""
    await pilot.press("home")
    for _ in range(len(_keys(app))):
        if _selected(app) == key:
            return
        await pilot.press("j")
    assert _selected(app) == key, (key, _keys(app))


async def _pick_term(pilot: Pilot[Any], app: TopApp, title: str) -> None:
    await pilot.press("K")
    await until(pilot, lambda: isinstance(app.screen, SignalPickerScreen), what="the picker")
    await until(pilot, lambda: title in _screen(app), what=repr(title))
    await pilot.press("enter")  # TERM: the first, highlighted


async def test_rows_keep_their_selection_sort_and_term_ends_the_selected_job(
    top_env: UserEnv, stranger: int, session: HostSession
) -> None:
    env = top_env
    alpha, beta = _run(env, "alpha", "sleep", "300"), _run(env, "beta", "sleep", "300")
    app = TopApp(session, interval_s=0.2)
    async with app.run_test(size=(120, 30)) as pilot:
        wanted = [f"job:{alpha}", f"job:{beta}", f"pid:{stranger}"]
        await until(pilot, lambda: _keys(app) == wanted, what="both jobs and the GPU's process")
        screen = _screen(app)
        assert "WHAT ▲" in screen and f"job {alpha}" in screen and "alpha" in screen
        assert "not a tether job" in screen
        assert " util " in screen and "°C" in screen  # the GPU panel's row

        await pilot.press("i")  # newest job first: a new job comes in above the selection
        await until(pilot, lambda: "WHAT ▼" in _screen(app), what="the header's ▼")
        assert _keys(app) == list(reversed(wanted))
        await _select(pilot, app, f"job:{beta}")
        line = app.query_one(TopTable).cursor_row
        gamma = _run(env, "gamma", "sleep", "300")
        await until(pilot, lambda: f"job:{gamma}" in _keys(app), what="the new job's row")
        assert _selected(app) == f"job:{beta}"
        assert app.query_one(TopTable).cursor_row == line + 1  # it moved down; so did the cursor
        seq = app.history[-1].seq
        await until(pilot, lambda: app.history[-1].seq >= seq + 2, what="two more samples")
        assert _selected(app) == f"job:{beta}"

        await pilot.press("greater_than_sign")  # NAME, still descending
        await until(pilot, lambda: "NAME ▼" in _screen(app), what="the header's NAME ▼")
        jobs_by_name = [f"pid:{stranger}", f"job:{gamma}", f"job:{beta}", f"job:{alpha}"]
        assert _keys(app) == jobs_by_name  # sleep, gamma, beta, alpha
        await pilot.press("i")
        await until(pilot, lambda: "NAME ▲" in _screen(app), what="the header's NAME ▲")
        assert _keys(app) == list(reversed(jobs_by_name))
        assert _selected(app) == f"job:{beta}"

        await _pick_term(pilot, app, f"Signal job {beta}")
        await until(
            pilot,
            lambda: f"sent SIGTERM to job {beta} (process group" in notices(app),
            what="the notice of the signal",
        )
        await until(pilot, lambda: f"job:{beta}" not in _keys(app), timeout=30, what="job gone")
        ended = _job(env, beta)
        assert ended["state"] == "failed" and ended["signal"] == "SIGTERM", ended
        assert _job(env, alpha)["state"] == "running"

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the keys")
        assert "Sort by the column to the left" in _screen(app)
        await pilot.press("escape")
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None, what="q quitting")
    assert app.return_code == 0
    for job in (alpha, gamma):
        env.tether("cancel", str(job), check=True)


async def test_a_process_row_of_a_job_is_signalled_alone_and_one_of_no_job_is_refused(
    top_env: UserEnv, stranger: int, session: HostSession
) -> None:
    env = top_env
    app = TopApp(session, interval_s=0.2)
    async with app.run_test(size=(100, 24)) as pilot:
        await until(pilot, lambda: _keys(app) == [f"pid:{stranger}"], what="the GPU's process")
        await pilot.press("K")  # a process of no tether job: refused here, nothing opens
        await until(
            pilot,
            lambda: not_a_job_process(stranger) in notices(app),
            what="the refusal",
        )
        assert not isinstance(app.screen, SignalPickerScreen)

        job = _run(env, "worker", WORKER.format(pid=env.home / "gpu.pid"))
        worker = read_pid(env.home / "gpu.pid")
        await until(
            pilot,
            lambda: _keys(app) == [f"job:{job}", f"pid:{worker}"],
            what="the job and its worker on the GPU",
        )
        await until(pilot, lambda: f"job {job} (worker)" in _screen(app), what="the owner")
        await _select(pilot, app, f"pid:{worker}")
        await _pick_term(pilot, app, f"Signal pid {worker}")
        await until(
            pilot,
            lambda: f"sent SIGTERM to pid {worker} (of job {job})" in notices(app),
            what="the notice of the signal",
        )
        await until(pilot, lambda: process_gone(worker), what="the worker ending")
        await pilot.press("q")
    assert app.return_code == 0
    assert process_gone(worker)
    env.tether("cancel", str(job))
