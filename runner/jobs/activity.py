"""When a running job counts as stalled, or as leaving its GPUs idle.

Training that hangs (a deadlocked data loader, a collective waiting on a dead
rank) keeps its process alive and its GPUs held: its state says `running` for
hours. What gives it away is silence: no output and no metric. And a job that
holds GPUs it does not use keeps others from them. The watchdog
(`runner.jobs.watchdog`) gathers the facts; the rules here decide, on those facts
and the time passed in, so each rule is a plain unit test.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Optional, Sequence

from protocol.jobs import IDLE_GPU_PCT, JobFlag


def is_stalled(last_spoke: float, now: float, stall_after_s: float) -> bool:
    """Silent for `stall_after_s` (0: never stalled). `last_spoke` is the newest of
    the job's start, its last output and its last metric."""
    return stall_after_s > 0 and now - last_spoke >= stall_after_s


def gpus_idle(utils: Sequence[Optional[float]]) -> bool:
    """Every GPU of the job read, and each under `IDLE_GPU_PCT`. A GPU that could
    not be read is no evidence of idleness."""
    return bool(utils) and all(u is not None and u < IDLE_GPU_PCT for u in utils)


class IdleClocks:
    """Since when each job's GPUs have been idle without a break."""

    def __init__(self) -> None:
        self._since: Dict[int, float] = {}

    def idle_for(self, job_id: int, utils: Sequence[Optional[float]], now: float) -> float:
        """Seconds the job's GPUs have been idle, counting this reading (0: working)."""
        if not gpus_idle(utils):
            self._since.pop(job_id, None)
            return 0.0
        return now - self._since.setdefault(job_id, now)

    def keep_only(self, job_ids: FrozenSet[int]) -> None:
        for job_id in [j for j in self._since if j not in job_ids]:
            del self._since[job_id]


def flags_now(stalled: bool, idle_for_s: float, idle_after_s: float) -> FrozenSet[JobFlag]:
    flags = set()
    if stalled:
        flags.add(JobFlag.STALLED)
    if idle_after_s > 0 and idle_for_s >= idle_after_s:
        flags.add(JobFlag.IDLE_GPUS)
    return frozenset(flags)


def raised(before: FrozenSet[JobFlag], now: FrozenSet[JobFlag]) -> FrozenSet[JobFlag]:
    """The flags that went up: each starts an episode, told once (a hook)."""
    return now - before
