"""Which job gets which GPUs, and when: the queue's rules, with no IO at all.

A job that asks for GPUs (``--gpus N`` or ``--gpus all``) waits in one queue per
host and is granted GPUs that no other tether job holds. The order is strictly
first-come first-served: a job runs only once every job queued before it runs,
so a large request at the head is never overtaken by small ones behind it and
cannot starve. (Backfilling small jobs around it would start work sooner, but
without knowing how long jobs run, any backfilled job may hold a GPU the head
needs next; strict order is the only one that can promise the head its turn.)

GPUs that processes tether did not start are using (another user's job, a
notebook) are passed in as ``busy`` and are not handed out; a GPU some tether job
holds is never handed out twice. Jobs without ``--gpus`` are not the queue's
business at all, and ``--gpus 0`` needs nothing from it.

The runner drives this from its event loop (`runner.gpu.scheduler`); tests drive
it directly, so every rule here is a plain unit or property test.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import AbstractSet, Dict, Iterable, List, Optional, Tuple

from protocol.jobs import GPU_REQUEST_ALL


class GpuRequestError(ValueError):
    """A request this host can never satisfy; the message says what it has."""


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

    def __init__(self, inventory: Iterable[int]) -> None:
        self.inventory: Tuple[int, ...] = tuple(sorted(set(inventory)))
        self._waiting: OrderedDict[int, int] = OrderedDict()  # job id -> GPUs wanted
        self._held: Dict[int, Tuple[int, ...]] = {}  # job id -> GPUs it holds

    # -- what it holds -------------------------------------------------------------

    @property
    def waiting(self) -> List[int]:
        """Queued job ids, head first."""
        return list(self._waiting)

    @property
    def held(self) -> Dict[int, Tuple[int, ...]]:
        return dict(self._held)

    def position(self, job_id: int) -> Optional[int]:
        """1 for the head of the queue; None for a job that is not waiting."""
        return self.positions().get(job_id)

    def positions(self) -> Dict[int, int]:
        return {job_id: index for index, job_id in enumerate(self._waiting, start=1)}

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

    def enqueue(self, job_id: int, request: str) -> int:
        """Queue a job at the tail; its position. Raises `GpuRequestError` as `check`."""
        if job_id in self._waiting or job_id in self._held:
            raise ValueError(f"job {job_id} is already in the GPU queue")
        self._waiting[job_id] = self.check(request)
        return len(self._waiting)

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

    def grant(self, busy: AbstractSet[int] = frozenset()) -> List[Grant]:
        """Hand out GPUs to the jobs at the head of the queue, in order, while they fit.

        The first job that does not fit stops the round: nobody behind it may
        take GPUs it is waiting for.
        """
        grants: List[Grant] = []
        while self._waiting:
            job_id, count = next(iter(self._waiting.items()))
            free = self.free(busy)
            if len(free) < count:
                break
            gpus = free[:count]
            del self._waiting[job_id]
            self._held[job_id] = gpus
            grants.append(Grant(job_id, gpus))
        return grants
