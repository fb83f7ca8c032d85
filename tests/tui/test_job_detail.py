"""`tui.job_detail`: the rows of the describe view and ``tether show``."""

from __future__ import annotations

import datetime as dt
import time

from protocol.jobs import JobInfo, JobState, SnapshotInfo
from tui.job_detail import job_rows, rows_text, when
from tui.job_text import queue_state


def _job(**fields: object) -> JobInfo:
    base: dict[str, object] = {
        "id": 7,
        "name": "train",
        "state": JobState.QUEUED,
        "argv": ["python", "train.py", "--lr", "3e-4"],
        "cwd": "/home/u/proj",
        "created_at": 1_700_000_000.0,
    }
    return JobInfo.model_validate({**base, **fields})


def test_a_queued_job_without_extras_reads_plainly() -> None:
    job = _job(queue_position=2, gpus_requested="2")
    rows = dict(job_rows(job, host="gpu1", now=1_700_000_065.0))
    assert rows["job"] == "7 on gpu1"
    assert rows["state"] == "queued, #2 in the GPU queue"
    assert rows["command"] == "python train.py --lr 3e-4"
    assert rows["environment"] == "(the login shell's, nothing added)"
    assert rows["GPUs"] == "- (asked: 2)"
    assert rows["created"].endswith("(1m05s ago)")
    assert rows["started"] == rows["finished"] == "-"
    assert "snapshot" not in rows and "ports" not in rows


def test_an_ended_job_has_every_row_and_escapes_are_made_visible() -> None:
    job = _job(
        state=JobState.FAILED,
        env={"B": "2", "A": "1\x1b[31m"},
        gpus=[0, 3],
        gpus_requested="2",
        started_at=1_700_000_010.0,
        finished_at=1_700_000_310.0,
        exit_code=3,
        reason="it was asked",
        log_bytes=3 * 2**20,
        snapshot=SnapshotInfo(id="ab" * 32, files=1204, bytes=2**30),
        ports=[6006, 8888],
    )
    forwards = ["http://127.0.0.1:16006 → gpu1:6006"]
    rows = job_rows(job, host="gpu1", forwards=forwards, now=time.time())
    labels = [label for label, _ in rows]
    env = [value for label, value in rows if label in ("environment", "")][:2]
    assert env[0].startswith("A=1") and "\x1b" not in env[0]
    assert env[1] == "B=2"
    values = dict(rows)
    assert values["GPUs"] == "0,3 (asked: 2)"
    assert values["runtime"] == "5m00s"
    assert values["exit"] == "3"
    assert values["reason"] == "it was asked"
    assert values["log"] == "3.0 MiB"
    assert values["snapshot"] == f"{'ab' * 32} (1,204 files, 1.0 GiB)"
    assert values["ports"] == "http://127.0.0.1:16006 → gpu1:6006"
    assert labels.index("reason") == labels.index("state") + 1
    text = rows_text(rows)
    assert "\nexit         3\n" in text


def test_when_says_how_long_ago() -> None:
    assert when(None, 0.0) == "-"
    assert when(100.0, 160.0).endswith(" (1m00s ago)")


def test_a_job_that_waits_for_others_says_for_which_and_how() -> None:
    job = _job(after=[3, 4], waiting_for=[4], priority=5)
    rows = dict(job_rows(job, host="gpu1", now=1_700_000_000.0))
    assert rows["state"] == "queued, waiting for job 4"
    assert rows["after"] == "jobs 3, 4 succeeded"
    assert rows["priority"] == "5"
    either = dict(job_rows(_job(after=[3], after_any=True), host="h", now=0.0))
    assert either["after"] == "job 3 ended, however"
    assert "priority" not in either


def test_a_retried_job_in_a_group_says_its_attempts_group_and_labels() -> None:
    job = _job(
        state=JobState.QUEUED,
        group="sweep",
        labels={"lr": "3e-4", "arch": "vit"},
        attempt=3,
        attempts=4,
        retry_on="exit",
        retry_at=1_700_000_100.0,
        past_attempts=[
            {"attempt": 1, "state": "failed", "exit_code": 2},
            {"attempt": 2, "state": "lost"},
        ],
    )
    rows = job_rows(job, host="gpu1", now=1_700_000_090.0)
    values = dict(rows)
    assert values["group"] == "sweep"
    assert values["labels"] == "arch=vit"
    assert values["attempt"] == "3 of 4, retried on exit; the next starts in 10s"
    text = rows_text(rows)
    assert "lr=3e-4" in text
    assert "attempt 1: failed (exit 2)" in text and "attempt 2: lost (-)" in text


def test_a_slurm_job_says_its_slurm_id_nodes_and_what_it_asked_for() -> None:
    slurm = {"partition": "gpu", "time": "4:00:00", "nodes": 2, "sbatch_args": ["--exclusive"]}
    job = _job(state=JobState.RUNNING, executor="slurm", slurm_id=42, nodes="n[01-02]", slurm=slurm)
    rows = dict(job_rows(job, host="cluster", now=1_700_000_065.0))
    assert rows["slurm"] == "job 42 on n[01-02]; partition gpu, time 4:00:00, nodes 2, --exclusive"
    pending = _job(executor="slurm", stall_after=0.0, flags=["stalled"])
    rows = dict(job_rows(pending, host="cluster", now=1_700_000_065.0))
    assert rows["slurm"] == "not submitted yet"
    assert rows["stall after"] == "never (--stall-after 0)"
    assert rows["noticed"] == "stalled"
    assert "slurm" not in dict(job_rows(_job(), host="h", now=1_700_000_065.0))


def test_a_pending_slurm_job_says_when_slurm_expects_it_to_start() -> None:
    now = 1_700_000_065.0
    job = _job(executor="slurm", slurm_id=42, reason="waiting for resources")
    waiting = job.model_copy(update={"expected_start": now + 754})
    local = dt.datetime.fromtimestamp(now + 754).strftime("%Y-%m-%d %H:%M:%S")
    assert dict(job_rows(waiting, host="c", now=now))["slurm"] == (
        f"job 42, expected to start {local} (in 12m34s)"
    )
    assert queue_state(waiting, now) == "queued (waiting for resources, starts in 12m34s)"
    assert queue_state(waiting, now, start=False) == "queued (waiting for resources)"  # the app
    assert dict(job_rows(job, host="c", now=now))["slurm"] == "job 42"
    assert queue_state(job, now) == "queued (waiting for resources)"
    late = job.model_copy(update={"expected_start": now - 5})  # Slurm's estimate has passed
    assert queue_state(late, now) == "queued (waiting for resources)"
