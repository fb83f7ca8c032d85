"""One watcher's view of the job table, so each update carries only what changed.

A `WatchJobs` stream gets the table whole once, then updates (`JobTableUpdate`).
What changes a job's row:

- its record: the job table tells its listeners (`JobManager.on_change`), and the
  job is sent again whole;
- its place in the GPU queue, or the jobs it still waits for: the scheduler
  publishes these as fresh dicts, with no record changed. When the head of a
  queue of 10,000 starts, every other queued job moves up one: each is sent as
  an (id, place) pair, not whole;
- time: a finished job leaves the table of active and recent jobs once it ended
  more than `RECENT_WINDOW_S` ago (its id is sent as gone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Set, Tuple

from protocol.job_table import JobTableUpdate
from protocol.jobs import JobInfo
from protocol.limits import (
    MAX_WATCH_JOBS,
    MAX_WATCH_PART_IDS,
    MAX_WATCH_PART_JOBS,
    RECENT_WINDOW_S,
)
from runner.jobs.store import JobRecord
from runner.jobs.table import JobManager


@dataclass
class TableChange:
    """What one update says, before it is cut into parts."""

    jobs: List[JobInfo] = field(default_factory=list)
    gone: List[int] = field(default_factory=list)
    positions: List[Tuple[int, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.jobs or self.gone or self.positions)


class TableWatch:
    """What one watcher holds: the ids in its table (with when each finished), and
    the queue places and waits it was last told."""

    def __init__(self, jobs: JobManager, include_finished: bool) -> None:
        self._jobs = jobs
        self._include_finished = include_finished
        #: Id -> when it finished (None: not yet), for every job the watcher holds.
        self._held: Dict[int, Optional[float]] = {}
        self._places: Dict[int, int] = {}
        self._waits: Dict[int, List[int]] = {}
        self._changed: Set[int] = set()
        #: The scheduler's dicts last compared (it publishes fresh ones on a move).
        self._places_seen: object = None
        self._waits_seen: object = None
        self.more = False

    def note(self, record: JobRecord) -> None:
        """`JobManager.on_change`: the job is sent again with the next update."""
        self._changed.add(record.id)

    @property
    def pending(self) -> bool:
        return bool(self._changed)

    async def whole(self) -> List[JobInfo]:
        """The table as it stands (the newest `MAX_WATCH_JOBS`), held from now on."""
        self._changed.clear()
        jobs, self.more = await self._jobs.listing(self._include_finished, limit=MAX_WATCH_JOBS)
        self._held.clear()
        self._places.clear()
        self._waits.clear()
        self._hold(jobs)
        return jobs

    async def change(self, now: Optional[float] = None) -> TableChange:
        """What changed since the last call (or `whole`)."""
        resend = self._changed | self._waits_changed()
        self._changed = set()
        change = TableChange(jobs=await self._jobs.infos(sorted(resend)) if resend else [])
        self._hold(change.jobs)
        change.gone = self._aged_out(time.time() if now is None else now)
        change.positions = self._moved({job.id for job in change.jobs})
        return change

    def _hold(self, jobs: List[JobInfo]) -> None:
        for job in jobs:
            self._held[job.id] = job.finished_at
            if job.queue_position is not None:
                self._places[job.id] = job.queue_position
            else:
                self._places.pop(job.id, None)
            if job.waiting_for:
                self._waits[job.id] = job.waiting_for
            else:
                self._waits.pop(job.id, None)

    def _waits_changed(self) -> Set[int]:
        """Queued jobs held whose dependencies changed with no record of theirs
        changing (a job they waited for ended)."""
        waits = self._jobs.waiting_for
        if waits is self._waits_seen:
            return set()
        self._waits_seen = waits
        ids = (set(waits) | set(self._waits)) & set(self._held)
        return {i for i in ids if waits.get(i, []) != self._waits.get(i, [])}

    def _aged_out(self, now: float) -> List[int]:
        if self._include_finished:
            return []
        since = now - RECENT_WINDOW_S
        gone = [
            i for i, finished in self._held.items() if finished is not None and finished < since
        ]
        for job_id in gone:
            del self._held[job_id]
        return gone

    def _moved(self, sent: Set[int]) -> List[Tuple[int, int]]:
        """Held queued jobs whose place changed, other than those just sent whole."""
        places = self._jobs.queue_positions
        if places is self._places_seen:
            return []
        self._places_seen = places
        moved = [
            (job_id, place)
            for job_id, place in places.items()
            if job_id in self._held and job_id not in sent and self._places.get(job_id) != place
        ]
        self._places.update(moved)
        return moved


def parts(
    stream_id: int, change: TableChange, reset: bool = False, more: bool = False
) -> Iterator[JobTableUpdate]:
    """`change` as updates that each fit a frame; the last one is ``done``."""
    job_chunks = [
        change.jobs[i : i + MAX_WATCH_PART_JOBS]
        for i in range(0, len(change.jobs), MAX_WATCH_PART_JOBS)
    ] or [[]]
    gone = change.gone
    positions = change.positions
    for index, jobs in enumerate(job_chunks):
        last = index == len(job_chunks) - 1
        yield JobTableUpdate(
            id=stream_id,
            reset=reset and index == 0,
            jobs=jobs,
            gone=gone[:MAX_WATCH_PART_IDS] if last else [],
            positions=positions[:MAX_WATCH_PART_IDS] if last else [],
            done=last and len(gone) <= MAX_WATCH_PART_IDS and len(positions) <= MAX_WATCH_PART_IDS,
            more=more,
        )
    while len(gone) > MAX_WATCH_PART_IDS or len(positions) > MAX_WATCH_PART_IDS:
        gone, positions = gone[MAX_WATCH_PART_IDS:], positions[MAX_WATCH_PART_IDS:]
        yield JobTableUpdate(
            id=stream_id,
            gone=gone[:MAX_WATCH_PART_IDS],
            positions=positions[:MAX_WATCH_PART_IDS],
            done=len(gone) <= MAX_WATCH_PART_IDS and len(positions) <= MAX_WATCH_PART_IDS,
            more=more,
        )
