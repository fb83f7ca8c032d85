"""How the jobs table orders its rows: by any of its columns, either way.

Newest first (ID, descending) until the person chooses; ties keep newest first,
so a sort by state lists the running jobs newest first, then the queued ones.
States sort in their lifecycle order (queued, running, then the ends), not
alphabetically; a job that has not started, or has no exit code, sorts below
every one that has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple, Union

from protocol.jobs import JobInfo, JobState

_STATE_RANK = {state: rank for rank, state in enumerate(JobState)}

SortValue = Union[int, float, str, Tuple[int, ...]]


def _runtime(job: JobInfo, now: float) -> float:
    if job.started_at is None:
        return -1.0
    end = job.finished_at if job.finished_at is not None else now
    return end - job.started_at


def _exit(job: JobInfo, now: float) -> float:
    if job.exit_code is not None:
        return float(job.exit_code)
    return 1000.0 if job.signal else -1.0  # a signal reads as worse than any code


_VALUES: Dict[str, Callable[[JobInfo, float], SortValue]] = {
    "id": lambda job, now: job.id,
    "name": lambda job, now: job.name.casefold(),
    "state": lambda job, now: _STATE_RANK.get(job.state, len(_STATE_RANK)),
    "runtime": _runtime,
    "gpus": lambda job, now: (len(job.gpus), *job.gpus),
    "exit": _exit,
}

#: The columns a table can be sorted by, left to right as on screen.
SORT_COLUMNS: Tuple[str, ...] = tuple(_VALUES)


@dataclass(frozen=True)
class JobOrder:
    column: str = "id"
    descending: bool = True

    def apply(self, jobs: Sequence[JobInfo], now: float) -> List[JobInfo]:
        newest_first = sorted(jobs, key=lambda job: job.id, reverse=True)
        value = _VALUES[self.column]
        # Stable either way (reverse=True keeps equals in order): ties stay newest first.
        return sorted(newest_first, key=lambda job: value(job, now), reverse=self.descending)

    def moved(self, step: int) -> JobOrder:
        """The next column to the right (`step` 1) or left (-1), wrapping."""
        index = SORT_COLUMNS.index(self.column)
        return JobOrder(SORT_COLUMNS[(index + step) % len(SORT_COLUMNS)], self.descending)

    def inverted(self) -> JobOrder:
        return JobOrder(self.column, not self.descending)

    @property
    def arrow(self) -> str:
        return "▼" if self.descending else "▲"
