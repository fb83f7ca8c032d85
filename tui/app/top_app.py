"""`TopApp`: ``tether top`` on a terminal, interactive as nvitop and htop are.

The GPUs (the app's own `GpuPanel`), the host's CPU, memory and load, then a
table of the running jobs and the processes on the GPUs (`TopTable`), each
redrawn on every stats sample the runner pushes. The arrows (and j/k) move,
``<`` / ``>`` sort by another column, ``i`` turns the order round, ``K`` sends
the selected job or process a signal picked from a list, ``?`` lists the keys,
``q`` quits. A job is signalled as a whole (its process group), a process on
its own; a process of no tether job is refused before the runner is asked, and
the runner checks every pid again.

It runs on the verb's session, in the verb's event loop: the CLI opened and
reconnects the session, and closes it when the app has quit.
"""

from __future__ import annotations

import collections
import contextlib
import time
from pathlib import Path
from typing import Deque, Optional

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Footer, Static

from protocol.stats import GpuInventory, StatsHistory, StatsInfo, StatsSample, StatsUpdate
from tui.app.gpu_panel import GpuPanel
from tui.app.host_line import host_numbers
from tui.app.screens.help import HelpScreen, binding_rows
from tui.app.screens.signal_picker import SignalPickerScreen
from tui.app.top_rows import COLUMNS, TopRow, refusal, top_rows
from tui.app.top_table import TopTable
from tui.errors import TetherError
from tui.job_directory import JobDirectory
from tui.session import HostSession, SessionState
from tui.visible import visible, visible_lines

_HERE = Path(__file__).resolve().parent

#: Seconds of the runner's history drawn at the start, for the GPUs' sparklines.
HISTORY_S = 120.0
#: Samples kept for the sparklines (the widest terminal's line holds fewer).
HISTORY_SAMPLES = 300

MOVEMENT_KEYS = [
    ("↑ / ↓ / j / k", "move the selection"),
    ("PgUp / PgDn", "a page up or down"),
    ("Home / End", "the first or the last row"),
]


class TopApp(App[int]):
    CSS_PATH = _HERE / "top_app.tcss"
    TITLE = "tether top"
    BINDINGS = [
        Binding("q", "quit", "Quit", tooltip="Quit tether top"),
        Binding("less_than_sign", "sort(-1)", "Sort ←", tooltip="Sort by the column to the left"),
        Binding(
            "greater_than_sign", "sort(1)", "Sort →", tooltip="Sort by the column to the right"
        ),
        Binding(
            "i", "invert", "Invert", tooltip="Turn the order round (▲ ascending, ▼ descending)"
        ),
        Binding(
            "K",
            "signal",
            "Signal",
            tooltip="Signal the selected job (its whole process group) or process: "
            "TERM, KILL, USR1…",
        ),
        Binding("question_mark", "help", "Keys", tooltip="Every key of tether top"),
    ]

    def __init__(self, session: HostSession, interval_s: Optional[float] = None) -> None:
        super().__init__()
        self.session = session
        self.interval_s = interval_s
        self.inventory: Optional[GpuInventory] = None
        self.history: Deque[StatsSample] = collections.deque(maxlen=HISTORY_SAMPLES)
        self.jobs = JobDirectory()
        #: Why the stats stream ended, said by the CLI once the screen is given back.
        self.error: Optional[TetherError] = None
        self._link = session.state
        self._epoch = ""

    def compose(self) -> ComposeResult:
        yield Static(id="top-title", markup=False)
        yield GpuPanel(id="top-gpus")
        yield Static(id="top-host", markup=False)
        yield TopTable(id="top-table")
        yield Footer()

    def on_mount(self) -> None:
        self.session.listeners.append(self._on_link)
        self._show_title()
        self.query_one(TopTable).focus()
        self.run_worker(self._follow(), group="stats")

    # -- the samples -------------------------------------------------------------

    async def _follow(self) -> None:
        try:
            async for event in self.session.subscribe_stats(
                interval_s=self.interval_s, history_s=HISTORY_S
            ):
                await self._take(event)
        except TetherError as exc:
            self.error = exc
            self.exit(1)

    async def _take(self, event: object) -> None:
        if isinstance(event, StatsInfo):
            if self.inventory is not None and event.epoch != self._epoch:
                self.history.clear()  # the runner restarted: its history follows
            self.inventory, self._epoch = event.gpu, event.epoch
        elif isinstance(event, StatsHistory):
            self.history.extend(event.samples)
            if event.last and self.history:
                await self._show(self.history[-1])
        elif isinstance(event, StatsUpdate):
            self.history.append(event.sample)
            await self._show(event.sample)

    async def _show(self, sample: StatsSample) -> None:
        if self.jobs.stale(sample):
            self.jobs.update(await self.session.list_jobs())
        self.query_one(GpuPanel).show(self.inventory, self.history)
        self.query_one("#top-host", Static).update(host_numbers(sample))
        self.query_one(TopTable).show(top_rows(sample, self.jobs))
        self._show_title()

    def _on_link(self, state: SessionState) -> None:
        """A listener of the session, which outlives the app: after it, nothing."""
        self._link = state
        if self.is_running:
            with contextlib.suppress(NoMatches):  # quitting: the title has gone
                self._show_title()

    def forget_session(self) -> None:
        """Stop listening to the session (the app has quit; the session goes on)."""
        if self._on_link in self.session.listeners:
            self.session.listeners.remove(self._on_link)

    def _show_title(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(visible(self.session.name), style="bold")
        link = self._link
        if link.kind == "connected":
            text.append("  connected", style="green")
        else:
            text.append(f"  {visible(link.describe())}", style="yellow")
        if self.history:
            text.append("  " + time.strftime("%H:%M:%S", time.localtime(self.history[-1].t)))
        text.append("  ? keys", style="dim")
        self.query_one("#top-title", Static).update(text)

    # -- the keys ----------------------------------------------------------------

    def action_sort(self, step: int) -> None:
        table = self.query_one(TopTable)
        table.sort_by(table.sort_column + step, table.descending)

    def action_invert(self) -> None:
        table = self.query_one(TopTable)
        table.sort_by(table.sort_column, not table.descending)

    def action_help(self) -> None:
        rows = binding_rows(self.BINDINGS) + MOVEMENT_KEYS
        columns = ", ".join(c.label for c in COLUMNS)
        self.push_screen(
            HelpScreen(
                [("tether top", rows), ("Columns, in the order < and > go", [("", columns)])]
            )
        )

    def action_signal(self) -> None:
        """The selected row's signal, picked from a list as in htop's kill menu;
        a row that may not be signalled is said so, and nothing opens."""
        row = self.query_one(TopTable).selected
        if row is None:
            self.notify("nothing selected: no jobs and no GPU processes", severity="warning")
            return
        refused = refusal(row)
        if refused is not None:
            self.notify(refused, severity="warning", markup=False)
            return

        def picked(name: Optional[str]) -> None:
            if name is not None:
                self.run_worker(self._signal(row, name), group="signals")

        host = visible(self.session.name)
        if row.pid is None:
            about = f"Job {row.job_id} ({row.name}) on {host}: its processes get"
            screen = SignalPickerScreen(f"Signal job {row.job_id}", about)
        else:
            of = (
                f"left on a GPU by ended job {row.job_id}" if row.leaked else f"of job {row.job_id}"
            )
            about = f"Process {row.pid} ({row.name}), {of}, on {host}: it alone gets"
            screen = SignalPickerScreen(f"Signal pid {row.pid}", about, target="this process")
        self.push_screen(screen, picked)

    async def _signal(self, row: TopRow, name: str) -> None:
        try:
            said = await self._send(row, name)
        except TetherError as exc:
            self.notify(
                visible_lines(str(exc)),
                title=f"{row.what} not signalled",
                severity="error",
                timeout=10,
                markup=False,
            )
            return
        self.notify(said, timeout=4, markup=False)

    async def _send(self, row: TopRow, name: str) -> str:
        if row.pid is None:
            assert row.job_id is not None
            sent = await self.session.signal_job(row.job_id, name)
            return f"sent SIG{sent.signal} to job {row.job_id} (process group {sent.process_group})"
        done = await self.session.signal_process(row.pid, name)
        whose = f"left by ended job {done.job_id}" if done.leaked else f"of job {done.job_id}"
        return f"sent SIG{done.signal} to pid {done.pid} ({whose})"


async def run_top(session: HostSession, interval_s: Optional[float]) -> int:
    """``tether top`` on a terminal: the app until ``q``; raises what ended the
    stats stream (the host offline), for the CLI to say once the screen is back."""
    app = TopApp(session, interval_s)
    try:
        await app.run_async()
    finally:
        app.forget_session()
    if app.error is not None:
        raise app.error
    return app.return_code or 0
