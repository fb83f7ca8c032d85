"""The GPU panel on a Slurm login node: the GPUs of each running Slurm job, read
on its own node, under the job's id and node; the login node's own "no GPUs"
gives way to them. (The readings reach the panel end to end in
tests/slurm/test_runner_on_slurm.py; here the panel's rows.)"""

from __future__ import annotations

from protocol.stats import (
    AllocationGpus,
    GpuDevice,
    GpuInventory,
    GpuReading,
    HostReading,
    StatsSample,
)
from tui.app.gpu_panel import GpuPanel

HOST = HostReading(
    cpu_pct=1.0,
    mem_total_bytes=8 << 30,
    mem_used_bytes=1 << 30,
    mem_available_bytes=7 << 30,
    swap_total_bytes=0,
    swap_used_bytes=0,
    disk_free_bytes=1 << 30,
    disk_total_bytes=2 << 30,
    disk_path="/",
)
H100 = GpuDevice(index=1, name="NVIDIA H100 80GB HBM3")


def _sample(seq: int, util: float, error: str | None = None) -> StatsSample:
    reading = GpuReading(
        index=1, util_pct=util, mem_used_bytes=40 << 30, mem_total_bytes=80 << 30, power_w=350.0
    )
    allocation = AllocationGpus(
        job_id=12,
        node="gpu07",
        t=float(seq),
        devices=[H100],
        gpus=[] if error else [reading],
        error=error,
    )
    return StatsSample(seq=seq, t=float(seq), host=HOST, allocations=[allocation])


def _rows(panel: GpuPanel) -> list[str]:
    return [row.plain for row in panel._rows(80)]


def test_a_login_node_shows_its_slurm_jobs_gpus_with_their_history() -> None:
    panel = GpuPanel()
    panel.inventory = GpuInventory(source="nvml", available=False, reason="no NVIDIA driver")
    panel.history = [_sample(seq, util) for seq, util in enumerate([0, 50, 100, 100], 1)]
    title, row = _rows(panel)
    assert title == "job 12 on gpu07"
    assert row.startswith(" 1 util ████████ 100%  mem ████░░░░") and "40.0/80.0 GiB" in row
    assert row.rstrip().endswith("▁▅██")  # its own utilisation, sample by sample


def test_a_job_whose_node_went_quiet_says_so() -> None:
    panel = GpuPanel()
    panel.inventory = GpuInventory(source="nvml", available=False, reason="no NVIDIA driver")
    panel.history = [_sample(1, 0, error="no reading from gpu07 for 40 s")]
    assert _rows(panel) == ["job 12 on gpu07", "   no reading from gpu07 for 40 s"]


def test_without_slurm_jobs_the_host_says_it_has_no_gpus() -> None:
    panel = GpuPanel()
    panel.inventory = GpuInventory(source="nvml", available=False, reason="no NVIDIA driver")
    panel.history = [StatsSample(seq=1, t=1.0, host=HOST)]
    assert _rows(panel) == ["no GPUs: no NVIDIA driver"]
