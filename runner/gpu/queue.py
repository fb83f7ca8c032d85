"""Which job gets which GPUs, and when: the queue's rules, with no IO at all.

A job that asks for GPUs (``--gpus N`` or ``--gpus all``) waits in one queue per
host and is granted GPUs that no other tether job holds. The queue's order is
priority first (``--priority N``, higher first), then submission order.

A job that does not fit in what is free does not stop the round: a later job
that fits starts now (backfill), since idle GPUs help nobody. But backfill alone
could starve a large request for ever, each small job taking a GPU it needs
next; so a job that has waited `starve_after_s` (measured from when it joined
the queue, times passed in) stops the round when it does not fit: the GPUs
that are free are held for it, and nothing behind it in the order starts until
it has run. ``starve_after_s=0`` is the strict first-come first-served queue.
(A higher priority still goes first: a steady stream of higher-priority jobs
can hold a low one back; that is what priority means.)

GPUs that processes tether did not start are using (another user's job, a
notebook) are passed in as ``busy`` and are not handed out; a GPU some tether job
holds is never handed out twice. Jobs without ``--gpus`` are not the queue's
business at all, and ``--gpus 0`` needs nothing from it.

The runner drives this from its event loop (`runner.gpu.scheduler`); tests drive
it directly, so every rule here is a plain unit or property test.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import AbstractSet, Dict, Iterable, List, Optional, Tuple

from protocol.jobs import GPU_REQUEST_ALL

#: How long a job may wait before the GPUs it needs are held for it (the
#: runner's ``TETHER_STARVE_AFTER``).
DEFAULT_STARVE_AFTER_S = 600.0


class GpuRequestError(ValueError):
    """A request this host can never satisfy; the message says what it has."""


@dataclass
class _Waiter:
    """A job in the queue: what it wants, its place, and since when it waits."""

    count: int
    priority: int
    seq: int
    since: float

    @property
    def order(self) -> Tuple[int, int]:
        return (-self.priority, self.seq)


@dataclass(frozen=True)
class Grant:
    """GPUs handed to a job: launch it with ``CUDA_VISIBLE_DEVICES`` = `gpus`."""

    job_id: int
    gpus: Tuple[int, ...]


def requested_count(request: Optional[str], inventory: Tuple[int, ...]) -> Optional[int]:
    """How many GPUs a ``--gpus`` value asks for; None when it leaves GPUs alone."""
    if request is None:
        return None
    if request == GPU_REQUEST_ALL:
        return len(inventory)
    if not request.isdigit():
        raise GpuRequestError(f"--gpus takes a count or 'all', not {request!r}")
    return int(request)


def describe_inventory(inventory: Tuple[int, ...]) -> str:
    if not inventory:
        return "no GPUs tether may hand out (set TETHER_GPUS=0,1,... for the runner to give some)"
    listed = ",".join(map(str, inventory))
    return f"{len(inventory)} GPU{'s' if len(inventory) != 1 else ''} ({listed})"


class GpuQueue:
    """The GPUs of one host, who holds them, and who waits for them, in order."""

    def __init__(
        self, inventory: Iterable[int], starve_after_s: float = DEFAULT_STARVE_AFTER_S
    ) -> None:
        self.inventory: Tuple[int, ...] = tuple(sorted(set(inventory)))
        self.starve_after_s = starve_after_s
        self._waiting: Dict[int, _Waiter] = {}
        self._held: Dict[int, Tuple[int, ...]] = {}  # job id -> GPUs it holds
        self._seq = itertools.count()

    # -- what it holds -------------------------------------------------------------

    @property
    def waiting(self) -> List[int]:
        """Queued job ids, head first (priority, then submission order)."""
        return sorted(self._waiting, key=lambda job_id: self._waiting[job_id].order)

    @property
    def held(self) -> Dict[int, Tuple[int, ...]]:
        return dict(self._held)

    def is_waiting(self, job_id: int) -> bool:
        return job_id in self._waiting

    def position(self, job_id: int) -> Optional[int]:
        """1 for the head of the queue; None for a job that is not waiting."""
        return self.positions().get(job_id)

    def positions(self) -> Dict[int, int]:
        return {job_id: index for index, job_id in enumerate(self.waiting, start=1)}

    def free(self, busy: AbstractSet[int] = frozenset()) -> Tuple[int, ...]:
        """GPUs nobody holds and nothing else is using, lowest index first."""
        taken = {gpu for gpus in self._held.values() for gpu in gpus}
        return tuple(g for g in self.inventory if g not in taken and g not in busy)

    # -- changes -------------------------------------------------------------------

    def check(self, request: str) -> int:
        """The count a request needs; raises `GpuRequestError` if it can never run here."""
        count = requested_count(request, self.inventory)
        assert count is not None
        if request == GPU_REQUEST_ALL and not self.inventory:
            raise GpuRequestError(
                f"--gpus all waits for every GPU, but this host has "
                f"{describe_inventory(self.inventory)}"
            )
        if count == 0:
            raise GpuRequestError("--gpus 0 needs no GPUs and does not wait in the queue")
        if count > len(self.inventory):
            raise GpuRequestError(
                f"the job asks for {count} GPU{'s' if count != 1 else ''} "
                f"but this host has {describe_inventory(self.inventory)}"
            )
        return count

    def enqueue(self, job_id: int, request: str, priority: int = 0, since: float = 0.0) -> int:
        """Queue a job behind every job of its priority or higher, waiting since
        `since`; its position. Raises `GpuRequestError` as `check`."""
        if job_id in self._waiting or job_id in self._held:
            raise ValueError(f"job {job_id} is already in the GPU queue")
        self._waiting[job_id] = _Waiter(self.check(request), priority, next(self._seq), since)
        return self.positions()[job_id]

    def set_priority(self, job_id: int, priority: int) -> None:
        """Move a waiting job among the others by its new priority; it keeps its
        place among jobs of that priority (its submission order) and its wait."""
        self._waiting[job_id].priority = priority

    def adopt(self, job_id: int, gpus: Iterable[int]) -> Tuple[int, ...]:
        """Record that a running job holds `gpus` (after a runner restart).

        GPUs outside the inventory (it shrank) or already held are not recorded
        twice; what was recorded is returned.
        """
        taken = {gpu for gpus_ in self._held.values() for gpu in gpus_}
        mine = tuple(sorted({g for g in gpus if g in self.inventory and g not in taken}))
        self._waiting.pop(job_id, None)
        self._held[job_id] = mine
        return mine

    def release(self, job_id: int) -> None:
        """The job ended or was cancelled: its GPUs are free, its place is gone."""
        self._waiting.pop(job_id, None)
        self._held.pop(job_id, None)

    def starved(self, job_id: int, now: float) -> bool:
        """Whether the waiting job has waited long enough to have GPUs held for it."""
        return now - self._waiting[job_id].since >= self.starve_after_s

    def grant(self, busy: AbstractSet[int] = frozenset(), now: float = 0.0) -> List[Grant]:
        """Hand out GPUs to waiting jobs, in order, to each that fits in what is free.

        A job that does not fit is passed over, unless it has starved (waited
        `starve_after_s` by `now`): then the round stops, and what is free stays
        free for it.
        """
        grants: List[Grant] = []
        for job_id in self.waiting:
            count = self._waiting[job_id].count
            free = self.free(busy)
            if len(free) < count:
                if self.starved(job_id, now):
                    break
                continue
            gpus = free[:count]
            del self._waiting[job_id]
            self._held[job_id] = gpus
            grants.append(Grant(job_id, gpus))
        return grants
