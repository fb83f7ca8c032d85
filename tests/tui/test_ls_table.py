"""`tether ls`'s table into a pipe: one row per job, long names cut with …"""

from __future__ import annotations

import re

from protocol.jobs import JobInfo, JobState
from tui.cli.format import NAME_WIDTH, jobs_table
from tui.job_text import queue_state


def test_a_long_name_is_cut_with_an_ellipsis_and_a_multiline_command_stays_on_its_row() -> None:
    job = JobInfo(
        id=3,
        name="a very long name that goes on and on and on",
        state=JobState.SUCCEEDED,
        argv=["sh", "-c", 'echo "two\nlines"'],
        cwd="/",
        created_at=0,
        started_at=0,
        finished_at=1,
        exit_code=0,
    )
    lines = jobs_table([job]).splitlines()
    assert len(lines) == 2  # the header and one row
    name = re.split(r"\s{2,}", lines[1])[1]
    assert name == "a very long name that g…" and len(name) == NAME_WIDTH
    assert lines[1].endswith("""sh -c 'echo "two\\nlines"'""")


def _job(**fields: object) -> JobInfo:
    base: dict[str, object] = {
        "id": 4,
        "name": "train",
        "state": JobState.RUNNING,
        "argv": ["python", "train.py"],
        "cwd": "/",
        "created_at": 0,
    }
    base.update(fields)
    return JobInfo.model_validate(base)


def test_the_state_cell_says_a_paused_jobs_gpus_stay_held_and_counts_attempts() -> None:
    assert queue_state(_job(state=JobState.PAUSED, gpus=[0, 1])) == "paused (GPUs 0,1 held)"
    assert queue_state(_job(state=JobState.PAUSED)) == "paused"
    assert queue_state(_job(attempt=2, attempts=3)) == "running 2/3"
    assert queue_state(_job(attempt=1, attempts=1)) == "running"
    waiting = _job(state=JobState.QUEUED, attempt=2, attempts=3, retry_at=108.0)
    assert queue_state(waiting, now=100.0) == "queued 2/3 (retry in 8s)"
    assert "paused (GPUs 0,1 held)" in jobs_table([_job(state=JobState.PAUSED, gpus=[0, 1])])
