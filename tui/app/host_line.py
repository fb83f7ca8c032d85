"""`HostLine`: the current host in one line — its link in full, then CPU, memory
and load from the newest stats sample, and how stale all of it is when the link
is down."""

from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.widgets import Static

from protocol.stats import StatsSample
from protocol.units import gib
from tui.app.host_monitor import HostMonitor
from tui.app.link_text import link_line
from tui.visible import visible


def host_numbers(sample: StatsSample) -> Text:
    host = sample.host
    text = Text()
    text.append("CPU ", style="dim")
    text.append(f"{host.cpu_pct:.0f}%")
    text.append("  mem ", style="dim")
    text.append(f"{gib(host.mem_used_bytes)}/{gib(host.mem_total_bytes)} GiB")
    if host.load_avg:
        text.append("  load ", style="dim")
        text.append(" ".join(f"{v:.2f}" for v in host.load_avg))
    return text


class HostLine(Static):
    def __init__(self, monitor: HostMonitor, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self.monitor = monitor
        self._shown: Optional[Text] = None

    def show(self, now: float) -> None:
        monitor = self.monitor
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(visible(monitor.label), style="bold")
        text.append("  ")
        text.append_text(link_line(monitor.link, now, monitor.stale_age()))
        sample = monitor.latest
        if sample is not None:
            text.append("  ")
            text.append_text(host_numbers(sample))
        if text != self._shown:  # shown every second: a redraw only when it reads otherwise
            self._shown = text
            self.update(text, layout=False)  # one line, cut to fit: its size never changes
