"""A stand-in for the NVIDIA driver behind the pynvml API, answering with the
readings recorded on the H100 (the GPU is the one part these tests cannot have).

It speaks exactly the calls `runner.gpu.nvml.NvmlSource` makes, raises
pynvml's own exception classes (fields the H100 recorded as "Not Supported"
raise `NVMLError_NotSupported`), counts every call, and can lose a GPU after a
number of readings, as a GPU that falls off the bus does.
"""

from __future__ import annotations

import collections
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import pynvml

from tests.stats.conftest import recording

_ERRORS = {
    "Not Supported": pynvml.NVMLError_NotSupported,
    "GPU is lost": pynvml.NVMLError_GpuIsLost,
}


class RecordedNvml:
    NVMLError = pynvml.NVMLError
    NVMLError_LibraryNotFound = pynvml.NVMLError_LibraryNotFound
    NVMLError_DriverNotLoaded = pynvml.NVMLError_DriverNotLoaded
    NVMLError_NoPermission = pynvml.NVMLError_NoPermission
    NVMLError_LibRmVersionMismatch = pynvml.NVMLError_LibRmVersionMismatch
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVMLError_FunctionNotFound = pynvml.NVMLError_FunctionNotFound
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM

    def __init__(
        self,
        gpus: int = 1,
        init_error: Optional[type] = None,
        lose_gpu: Optional[int] = None,
        lost_after_reads: int = 0,
    ) -> None:
        data = recording()
        self._data = data
        # The recorded load at full speed: a process on the GPU, and the GPU busy.
        self._samples = [s for s in data["samples"] if s["processes"] and s["gpu_util"]]
        self._gpus = gpus
        self._init_error = init_error
        self._lose_gpu = lose_gpu
        self._lost_after_reads = lost_after_reads
        self.calls: Dict[str, int] = collections.Counter()
        self.reads: List[int] = [0] * gpus
        self.initialised = 0

    # -- system --------------------------------------------------------------------

    def nvmlInit(self) -> None:
        if self._init_error is not None:
            raise self._init_error()
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        return self._gpus

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(self._data["driver"])

    def nvmlSystemGetNVMLVersion(self) -> str:
        return str(self._data["nvml_version"])

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return int(self._data["cuda_driver_version"])

    # -- device facts ----------------------------------------------------------------

    def _device(self) -> Dict[str, Any]:
        device: Dict[str, Any] = self._data["devices"][0]
        return device

    def nvmlDeviceGetName(self, handle: int) -> str:
        return str(self._device()["name"])

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return f"{self._device()['uuid']}-{handle}"

    def nvmlDeviceGetPciInfo(self, handle: int) -> Any:
        return SimpleNamespace(busId=self._device()["pci_bus_id"].encode())

    # -- readings ------------------------------------------------------------------

    def _field(self, handle: int, name: str, key: str) -> Any:
        self.calls[name] += 1
        if name == "utilization":  # the first call of each reading
            self.reads[handle] += 1
        if handle == self._lose_gpu and self.reads[handle] > self._lost_after_reads:
            raise pynvml.NVMLError_GpuIsLost()
        sample = self._samples[(self.reads[handle] - 1) % len(self._samples)]
        value = sample.get(key)
        if isinstance(value, dict):
            raise _ERRORS.get(value["error"], pynvml.NVMLError_Unknown)()
        if value is None:
            raise pynvml.NVMLError_NotSupported()
        return value

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        gpu = self._field(handle, "utilization", "gpu_util")
        return SimpleNamespace(gpu=gpu, memory=self._field(handle, "mem_util", "mem_util"))

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        if self.reads[handle] == 0:  # the inventory asks before any reading
            return SimpleNamespace(total=self._device()["memory_total"], used=0)
        used = self._field(handle, "memory", "mem_used")
        return SimpleNamespace(used=used, total=self._device()["memory_total"])

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return int(self._field(handle, "power", "power_mw"))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return int(self._field(handle, "power_limit", "power_limit_mw"))

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        self.calls["energy"] += 1
        return 123_456_789 + 1000 * self.reads[handle]

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return int(self._field(handle, "temperature", "temperature_c"))

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        key = "sm_clock_mhz" if clock == pynvml.NVML_CLOCK_SM else "mem_clock_mhz"
        return int(self._field(handle, key, key))

    def nvmlDeviceGetFanSpeed(self, handle: int) -> int:
        return int(self._field(handle, "fan", "fan_pct"))

    def nvmlDeviceGetPerformanceState(self, handle: int) -> int:
        return int(self._field(handle, "pstate", "pstate"))

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> List[Any]:
        procs = self._field(handle, "compute_processes", "processes")
        return [SimpleNamespace(pid=p["pid"], usedGpuMemory=p["used_gpu_memory"]) for p in procs]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> List[Any]:
        self.calls["graphics_processes"] += 1
        return []
