"""`tether top`: a host's GPUs, system and running jobs at a glance, like nvitop.

One frame is a GPU table (index, name, utilisation, memory, temperature, power,
SM clock, fan) with each GPU's processes under it, mapped to their tether job;
then one line for the host (CPU, load, memory, swap, free disk); then a table
of the running jobs (CPU, RSS of the whole process tree, GPU memory, GPUs).
A field the hardware does not report reads ``n/a``.

``--once`` prints one frame from the runner's newest sample. Without it, on a
terminal (stdin and stdout both), the interactive app opens (`tui.app.top_app`:
sortable, a signal for the selected job or process, ``q`` quits, as in nvitop);
otherwise frames of text follow the runner's samples until Ctrl-C, the screen
cleared between them when stdout is a terminal. ``--json`` prints the same
content as one JSON object (one per line while following), with each GPU's
fixed facts (name, uuid) merged in.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from protocol.stats import (
    GpuDevice,
    GpuInventory,
    GpuReading,
    HostReading,
    StatsInfo,
    StatsSample,
    StatsSnapshot,
    StatsUpdate,
)
from protocol.units import gib, iso_time, size
from tui.cli.format import text_table
from tui.cli.output import write_control
from tui.cli.top_cluster import ClusterView
from tui.job_directory import JobDirectory
from tui.session import HostSession
from tui.visible import visible

_CLEAR = "\x1b[H\x1b[2J"


# -- text ------------------------------------------------------------------------


def _num(value: Optional[float], unit: str = "", digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _pair(used: Optional[float], total: Optional[float], digits: int = 0) -> str:
    if used is None and total is None:
        return "n/a"
    return f"{_num(used, digits=digits)} / {_num(total, digits=digits)}"


def gpu_lines(inventory: GpuInventory, sample: StatsSample, jobs: JobDirectory) -> List[str]:
    if not inventory.available:
        return [f"GPUs: none ({visible(inventory.reason or 'no GPU readings')})"]
    devices = {d.index: d for d in inventory.devices}
    header = ["GPU", "NAME", "UTIL", "MEM GiB", "TEMP", "POWER W", "SM MHz", "FAN"]
    rows: List[List[str]] = [header]
    extra: Dict[int, List[str]] = {}
    for reading in sample.gpus:
        device = devices.get(reading.index)
        name = visible(device.name) if device is not None else "?"
        if reading.error:
            error = visible(reading.error)
            rows.append([str(reading.index), name, "error:", error, "", "", "", ""])
            continue
        rows.append(_gpu_row(reading, name))
        extra[len(rows) - 1] = _process_lines(reading, jobs)
    table = text_table(rows, right=frozenset({0, 2, 4, 6, 7}))
    out: List[str] = []
    for i, line in enumerate(table):
        out.append(line)
        out.extend(extra.get(i, []))
    if sample.gpu_error:
        out.append(f"GPU readings failed: {visible(sample.gpu_error)}")
    return out


def allocation_lines(sample: StatsSample, jobs: JobDirectory) -> List[str]:
    """Each running Slurm job's own GPUs, as its node read them."""
    out: List[str] = []
    for allocation in sample.allocations:
        name = jobs.names.get(allocation.job_id)
        owner = f"job {allocation.job_id}" + (f" ({visible(name)})" if name else "")
        out.append(f"GPUs of {owner} on {visible(allocation.node)}:")
        if allocation.error:
            out.append(f"  {visible(allocation.error)}")
        if not allocation.gpus:
            continue
        names = {d.index: visible(d.name) for d in allocation.devices}
        header = ["GPU", "NAME", "UTIL", "MEM GiB", "TEMP", "POWER W", "SM MHz", "FAN"]
        rows = [header] + [_gpu_row(g, names.get(g.index, "?")) for g in allocation.gpus]
        out += ["  " + line for line in text_table(rows, right=frozenset({0, 2, 4, 6, 7}))]
    return out


def _gpu_row(reading: GpuReading, name: str) -> List[str]:
    return [
        str(reading.index),
        name,
        _num(reading.util_pct, "%"),
        f"{gib(reading.mem_used_bytes)} / {gib(reading.mem_total_bytes)}",
        _num(reading.temperature_c, "C"),
        _pair(reading.power_w, reading.power_limit_w),
        _num(reading.sm_clock_mhz),
        _num(reading.fan_pct, "%"),
    ]


def _process_lines(reading: GpuReading, jobs: JobDirectory) -> List[str]:
    lines = []
    for proc in reading.processes:
        if proc.job_id is not None:
            owner = f"job {proc.job_id}"
            name = jobs.names.get(proc.job_id)
            if name:
                owner += f" ({visible(name)})"
        elif proc.pid in jobs.leaked:
            owner = f"LEAKED by ended job {jobs.leaked[proc.pid]} (tether cancel to kill)"
        else:
            owner = "not a tether job"
        memory = size(proc.gpu_memory_bytes)
        lines.append(f"    pid {proc.pid:<7} {visible(proc.name or '?'):<15} {memory:>9}  {owner}")
    if reading.processes_omitted:
        lines.append(f"    ... and {reading.processes_omitted} more processes")
    return lines


def host_line(host: HostReading, width: int) -> str:
    cores = " ".join(f"{c:.0f}" for c in host.cpu_per_core_pct)
    load = " ".join(f"{x:.2f}" for x in host.load_avg)
    parts = [
        f"host: CPU {host.cpu_pct:.1f}%",
        f"load {load}",
        f"mem {gib(host.mem_used_bytes)} / {gib(host.mem_total_bytes)} GiB",
        f"swap {gib(host.swap_used_bytes)} / {gib(host.swap_total_bytes)} GiB",
        f"disk free {gib(host.disk_free_bytes)} GiB ({visible(host.disk_path)})",
    ]
    per_core = f"cores %: {cores}"
    if len(per_core) > width:
        per_core = per_core[: max(width - 1, 10)] + "…"
    return "\n".join([*_pack(parts, width), per_core])


def _pack(parts: List[str], width: int) -> List[str]:
    """`parts` joined by two spaces, a new line before a part that would not fit:
    a narrow terminal wraps between fields, never inside one."""
    lines: List[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += "  " + part
        else:
            lines.append(part)
    return lines


def job_lines(sample: StatsSample, jobs: JobDirectory) -> List[str]:
    if not sample.jobs:
        return ["no running jobs"]
    rows = [["JOB", "NAME", "CPU%", "RSS", "PROCS", "GPU MEM", "GPUS"]]
    for usage in sample.jobs:
        rows.append(
            [
                str(usage.job_id),
                visible(jobs.names.get(usage.job_id, ""))[:24],
                f"{usage.cpu_pct:.1f}",
                size(usage.rss_bytes),
                str(usage.processes),
                size(usage.gpu_memory_bytes),
                ",".join(map(str, usage.gpus)) or "-",
            ]
        )
    lines = text_table(rows, right=frozenset({0, 2, 3, 4, 5}))
    if sample.jobs_omitted:
        lines.append(f"... and {sample.jobs_omitted} more running jobs")
    return lines


def render(
    inventory: GpuInventory,
    sample: StatsSample,
    jobs: JobDirectory,
    width: int,
    cluster: Optional[ClusterView] = None,
) -> str:
    """One frame of ``tether top`` as text; a login node's cluster last."""
    parts = gpu_lines(inventory, sample, jobs)
    parts.append("")
    parts.append(host_line(sample.host, width))
    parts.append("")
    parts.extend(job_lines(sample, jobs))
    if sample.allocations:
        parts.append("")
        parts.extend(allocation_lines(sample, jobs))
    cluster_lines = cluster.lines() if cluster is not None else []
    if cluster_lines:
        parts.append("")
        parts.extend(cluster_lines)
    return "\n".join(parts)


# -- JSON ------------------------------------------------------------------------


def _gpu_json(reading: GpuReading, device: Optional[GpuDevice]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"index": reading.index}
    if device is not None:
        out.update(device.model_dump(exclude={"index"}))
    out.update(reading.model_dump(exclude={"index"}))
    return out


def top_json(
    inventory: GpuInventory,
    sample: StatsSample,
    jobs: JobDirectory,
    cluster: Optional[ClusterView] = None,
) -> Dict[str, Any]:
    """One frame as a JSON-ready object (``slurm``: null off a cluster)."""
    devices = {d.index: d for d in inventory.devices}
    return {
        "time": iso_time(sample.t),
        "t": sample.t,
        "seq": sample.seq,
        "gpu_source": inventory.source,
        "gpu_available": inventory.available,
        "gpu_reason": inventory.reason,
        "driver_version": inventory.driver_version,
        "cuda_version": inventory.cuda_version,
        "gpu_error": sample.gpu_error,
        "gpus": [_gpu_json(r, devices.get(r.index)) for r in sample.gpus],
        "host": sample.host.model_dump(),
        "jobs": [{"name": jobs.names.get(j.job_id), **j.model_dump()} for j in sample.jobs],
        "leaked_gpu_pids": {str(pid): job_id for pid, job_id in sorted(jobs.leaked.items())},
        "allocations": [
            {"name": jobs.names.get(a.job_id), **a.model_dump()} for a in sample.allocations
        ],
        "slurm": cluster.json() if cluster is not None else None,
    }


# -- the verb ----------------------------------------------------------------------


def _frame(
    inventory: GpuInventory,
    sample: StatsSample,
    jobs: JobDirectory,
    as_json: bool,
    cluster: ClusterView,
) -> str:
    if as_json:
        return json.dumps(top_json(inventory, sample, jobs, cluster))
    # A terminal's width; into a pipe, lines as long as they are (for grep).
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 1 << 16
    return render(inventory, sample, jobs, width, cluster)


@dataclass
class Frame:
    """What one frame of `top --once` shows of a host."""

    snapshot: StatsSnapshot
    jobs: JobDirectory
    cluster: ClusterView

    def text(self, as_json: bool) -> str:
        return _frame(self.snapshot.gpu, self.snapshot.sample, self.jobs, as_json, self.cluster)

    def json(self) -> Dict[str, Any]:
        return top_json(self.snapshot.gpu, self.snapshot.sample, self.jobs, self.cluster)


async def one_frame(session: HostSession) -> Frame:
    """The host's newest sample, with its jobs' names and (on a login node) its cluster."""
    frame = Frame(await session.stats_snapshot(), JobDirectory(), ClusterView())
    frame.jobs.update(await session.list_jobs())
    await frame.cluster.refresh(session)
    return frame


async def top(session: HostSession, as_json: bool, once: bool, interval_s: Optional[float]) -> int:
    if once:
        print((await one_frame(session)).text(as_json))
        return 0
    if not as_json and sys.stdin.isatty() and sys.stdout.isatty():
        from tui.app.top_app import run_top  # Textual, only now

        return await run_top(session, interval_s)
    jobs = JobDirectory()
    cluster = ClusterView()
    live = sys.stdout.isatty() and not as_json
    await _follow(session, as_json, live, interval_s, jobs, cluster)
    return 0


async def _follow(
    session: HostSession,
    as_json: bool,
    live: bool,
    interval_s: Optional[float],
    jobs: JobDirectory,
    cluster: ClusterView,
) -> None:
    inventory: Optional[GpuInventory] = None
    async for event in session.subscribe_stats(interval_s=interval_s, history_s=0):
        if isinstance(event, StatsInfo):
            inventory = event.gpu
        elif isinstance(event, StatsUpdate) and inventory is not None:
            if jobs.stale(event.sample):
                jobs.update(await session.list_jobs())
            await cluster.refresh(session)
            frame = _frame(inventory, event.sample, jobs, as_json, cluster)
            if live:
                write_control(_CLEAR)
            print(frame if live else frame + ("" if as_json else "\n"), flush=True)
