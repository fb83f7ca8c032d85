"""`DescribeScreen`: everything known about one job (``d``, as k9s's describe),
kept current while it is open: a queued job shows its GPUs once given, a
running one its end, and the times count on.

The rows are `tui.job_detail`'s, the same that ``tether show`` prints.
"""

from __future__ import annotations

from typing import Optional

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from protocol.jobs import JobInfo
from tui.app.host_monitor import HostChange, HostMonitor
from tui.job_detail import job_rows
from tui.visible import visible


class DescribeScreen(Screen[Optional[JobInfo]]):
    """Dismissed with the job when the person asks for its log (Enter), else None."""

    CSS_PATH = "log_screen.tcss"
    BINDINGS = [
        Binding("escape,d,q", "close", "Back"),
        Binding("enter", "open_log", "Log"),
    ]

    def __init__(self, monitor: HostMonitor, job: JobInfo) -> None:
        super().__init__()
        self.monitor = monitor
        self.job = job

    def compose(self) -> ComposeResult:
        title = Text.assemble(
            (f" {visible(self.monitor.label)} ", "bold reverse"),
            (f" job {self.job.id} ", "bold"),
            ("describe", "dim"),
        )
        yield Static(title, id="log-title")
        with VerticalScroll(id="describe"):
            yield Static(id="describe-rows")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.monitor.listeners.append(self._on_change)
        self._show()
        self.set_interval(1.0, self._show)  # "4s ago" and the runtime move on
        self.query_one("#describe").focus()

    def on_unmount(self) -> None:
        if self._on_change in self.monitor.listeners:
            self.monitor.listeners.remove(self._on_change)

    def _on_change(self, change: HostChange) -> None:
        if change in (HostChange.JOBS, HostChange.FORWARDS):
            self.job = self.monitor.job(self.job.id) or self.job
            self._show()

    def _show(self) -> None:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(overflow="fold")
        rows = job_rows(
            self.job,
            host=self.monitor.label,
            forwards=self.monitor.forwards_of(self.job),
            now=self.monitor.clock(),
        )
        for label, value in rows:
            table.add_row(label, Text(value))
        self.query_one("#describe-rows", Static).update(table)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_open_log(self) -> None:
        self.dismiss(self.job)
