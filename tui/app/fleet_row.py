"""One host as a row of the hosts screen (``h``): its link, its GPUs as compact
bars (mean utilisation, memory in use), its jobs running and queued, and what
needs a look (a stale view, a stopped watcher, a GPU leak), so the person sees
the whole fleet before choosing where to go.
"""

from __future__ import annotations

from typing import Optional

from rich.text import Text

from protocol.jobs import JobState
from protocol.units import duration
from tui.app.gpu_panel import bar
from tui.app.host_monitor import HostMonitor
from tui.app.link_text import link_badge

#: Cells of each bar.
BAR = 4
#: Cells for the host's name and link, so the numbers line up (a row fits the
#: 66 columns the dialog gives a row at 80).
LABEL = 26


def fleet_row(monitor: HostMonitor, now: float, width: int = 66) -> Text:
    """The row, cut to `width` cells: one line a host, however long a reason."""
    row = link_badge(monitor.label, monitor.link, now)
    row.truncate(LABEL, overflow="ellipsis", pad=True)
    row.append_text(_gpus(monitor))
    running = sum(job.state is JobState.RUNNING for job in monitor.jobs)
    queued = sum(job.state is JobState.QUEUED for job in monitor.jobs)
    if monitor.jobs_known:
        row.append(f"  {running} run {queued} wait", style="bold" if running else "")
    alerts = _alerts(monitor, now)
    if alerts:
        row.append(f"  {alerts}", style="bold yellow")
    row.truncate(width, overflow="ellipsis")
    row.no_wrap, row.overflow = True, "ellipsis"  # the list may be narrower than `width`
    return row


def _gpus(monitor: HostMonitor) -> Text:
    sample = monitor.latest
    if sample is None and not monitor.connected and monitor.link.reason:
        # Nothing known yet: why not is the news (the host bar says the rest).
        reason = monitor.link.reason
        if reason.startswith(f"{monitor.label}: "):
            reason = reason[len(monitor.label) + 2 :]  # its name is on the row already
        return Text(f" {reason}", style="dim")
    if sample is None or not sample.gpus:
        reason = "no GPUs" if monitor.gpu is not None and not monitor.gpu.devices else "GPUs -"
        return Text(f" {reason}".ljust(2 * BAR + 17), style="dim")
    utils = [g.util_pct for g in sample.gpus if g.util_pct is not None]
    util: Optional[float] = sum(utils) / len(utils) if utils else None
    used = sum(g.mem_used_bytes or 0 for g in sample.gpus)
    total = sum(g.mem_total_bytes or 0 for g in sample.gpus)
    mem_pct = 100.0 * used / total if total else None
    text = Text(f" {len(sample.gpus)}x ")
    text.append_text(bar(util, BAR, "green"))
    text.append(f"{util or 0:3.0f}% ")
    text.append_text(bar(mem_pct, BAR, "magenta"))
    text.append(f" {used / 2**30:.0f}/{total / 2**30:.0f}G")
    return text


def _alerts(monitor: HostMonitor, now: float) -> str:
    said = []
    age = monitor.stale_age()
    if age is not None:
        said.append(f"stale {duration(age)}")
    if monitor.problems:
        said.append("watcher stopped")
    if any(job.leaked_gpu_pids for job in monitor.jobs):
        said.append("GPU leak")
    return ", ".join(said)
