"""GPU readings replayed from a recording made on a real GPU host.

The recording (``tests/fixtures/nvml_h100.json``) holds the driver and device
inventory and a series of samples taken with pynvml on an H100: idle, under load
with a process on the GPU, and after the load. Each sample is one GPU at one
instant; every field is a number, or ``{"error": "<NVML error>"}`` when NVML
refused it (the H100's fan is "Not Supported"). A sample may also carry an
``error`` of its own for a GPU that could not be read at all.

Each `read` returns the next recorded instant, looping, so at the sampler's
rate the replay walks through the phases in order. ``#PHASE`` after the path
keeps only the samples of that phase.

Recorded GPU pids belong to the recording host. To show a real job's GPU use,
``TETHER_GPU_REPLAY_PID_MAP`` maps them onto pids here: ``401=12345`` puts pid
12345 where pid 401 was; ``401=@/path/file`` reads the pid from that file at
every reading (a test job writes its own pid there), and keeps 401 until the
file holds one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from protocol.limits import MAX_GPU_PROCESSES, MAX_GPUS
from protocol.stats import GpuDevice, GpuInventory, GpuProcess, GpuReading
from runner.gpu.source import (
    GpuRead,
    GpuSource,
    UnavailableSource,
    clip,
    device_error,
    field_reason,
)

PidTarget = Union[int, Path]

#: Recorded field -> (reading field, scale to the reading's unit).
_FIELDS = {
    "gpu_util": ("util_pct", 1.0),
    "mem_util": ("mem_util_pct", 1.0),
    "mem_used": ("mem_used_bytes", 1),
    "mem_total": ("mem_total_bytes", 1),
    "temperature_c": ("temperature_c", 1.0),
    "power_mw": ("power_w", 0.001),
    "power_limit_mw": ("power_limit_w", 0.001),
    "sm_clock_mhz": ("sm_clock_mhz", 1),
    "mem_clock_mhz": ("mem_clock_mhz", 1),
    "fan_pct": ("fan_pct", 1.0),
    "pstate": ("pstate", 1),
    "energy_mj": ("energy_j", 0.001),
}


class ReplayError(ValueError):
    """The recording or the replay settings cannot be used; the message says why."""


def parse_pid_map(spec: Optional[str]) -> Dict[int, PidTarget]:
    """``"401=12345,402=@/tmp/pid"`` -> {401: 12345, 402: Path("/tmp/pid")}."""
    mapping: Dict[int, PidTarget] = {}
    for raw in (spec or "").split(","):
        item = raw.strip()
        if not item:
            continue
        recorded, sep, target = item.partition("=")
        if not sep or not recorded.strip().isdigit():
            raise ReplayError(
                f"TETHER_GPU_REPLAY_PID_MAP entry {item!r} is not RECORDED_PID=PID or "
                "RECORDED_PID=@FILE"
            )
        target = target.strip()
        if target.startswith("@") and len(target) > 1:
            mapping[int(recorded)] = Path(target[1:])
        elif target.isdigit():
            mapping[int(recorded)] = int(target)
        else:
            raise ReplayError(
                f"TETHER_GPU_REPLAY_PID_MAP entry {item!r} maps to {target!r}, "
                "which is neither a pid nor @FILE"
            )
    return mapping


class ReplaySource(GpuSource):
    name = "replay"

    def __init__(
        self,
        path: Path,
        phase: Optional[str] = None,
        pid_map: Optional[Dict[int, PidTarget]] = None,
    ) -> None:
        self.path = path
        self.phase = phase
        self.pid_map = pid_map or {}
        self._instants: List[List[Dict[str, Any]]] = []
        self._next = 0

    @classmethod
    def from_spec(cls, spec: str, pid_map_spec: Optional[str]) -> GpuSource:
        """From ``PATH[#PHASE]`` and the pid map setting; bad settings make an
        unavailable source that says what is wrong."""
        path, _, phase = spec.partition("#")
        if not path:
            return UnavailableSource(
                "replay", "TETHER_GPU_SOURCE=replay: needs a file: replay:PATH"
            )
        try:
            pid_map = parse_pid_map(pid_map_spec)
        except ReplayError as exc:
            return UnavailableSource("replay", str(exc))
        return cls(Path(path).expanduser(), phase or None, pid_map)

    @property
    def instants(self) -> int:
        """How many recorded instants one loop of the replay has."""
        return len(self._instants)

    def open(self) -> GpuInventory:
        try:
            recording = self._load()
        except ReplayError as exc:
            return GpuInventory(source=self.name, available=False, reason=clip(str(exc)))
        devices = [
            GpuDevice(
                index=i,
                name=clip(str(d.get("name", "GPU")), 96),
                uuid=clip(str(d.get("uuid", "")), 96),
                pci_bus_id=clip(str(d.get("pci_bus_id", "")), 96),
                memory_total_bytes=d.get("memory_total"),
            )
            for i, d in enumerate(recording.get("devices", [])[:MAX_GPUS])
        ]
        cuda = recording.get("cuda_driver_version")
        return GpuInventory(
            source=self.name,
            available=bool(devices),
            reason=None if devices else f"the recording {self.path} lists no GPU",
            driver_version=recording.get("driver"),
            nvml_version=recording.get("nvml_version"),
            cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None,
            devices=devices,
        )

    def _load(self) -> Dict[str, Any]:
        try:
            recording: Dict[str, Any] = json.loads(self.path.read_text())
        except OSError as exc:
            raise ReplayError(f"cannot read the GPU recording {self.path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ReplayError(f"the GPU recording {self.path} is not valid JSON: {exc}") from exc
        samples = recording.get("samples") if isinstance(recording, dict) else None
        if not isinstance(samples, list) or not samples:
            raise ReplayError(f"the GPU recording {self.path} has no samples")
        if self.phase is not None:
            phases = sorted({str(s.get("phase")) for s in samples})
            samples = [s for s in samples if s.get("phase") == self.phase]
            if not samples:
                raise ReplayError(
                    f"the GPU recording {self.path} has no phase {self.phase!r} "
                    f"(it has: {', '.join(phases)})"
                )
        self._instants = _group_by_time(samples)
        return recording

    def close(self) -> None:
        self._instants = []

    def read(self) -> GpuRead:
        if not self._instants:
            return GpuRead()
        instant = self._instants[self._next % len(self._instants)]
        self._next += 1
        return GpuRead(gpus=[self._reading(sample) for sample in instant])

    def _reading(self, sample: Dict[str, Any]) -> GpuReading:
        index = int(sample.get("gpu", 0))
        missing: Dict[str, str] = {}
        if "error" in sample:
            return GpuReading(index=index, error=device_error(str(sample["error"])))
        values: Dict[str, Any] = {}
        for recorded, (name, scale) in _FIELDS.items():
            value = sample.get(recorded)
            if isinstance(value, dict):
                missing[name] = field_reason(str(value.get("error", "unknown")))
            elif isinstance(value, (int, float)):
                values[name] = value * scale
        if "energy_j" not in values:
            missing.setdefault("energy_j", "not in this recording")
        processes = self._processes(sample.get("processes"), missing)
        return GpuReading(
            index=index,
            processes=processes[:MAX_GPU_PROCESSES],
            processes_omitted=max(0, len(processes) - MAX_GPU_PROCESSES),
            missing=missing,
            **values,
        )

    def _processes(self, recorded: Any, missing: Dict[str, str]) -> List[GpuProcess]:
        if isinstance(recorded, dict):
            missing["processes"] = field_reason(str(recorded.get("error", "unknown")))
            return []
        procs = [
            GpuProcess(pid=self._map_pid(int(p["pid"])), gpu_memory_bytes=p.get("used_gpu_memory"))
            for p in recorded or []
        ]
        procs.sort(key=lambda p: -(p.gpu_memory_bytes or 0))
        return procs

    def _map_pid(self, recorded: int) -> int:
        target = self.pid_map.get(recorded)
        if isinstance(target, int):
            return target
        if isinstance(target, Path):
            try:
                text = target.read_text().strip()
            except OSError:
                return recorded
            return int(text) if text.isdigit() else recorded
        return recorded


def _group_by_time(samples: List[Dict[str, Any]]) -> List[List[Dict[str, Any]]]:
    """Recorded samples (one per GPU) grouped into instants, in recorded order."""
    instants: List[List[Dict[str, Any]]] = []
    last_t: Any = object()
    for sample in samples:
        if sample.get("t") != last_t or not instants:
            instants.append([])
            last_t = sample.get("t")
        instants[-1].append(sample)
    return instants
