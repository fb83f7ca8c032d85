"""The live NVML source: the real pynvml without a driver (this machine and CI),
and its handling of what a real driver says, answered from the H100 recording."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, List

import pynvml
import pytest

from runner.gpu.nvml import NvmlSource
from tests.stats.conftest import RECORDED_LOAD_MEMORY, RECORDED_LOAD_PID
from tests.stats.nvml_standin import RecordedNvml


def _driver_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


@pytest.mark.skipif(_driver_present(), reason="this host has an NVIDIA driver")
def test_real_pynvml_without_a_driver_reports_no_driver_as_a_normal_state() -> None:
    source = NvmlSource()
    inventory = source.open()
    assert inventory.source == "nvml"
    assert not inventory.available
    assert inventory.reason is not None and inventory.reason.startswith("no NVIDIA driver")
    assert inventory.devices == []
    assert source.read().gpus == []
    source.close()


def test_inventory_comes_from_the_driver() -> None:
    nvml = RecordedNvml(gpus=2)
    inventory = NvmlSource(nvml).open()
    assert inventory.available and nvml.initialised == 1
    assert [d.name for d in inventory.devices] == ["NVIDIA H100 80GB HBM3"] * 2
    assert inventory.devices[1].memory_total_bytes == 85520809984
    assert inventory.devices[0].pci_bus_id == "00000000:00:06.0"
    assert (inventory.driver_version, inventory.cuda_version) == ("580.159.04", "13.0")


def test_a_reading_carries_every_field_in_its_unit_and_the_gpu_process() -> None:
    source = NvmlSource(RecordedNvml())
    source.open()
    (reading,) = source.read().gpus
    assert reading.error is None
    assert reading.util_pct is not None and reading.util_pct > 50
    assert reading.power_limit_w == 700.0
    assert reading.power_w is not None and 100 < reading.power_w < 700
    assert reading.mem_total_bytes == 85520809984
    assert reading.sm_clock_mhz is not None and reading.sm_clock_mhz > 1000
    assert reading.energy_j == pytest.approx(123_457.789)
    assert [(p.pid, p.gpu_memory_bytes) for p in reading.processes] == [
        (RECORDED_LOAD_PID, RECORDED_LOAD_MEMORY)
    ]


def test_unsupported_fan_is_missing_with_a_reason_and_never_asked_again() -> None:
    nvml = RecordedNvml()
    source = NvmlSource(nvml)
    source.open()
    readings = [source.read().gpus[0] for _ in range(10)]
    assert all(r.fan_pct is None for r in readings)
    assert all(r.missing["fan_pct"] == "not supported by this GPU" for r in readings)
    assert nvml.calls["fan"] == 1  # 0.5 ms on an H100 to say "Not Supported": once
    assert nvml.calls["utilization"] == 10


def test_energy_is_read_once_per_period_and_reported_in_between() -> None:
    now = [0.0]
    nvml = RecordedNvml()
    source = NvmlSource(nvml, energy_period_s=10.0, clock=lambda: now[0])
    source.open()
    energies = []
    for _ in range(25):
        energies.append(source.read().gpus[0].energy_j)
        now[0] += 1.0
    assert nvml.calls["energy"] == 3  # at 0 s, 10 s and 20 s
    assert energies[0] == energies[9] != energies[10]
    assert all(e is not None for e in energies)


def test_a_gpu_falling_off_the_bus_is_reported_and_the_others_keep_reading() -> None:
    nvml = RecordedNvml(gpus=2, lose_gpu=1, lost_after_reads=2)
    source = NvmlSource(nvml)
    source.open()
    first, second, third = (source.read().gpus for _ in range(3))
    assert first[1].error is None and second[1].error is None
    assert third[1].error == "GPU is lost (fallen off the bus?); NVML: GPU is lost"
    assert third[1].util_pct is None and third[1].processes == []
    assert third[0].error is None and third[0].util_pct is not None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (pynvml.NVMLError_LibraryNotFound, "no NVIDIA driver: the NVML library"),
        (pynvml.NVMLError_DriverNotLoaded, "no NVIDIA driver: the NVIDIA kernel module is not"),
        (pynvml.NVMLError_NoPermission, "NVML refused access"),
        (pynvml.NVMLError_LibRmVersionMismatch, "the NVIDIA driver and its NVML library differ"),
        (pynvml.NVMLError_Unknown, "NVML could not start: Unknown Error"),
    ],
)
def test_nvml_that_will_not_start_is_an_unavailable_gpu_with_the_reason(
    error: type, reason: str
) -> None:
    source = NvmlSource(RecordedNvml(init_error=error))
    inventory = source.open()
    assert not inventory.available
    assert (inventory.reason or "").startswith(reason)
    assert source.read().gpus == []
    source.close()


def test_close_shuts_nvml_down_once() -> None:
    nvml = RecordedNvml()
    source = NvmlSource(nvml)
    source.open()
    source.close()
    source.close()
    assert nvml.initialised == 0


class WithDesktop(RecordedNvml):
    """The recorded H100 with a desktop (Xorg, pid 900) drawing on it for graphics,
    and the trainer also listed as a graphics user, as NVML does for some apps."""

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> List[Any]:
        return [
            SimpleNamespace(pid=900, usedGpuMemory=4 << 20),
            SimpleNamespace(pid=RECORDED_LOAD_PID, usedGpuMemory=None),
        ]


def test_graphics_only_processes_are_shown_and_set_apart_from_compute_ones() -> None:
    source = NvmlSource(WithDesktop())
    source.open()
    read = source.read()
    assert {p.pid for p in read.gpus[0].processes} == {RECORDED_LOAD_PID, 900}
    assert read.graphics_only == {0: {900}}
    plain = NvmlSource(RecordedNvml())
    plain.open()
    assert plain.read().graphics_only == {}
