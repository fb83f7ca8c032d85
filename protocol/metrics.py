"""Training metrics on the wire: records a job reported, read and streamed by offset.

A job appends one JSON object per line to the file named by ``TETHER_METRICS``
(``{"step": 100, "loss": 0.42, "lr": 3e-4}``; `runner.report` does it for you).
Clients read that file the way they read logs: from a byte offset, so a client
that reconnects resumes where it was, and no record arrives twice.

- `ReadMetrics` answers with one `MetricsChunk`: the records of the complete
  lines from ``offset``, and ``next_offset`` to ask from next. A chunk that ends
  before the file does is not the end: ask again from ``next_offset``.
- `FollowMetrics` streams `MetricsChunk`s as lines are written, then one
  `MetricsEnd` once the job has ended and every line was sent.

Chunks of one stream are contiguous: each one's ``offset`` is the previous one's
``next_offset``. Lines that are not a JSON object with a number in it, or longer
than `MAX_METRICS_LINE_BYTES`, are skipped and counted in ``malformed`` (never
fatal); ``malformed_first`` says where and why, so the script's author can fix it.
"""

from __future__ import annotations

from typing import Dict, List, Literal, Optional

from pydantic import Field, model_validator

from protocol.envelope import Reply, Request, WireModel
from protocol.jobs import JobInfo
from protocol.limits import (
    MAX_MALFORMED_TEXT,
    MAX_METRIC_STEP,
    MAX_METRICS_RECORDS,
)


class MetricRecord(WireModel):
    """One reported line: its step and time when given, and its numeric values.

    Fields of the line that are not numbers (a phase name, a nested object) are
    not series and are left out of ``values``; ``NaN`` and infinities are kept,
    because a loss that became NaN is exactly what a person must see.
    """

    step: Optional[int] = Field(default=None, ge=0, le=MAX_METRIC_STEP)
    time: Optional[float] = None
    values: Dict[str, float]


class ReadMetrics(Request):
    """The records of the complete lines from ``offset`` (one chunk's worth)."""

    type: Literal["read_metrics"] = "read_metrics"
    job_id: int
    offset: int = Field(default=0, ge=0)


class FollowMetrics(Request):
    """Stream records from ``offset`` as they are written, until the job ends."""

    type: Literal["follow_metrics"] = "follow_metrics"
    job_id: int
    offset: int = Field(default=0, ge=0)


class MetricsChunk(Reply):
    """Records parsed from bytes ``offset`` to ``next_offset`` of the metrics file.

    ``size`` is the file's size when it was read, so a client can tell how much
    is left; ``malformed`` counts the lines skipped in this range.
    """

    type: Literal["metrics_chunk"] = "metrics_chunk"
    job_id: int
    offset: int = Field(ge=0)
    next_offset: int = Field(ge=0)
    records: List[MetricRecord] = Field(max_length=MAX_METRICS_RECORDS)
    malformed: int = Field(default=0, ge=0)
    malformed_first: Optional[str] = Field(default=None, max_length=MAX_MALFORMED_TEXT)
    size: int = Field(ge=0)

    @model_validator(mode="after")
    def _range_forward(self) -> MetricsChunk:
        if self.next_offset < self.offset:
            raise ValueError("next_offset cannot be before offset")
        return self


class MetricsEnd(Reply):
    """The followed job has ended and every record up to ``offset`` was sent."""

    type: Literal["metrics_end"] = "metrics_end"
    job_id: int
    offset: int = Field(ge=0)
    job: JobInfo
