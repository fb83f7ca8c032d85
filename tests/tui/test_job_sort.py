"""`tui.app.job_sort`: the jobs table's orders, pure."""

from __future__ import annotations

from protocol.jobs import JobInfo, JobState
from protocol.stats import JobUsage
from tui.app.job_columns import COLUMNS, DEFAULT_KEYS, Facts, in_table_order
from tui.app.job_sort import JobOrder


def _job(job_id: int, name: str, state: JobState, **fields: object) -> JobInfo:
    return JobInfo.model_validate(
        {
            "id": job_id,
            "name": name,
            "state": state,
            "argv": ["x"],
            "cwd": "/",
            "created_at": 0.0,
            **fields,
        }
    )


JOBS = [
    _job(1, "beta", JobState.SUCCEEDED, started_at=0.0, finished_at=50.0, exit_code=0),
    _job(2, "Alpha", JobState.RUNNING, started_at=90.0, gpus=[0, 1]),
    _job(3, "gamma", JobState.QUEUED),
    _job(4, "delta", JobState.FAILED, started_at=10.0, finished_at=20.0, exit_code=3),
    _job(5, "eps", JobState.CANCELLED, started_at=10.0, finished_at=30.0, signal="SIGTERM"),
    _job(6, "zeta", JobState.RUNNING, started_at=40.0, gpus=[2]),
]


def ids(order: JobOrder, now: float = 100.0, usage: dict[int, JobUsage] | None = None) -> list[int]:
    return [job.id for job in order.apply(JOBS, Facts(now, usage or {}))]


def test_columns_keep_the_table_order_and_the_fixed_ones() -> None:
    assert in_table_order(set(DEFAULT_KEYS)) == DEFAULT_KEYS
    assert in_table_order({"exit", "cpu"}) == ("id", "name", "state", "cpu", "exit")
    assert len({c.key for c in COLUMNS}) == len(COLUMNS)


def test_the_default_is_newest_first_and_inverting_gives_oldest_first() -> None:
    assert ids(JobOrder()) == [6, 5, 4, 3, 2, 1]
    assert ids(JobOrder().inverted()) == [1, 2, 3, 4, 5, 6]


def test_states_sort_by_lifecycle_with_ties_newest_first_both_ways() -> None:
    up = JobOrder("state", descending=False)
    assert ids(up) == [3, 6, 2, 1, 4, 5]  # queued, running (newest first), the ends
    assert ids(up.inverted()) == [5, 4, 1, 6, 2, 3]


def test_names_ignore_case_runtime_counts_running_jobs_to_now_and_exit_puts_signals_last() -> None:
    assert ids(JobOrder("name", descending=False)) == [2, 1, 4, 5, 3, 6]
    assert ids(JobOrder("runtime")) == [6, 1, 5, 4, 2, 3]  # 60, 50, 20, 10, 10 (older), unstarted
    assert ids(JobOrder("runtime"), now=200.0)[:2] == [6, 2]
    assert ids(JobOrder("exit")) == [5, 4, 1, 6, 3, 2]
    assert ids(JobOrder("gpus")) == [2, 6, 5, 4, 3, 1]


def test_usage_sorts_running_jobs_by_what_they_use_and_the_rest_below() -> None:
    usage = {
        2: JobUsage(job_id=2, cpu_pct=50.0, rss_bytes=10, processes=1),
        6: JobUsage(job_id=6, cpu_pct=180.0, rss_bytes=5, processes=2),
        1: JobUsage(job_id=1, cpu_pct=999.0, rss_bytes=99, processes=1),  # ended: ignored
    }
    assert ids(JobOrder("cpu"), usage=usage)[:2] == [6, 2]
    assert ids(JobOrder("mem"), usage=usage)[:2] == [2, 6]
    assert ids(JobOrder("age")) == [6, 5, 4, 3, 2, 1]  # all created at 0: ties, newest first


def test_moving_wraps_around_the_shown_columns() -> None:
    order = JobOrder("exit", descending=False)
    assert order.moved(1, DEFAULT_KEYS) == JobOrder("id", descending=False)
    assert order.moved(-1, DEFAULT_KEYS).column == "gpus"
    assert JobOrder("cpu").moved(1, DEFAULT_KEYS).column == "id"  # a column no longer shown
    assert JobOrder().arrow == "▼" and JobOrder().inverted().arrow == "▲"
