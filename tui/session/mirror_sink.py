"""What a `HostSession` tells a local mirror of its host (`tui.mirror`), if it has one.

The session hands over what it reads (job lists, log bytes at their offsets,
metric chunks) as it reads them, from the event loop, so a sink must only take
note and return: the writing happens elsewhere, off the loop. Defined here, in
the session's layer, so the session needs nothing of the mirror's.
"""

from __future__ import annotations

from typing import Optional, Protocol, Sequence

from protocol.jobs import JobInfo
from protocol.metrics import MetricsChunk


class MirrorSink(Protocol):
    def jobs(self, jobs: Sequence[JobInfo], whole: bool) -> None:
        """Jobs as the host gave them; `whole`: every job it has."""

    def log(self, job_id: int, attempt: Optional[int], offset: int, data: bytes) -> None:
        """Bytes of a job's log at the host's `offset`: of `attempt` (``--retry``),
        or of the latest attempt, whichever it is, when None."""

    def metrics(self, chunk: MetricsChunk) -> None:
        """A chunk of a job's metric records."""

    async def close(self) -> None:
        """Write what was handed over, then stop."""
