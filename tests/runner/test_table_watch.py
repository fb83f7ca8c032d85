"""`TableWatch`: what one watcher of the job table is sent after the whole table.

A real `JobManager` (its SQLite store, real job processes) in this process; the
wire-level behaviour through a real runner is in tests/tui/test_watch_jobs.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import List

import pytest

from protocol.jobs import JobInfo, JobSpec, JobState
from protocol.limits import MAX_WATCH_PART_IDS, MAX_WATCH_PART_JOBS, RECENT_WINDOW_S
from runner.jobs.table import JobManager
from runner.jobs.table_watch import TableChange, TableWatch, parts
from runner.paths import RunnerPaths


@pytest.fixture
async def jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = RunnerPaths(run_dir=tmp_path / "run", state_dir=tmp_path / "state")
    paths.ensure()
    manager = JobManager(paths, cancel_grace_s=2.0)
    await manager.start()
    yield manager
    await manager.close()


async def _ended(jobs: JobManager, job_id: int) -> JobInfo:
    for _ in range(300):
        info = await jobs.get(job_id)
        if not info.state.is_active:
            return info
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never ended")


async def test_only_changed_jobs_are_sent_and_old_finished_ones_age_out(
    jobs: JobManager, tmp_path: Path
) -> None:
    done = (await jobs.submit(JobSpec(argv=["true"], cwd=str(tmp_path)))).record
    await _ended(jobs, done.id)
    sleeper = (await jobs.submit(JobSpec(argv=["sleep", "30"], cwd=str(tmp_path)))).record
    watch = TableWatch(jobs, include_finished=False)
    jobs.on_change.append(watch.note)
    try:
        whole = await watch.whole()
        assert [j.id for j in whole] == [sleeper.id, done.id]
        assert not await watch.change()  # nothing happened: nothing to send
        await jobs.cancel(sleeper.id)
        change = await watch.change()
        assert [(j.id, j.state) for j in change.jobs] == [(sleeper.id, JobState.CANCELLED)]
        assert change.gone == [] and change.positions == []
        # A day on, both finished jobs leave the table of active and recent jobs,
        # once each.
        later = time.time() + RECENT_WINDOW_S + 60
        assert sorted((await watch.change(now=later)).gone) == sorted([done.id, sleeper.id])
        assert not await watch.change(now=later)
        # Watching every job (`include_finished`), nothing ages out.
        every = TableWatch(jobs, include_finished=True)
        assert len(await every.whole()) == 2
        assert not await every.change(now=later)
    finally:
        jobs.on_change.remove(watch.note)


async def test_queue_places_that_move_are_sent_as_pairs_not_jobs(
    jobs: JobManager, tmp_path: Path
) -> None:
    queued: List[int] = []
    for _ in range(3):
        submitted = await jobs.submit(JobSpec(argv=["true"], cwd=str(tmp_path)), ready_now=False)
        queued.append(submitted.record.id)
    jobs.queue_positions = {job_id: place for place, job_id in enumerate(queued, 1)}
    watch = TableWatch(jobs, include_finished=False)
    assert [j.queue_position for j in await watch.whole()] == [3, 2, 1]
    # The head leaves the queue (its record changes); the scheduler publishes
    # fresh places for the other two.
    jobs.on_change.append(watch.note)
    try:
        await jobs.cancel(queued[0])
        jobs.queue_positions = {queued[1]: 1, queued[2]: 2}
        change = await watch.change()
    finally:
        jobs.on_change.remove(watch.note)
    assert [j.id for j in change.jobs] == [queued[0]]
    assert sorted(change.positions) == [(queued[1], 1), (queued[2], 2)]
    jobs.queue_positions = dict(jobs.queue_positions)  # published again, unchanged
    assert not await watch.change()  # the same places again are no news


def test_a_change_too_big_for_a_frame_comes_in_parts_and_only_the_last_is_done() -> None:
    job = JobInfo(id=1, name="t", state=JobState.QUEUED, argv=["x"], cwd="/", created_at=0.0)
    many = TableChange(
        jobs=[job] * (MAX_WATCH_PART_JOBS * 2 + 1),
        positions=[(1, 1)] * (MAX_WATCH_PART_IDS + 5),
        gone=[2, 3],
    )
    sent = list(parts(9, many, reset=True, more=True))
    assert [len(p.jobs) for p in sent] == [MAX_WATCH_PART_JOBS, MAX_WATCH_PART_JOBS, 1, 0]
    assert [p.done for p in sent] == [False, False, False, True]
    assert [p.reset for p in sent] == [True, False, False, False]
    assert sum(len(p.positions) for p in sent) == MAX_WATCH_PART_IDS + 5
    assert sum(len(p.gone) for p in sent) == 2
    assert all(p.more and p.id == 9 for p in sent)
    (empty,) = parts(9, TableChange(), reset=True)
    assert empty.reset and empty.done and empty.jobs == []
