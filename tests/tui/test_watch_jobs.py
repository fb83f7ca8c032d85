"""`HostSession.watch_jobs`: the runner pushes the job table on every change, and a
watch survives the runner being killed (the new runner sends the whole table)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from protocol.exchanges import WATCH_JOBS
from protocol.job_table import JobTableUpdate
from protocol.jobs import JobInfo, JobSpec, JobState
from protocol.messages import WatchJobs
from tests.conftest import UserEnv, make_user_env
from tui.hosts import make_session


@pytest.fixture
def home(local_runner: UserEnv, monkeypatch: pytest.MonkeyPatch) -> UserEnv:
    monkeypatch.setenv("HOME", str(local_runner.home))
    monkeypatch.setenv("PYTHONPATH", local_runner.env["PYTHONPATH"])
    return local_runner


async def next_table(
    tables: AsyncIterator[list[JobInfo]], until: object, timeout: float = 30.0
) -> list[JobInfo]:
    async def wait() -> list[JobInfo]:
        async for jobs in tables:
            if until(jobs):  # type: ignore[operator]
                return jobs
        raise AssertionError("the watch ended")

    return await asyncio.wait_for(wait(), timeout)


async def test_job_table_is_pushed_on_each_change_and_after_the_runner_restarts(
    home: UserEnv,
) -> None:
    session = make_session("local")
    await session.start()
    tables = session.watch_jobs(include_finished=True)
    assert await next_table(tables, lambda jobs: jobs == []) == []
    job = await session.submit(JobSpec(argv=[sys.executable, "-c", "import time; time.sleep(1)"]))
    running = await next_table(tables, lambda jobs: jobs and jobs[0].state is JobState.RUNNING)
    assert [j.id for j in running] == [job.id]
    done = await next_table(tables, lambda jobs: jobs[0].state is JobState.SUCCEEDED)
    assert done[0].exit_code == 0
    pid = home.runner_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the session restarts the runner and the watch asks again
    again = await next_table(tables, lambda jobs: jobs and home.runner_pid() not in (None, pid))
    assert [(j.id, j.state) for j in again] == [(job.id, JobState.SUCCEEDED)]
    second = await session.submit(JobSpec(argv=["true"]))
    both = await next_table(
        tables, lambda jobs: len(jobs) == 2 and jobs[0].state.value != "running"
    )
    assert {j.id for j in both} == {job.id, second.id}
    await tables.aclose()
    await session.close()


@pytest.fixture
def one_gpu_home(tmp_path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A runner whose GPU inventory is one GPU (TETHER_GPUS), so a second job queues."""
    env = make_user_env(tmp_path)
    env.env["TETHER_GPUS"] = "0"
    env.env["TETHER_GPUS_ALLOW_BUSY"] = "1"
    assert env.runner("serve", "--daemon").returncode == 0
    monkeypatch.setenv("HOME", str(env.home))
    monkeypatch.setenv("PYTHONPATH", env.env["PYTHONPATH"])
    yield env
    env.stop_runner()


async def test_a_job_waiting_for_gpus_is_pushed_as_queued_at_once(one_gpu_home: UserEnv) -> None:
    session = make_session("local")
    await session.start()
    tables = session.watch_jobs()
    await next_table(tables, lambda jobs: jobs == [])
    holder = await session.submit(JobSpec(argv=["sleep", "30"], gpus="1"))
    await next_table(tables, lambda jobs: [j.state for j in jobs] == [JobState.RUNNING])
    # Nothing else changes while the holder sleeps: only the queued job's own news.
    waiter = await session.submit(JobSpec(argv=["true"], gpus="1"))
    table = await next_table(tables, lambda jobs: len(jobs) == 2, timeout=5)
    states = {j.id: (j.state, j.queue_position) for j in table}
    assert states[holder.id][0] is JobState.RUNNING
    assert states[waiter.id] == (JobState.QUEUED, 1)
    await session.cancel(holder.id)
    done = await next_table(tables, lambda jobs: all(not j.state.is_active for j in jobs))
    assert {j.id: j.state for j in done}[waiter.id] is JobState.SUCCEEDED
    await tables.aclose()
    await session.close()


async def test_after_the_whole_table_only_what_changed_is_sent(one_gpu_home: UserEnv) -> None:
    """A queue's head starting sends that job and the one cancelled whole; the
    jobs behind it only move up, and are sent as (id, place) pairs."""
    session = make_session("local")
    await session.start()
    holder = await session.submit(JobSpec(argv=["sleep", "30"], gpus="1"))
    waiters = [(await session.submit(JobSpec(argv=["sleep", "30"], gpus="1"))).id for _ in "abc"]
    conn = await session.connection()
    updates = conn.stream(WATCH_JOBS, lambda i: WatchJobs(id=i))
    try:
        first = await asyncio.wait_for(updates.__anext__(), 10)
        assert isinstance(first, JobTableUpdate) and first.reset and first.done
        assert sorted(j.id for j in first.jobs) == sorted([holder.id, *waiters])
        assert {j.id: j.queue_position for j in first.jobs if j.id in waiters} == {
            waiters[0]: 1,
            waiters[1]: 2,
            waiters[2]: 3,
        }
        await session.cancel(holder.id)
        whole: dict[int, JobState] = {}
        places: dict[int, int] = {}
        while whole.get(waiters[0]) is not JobState.RUNNING or len(places) < 2:
            update = await asyncio.wait_for(updates.__anext__(), 10)
            assert isinstance(update, JobTableUpdate) and not update.reset
            whole.update({j.id: j.state for j in update.jobs})
            places.update(update.positions)
        assert set(whole) == {holder.id, waiters[0]}
        assert places == {waiters[1]: 1, waiters[2]: 2}
    finally:
        await updates.aclose()
        for job_id in waiters:
            await session.cancel(job_id)
        await session.close()
