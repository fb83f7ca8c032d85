"""`HostView`: everything about one host — its line, GPUs, jobs, and the selected
job's log and metric curves (one or the other on a narrow screen, side by side
on a wide one).

It listens to its `HostMonitor` and passes what changed down to its children;
the jobs table tells it which job is highlighted, and it tells the log and
metrics panels. A one-second tick moves runtimes and stale ages along (the time
comes from the clock it is given, so tests can freeze it).
"""

from __future__ import annotations

from typing import Callable, Optional, Set, Tuple

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input

from protocol.jobs import JobInfo
from tui.app.commands import Command
from tui.app.gpu_panel import GpuPanel
from tui.app.host_line import HostLine
from tui.app.host_monitor import HostChange, HostMonitor
from tui.app.jobs_table import STATE_FILTERS, JobsTable
from tui.app.literal import literal
from tui.app.log_panel import LogPanel
from tui.app.metrics_panel import MetricsPanel
from tui.app.screens.columns import ColumnsScreen
from tui.job_text import snapshot_text

TICK_S = 1.0
#: From this width on, the log and the metric curves sit side by side.
WIDE_COLUMNS = 140
#: Below this height the GPU panel folds to a few lines (`host_view.tcss`), so
#: that eight GPUs leave the jobs and the log some room on a 24-line terminal.
SHORT_ROWS = 30


class HostView(Vertical):
    BINDINGS = [
        Command(
            "m",
            "toggle_metrics",
            "Metrics",
            tooltip="Show the log or the metric curves",
            title="Log or metrics",
        ),
        Command(
            "s",
            "cycle_filter",
            "Filter",
            tooltip="Filter jobs by state",
            title="Filter jobs by state",
        ),
        Command(
            "o",
            "toggle_overlay",
            "Overlay job metrics",
            show=False,
            tooltip="Overlay the highlighted job's curves",
            title="Overlay job metrics",
        ),
        Command(
            "slash",
            "filter_text",
            "Find jobs",
            show=False,
            tooltip="Show only the jobs whose id, name, command or state has these words",
            title="Filter jobs by text",
            # Priority: taken when it is typed, so the keys typed right after it go
            # to the field (a plain binding runs only once the table has had its
            # turn, and the keys queued behind it reach the table).
            priority=True,
        ),
        Command(
            "ctrl+s",
            "save_log",
            "Save log",
            show=False,
            tooltip="Save the highlighted job's whole log to ./tether-out/HOST/JOB.log",
            title="Save log",
        ),
        Command(
            "space",
            "toggle_mark",
            "Mark",
            show=False,
            tooltip="Mark the highlighted job (or unmark it): cancel acts on every marked job",
            title="Mark job",
        ),
        Command(
            "C",
            "choose_columns",
            "Columns",
            show=False,
            tooltip="Choose the jobs table's columns (AGE, CPU, MEM, GPU memory, ...)",
            title="Choose columns",
        ),
        Command(
            "less_than_sign",
            "sort_left",
            "Sort ←",
            show=False,
            tooltip="Sort the jobs by the column to the left",
            title="Sort by the previous column",
        ),
        Command(
            "greater_than_sign",
            "sort_right",
            "Sort →",
            show=False,
            tooltip="Sort the jobs by the column to the right",
            title="Sort by the next column",
        ),
        Command(
            "I",
            "invert_sort",
            "Invert sort",
            show=False,
            tooltip="Sort the other way round",
            title="Invert the sort",
        ),
        Command(
            "A",
            "toggle_history",
            "All jobs / recent jobs",
            show=False,
            tooltip="All jobs, or active and recent ones",
            title="All jobs or recent",
        ),
    ]

    class Changed(Message):
        """The monitor reported a change (relayed so it is handled in order)."""

        def __init__(self, change: HostChange) -> None:
            super().__init__()
            self.change = change

    def __init__(
        self, monitor: HostMonitor, clock: Callable[[], float], *, id: Optional[str] = None
    ) -> None:
        super().__init__(id=id)
        self.monitor = monitor
        self.clock = clock
        #: What changed on the host while this view was hidden (`catch_up`).
        self._missed: Set[HostChange] = set()

    def compose(self) -> ComposeResult:
        yield HostLine(self.monitor, id="host-line")
        yield GpuPanel(id="gpus")
        yield JobsTable(id="jobs")
        yield Input(
            placeholder="jobs with these words (id, name, command, state); Enter keeps, Esc clears",
            id="job-filter",
        )
        with Horizontal(id="job-detail"):
            yield LogPanel(self.monitor, id="log")
            yield MetricsPanel(self.monitor, id="metrics")

    def on_mount(self) -> None:
        self.query_one("#job-filter", Input).display = False
        self.monitor.listeners.append(self._relay)
        self.set_interval(TICK_S, self.tick)
        self._show_jobs()
        self._show_stats()
        self.tick()

    def on_unmount(self) -> None:
        if self._relay in self.monitor.listeners:
            self.monitor.listeners.remove(self._relay)

    def _relay(self, change: HostChange) -> None:
        self.post_message(self.Changed(change))

    # -- what the children are told --------------------------------------------------------

    @property
    def table(self) -> JobsTable:
        return self.query_one(JobsTable)

    @property
    def selected_job(self) -> Optional[JobInfo]:
        return self.table.selected_job

    def on_host_view_changed(self, event: Changed) -> None:
        event.stop()
        if not self.display:  # another host's view is on screen: catch up when shown
            self._missed.add(event.change)
            return
        self._apply(event.change)

    def catch_up(self) -> None:
        """Draw what changed while another host's view was on screen."""
        missed, self._missed = self._missed, set()
        for change in (HostChange.JOBS, HostChange.STATS, HostChange.PROBLEM, HostChange.FORWARDS):
            if change in missed:
                self._apply(change)
        self.tick()

    def _apply(self, change: HostChange) -> None:
        if change is HostChange.JOBS:
            self._show_jobs()
        elif change is HostChange.STATS:
            self._show_stats()
        elif change is HostChange.PROBLEM:
            self._title_table()  # a stopped watcher says so there while it lasts
        elif change is HostChange.FORWARDS:
            self._title_job(self.selected_job)
        self._show_link()

    def _show_jobs(self) -> None:
        self.table.jobs = list(self.monitor.jobs)
        self._title_table()
        self._title_job(self.selected_job)  # its state, and so its ports, may have changed

    def _show_stats(self) -> None:
        self.query_one(GpuPanel).show(self.monitor.gpu, self.monitor.history)
        latest = self.monitor.latest
        if latest is not None:
            self.table.usage = {usage.job_id: usage for usage in latest.jobs}

    def _show_link(self) -> None:
        self.set_class(self.monitor.stale_since is not None, "-stale")
        self.query_one(GpuPanel).show_link(self.monitor.link.kind)
        self.query_one(HostLine).show(self.clock())

    def tick(self) -> None:
        if not self.display:
            return  # not on screen: `catch_up` ticks when it is
        now = self.clock()
        self.table.now = now
        self._show_link()

    def _title_table(self) -> None:
        table = self.table
        shown, total = len(table.shown_jobs), len(self.monitor.jobs)
        which = table.state_filter or "all"
        span = ", all history" if self.monitor.include_finished else ""
        title = f"jobs ({which}{span}) {shown}/{total}"
        if self.monitor.jobs_more:  # the table holds the newest MAX_LIST_JOBS only
            title += f" · the newest {total:,} (tether ls --all: every one)"
        if table.text_filter:
            title += f" · /{literal(table.text_filter)}"
        marked = len(table.marked_jobs)
        if marked:
            title += f" · {marked} marked"
        for problem in self.monitor.problems.values():
            title += f" · [b red]{literal(problem)}[/]"
        compare = self.query_one(MetricsPanel).compare
        if compare:
            title += " · overlay: " + ", ".join(map(str, sorted(compare)))
        table.border_title = title

    def on_jobs_table_job_highlighted(self, event: JobsTable.JobHighlighted) -> None:
        event.stop()
        job_id = event.job.id if event.job is not None else None
        log = self.query_one(LogPanel)
        if log.job_id != job_id:
            log.job_id = job_id
        self.query_one(MetricsPanel).job_id = job_id
        self._title_job(event.job)

    def _title_job(self, job: Optional[JobInfo]) -> None:
        """The job's header: its name, its snapshot, where its ports are reached."""
        if job is None:
            self.query_one("#job-detail").border_title = self._empty_title()
            return
        parts = [f"job {job.id}: {literal(job.name)}"]
        synced = snapshot_text(job)
        if synced:
            parts.append(synced)
        parts += [literal(url) for url in self.monitor.forwards_of(job)]
        self.query_one("#job-detail").border_title = " · ".join(parts)

    def _empty_title(self) -> str:
        """What to do when no job is highlighted: start one, or see the hidden ones."""
        if not self.monitor.jobs:
            return "no jobs yet: press n to start one"
        return f"no {self.table.state_filter or ''} jobs here: s changes the filter, A shows all"

    # -- actions ----------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width >= WIDE_COLUMNS, "-wide")
        self.set_class(event.size.height < SHORT_ROWS, "-short")

    @property
    def metrics_shown(self) -> bool:
        if self.has_class("-wide"):
            return not self.has_class("-no-metrics")
        return self.has_class("-metrics")

    def action_toggle_metrics(self) -> None:
        """Narrow: the log or the metrics. Wide (both side by side): metrics on or off."""
        self.toggle_class("-no-metrics" if self.has_class("-wide") else "-metrics")

    def action_cycle_filter(self) -> None:
        table = self.table
        index = STATE_FILTERS.index(table.state_filter)
        table.state_filter = STATE_FILTERS[(index + 1) % len(STATE_FILTERS)]
        self._title_table()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> Optional[bool]:
        if action == "filter_text":
            # `focused`, not `has_focus`: that changes only once the focus events are
            # handled, after the keys of a burst.
            return self.app.focused is self.table  # in the log `/` searches; in a field, types
        return True

    def action_filter_text(self) -> None:
        field = self.query_one("#job-filter", Input)
        field.display = True
        # Now, not after the keys already queued (`focus` would): what is typed
        # right after `/` is the filter's, never a key of the table's.
        self.screen.set_focus(field)

    @on(Input.Changed, "#job-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        self.table.text_filter = event.value.strip()
        self._title_table()

    @on(Input.Submitted, "#job-filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        """Enter: back to the table with the filter kept (shown in its title)."""
        event.stop()
        event.input.display = False
        self.screen.set_focus(self.table)  # now: a key typed next is the table's

    def on_key(self, event: events.Key) -> None:
        """Esc in the filter field clears the filter and closes the field."""
        field = self.query_one("#job-filter", Input)
        if event.key == "escape" and self.app.focused is field:
            event.stop()
            field.value = ""
            field.display = False
            self.table.text_filter = ""
            self._title_table()
            self.screen.set_focus(self.table)

    def action_save_log(self) -> None:
        self.query_one(LogPanel).action_save_log()

    def action_toggle_mark(self) -> None:
        self.table.toggle_mark()
        self._title_table()

    def action_choose_columns(self) -> None:
        table = self.table

        def chosen(keys: Optional[Tuple[str, ...]]) -> None:
            if keys is not None:
                table.shown_columns = keys

        self.app.push_screen(ColumnsScreen(table.shown_columns), chosen)

    def action_sort_left(self) -> None:
        self.table.order = self.table.order.moved(-1, self.table.shown_columns)

    def action_sort_right(self) -> None:
        self.table.order = self.table.order.moved(1, self.table.shown_columns)

    def action_invert_sort(self) -> None:
        self.table.order = self.table.order.inverted()

    def action_toggle_overlay(self) -> None:
        job = self.selected_job
        if job is None:
            return
        metrics = self.query_one(MetricsPanel)
        metrics.compare = metrics.compare ^ {job.id}
        self._title_table()

    def action_toggle_history(self) -> None:
        self.monitor.set_include_finished(not self.monitor.include_finished)
        self._title_table()
