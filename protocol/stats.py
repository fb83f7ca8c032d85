"""GPU, host and per-job stats on the wire.

One sampler per runner reads NVML, psutil and the running jobs' process trees at
a fixed rate and fans each `StatsSample` out to every subscriber. A client opens
the stream with `SubscribeStats` and receives, all carrying the request's id:

1. one `StatsInfo`: the sampler's rate, the history it keeps, the GPU inventory
   (or why there are no GPUs: no driver is a normal state, not an error), and an
   ``epoch`` that changes whenever the runner restarts;
2. the recorded history, oldest first, as `StatsHistory` batches (the last batch
   has ``last=True``; it is sent, empty, even when there is no history);
3. one `StatsUpdate` per sample from then on, until the client unsubscribes.

The stream has no terminal message. A client that reattaches passes the
``epoch`` and the ``seq`` of the last sample it holds: it then gets only what it
missed. A `StatsInfo` with another epoch means the runner restarted and its
history replaces what the client holds. `GetStats` answers with one
`StatsSnapshot` (the newest sample) for a one-shot look.

Units are spelled in the field names: bytes, percent (0-100), degrees C, watts,
MHz, UNIX seconds. A reading the hardware cannot give is ``None`` and
``GpuReading.missing`` says why (``{"fan_pct": "not supported by this GPU"}``),
so a screen can show "n/a" and a reason instead of a zero.

Every list is capped (the constants below) so one sample, even from a host with
many GPUs, cores, GPU processes and jobs, always fits in one frame.
"""

from __future__ import annotations

from typing import Annotated, Dict, List, Literal, Optional

from pydantic import Field, StringConstraints

from protocol.envelope import Reply, Request, WireModel
from protocol.limits import (
    MAX_CPU_CORES,
    MAX_GPU_NAME,
    MAX_GPU_PROCESSES,
    MAX_GPUS,
    MAX_HISTORY_BATCH,
    MAX_HISTORY_S,
    MAX_MISSING,
    MAX_PROCESS_NAME,
    MAX_REASON,
    MAX_STATS_INTERVAL_S,
    MAX_STATS_JOBS,
    MAX_STATS_TEXT,
    MIN_STATS_INTERVAL_S,
)

#: A field name, and the reason it is missing, in `GpuReading.missing`.
FieldName = Annotated[str, StringConstraints(max_length=32)]
Reason = Annotated[str, StringConstraints(max_length=MAX_REASON)]


# -- what a sample holds -------------------------------------------------------


class GpuDevice(WireModel):
    """What does not change while the runner runs: sent once per stream."""

    index: int = Field(ge=0)
    name: str = Field(max_length=MAX_GPU_NAME)
    uuid: str = Field(default="", max_length=MAX_GPU_NAME)
    pci_bus_id: str = Field(default="", max_length=MAX_GPU_NAME)
    memory_total_bytes: Optional[int] = Field(default=None, ge=0)


class GpuInventory(WireModel):
    """The host's GPUs, or why there are none to show.

    ``available`` False with a ``reason`` ("no NVIDIA driver: ...") is a normal
    state: the host's CPU, memory and jobs are still sampled and streamed.
    ``source`` is "nvml" for live readings, "replay" for recorded ones.
    """

    source: str = Field(max_length=MAX_STATS_TEXT)
    available: bool
    reason: Optional[str] = Field(default=None, max_length=MAX_STATS_TEXT)
    driver_version: Optional[str] = Field(default=None, max_length=64)
    nvml_version: Optional[str] = Field(default=None, max_length=64)
    cuda_version: Optional[str] = Field(default=None, max_length=64)
    devices: List[GpuDevice] = Field(default_factory=list, max_length=MAX_GPUS)


class GpuProcess(WireModel):
    """A process holding memory on one GPU, and the tether job it belongs to
    (``None``: not a process of any running job of this runner)."""

    pid: int = Field(ge=0)
    gpu_memory_bytes: Optional[int] = Field(default=None, ge=0)
    job_id: Optional[int] = None
    name: Optional[str] = Field(default=None, max_length=MAX_PROCESS_NAME)


class GpuReading(WireModel):
    """One GPU at one instant. ``None`` means not available; see ``missing``.

    ``error`` is set when the GPU could not be read at all this time (fallen off
    the bus, reset needed): the other GPUs and the host are still reported.
    ``energy_j`` is read less often than the rest (it is slow on some cards), so
    it may be a few seconds older than the sample.
    """

    index: int = Field(ge=0)
    util_pct: Optional[float] = None
    mem_util_pct: Optional[float] = None
    mem_used_bytes: Optional[int] = Field(default=None, ge=0)
    mem_total_bytes: Optional[int] = Field(default=None, ge=0)
    temperature_c: Optional[float] = None
    power_w: Optional[float] = None
    power_limit_w: Optional[float] = None
    sm_clock_mhz: Optional[int] = None
    mem_clock_mhz: Optional[int] = None
    fan_pct: Optional[float] = None
    pstate: Optional[int] = None
    energy_j: Optional[float] = None
    processes: List[GpuProcess] = Field(default_factory=list, max_length=MAX_GPU_PROCESSES)
    processes_omitted: int = Field(default=0, ge=0)
    missing: Dict[FieldName, Reason] = Field(default_factory=dict, max_length=MAX_MISSING)
    error: Optional[str] = Field(default=None, max_length=MAX_STATS_TEXT)


class HostReading(WireModel):
    """The host's CPU (total and per core), load, memory, swap, and the free
    space of the disk holding the runner's state (where logs grow)."""

    cpu_pct: float
    cpu_per_core_pct: List[float] = Field(default_factory=list, max_length=MAX_CPU_CORES)
    cpu_cores_omitted: int = Field(default=0, ge=0)
    load_avg: List[float] = Field(default_factory=list, max_length=3)
    mem_total_bytes: int = Field(ge=0)
    mem_used_bytes: int = Field(ge=0)
    mem_available_bytes: int = Field(ge=0)
    swap_total_bytes: int = Field(ge=0)
    swap_used_bytes: int = Field(ge=0)
    disk_path: str = Field(max_length=4096)
    disk_total_bytes: int = Field(ge=0)
    disk_free_bytes: int = Field(ge=0)


class JobUsage(WireModel):
    """What one running job uses, its whole process tree counted as one job.

    ``cpu_pct`` is of one core (a job busy on four cores shows about 400).
    ``gpus`` are the indexes of the GPUs where its processes hold memory.
    """

    job_id: int
    cpu_pct: float
    rss_bytes: int = Field(ge=0)
    processes: int = Field(ge=0)
    gpu_memory_bytes: int = Field(default=0, ge=0)
    gpus: List[int] = Field(default_factory=list, max_length=MAX_GPUS)


class AllocationGpus(WireModel):
    """The GPUs Slurm gave a running job, sampled inside its allocation on its own
    node (a login node's NVML cannot see them). ``t`` is when they were read there;
    ``error`` says why there is no fresh reading (the node stopped reporting)."""

    job_id: int
    node: str = Field(max_length=MAX_STATS_TEXT)
    t: float
    devices: List[GpuDevice] = Field(default_factory=list, max_length=MAX_GPUS)
    gpus: List[GpuReading] = Field(default_factory=list, max_length=MAX_GPUS)
    error: Optional[str] = Field(default=None, max_length=MAX_STATS_TEXT)


class StatsSample(WireModel):
    """Everything measured at one instant ``t``.

    ``seq`` grows by one per sample within one runner ``epoch``; a client uses
    it to ask only for what it missed when it reattaches. ``gpu_error`` is set
    when NVML as a whole failed this time (the sample still has the host).
    """

    seq: int = Field(ge=0)
    t: float
    gpus: List[GpuReading] = Field(default_factory=list, max_length=MAX_GPUS)
    gpu_error: Optional[str] = Field(default=None, max_length=MAX_STATS_TEXT)
    host: HostReading
    jobs: List[JobUsage] = Field(default_factory=list, max_length=MAX_STATS_JOBS)
    jobs_omitted: int = Field(default=0, ge=0)
    #: Running Slurm jobs' own GPUs, read on their nodes (`AllocationGpus`).
    allocations: List[AllocationGpus] = Field(default_factory=list, max_length=MAX_STATS_JOBS)


# -- messages --------------------------------------------------------------------


class SubscribeStats(Request):
    """Open the stats stream.

    ``interval_s``: how often to deliver samples (``None``: the runner's rate).
    Asking faster than the runner's floor gets the floor; `StatsInfo` says what
    this stream delivers. ``history_s``: how much recorded history to send first
    (0: none). ``epoch`` and ``after_seq``: what the client already holds, from a
    previous stream of this runner; only newer samples are sent then.
    """

    type: Literal["subscribe_stats"] = "subscribe_stats"
    interval_s: Optional[float] = Field(
        default=None, ge=MIN_STATS_INTERVAL_S, le=MAX_STATS_INTERVAL_S
    )
    history_s: float = Field(default=900.0, ge=0, le=MAX_HISTORY_S)
    epoch: Optional[str] = Field(default=None, max_length=64)
    after_seq: Optional[int] = Field(default=None, ge=0)


class GetStats(Request):
    """One snapshot: the newest sample, for ``tether top --once``."""

    type: Literal["get_stats"] = "get_stats"


class StatsInfo(Reply):
    """First message of a stats stream: what it will deliver and what the host has.

    ``interval_s`` is this stream's delivery interval; ``sampler_interval_s`` is
    how often the runner samples right now; ``floor_s`` is the fastest it ever
    will; ``history_s`` is how much history it keeps.
    """

    type: Literal["stats_info"] = "stats_info"
    epoch: str = Field(max_length=64)
    interval_s: float
    sampler_interval_s: float
    floor_s: float
    history_s: float
    gpu: GpuInventory


class StatsHistory(Reply):
    """A batch of recorded samples, oldest first; ``last`` ends the history."""

    type: Literal["stats_history"] = "stats_history"
    samples: List[StatsSample] = Field(default_factory=list, max_length=MAX_HISTORY_BATCH)
    last: bool = False


class StatsUpdate(Reply):
    """One new sample on a stats stream."""

    type: Literal["stats_update"] = "stats_update"
    sample: StatsSample


class StatsSnapshot(Reply):
    """The answer to `GetStats`: the GPU inventory and the newest sample."""

    type: Literal["stats_snapshot"] = "stats_snapshot"
    epoch: str = Field(max_length=64)
    interval_s: float
    gpu: GpuInventory
    sample: StatsSample
