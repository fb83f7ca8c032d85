"""The job store opens a database an older runner wrote: the columns added since
(here the queue's order: `after`, `after_any`, `priority`) are added in place, its
jobs read back with their defaults, and new jobs keep what they were given."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from protocol.jobs import JobState
from runner.jobs.store import JobRecord, JobStore

#: The jobs table as the runner before `--after` and `--priority` made it.
OLDER_SCHEMA = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL, state TEXT NOT NULL, argv TEXT NOT NULL, cwd TEXT NOT NULL,
    env TEXT NOT NULL, gpus_requested TEXT, gpus TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, exit_code INTEGER,
    signal TEXT, reason TEXT, shim_pid INTEGER, shim_start INTEGER, job_pid INTEGER,
    boot_id TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,
    leaked_gpu_pids TEXT NOT NULL DEFAULT '[]', submit_key TEXT, cancel_key TEXT,
    snapshot TEXT, tree TEXT, ports TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO jobs (name, state, argv, cwd, env, created_at)
    VALUES ('old', 'queued', '["true"]', '/', '{}', 1.0);
"""


def test_an_older_database_gains_the_queue_columns_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLDER_SCHEMA)
    store = JobStore(path)
    try:
        old = store.get(1)
        assert old is not None and old.name == "old"
        assert (old.after, old.after_any, old.priority) == ([], False, 0)
        new = store.insert(
            JobRecord(
                id=0,
                name="new",
                state=JobState.QUEUED,
                argv=["true"],
                cwd="/",
                env={},
                created_at=2.0,
                after=[1],
                after_any=True,
                priority=-4,
            )
        )
        assert store.states([1, new.id, 99]) == {1: JobState.QUEUED, new.id: JobState.QUEUED}
    finally:
        store.close()
    reopened = JobStore(path)  # opened again: nothing to add, nothing lost
    try:
        again = reopened.get(new.id)
        assert again is not None
        assert (again.after, again.after_any, again.priority) == ([1], True, -4)
    finally:
        reopened.close()


def test_an_older_database_gains_retries_groups_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLDER_SCHEMA)
    store = JobStore(path)
    try:
        old = store.get(1)
        assert old is not None
        assert (old.attempt, old.retry, old.retry_on, old.retry_at) == (1, 0, "any", None)
        assert (old.past_attempts, old.job_group, old.labels) == ([], None, {})
        assert store.setting("queue_paused") is None
        store.set_setting("queue_paused", "1")
        store.set_setting("queue_paused", "0")
        store.set_setting("queue_paused", "1")
        grouped = store.insert(
            JobRecord(
                id=0,
                name="g",
                state=JobState.PAUSED,
                argv=["true"],
                cwd="/",
                env={},
                created_at=2.0,
                retry=2,
                retry_on="exit",
                attempt=2,
                past_attempts=[{"attempt": 1, "state": "failed", "exit_code": 1}],
                job_group="sweep",
                labels={"lr": "0.1"},
                cancel_key="k1:2",
            )
        )
    finally:
        store.close()
    reopened = JobStore(path)
    try:
        again = reopened.get(grouped.id)
        assert again is not None
        assert (again.attempt, again.retry, again.retry_on) == (2, 2, "exit")
        assert again.past_attempts == [{"attempt": 1, "state": "failed", "exit_code": 1}]
        assert (again.job_group, again.labels) == ("sweep", {"lr": "0.1"})
        assert reopened.setting("queue_paused") == "1"
        # A paused job is active: a restarted runner re-adopts it.
        assert [r.id for r in reopened.active()] == [1, grouped.id]
        assert [r.id for r in reopened.listing(False, 10, "sweep")] == [grouped.id]
        assert [r.id for r in reopened.listing(True, 10, "other")] == []
        assert reopened.cancelled_with("k1") == [grouped.id]
        assert reopened.cancelled_with("k") == []
    finally:
        reopened.close()
