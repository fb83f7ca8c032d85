"""Live GPU readings through NVML (``pynvml``, from the nvidia-ml-py package).

NVML is initialised once and the device handles are kept: a reading is then a
few dozen microseconds of library calls per GPU (about 0.15 ms on an H100),
against ~48 ms for one ``nvidia-smi`` run, which is never used. Two kinds of
call are treated specially because they are slow:

- a field the GPU reports "Not Supported" (the fan of a datacenter card took
  0.5 ms to say so on an H100) is asked once and then left out for good, with
  its reason in every reading's ``missing``;
- the energy counter (~3 ms, p99 16 ms on an H100) is read every
  ``energy_period_s`` only, and the last value is reported in between.

Nothing here raises for a GPU problem: no driver makes an unavailable inventory
with the reason, and an error mid-run (GPU fallen off the bus) becomes that
GPU's ``error`` while the other GPUs and the host keep being reported.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from protocol.limits import MAX_GPU_PROCESSES, MAX_GPUS
from protocol.stats import GpuDevice, GpuInventory, GpuProcess, GpuReading
from runner.gpu.source import (
    DEVICE_LOST_ERRORS,
    GpuRead,
    GpuSource,
    clip,
    device_error,
    field_reason,
)

#: Seconds between two reads of the (slow) energy counter.
ENERGY_PERIOD_S = 10.0


class _DeviceLost(Exception):
    """Raised inside one GPU's reading when nothing more can be read from it."""


def init_failure_reason(nvml: Any, exc: Exception) -> str:
    """Why NVML did not start, as a person would want it said."""
    if isinstance(exc, nvml.NVMLError_LibraryNotFound):
        return "no NVIDIA driver: the NVML library (libnvidia-ml.so.1) was not found on this host"
    if isinstance(exc, nvml.NVMLError_DriverNotLoaded):
        return "no NVIDIA driver: the NVIDIA kernel module is not loaded"
    if isinstance(exc, nvml.NVMLError_NoPermission):
        return "NVML refused access: this user may not open /dev/nvidia*"
    if isinstance(exc, nvml.NVMLError_LibRmVersionMismatch):
        return "the NVIDIA driver and its NVML library differ in version (reboot after an upgrade?)"
    return clip(f"NVML could not start: {exc}")


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class NvmlSource(GpuSource):
    name = "nvml"

    def __init__(
        self,
        nvml: Any = None,
        energy_period_s: float = ENERGY_PERIOD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml = nvml
        self._energy_period_s = energy_period_s
        self._clock = clock
        self._initialised = False
        self._handles: List[Any] = []
        #: Per GPU, fields it does not support: never asked again.
        self._unsupported: List[Dict[str, str]] = []
        self._energy: List[Optional[float]] = []
        self._energy_read_at: Optional[float] = None
        #: Per GPU at the last reading, pids that draw on it for graphics only.
        self._graphics_only: Dict[int, Set[int]] = {}

    # -- lifecycle ---------------------------------------------------------------

    def open(self) -> GpuInventory:
        if self._nvml is None:
            try:
                import pynvml
            except ImportError:
                return self._unavailable("the nvidia-ml-py package (pynvml) is not installed")
            self._nvml = pynvml
        nvml = self._nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            return self._unavailable(init_failure_reason(nvml, exc))
        self._initialised = True
        try:
            return self._inventory()
        except nvml.NVMLError as exc:
            return self._unavailable(f"NVML could not list the GPUs: {exc}")

    def _inventory(self) -> GpuInventory:
        nvml = self._nvml
        count = min(int(nvml.nvmlDeviceGetCount()), MAX_GPUS)
        devices = []
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            self._handles.append(handle)
            devices.append(
                GpuDevice(
                    index=index,
                    name=clip(_text(nvml.nvmlDeviceGetName(handle)), 96),
                    uuid=clip(_text(nvml.nvmlDeviceGetUUID(handle)), 96),
                    pci_bus_id=clip(_text(nvml.nvmlDeviceGetPciInfo(handle).busId), 96),
                    memory_total_bytes=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                )
            )
        self._unsupported = [{} for _ in devices]
        self._energy = [None for _ in devices]
        cuda = self._optional(nvml.nvmlSystemGetCudaDriverVersion)
        return GpuInventory(
            source=self.name,
            available=bool(devices),
            reason=None if devices else "the NVIDIA driver is loaded but reports no GPU",
            driver_version=self._optional(lambda: _text(nvml.nvmlSystemGetDriverVersion())),
            nvml_version=self._optional(lambda: _text(nvml.nvmlSystemGetNVMLVersion())),
            cuda_version=None if cuda is None else f"{cuda // 1000}.{cuda % 1000 // 10}",
            devices=devices,
        )

    def _optional(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except self._nvml.NVMLError:
            return None

    def _unavailable(self, reason: str) -> GpuInventory:
        return GpuInventory(source=self.name, available=False, reason=clip(reason))

    def close(self) -> None:
        if self._initialised:
            self._initialised = False
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass

    # -- reading -----------------------------------------------------------------

    def read(self) -> GpuRead:
        now = self._clock()
        read_energy = (
            self._energy_read_at is None or now - self._energy_read_at >= self._energy_period_s
        )
        if read_energy:
            self._energy_read_at = now
        self._graphics_only = {}
        gpus = [self._read_device(i, h, read_energy) for i, h in enumerate(self._handles)]
        return GpuRead(gpus=gpus, graphics_only=self._graphics_only)

    def _read_device(self, index: int, handle: Any, read_energy: bool) -> GpuReading:
        nvml = self._nvml
        missing = dict(self._unsupported[index])
        get = _FieldGetter(nvml, handle, self._unsupported[index], missing)
        try:
            util = get("util_pct", nvml.nvmlDeviceGetUtilizationRates)
            memory = get("mem_used_bytes", nvml.nvmlDeviceGetMemoryInfo)
            power_mw = get("power_w", nvml.nvmlDeviceGetPowerUsage)
            limit_mw = get("power_limit_w", nvml.nvmlDeviceGetEnforcedPowerLimit)
            if read_energy:
                energy_mj = get("energy_j", nvml.nvmlDeviceGetTotalEnergyConsumption)
                self._energy[index] = None if energy_mj is None else energy_mj / 1000.0
            processes, omitted = self._processes(index, get)
            reading = GpuReading(
                index=index,
                util_pct=None if util is None else float(util.gpu),
                mem_util_pct=None if util is None else float(util.memory),
                mem_used_bytes=None if memory is None else int(memory.used),
                mem_total_bytes=None if memory is None else int(memory.total),
                temperature_c=get("temperature_c", nvml.nvmlDeviceGetTemperature, 0),
                power_w=None if power_mw is None else power_mw / 1000.0,
                power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
                sm_clock_mhz=get("sm_clock_mhz", nvml.nvmlDeviceGetClockInfo, nvml.NVML_CLOCK_SM),
                mem_clock_mhz=get(
                    "mem_clock_mhz", nvml.nvmlDeviceGetClockInfo, nvml.NVML_CLOCK_MEM
                ),
                fan_pct=get("fan_pct", nvml.nvmlDeviceGetFanSpeed),
                pstate=get("pstate", nvml.nvmlDeviceGetPerformanceState),
                energy_j=self._energy[index],
                processes=processes,
                processes_omitted=omitted,
                missing=missing,
            )
        except _DeviceLost as lost:
            return GpuReading(index=index, error=str(lost), missing=missing)
        if util is None:
            missing.setdefault("mem_util_pct", missing.get("util_pct", "not available"))
        if memory is None:
            missing.setdefault("mem_total_bytes", missing.get("mem_used_bytes", "not available"))
        return reading

    def _processes(self, index: int, get: _FieldGetter) -> Tuple[List[GpuProcess], int]:
        """Compute and graphics processes, largest GPU memory first, capped; the
        graphics-only ones are noted apart (a desktop does not make a GPU busy)."""
        nvml = self._nvml
        memory: Dict[int, Optional[int]] = {}
        compute: Set[int] = set()
        for is_compute, call in (
            (True, nvml.nvmlDeviceGetComputeRunningProcesses),
            (False, nvml.nvmlDeviceGetGraphicsRunningProcesses),
        ):
            for proc in get("processes", call) or []:
                if is_compute:
                    compute.add(proc.pid)
                used = proc.usedGpuMemory
                previous = memory.get(proc.pid)
                if used is not None and (previous is None or used > previous):
                    memory[proc.pid] = int(used)
                else:
                    memory.setdefault(proc.pid, previous)
        ordered = sorted(memory.items(), key=lambda item: -(item[1] or 0))
        kept = ordered[:MAX_GPU_PROCESSES]
        procs = [GpuProcess(pid=pid, gpu_memory_bytes=used) for pid, used in kept]
        graphics_only = set(memory) - compute
        if graphics_only:
            self._graphics_only[index] = graphics_only
        return procs, len(ordered) - len(kept)


class _FieldGetter:
    """Calls one NVML getter for one field, turning its errors into reasons:
    unsupported fields are remembered and skipped from then on; a lost GPU
    aborts the whole reading of that GPU."""

    def __init__(
        self, nvml: Any, handle: Any, unsupported: Dict[str, str], missing: Dict[str, str]
    ) -> None:
        self._nvml = nvml
        self._handle = handle
        self._unsupported = unsupported
        self._missing = missing

    def __call__(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        if name in self._unsupported:
            return None
        try:
            return fn(self._handle, *args)
        except self._nvml.NVMLError as exc:
            text = str(exc)
            if text in DEVICE_LOST_ERRORS:
                raise _DeviceLost(device_error(text)) from exc
            reason = field_reason(text)
            if isinstance(exc, self._permanent()):
                self._unsupported[name] = reason
            self._missing[name] = reason
            return None

    def _permanent(self) -> Tuple[type, ...]:
        nvml = self._nvml
        return (
            nvml.NVMLError_NotSupported,
            nvml.NVMLError_NoPermission,
            nvml.NVMLError_FunctionNotFound,
        )
