"""`MirrorWriter`: a session's `MirrorSink`, writing to a `HostMirror` off the loop.

What the session hands over is queued; one task owned by the writer takes the
queue in batches and applies each batch in a worker thread under the host's
lock, so a log followed at 10,000 lines a second costs a list append per chunk
on the loop and one append and one sidecar per file per batch on disk. When
the disk falls behind by more than `MAX_PENDING_BYTES`, newer log bytes are
let go: the copy then has a gap and stops growing until a later read fills it
from where it ends (a mirror is never wrong, only short). `close` writes what
is queued, then ends the task.

The mirror is a cache: a write that fails (disk full, a read-only home) is
noted once on the writer and otherwise ignored; it never fails the verb.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

from protocol.jobs import JobInfo
from protocol.metrics import MetricsChunk
from tui.mirror.host import HostMirror
from tui.mirror.prune import prune

#: Log bytes queued and not yet written beyond which new ones are let go.
MAX_PENDING_BYTES = 64 * 1024 * 1024


@dataclass
class _JobsSeen:
    jobs: List[JobInfo]
    whole: bool
    at: float


@dataclass
class _LogBytes:
    job_id: int
    attempt: Optional[int]
    offset: int
    data: bytes


_Item = Union[_JobsSeen, _LogBytes, MetricsChunk]


#: Seconds what is handed over gathers before it is written: a log followed at
#: 10,000 lines a second costs four appends a second, not one a chunk.
BATCH_S = 0.25
#: Log bytes written between two checks of the cap (and always at `close`).
PRUNE_EVERY_BYTES = 64 * 1024 * 1024


class MirrorWriter:
    def __init__(self, mirror: HostMirror, max_bytes: int) -> None:
        """`max_bytes` is the cap of the whole mirror (every host's)."""
        self.mirror = mirror
        self.max_bytes = max_bytes
        self._unpruned = 0
        self.error: Optional[str] = None
        self.bytes_written = 0
        self._queue: List[_Item] = []
        self._pending_bytes = 0
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task[None]] = None
        self._closing = asyncio.Event()

    # -- MirrorSink -------------------------------------------------------------------

    def jobs(self, jobs: Sequence[JobInfo], whole: bool) -> None:
        self._put(_JobsSeen(list(jobs), whole, time.time()))

    def log(self, job_id: int, attempt: Optional[int], offset: int, data: bytes) -> None:
        if self._pending_bytes + len(data) > MAX_PENDING_BYTES:
            return  # behind: a gap, filled by a later read
        self._pending_bytes += len(data)
        self._put(_LogBytes(job_id, attempt, offset, data))

    def metrics(self, chunk: MetricsChunk) -> None:
        self._put(chunk)

    async def close(self) -> None:
        if self._task is None:
            return
        self._closing.set()
        self._wake.set()
        await self._task
        self._task = None
        if self._unpruned:
            await asyncio.to_thread(self._prune)

    # -- the writing ---------------------------------------------------------------------

    def _put(self, item: _Item) -> None:
        self._queue.append(item)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    def _take(self) -> List[_Item]:
        batch, self._queue, self._pending_bytes = self._queue, [], 0
        return batch

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if not self._closing.is_set():  # a batch: one append and one sidecar a file
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), BATCH_S)
            self._wake.clear()
            while self._queue:
                await asyncio.to_thread(self._apply, self._take())
            if self._closing.is_set():
                return

    def _apply(self, batch: List[_Item]) -> None:
        try:
            with self.mirror.locked():
                for item in _joined(batch):
                    self._write(item)
        except OSError as exc:
            self.error = self.error or f"the mirror of {self.mirror.host} cannot be written: {exc}"
        if self._unpruned >= PRUNE_EVERY_BYTES:
            self._prune()

    def _prune(self) -> None:
        self._unpruned = 0
        try:
            prune(self.mirror.dir.parent, self.max_bytes)
        except OSError as exc:
            self.error = self.error or f"the mirror cannot be pruned: {exc}"

    def _write(self, item: _Item) -> None:
        if isinstance(item, MetricsChunk):
            self.mirror.add_metrics(item)
        elif isinstance(item, _LogBytes):
            self.mirror.add_log(item.job_id, item.attempt, item.offset, item.data)
            self.bytes_written += len(item.data)
            self._unpruned += len(item.data)
        else:
            self.mirror.record_jobs(item.jobs, item.at, item.whole)


def _joined(batch: List[_Item]) -> List[_Item]:
    """The batch with each run of log chunks that continue one another (same job,
    same attempt, next offset) joined into one: one append and one sidecar."""
    out: List[_Item] = []
    run: List[_LogBytes] = []

    def close_run() -> None:
        if run:
            first = run[0]
            out.append(
                _LogBytes(first.job_id, first.attempt, first.offset, b"".join(c.data for c in run))
            )
            run.clear()

    for item in batch:
        if isinstance(item, _LogBytes):
            last = run[-1] if run else None
            if last is not None and (
                (last.job_id, last.attempt, last.offset + len(last.data))
                != (item.job_id, item.attempt, item.offset)
            ):
                close_run()
            run.append(item)
            continue
        close_run()
        out.append(item)
    close_run()
    return out
