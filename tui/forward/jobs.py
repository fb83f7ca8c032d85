"""The app's forwards: every running job's declared ports (``tether run --port``)
on this machine's 127.0.0.1 while the app shows the host.

Each port gets the local port 10000 above it (6006 → 16006, as far as that stays
a port), else the next free one: the host's own services and a second host's
TensorBoard often hold the same numbers here. A forward lives as long as its job
runs, not as long as one SSH connection: its listener stays through a cut and
each new browser connection takes the connection of the moment, so the URL on
screen keeps working after a reconnect.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Set, Tuple

from protocol.jobs import JobInfo, JobState
from tui.forward.listener import ConnectionSource, ForwardError, PortForward, Problem

#: How far above the host's port the local one is looked for first.
LOCAL_OFFSET = 10000
MAX_PORT = 65535

_Key = Tuple[int, int]  # (job id, the host's port)


def wanted_local_port(remote: int) -> int:
    shifted = remote + LOCAL_OFFSET
    return shifted if shifted <= MAX_PORT else remote


class JobForwards:
    """The forwards of one host's running jobs, brought in line with its job table
    by `update`; not safe to `update` twice at once (the monitor runs one at a time)."""

    def __init__(self, host: str, connection: ConnectionSource, problem: Problem) -> None:
        self.host = host
        self._connection = connection
        self._problem = problem
        self._forwards: Dict[_Key, PortForward] = {}
        #: Ports that could not be listened on: said once, not tried at every change.
        self._failed: Set[_Key] = set()

    def of(self, job_id: int) -> List[PortForward]:
        """The job's live forwards, in the order it declared its ports."""
        return [pf for (job, _), pf in self._forwards.items() if job == job_id]

    async def update(self, jobs: Sequence[JobInfo]) -> bool:
        """Open what running jobs declare and close what no running job declares any
        more; whether anything changed. A port that cannot be listened on is told
        to `problem` once, and not tried again while the job runs."""
        wanted: List[_Key] = [
            (job.id, port) for job in jobs if job.state is JobState.RUNNING for port in job.ports
        ]
        changed = False
        self._failed &= set(wanted)
        for key in [k for k in self._forwards if k not in set(wanted)]:
            await self._forwards.pop(key).close()
            changed = True
        for key in wanted:
            if key in self._forwards or key in self._failed:
                continue
            job_id, port = key
            forward = PortForward(self.host, port, self._connection, self._problem)
            try:
                await forward.listen(wanted_local_port(port))
            except ForwardError as exc:
                self._problem(f"job {job_id}'s port {port} is not forwarded: {exc}")
                self._failed.add(key)
                continue
            self._forwards[key] = forward
            changed = True
        return changed

    async def close(self) -> None:
        forwards, self._forwards = list(self._forwards.values()), {}
        for forward in forwards:
            await forward.close()
