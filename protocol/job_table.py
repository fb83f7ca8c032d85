"""What a `WatchJobs` stream sends: the job table once, then only what changes.

A queue of 10,000 jobs is about 5 MB on the wire. Sent whole after every change
(as it was), one job starting cost every watcher the whole table, and the app a
rebuild of it. Now the runner sends the table whole once (``reset``), then each
change as the jobs that are new or changed, the ids that left the table, and the
queued jobs whose place in the GPU queue moved, which is all that changes for
the rest of a queue when its head starts.

An update too large for one frame comes in parts: the table is whole again at
the part marked ``done``. A client that reconnects asks again and gets a reset,
so it never has to merge across a lost link.
"""

from __future__ import annotations

from typing import List, Literal, Tuple

from pydantic import Field

from protocol.envelope import Reply
from protocol.jobs import JobInfo
from protocol.limits import MAX_WATCH_PART_IDS, MAX_WATCH_PART_JOBS


class JobTableUpdate(Reply):
    type: Literal["job_table_update"] = "job_table_update"
    #: The table starts afresh with this part (the first of a stream).
    reset: bool = False
    #: New jobs, and jobs whose record changed (whole).
    jobs: List[JobInfo] = Field(default_factory=list, max_length=MAX_WATCH_PART_JOBS)
    #: Ids no longer in the table (a finished job older than the recent window).
    gone: List[int] = Field(default_factory=list, max_length=MAX_WATCH_PART_IDS)
    #: (job id, place in the GPU queue) of queued jobs that moved and changed
    #: nothing else.
    positions: List[Tuple[int, int]] = Field(default_factory=list, max_length=MAX_WATCH_PART_IDS)
    #: The last part of this update: the table is whole again.
    done: bool = True
    #: The host has older jobs than the table holds (`MAX_WATCH_JOBS`).
    more: bool = False
