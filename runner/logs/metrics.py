"""Reading a job's metrics file by byte offset: complete lines only, bad ones counted.

The job appends JSON lines to ``metrics.jsonl`` in its directory (the path is in
its ``TETHER_METRICS``). The runner never trusts that file: it reads one bounded
chunk at a time, parses only complete lines (a line still being written waits
for its newline, unless the job has ended), and skips every line that is not a
JSON object with a number in it, counting it and saying why. A line longer than
`MAX_METRICS_LINE_BYTES` is skipped without ever being held whole.

Offsets always sit at a line start, except right after an over-long line was
skipped part-way; a read that starts in the middle of a line (the byte before it
is not a newline) skips to the next newline without counting again, so resuming
from any offset the runner handed out never counts a line twice.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from protocol.errors import ErrorCode
from protocol.limits import (
    MAX_MALFORMED_TEXT,
    MAX_METRIC_STEP,
    MAX_METRICS_CHUNK_BYTES,
    MAX_METRICS_LINE_BYTES,
    MAX_METRICS_RECORDS,
)
from protocol.metrics import FollowMetrics, MetricRecord, MetricsChunk, MetricsEnd, ReadMetrics
from runner.errors import RunnerError
from runner.jobs.table import JobManager
from runner.streams import Send

#: Poll interval right after new records, and the most it backs off to when quiet.
#: Metrics arrive at training-step pace and feed curves, not a terminal: a tenth
#: of a second is live enough and costs nothing.
POLL_MIN_S = 0.05
POLL_MAX_S = 0.5


class MalformedLine(ValueError):
    """One line of the metrics file is not a record; the message says why."""


@dataclass
class MetricsSlice:
    """What one bounded read of the metrics file found."""

    records: List[MetricRecord] = field(default_factory=list)
    next_offset: int = 0
    malformed: int = 0
    malformed_first: Optional[str] = None
    size: int = 0

    def skip(self, position: int, reason: str) -> None:
        self.malformed += 1
        if self.malformed_first is None:
            self.malformed_first = f"line at byte {position}: {reason}"[:MAX_MALFORMED_TEXT]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_line(line: bytes) -> MetricRecord:
    """The record one line holds; raises `MalformedLine` saying what is wrong."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise MalformedLine(f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise MalformedLine(f"a JSON {type(obj).__name__}, not an object")
    step = obj.get("step")
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if step is not None and not (isinstance(step, int) and 0 <= step <= MAX_METRIC_STEP):
        raise MalformedLine(f"step must be a whole number 0 or more, not {step!r:.40}")
    when = obj.get("time")
    if when is not None and not _is_number(when):
        raise MalformedLine(f"time must be UNIX seconds, not {when!r:.40}")
    try:
        values = {
            key: float(value)
            for key, value in obj.items()
            if key not in ("step", "time") and _is_number(value)
        }
    except OverflowError:
        raise MalformedLine("a value is too large for a floating-point number") from None
    if not values:
        raise MalformedLine("no numeric values besides step and time")
    return MetricRecord.model_construct(
        step=step, time=None if when is None else float(when), values=values
    )


def _continues_a_line(fd: int, offset: int) -> bool:
    return offset > 0 and os.pread(fd, 1, offset - 1) != b"\n"


def read_metrics(path: Path, offset: int, final: bool) -> MetricsSlice:
    """The records from `offset`, at most one chunk's worth.

    `final` says the job has ended: a last line without its newline is then
    complete, since nobody will finish it. Raises `RunnerError` when `offset`
    is past the end of the file (the file was rewritten instead of appended to).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if offset > 0:
            raise _past_end(path, offset, 0) from None
        return MetricsSlice(next_offset=0)
    try:
        size = os.fstat(fd).st_size
        if offset > size:
            raise _past_end(path, offset, size)
        data = os.pread(fd, min(MAX_METRICS_CHUNK_BYTES, size - offset), offset)
        start = 0
        if data and _continues_a_line(fd, offset):
            newline = data.find(b"\n")
            start = len(data) if newline < 0 else newline + 1
    finally:
        os.close(fd)
    found = MetricsSlice(size=size)
    at_eof = offset + len(data) == size
    found.next_offset = offset + _parse_lines(data, start, offset, final and at_eof, found)
    return found


def _parse_lines(data: bytes, pos: int, base: int, final: bool, found: MetricsSlice) -> int:
    """Parse complete lines of `data` from `pos` into `found`; where parsing stopped."""
    while pos < len(data) and len(found.records) < MAX_METRICS_RECORDS:
        newline = data.find(b"\n", pos)
        end = len(data) if newline < 0 else newline + 1
        line = data[pos:end]
        if len(line) > MAX_METRICS_LINE_BYTES:
            found.skip(base + pos, f"longer than {MAX_METRICS_LINE_BYTES} bytes")
        elif newline < 0 and not final:
            break  # still being written, or cut by the chunk: read it whole next time
        elif line.strip():
            try:
                found.records.append(parse_line(line))
            except MalformedLine as exc:
                found.skip(base + pos, str(exc))
        pos = end
    return pos


def _past_end(path: Path, offset: int, size: int) -> RunnerError:
    return RunnerError(
        f"offset {offset} is past the end of the metrics file ({size} bytes): "
        f"was {path.name} rewritten instead of appended to?",
        ErrorCode.BAD_REQUEST,
    )


def _chunk(request_id: int, job_id: int, offset: int, found: MetricsSlice) -> MetricsChunk:
    return MetricsChunk(
        id=request_id,
        job_id=job_id,
        offset=offset,
        next_offset=found.next_offset,
        records=found.records,
        malformed=found.malformed,
        malformed_first=found.malformed_first,
        size=found.size,
    )


async def read_metrics_chunk(jobs: JobManager, request: ReadMetrics) -> MetricsChunk:
    """One chunk from `request.offset`; parsing runs off the event loop."""
    await jobs.get(request.job_id)  # NO_SUCH_JOB before anything is read
    path = jobs.files(request.job_id).metrics_path
    final = not jobs.is_active(request.job_id)
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(None, read_metrics, path, request.offset, final)
    return _chunk(request.id, request.job_id, request.offset, found)


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


async def follow_metrics(jobs: JobManager, request: FollowMetrics, send: Send) -> None:
    """Send every record from `request.offset` until the job has ended, then the end.

    The file is read only when it has grown (or the job has just ended), and
    each chunk waits for its drain, so a slow client slows only its own stream.
    """
    await jobs.get(request.job_id)
    path = jobs.files(request.job_id).metrics_path
    loop = asyncio.get_running_loop()
    offset = request.offset
    sent_to = offset  # chunks are contiguous: each starts where the last one ended
    read_at_size = -1
    more_now = True
    delay = POLL_MIN_S
    while True:
        active = jobs.is_active(request.job_id)
        if more_now or not active or _file_size(path) != read_at_size:
            before = offset
            found = await loop.run_in_executor(None, read_metrics, path, offset, not active)
            read_at_size, offset = found.size, found.next_offset
            if found.records or found.malformed:
                await send(_chunk(request.id, request.job_id, sent_to, found))
                sent_to = offset
            more_now = before < offset < found.size
            if offset != before:
                delay = POLL_MIN_S
            if more_now:
                continue
        if not active:
            job = await jobs.get(request.job_id)
            await send(MetricsEnd(id=request.id, job_id=request.job_id, offset=offset, job=job))
            return
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, POLL_MAX_S)
