"""`GpuPanel`: one row per GPU — utilisation and memory bars, temperature, power,
and a sparkline of recent utilisation from the runner's history.

The row adapts to the width it has: at 80 columns every number still shows and
the sparkline takes what is left; narrower, the bars shrink so that the numbers
still fit (down to 60 columns); wider, the bars and the sparkline grow and the
GPU's name appears. When the panel is shorter than its GPUs (a short screen caps
it: `host_view.tcss`), those without room share its last line, each one's
utilisation. Only 256-colour-safe styles (named ANSI colours) are used.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

from rich.text import Text
from textual.widget import Widget

from protocol.stats import AllocationGpus, GpuInventory, GpuReading, StatsSample
from protocol.units import gib
from tui.visible import visible

SPARK_CHARS = "▁▂▃▄▅▆▇█"
BAR_FULL = "█"
BAR_EMPTY = "░"


def bar(percent: Optional[float], width: int, style: str) -> Text:
    """A horizontal bar ``████░░░░`` filled to `percent` (``n/a`` when unknown)."""
    if percent is None:
        return Text("n/a".center(width), style="dim")
    filled = round(max(0.0, min(100.0, percent)) / 100 * width)
    return Text.assemble((BAR_FULL * filled, style), (BAR_EMPTY * (width - filled), "dim"))


def sparkline(values: Sequence[Optional[float]], width: int, top: float = 100.0) -> str:
    """The last values squeezed into `width` cells, each the max of its share;
    fewer values than cells fill the right end (the newest), one cell each."""
    if width <= 0:
        return ""
    known = list(values)
    if not known:
        return " " * width
    count = min(width, len(known))
    # Shares as even as whole values allow (64 values in 53 cells: some cells hold
    # two), so the line always reaches `count` cells: no gap before it.
    bounds = [len(known) * i // count for i in range(count + 1)]
    cells: List[str] = []
    for start, end in zip(bounds, bounds[1:]):
        chunk = [v for v in known[start:end] if v is not None]
        if not chunk:
            cells.append(" ")
            continue
        level = max(chunk) / top if top else 0.0
        index = round(max(0.0, min(1.0, level)) * (len(SPARK_CHARS) - 1))
        cells.append(SPARK_CHARS[index])
    return "".join(cells).rjust(width)


def temperature_style(celsius: Optional[float]) -> str:
    if celsius is None:
        return "dim"
    if celsius >= 85:
        return "bold red"
    if celsius >= 75:
        return "yellow"
    return ""


def waiting_text(link_kind: str) -> str:
    """What the panel says before any reading came, by the host's link."""
    if link_kind == "offline":
        return "no GPU readings: the host is offline (see the host line)"
    if link_kind in ("connecting", "reconnecting"):
        return f"no GPU readings yet: {link_kind}…"
    return "waiting for GPU readings…"


class GpuPanel(Widget):
    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self.inventory: Optional[GpuInventory] = None
        self.history: Sequence[StatsSample] = ()
        self._row_count = 0
        self.waiting = waiting_text("connecting")

    def show_link(self, link_kind: str) -> None:
        """Say why there are no readings yet, when there are none."""
        waiting = waiting_text(link_kind)
        if waiting != self.waiting:
            self.waiting = waiting
            if not self.history:
                self.refresh(layout=True)

    def show(self, inventory: Optional[GpuInventory], history: Sequence[StatsSample]) -> None:
        """Take the latest readings (the monitor's own objects; nothing is copied)."""
        self.inventory = inventory
        self.history = history
        # A new sample redraws the rows; only a change in their number moves the layout.
        rows = len(self._lines(self.size.width or 80))
        self.refresh(layout=rows != self._row_count)
        self._row_count = rows

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return max(1, len(self._lines(width)))

    def render(self) -> Text:
        lines = self._lines(self.size.width or 80, self.size.height or None)
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)

    def _lines(self, width: int, height: Optional[int] = None) -> List[Text]:
        """The rows, one line each, but a message (no GPUs and why, an error) too
        long for `width`: that one wrapped onto as many lines as it takes, all of
        them counted in the panel's height. (A GPU's row always fits: `_row`.)"""
        lines: List[Text] = []
        for row in self._rows(width, height):
            if row.cell_len <= width:
                lines.append(row)
            else:
                lines.extend(row.wrap(self.app.console, width))
        return lines

    def _rows(self, width: int, height: Optional[int] = None) -> List[Text]:
        """The host's GPUs, then each running Slurm job's own, read on its node
        (a login node has none of its own: then only the jobs'). Within `height`
        lines (the panel's, when a short screen caps it), the host's GPUs that do
        not fit share the last of theirs (`_folded_row`)."""
        latest = self.history[-1] if self.history else None
        allocations = latest.allocations if latest is not None else []
        jobs = [row for a in allocations for row in self._allocation_rows(a, width)]
        if allocations and (self.inventory is None or not self.inventory.available):
            return jobs
        room = None if height is None else height - len(jobs)
        return self._host_rows(width, room) + jobs

    def _allocation_rows(self, allocation: AllocationGpus, width: int) -> List[Text]:
        rows = [Text(f"job {allocation.job_id} on {visible(allocation.node)}", style="bold")]
        if allocation.error:
            rows.append(Text(f"   {visible(allocation.error)}", style="yellow"))
        names = {d.index: visible(d.name) for d in allocation.devices}
        for reading in allocation.gpus:
            history = list(_allocation_values(self.history, allocation.job_id, reading.index))
            rows.append(self._row(reading, names.get(reading.index, ""), width, history))
        return rows

    def _host_rows(self, width: int, room: Optional[int] = None) -> List[Text]:
        inventory = self.inventory
        if inventory is not None and not inventory.available:
            return [Text(f"no GPUs: {visible(inventory.reason or 'none found')}", style="dim")]
        latest = self.history[-1] if self.history else None
        if latest is None:
            return [Text(self.waiting, style="dim")]
        if latest.gpu_error and not latest.gpus:
            return [Text(f"GPU readings failed: {visible(latest.gpu_error)}", style="red")]
        names = {d.index: visible(d.name) for d in inventory.devices} if inventory else {}
        shown, folded = list(latest.gpus), []
        if room is not None and 1 < room < len(shown):
            shown, folded = shown[: room - 1], shown[room - 1 :]
        rows = [
            self._row(
                reading, names.get(reading.index, ""), width, self._util_history(reading.index)
            )
            for reading in shown
        ]
        if folded:
            rows.append(_folded_row(folded, width))
        return rows

    def _util_history(self, index: int) -> List[Optional[float]]:
        return list(_gpu_values(self.history, index))

    def _row(self, gpu: GpuReading, name: str, width: int, history: List[Optional[float]]) -> Text:
        label = Text(f"{gpu.index:>2} ", style="bold")
        if gpu.error:
            return Text.assemble(label, (f"{name} unreadable: {visible(gpu.error)}", "red"))
        head = [label]
        if width >= 120 and name:
            head.append(Text(f"{name[:22]:<22} ", style="dim"))
        if width >= 120:
            bar_width = 14
        else:  # 8 from 80 columns; narrower, the bars give way so every number stays
            numbers = _gauges(gpu, head, 0, wide=False).cell_len
            bar_width = max(1, min(8, (width - numbers) // 2))
        row = _gauges(gpu, head, bar_width, wide=width >= 120)
        room = width - row.cell_len - 2
        if room >= 6:
            row.append("  ")
            row.append(sparkline(history, room), style="green")
        return row


def _gauges(gpu: GpuReading, head: List[Text], bar_width: int, wide: bool) -> Text:
    """`head`, then the GPU's utilisation and memory (bars `bar_width` wide and
    their numbers), temperature and power (with its limit when `wide`)."""
    mem_pct = None
    if gpu.mem_used_bytes is not None and gpu.mem_total_bytes:
        mem_pct = gpu.mem_used_bytes / gpu.mem_total_bytes * 100
    util = "n/a" if gpu.util_pct is None else f"{gpu.util_pct:3.0f}%"
    memory = f"{gib(gpu.mem_used_bytes)}/{gib(gpu.mem_total_bytes)} GiB"
    temp = "  n/a" if gpu.temperature_c is None else f"{gpu.temperature_c:3.0f}°C"
    power = "n/a" if gpu.power_w is None else f"{gpu.power_w:3.0f}W"
    if wide and gpu.power_limit_w:
        power += f"/{gpu.power_limit_w:.0f}W"
    return Text.assemble(
        *head,
        Text("util "),
        bar(gpu.util_pct, bar_width, "green"),
        Text(f" {util:>4}  mem "),
        bar(mem_pct, bar_width, "cyan"),
        Text(f" {memory:>14}  "),
        Text(temp, style=temperature_style(gpu.temperature_c)),
        Text(f" {power:>5}"),
    )


def _folded_row(readings: Sequence[GpuReading], width: int) -> Text:
    """GPUs without a row of their own (a short screen), on one line: the
    utilisation of each, cut to `width`."""
    label = f"{readings[0].index}-{readings[-1].index}"
    row = Text.assemble((f"{label:>2} ", "bold"), "util", no_wrap=True)
    for gpu in readings:
        busy = gpu.util_pct is not None and gpu.util_pct >= 50
        util = "n/a" if gpu.util_pct is None else f"{gpu.util_pct:.0f}%"
        row.append(f" {util}", style="green" if busy else "")
    row.append("  (a taller screen: a row each)", style="dim")
    row.truncate(width, overflow="ellipsis")
    return row


def _gpu_values(history: Iterable[StatsSample], index: int) -> Iterable[Optional[float]]:
    for sample in history:
        reading = next((g for g in sample.gpus if g.index == index), None)
        yield reading.util_pct if reading is not None else None


def _allocation_values(
    history: Iterable[StatsSample], job_id: int, index: int
) -> Iterable[Optional[float]]:
    for sample in history:
        allocation = next((a for a in sample.allocations if a.job_id == job_id), None)
        gpus = allocation.gpus if allocation is not None else []
        reading = next((g for g in gpus if g.index == index), None)
        yield reading.util_pct if reading is not None else None
