"""`JobDirectory`: the names of a host's jobs, and which ended job left each GPU
pid behind, for what shows a stats sample (``tether top`` as text, and its app).

Below both the CLI and the app (it imports only `protocol`), so neither imports
the other for it.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional

from protocol.jobs import JobInfo
from protocol.stats import StatsSample


class JobDirectory:
    """Names of the host's jobs, and which ended job each leaked GPU pid is from.

    Looked up again when a sample names a job it has not seen, and every
    `REFRESH_S` while following (leaks appear after a job has ended).
    """

    REFRESH_S = 10.0

    def __init__(self) -> None:
        self.names: Dict[int, str] = {}
        self.leaked: Dict[int, int] = {}  # pid -> id of the ended job that left it
        self.fetched_at: Optional[float] = None

    def update(self, jobs: List[JobInfo]) -> None:
        self.names = {job.id: job.name for job in jobs}
        self.leaked = {pid: job.id for job in jobs for pid in job.leaked_gpu_pids}
        self.fetched_at = time.monotonic()

    def stale(self, sample: StatsSample) -> bool:
        if self.fetched_at is None or time.monotonic() - self.fetched_at > self.REFRESH_S:
            return True
        wanted = {job.job_id for job in sample.jobs}
        wanted.update(p.job_id for g in sample.gpus for p in g.processes if p.job_id is not None)
        return not wanted <= set(self.names)
