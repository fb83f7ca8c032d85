"""Reading a metrics file the way the runner does: by offset, complete lines only,
bad lines counted and skipped, every chunk small enough for one frame."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from protocol.codec import FrameDecoder, encode
from protocol.limits import (
    MAX_FRAME_BYTES,
    MAX_METRICS_CHUNK_BYTES,
    MAX_METRICS_LINE_BYTES,
    MAX_METRICS_RECORDS,
)
from protocol.metrics import MetricsChunk
from runner.errors import RunnerError
from runner.logs.metrics import read_metrics


def _all(path: Path, final: bool = True, offset: int = 0):  # type: ignore[no-untyped-def]
    """Every record from `offset`, chunk by chunk, as a client reads them."""
    records, malformed, reasons = [], 0, []
    while True:
        found = read_metrics(path, offset, final)
        records += found.records
        malformed += found.malformed
        if found.malformed_first:
            reasons.append(found.malformed_first)
        if found.next_offset == offset:
            return records, malformed, reasons, offset
        offset = found.next_offset


def test_records_are_parsed_and_bad_lines_are_counted_with_the_first_reason(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metrics.jsonl"
    lines = [
        b'{"step": 1, "time": 1700000000.5, "loss": 2.5, "lr": 0.001}',
        b"not json at all",
        b"[1, 2, 3]",
        b'{"step": 2, "loss": 2.0, "phase": "train", "nested": {"a": 1}}',
        b'{"step": -3, "loss": 1.0}',
        b'{"step": 3}',
        b"",
        b'{"step": 4.0, "loss": NaN, "ok": true}',
        b'{"loss": 1.25}',
        b'{"step": 5, "acc": 1e400}',
        b'\xff\xfe{"step": 6}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, malformed, reasons, end = _all(path)
    assert [(r.step, dict(r.values)) for r in records[:2]] == [
        (1, {"loss": 2.5, "lr": 0.001}),
        (2, {"loss": 2.0}),
    ]
    assert records[0].time == 1700000000.5
    assert records[2].step == 4 and math.isnan(records[2].values["loss"])
    assert "ok" not in records[2].values  # true/false are not numbers to plot
    assert (records[3].step, records[3].values) == (None, {"loss": 1.25})
    assert records[4].values == {"acc": math.inf}
    # not JSON, a list, a negative step, no values, bad UTF-8
    assert malformed == 5
    assert reasons == [
        f"line at byte {len(lines[0]) + 1}: "
        "not valid JSON (Expecting value: line 1 column 1 (char 0))"
    ]
    assert end == path.stat().st_size


def test_a_line_being_written_waits_for_its_newline_unless_the_job_ended(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1, "loss": 1.0}\n{"step": 2, "lo')
    first = read_metrics(path, 0, final=False)
    assert [r.step for r in first.records] == [1]
    assert first.next_offset == len(b'{"step": 1, "loss": 1.0}\n')
    assert read_metrics(path, first.next_offset, final=False).records == []
    with path.open("ab") as f:
        f.write(b'ss": 0.5}')
    # Still no newline: complete only once the job has ended.
    assert read_metrics(path, first.next_offset, final=False).records == []
    last = read_metrics(path, first.next_offset, final=True)
    assert [(r.step, r.values) for r in last.records] == [(2, {"loss": 0.5})]
    assert last.next_offset == path.stat().st_size


def test_resuming_from_any_offset_handed_out_never_repeats_or_loses_a_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metrics.jsonl"
    with path.open("wb") as f:
        for step in range(20_000):
            f.write(json.dumps({"step": step, "loss": 1 / (step + 1)}).encode() + b"\n")
    steps, offset, chunks = [], 0, 0
    while True:
        found = read_metrics(path, offset, final=False)
        if found.next_offset == offset:
            break
        assert len(found.records) <= MAX_METRICS_RECORDS
        assert found.next_offset - offset <= MAX_METRICS_CHUNK_BYTES
        steps += [r.step for r in found.records]
        offset, chunks = found.next_offset, chunks + 1
    assert steps == list(range(20_000))
    assert chunks > 1


def test_an_overlong_line_is_skipped_once_without_being_held_whole(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    huge = b'{"step": 1, "blob": "' + b"x" * (3 * MAX_METRICS_CHUNK_BYTES) + b'"}'
    path.write_bytes(b'{"step": 0, "loss": 1}\n' + huge + b'\n{"step": 2, "loss": 0.5}\n')
    records, malformed, reasons, _ = _all(path, final=False)
    assert [r.step for r in records] == [0, 2]
    assert malformed == 1
    assert reasons == [f"line at byte 23: longer than {MAX_METRICS_LINE_BYTES} bytes"]


def test_the_worst_chunk_still_fits_in_one_frame(tmp_path: Path) -> None:
    # Tiny lines with many short keys grow the most when parsed into records.
    path = tmp_path / "metrics.jsonl"
    keys = [f"{a}{b}" for a in "abcdefghij" for b in "abcdefghij"]
    line = b"{" + b",".join(f'"{k}":0'.encode() for k in keys) + b"}\n"
    path.write_bytes(line * (MAX_METRICS_CHUNK_BYTES // len(line) + 10))
    small = b'{"a":0}\n'
    (tmp_path / "small.jsonl").write_bytes(small * (MAX_METRICS_CHUNK_BYTES // len(small) + 10))
    for name in ("metrics.jsonl", "small.jsonl"):
        found = read_metrics(tmp_path / name, 0, final=True)
        chunk = MetricsChunk(
            id=1,
            job_id=1,
            offset=0,
            next_offset=found.next_offset,
            records=found.records,
            malformed=found.malformed,
            size=found.size,
        )
        frame = encode(chunk)
        assert len(frame) < MAX_FRAME_BYTES
        decoder = FrameDecoder()
        decoder.feed(frame)
        assert decoder.next_message() == chunk


def test_an_offset_past_the_end_says_the_file_was_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1, "loss": 1}\n')
    with pytest.raises(RunnerError, match=r"was metrics\.jsonl rewritten instead of appended to"):
        read_metrics(path, 1000, final=True)
    missing = read_metrics(tmp_path / "none.jsonl", 0, final=True)
    assert (missing.records, missing.next_offset, missing.size) == ([], 0, 0)
