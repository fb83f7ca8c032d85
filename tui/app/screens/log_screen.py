"""`LogScreen`: one job's log, full screen, with the same follow, scroll and search."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from protocol.jobs import JobInfo
from tui.app.host_monitor import HostMonitor
from tui.app.log_lines import LogLines
from tui.app.log_panel import LogPanel
from tui.job_text import command_line
from tui.visible import visible


class LogScreen(Screen[None]):
    CSS_PATH = "log_screen.tcss"
    BINDINGS = [Binding("escape,f,q", "close", "Back")]

    def __init__(self, monitor: HostMonitor, job: JobInfo) -> None:
        super().__init__()
        self.monitor = monitor
        self.job = job

    def compose(self) -> ComposeResult:
        command = command_line(self.job)
        title = Text.assemble(
            (f" {visible(self.monitor.label)} ", "bold reverse"),
            (f" job {self.job.id} ", "bold"),
            (visible(self.job.name), ""),
            ("" if self.job.name == command else f"  {visible(command)}", "dim"),
            no_wrap=True,
            overflow="ellipsis",
        )
        yield Static(title, id="log-title")
        yield LogPanel(self.monitor, id="full-log")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(LogPanel).job_id = self.job.id
        self.query_one(LogLines).focus()

    def action_close(self) -> None:
        self.dismiss(None)
