"""The session owns connecting and retrying; the monitor only observes, and a
watcher that fails says so where its data would be and comes back by itself."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from protocol.errors import ErrorCode
from protocol.messages import JobList
from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, screen_text, until
from tui.app.host_monitor import HostChange, HostMonitor
from tui.errors import ConnectError, RemoteError
from tui.local import open_local
from tui.session import HostSession, SessionState


@pytest.fixture
def home(user_env: UserEnv, monkeypatch: pytest.MonkeyPatch) -> UserEnv:
    """The environment of a HOME where no runner serves yet."""
    monkeypatch.setenv("HOME", str(user_env.home))
    monkeypatch.setenv("PYTHONPATH", user_env.env["PYTHONPATH"])
    return user_env


async def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_first_contact_is_retried_by_the_session_until_the_runner_is_there(
    home: UserEnv,
) -> None:
    session = HostSession("local", lambda: open_local(autostart=False))
    states: list[SessionState] = []
    session.listeners.append(states.append)
    session.keep_connected()
    await wait_for(lambda: any(s.kind == "reconnecting" and s.attempt >= 2 for s in states))
    waiting = [s for s in states if s.kind == "reconnecting"]
    assert [s.attempt for s in waiting[:2]] == [1, 2]
    assert all(s.next_try_at is not None and s.reason for s in waiting)
    calls = asyncio.ensure_future(session.list_jobs())  # waits for the link, not an error
    await asyncio.sleep(0.1)
    assert not calls.done()
    assert home.runner("serve", "--daemon").returncode == 0
    session.reconnect_now()
    assert await asyncio.wait_for(calls, 20) == []
    assert session.state.kind == "connected"
    await session.close()
    assert states[-1].kind == "closed"


async def test_a_refused_stream_raises_at_once_and_is_not_retried(home: UserEnv) -> None:
    assert home.runner("serve", "--daemon").returncode == 0
    session = HostSession("local", open_local)
    await session.start()
    with pytest.raises(RemoteError) as refused:
        async for _ in session.follow_log(9999):
            pass
    assert refused.value.code is ErrorCode.NO_SUCH_JOB
    assert session.state.kind == "connected"
    await session.close()
    with pytest.raises(ConnectError, match="session closed"):
        await session.list_jobs()


class FlakyJobs(HostSession):
    """A real session whose job watch is refused by the runner the first `fails` times."""

    def __init__(self, fails: int) -> None:
        super().__init__("local", open_local)
        self.fails = fails

    async def watch_job_table(self, include_finished: bool = False) -> AsyncIterator[JobList]:
        if self.fails > 0:
            self.fails -= 1
            raise RemoteError(ErrorCode.INTERNAL, "runner error: the job table is locked")
        async for table in super().watch_job_table(include_finished):
            yield table


async def test_a_failed_watcher_shows_its_error_then_recovers(home: UserEnv) -> None:
    assert home.runner("serve", "--daemon").returncode == 0
    session = FlakyJobs(fails=2)
    monitor = HostMonitor("", session_factory=lambda host: session, watch_stats=False)
    changes: list[HostChange] = []
    problems: list[str] = []

    def seen(change: HostChange) -> None:
        changes.append(change)
        if change is HostChange.PROBLEM and HostChange.JOBS in monitor.problems:
            problems.append(monitor.problems[HostChange.JOBS])

    monitor.listeners.append(seen)
    monitor.start()
    await wait_for(lambda: monitor.jobs_known)
    assert session.fails == 0 and problems  # failed twice, shown, then restarted
    assert re.fullmatch(
        r"job table stopped: runner error: the job table is locked \(retrying in \d+ s\)",
        problems[0],
    )
    assert monitor.problems == {}  # data flows again: the message is gone
    assert changes[-1] is HostChange.JOBS and HostChange.LINK in changes
    await monitor.close()


async def test_the_app_shows_a_stopped_job_watch_in_place(app_env: UserEnv) -> None:
    app = make_app(session_factory=lambda host: FlakyJobs(fails=1000), watch_stats=False)
    async with app.run_test(size=(120, 30)) as pilot:
        text = await until(
            pilot,
            lambda: "job table stopped" in screen_text(app) and screen_text(app),
            what="the watcher's error on screen",
        )
        assert "the job table is locked" in text
        assert app.current_monitor.connected  # the link is fine; only the watch failed
        await app.action_quit()


async def test_a_host_off_screen_takes_its_stats_slower_and_no_history_twice(
    home: UserEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.env["TETHER_STATS_INTERVAL"] = "0.1"  # the runner's rate
    monkeypatch.setattr("tui.app.host_monitor.BACKGROUND_STATS_S", 0.6)
    assert home.runner("serve", "--daemon").returncode == 0
    monitor = HostMonitor("local")
    monitor.start()
    try:
        await wait_for(lambda: len(monitor.history) >= 10)
        batches: list[int] = []
        add = monitor._add_samples
        monkeypatch.setattr(monitor, "_add_samples", lambda s: (batches.append(len(s)), add(s)))
        monitor.set_background(True)
        mark = len(monitor.history)
        await wait_for(lambda: len(monitor.history) >= mark + 4)
        slow = [s.t for s in list(monitor.history)[mark + 1 :]]
        assert min(b - a for a, b in zip(slow, slow[1:])) >= 0.5  # at 0.6 s, not 0.1 s
        monitor.set_background(False)
        mark = len(monitor.history)
        await wait_for(lambda: len(monitor.history) >= mark + 10)
        seqs = [s.seq for s in monitor.history]
        assert seqs == sorted(set(seqs))
        assert max(batches) <= 6  # what was missed at most, never the history again
        fast = [s.t for s in list(monitor.history)[mark + 1 :]]
        assert max(b - a for a, b in zip(fast, fast[1:])) < 0.5
    finally:
        await monitor.close()
