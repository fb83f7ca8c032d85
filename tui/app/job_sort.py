"""How the jobs table orders its rows: by any of its shown columns, either way.

Newest first (ID, descending) until the person chooses; ties keep newest first,
so a sort by state lists the running jobs newest first, then the queued ones.
What each column sorts by is declared with the column (`tui.app.job_columns`).
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import List, Sequence

from protocol.jobs import JobInfo
from tui.app.job_columns import BY_KEY, Facts

_ID = attrgetter("id")


@dataclass(frozen=True)
class JobOrder:
    column: str = "id"
    descending: bool = True

    def apply(self, jobs: Sequence[JobInfo], facts: Facts) -> List[JobInfo]:
        newest_first = sorted(jobs, key=_ID, reverse=True)
        if self.column == "id":  # the order a table is in until the person chooses
            return newest_first if self.descending else newest_first[::-1]
        value = BY_KEY[self.column].sort
        # Stable either way (reverse=True keeps equals in order): ties stay newest first.
        return sorted(newest_first, key=lambda job: value(job, facts), reverse=self.descending)

    def moved(self, step: int, among: Sequence[str]) -> JobOrder:
        """The next of the columns `among` to the right (`step` 1) or left (-1),
        wrapping; from a column no longer shown, the first."""
        if self.column not in among:
            return JobOrder(among[0], self.descending)
        index = among.index(self.column)
        return JobOrder(among[(index + step) % len(among)], self.descending)

    def inverted(self) -> JobOrder:
        return JobOrder(self.column, not self.descending)

    @property
    def arrow(self) -> str:
        return "▼" if self.descending else "▲"
