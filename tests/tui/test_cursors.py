"""The session's stream cursors, without a socket: where a resumed stream picks
up, and what of a resent message is delivered again (nothing)."""

from __future__ import annotations

from typing import List, Optional, Tuple

import pytest

from protocol.job_table import JobTableUpdate
from protocol.jobs import JobInfo, JobState
from protocol.messages import JobList, LogChunk, LogEnd
from protocol.metrics import MetricRecord, MetricsChunk, MetricsEnd
from protocol.stats import (
    GpuInventory,
    HostReading,
    StatsHistory,
    StatsInfo,
    StatsSample,
    StatsUpdate,
)
from tui.errors import TetherError
from tui.session.cursors import (
    JobTableCursor,
    LogCursor,
    MetricsCursor,
    StatsCursor,
    StatsPosition,
    StreamGap,
)

JOB = JobInfo(id=7, name="train", state=JobState.SUCCEEDED, argv=["x"], cwd="/", created_at=0.0)


def chunk(offset: int, data: bytes) -> LogChunk:
    return LogChunk(id=1, job_id=7, offset=offset, data=data, size=offset + len(data))


def delivered(cursor: LogCursor, *chunks: LogChunk) -> bytes:
    """The bytes the cursor passes on; each chunk starts where the last ended."""
    out = b""
    for message in chunks:
        at = cursor.position
        taken = cursor.take(message)
        if taken is not None:
            assert isinstance(taken, LogChunk) and taken.offset == at
            out += taken.data
    return out


def test_log_cursor_delivers_each_byte_once_when_a_resume_resends_a_chunk() -> None:
    cursor = LogCursor("gpu1", 7)
    first = delivered(cursor, chunk(0, b"hello "), chunk(6, b"wor"))
    assert cursor.position == 9
    # Resumed from byte 9, the runner answers with chunks that start earlier.
    rest = delivered(cursor, chunk(0, b"hello "), chunk(6, b"world\n"), chunk(12, b"bye\n"))
    assert first + rest == b"hello world\nbye\n"
    assert cursor.position == len(b"hello world\nbye\n")


def test_log_cursor_keeps_an_empty_chunk_at_its_offset() -> None:
    cursor = LogCursor("gpu1", 7, offset=4)
    assert cursor.take(chunk(4, b"")) == chunk(4, b"")
    assert cursor.position == 4


def test_log_cursor_refuses_a_resume_past_what_it_holds() -> None:
    cursor = LogCursor("gpu1", 7, offset=10)
    with pytest.raises(StreamGap, match="gpu1: log of job 7 skipped from byte 10 to 12"):
        cursor.take(chunk(12, b"x"))


def test_log_cursor_ends_with_the_log_end() -> None:
    cursor = LogCursor("gpu1", 7)
    end = LogEnd(id=1, offset=0, job=JOB)
    assert not cursor.finished
    assert cursor.take(end) is end
    assert cursor.finished


def metrics(offset: int, next_offset: int, step: int) -> MetricsChunk:
    records = [MetricRecord(step=step, values={"loss": 1.0})]
    return MetricsChunk(
        id=1, job_id=7, offset=offset, next_offset=next_offset, records=records, size=next_offset
    )


def test_metrics_cursor_resumes_from_next_offset_and_requires_chunks_to_join() -> None:
    cursor = MetricsCursor("gpu1", 7)
    assert cursor.take(metrics(0, 40, 1)) is not None
    assert cursor.take(metrics(40, 80, 2)) is not None
    assert cursor.position == 80
    with pytest.raises(StreamGap, match="metrics of job 7 jumped from byte 80 to 40"):
        cursor.take(metrics(40, 80, 2))  # records counted twice would be wrong
    end = MetricsEnd(id=1, job_id=7, offset=80, job=JOB)
    assert cursor.take(end) is end and cursor.finished


#: A host reading with nothing in it but what a sample must carry.
BARE_HOST = HostReading(
    cpu_pct=1.0,
    mem_total_bytes=1,
    mem_used_bytes=1,
    mem_available_bytes=0,
    swap_total_bytes=0,
    swap_used_bytes=0,
    disk_path="/",
    disk_total_bytes=1,
    disk_free_bytes=1,
)


def sample(seq: int) -> StatsSample:
    return StatsSample(seq=seq, t=float(seq), host=BARE_HOST)


def info(epoch: str) -> StatsInfo:
    gpu = GpuInventory(source="replay", available=False, reason="none")
    return StatsInfo(
        id=1,
        epoch=epoch,
        interval_s=1.0,
        sampler_interval_s=1.0,
        floor_s=0.5,
        history_s=900.0,
        gpu=gpu,
    )


def seqs(event: object) -> list[int]:
    if isinstance(event, StatsHistory):
        return [s.seq for s in event.samples]
    if isinstance(event, StatsUpdate):
        return [event.sample.seq]
    return []


def test_stats_cursor_drops_samples_a_resumed_stream_sends_again() -> None:
    cursor = StatsCursor()
    assert cursor.position == StatsPosition(None, None)
    cursor.take(info("e1"))
    assert seqs(cursor.take(StatsHistory(id=1, samples=[sample(1), sample(2)], last=True))) == [
        1,
        2,
    ]
    assert seqs(cursor.take(StatsUpdate(id=1, sample=sample(3)))) == [3]
    assert cursor.position == StatsPosition("e1", 3)
    # The same runner again: the overlap of its history and repeated updates go.
    cursor.take(info("e1"))
    again = cursor.take(StatsHistory(id=2, samples=[sample(2), sample(3), sample(4)], last=True))
    assert seqs(again) == [4] and isinstance(again, StatsHistory) and again.last
    assert cursor.take(StatsUpdate(id=2, sample=sample(4))) is None
    assert seqs(cursor.take(StatsUpdate(id=2, sample=sample(5)))) == [5]


def test_stats_cursor_starts_afresh_with_a_new_runner_epoch() -> None:
    cursor = StatsCursor()
    cursor.take(info("e1"))
    cursor.take(StatsUpdate(id=1, sample=sample(50)))
    cursor.take(info("e2"))  # the runner restarted: its seq counts from 0 again
    assert cursor.position == StatsPosition("e2", None)
    assert seqs(cursor.take(StatsHistory(id=2, samples=[sample(0), sample(1)]))) == [0, 1]
    assert not cursor.finished


def test_an_empty_history_batch_still_says_the_history_is_complete() -> None:
    cursor = StatsCursor()
    cursor.take(info("e1"))
    cursor.take(StatsUpdate(id=1, sample=sample(9)))
    batch = cursor.take(StatsHistory(id=2, samples=[sample(8), sample(9)], last=True))
    assert isinstance(batch, StatsHistory) and batch.samples == [] and batch.last


def _queued(job_id: int, place: int) -> JobInfo:
    return JOB.model_copy(update={"id": job_id, "state": JobState.QUEUED, "queue_position": place})


def _ids(table: Optional[JobList]) -> List[Tuple[int, str, Optional[int]]]:
    assert table is not None
    return [(job.id, job.state.value, job.queue_position) for job in table.jobs]


def test_the_job_table_cursor_builds_the_table_from_a_reset_and_its_changes() -> None:
    cursor = JobTableCursor()
    # A reset in two parts: nothing is delivered until the table is whole.
    assert cursor.take(JobTableUpdate(id=1, reset=True, jobs=[_queued(8, 1)], done=False)) is None
    first = cursor.take(JobTableUpdate(id=1, jobs=[_queued(9, 2), JOB], more=True))
    assert first is not None and first.more
    assert _ids(first) == [(9, "queued", 2), (8, "queued", 1), (7, "succeeded", None)]
    # Job 8 starts: it comes whole, 9 only moves up, 7 has aged out.
    running = _queued(8, 0).model_copy(update={"state": JobState.RUNNING, "queue_position": None})
    moved = cursor.take(JobTableUpdate(id=1, jobs=[running], gone=[7], positions=[(9, 1)]))
    assert _ids(moved) == [(9, "queued", 1), (8, "running", None)]
    # A place for a job the table does not hold is ignored, not made up.
    assert _ids(cursor.take(JobTableUpdate(id=1, positions=[(40, 3)]))) == _ids(moved)
    # After a resume the runner starts again with a reset: the old table is dropped.
    again = cursor.take(JobTableUpdate(id=1, reset=True, jobs=[JOB]))
    assert _ids(again) == [(7, "succeeded", None)] and again is not None and not again.more
    assert cursor.position is None and not cursor.finished


def test_the_job_table_cursor_refuses_a_whole_job_list() -> None:
    with pytest.raises(TetherError, match="cannot take a JobList"):
        JobTableCursor().take(JobList(id=1, jobs=[JOB]))
