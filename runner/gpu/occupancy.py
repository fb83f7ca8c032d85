"""Which GPUs other people's processes are using, as the sampler last saw them.

The stats sampler is the one reader of the GPUs (see `runner.gpu.open_source`).
Each sample it takes also yields a `GpuOccupancy`: for every GPU, the compute
processes on it that belong to no running tether job. The GPU queue reads that
instead of asking NVML itself, through the small `GpuReadings` interface the
daemon hands it, so ``runner.gpu`` needs nothing from ``runner.stats``.

Which job a process belongs to is the sampler's own mapping (a job is its
session and everything its main process started). A process it cannot place,
because its session or parents cannot be read (another pid namespace, or it
has just exited), counts as someone else's: not handing out a GPU that may be
in use is the safe mistake. So does a GPU whose processes could not be listed.
A process that uses a GPU for graphics only (a desktop) leaves it free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AbstractSet, Dict, FrozenSet, Iterable, Mapping, Optional, Protocol, Set

from protocol.stats import GpuInventory
from runner.gpu.source import GpuRead


@dataclass(frozen=True)
class GpuOccupancy:
    """Who computes on each GPU at one instant (``t``, seconds since the epoch)."""

    t: float
    #: GPU index -> pids of compute processes that are in no running tether job.
    foreign: Mapping[int, FrozenSet[int]] = field(default_factory=dict)
    #: GPUs whose processes could not be listed at that instant.
    unreadable: FrozenSet[int] = frozenset()

    def busy(self, candidates: Iterable[int]) -> Set[int]:
        """The `candidates` that someone outside tether is (or may be) using."""
        return {i for i in candidates if i in self.unreadable or self.foreign.get(i)}


def occupancy_of(t: float, read: GpuRead, owners: Mapping[int, int]) -> GpuOccupancy:
    """The occupancy in one reading, given the job of each GPU pid that is in one."""
    foreign: Dict[int, FrozenSet[int]] = {}
    unreadable: Set[int] = set()
    for reading in read.gpus:
        if reading.error or "processes" in reading.missing or reading.processes_omitted:
            unreadable.add(reading.index)
            continue
        shown = read.graphics_only.get(reading.index, set())
        others = {p.pid for p in reading.processes if p.pid not in owners and p.pid not in shown}
        if others:
            foreign[reading.index] = frozenset(others)
    return GpuOccupancy(t, foreign, frozenset(unreadable))


class GpuReadings(Protocol):
    """What the GPU queue needs of the runner's one GPU reader (the stats sampler)."""

    @property
    def inventory(self) -> GpuInventory:
        """The GPUs the source found when it opened, or why there are none."""
        ...

    async def occupancy(self, newer_than: float) -> Optional[GpuOccupancy]:
        """The occupancy from the first sample taken at or after `newer_than`
        (waiting a few sampling intervals at most), else the newest there is;
        None before any sample."""
        ...


def indices(inventory: GpuInventory) -> AbstractSet[int]:
    """The GPUs a source can see (none without a driver)."""
    return {d.index for d in inventory.devices} if inventory.available else set()
