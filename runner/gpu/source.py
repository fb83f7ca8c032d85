"""Where GPU readings come from: one interface, a live and a recorded implementation.

The sampler only ever talks to a `GpuSource`. `NvmlSource` reads the real GPUs
through NVML; `ReplaySource` replays readings recorded on a real H100, so the
sampler, the job mapping, the protocol and ``tether top`` are exercised on real
numbers on machines without a GPU. Which one a runner uses is configuration,
read by `runner.gpu.open_source` (kept apart so that this interface module does
not import its implementations, which import it).

A source never raises for a GPU problem: no driver is an unavailable inventory
with a reason, an unsupported field is a ``missing`` entry, and a GPU that stops
answering is a reading with ``error`` set.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from protocol.limits import MAX_REASON, MAX_STATS_TEXT
from protocol.stats import GpuInventory, GpuReading

#: Reasons a person can act on, for the NVML error strings that mean "cannot have it".
_FIELD_REASONS = {
    "Not Supported": "not supported by this GPU",
    "Insufficient Permissions": "not permitted for this user",
    "Function Not Found": "not available with this driver version",
    "No data": "no data yet",
}
#: NVML errors after which nothing else on that GPU can be read.
DEVICE_LOST_ERRORS = frozenset({"GPU is lost", "GPU requires restart", "GPU not found"})


def field_reason(nvml_error: str) -> str:
    """Why a field is missing, from NVML's own wording of the error."""
    return _FIELD_REASONS.get(nvml_error) or clip(f"NVML error: {nvml_error}", MAX_REASON)


def device_error(nvml_error: str) -> str:
    """What to show for a GPU that could not be read at all."""
    if nvml_error == "GPU is lost":
        return "GPU is lost (fallen off the bus?); NVML: GPU is lost"
    if nvml_error == "GPU requires restart":
        return "GPU needs a reset (nvidia-smi -r) or a reboot"
    return clip(f"GPU could not be read: {nvml_error}")


def clip(text: str, limit: int = MAX_STATS_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class GpuRead:
    """Every GPU at one instant. Processes carry no job ids yet: the sampler adds
    them. ``error`` is set when the source could not read at all this time.
    ``graphics_only`` holds, per GPU index, the pids that use it for graphics
    only (a desktop session): they do not keep the GPU from a job."""

    gpus: List[GpuReading] = field(default_factory=list)
    error: Optional[str] = None
    graphics_only: Dict[int, Set[int]] = field(default_factory=dict)


class GpuSource(abc.ABC):
    """One host's GPUs. Called from the sampler's own thread, never the event loop,
    because a GPU that hangs can block an NVML call for seconds."""

    name: str = "gpu"

    @abc.abstractmethod
    def open(self) -> GpuInventory:
        """Start once (NVML init, handles) and say what there is, or why nothing."""

    @abc.abstractmethod
    def read(self) -> GpuRead:
        """One reading of every GPU of the inventory."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the library; the source is not used again."""


class UnavailableSource(GpuSource):
    """No GPU readings, for a reason a person is shown (sampling turned off,
    a source that could not be configured)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def open(self) -> GpuInventory:
        return GpuInventory(source=self.name, available=False, reason=clip(self.reason))

    def read(self) -> GpuRead:
        return GpuRead()

    def close(self) -> None:
        pass
