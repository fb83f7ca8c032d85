"""`MetricsPanel`: the selected job's metric curves, other jobs overlaid to compare.

On the left, the series the job reported (loss first; every one charted until
the person picks with space); on the right, the latest values and one small
chart per picked metric, each compared job a colour in it (`metric_charts`).
Records are read the way
logs are: followed from a byte offset, resumed after a dropped link, and held
in bounded series (`tui.app.metric_store`). Drawing is throttled to `FLUSH_S`.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, List, Optional, Set

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import SelectionList, Static

from protocol.metrics import MetricsChunk
from tui.app.host_monitor import HostChange, HostMonitor
from tui.app.metric_charts import SMOOTHING_STEPS, Chart, MetricCharts
from tui.app.metric_plot import PALETTE, PlotSeries
from tui.app.metric_store import JobMetrics, format_value
from tui.errors import ConnectError, TetherError
from tui.visible import visible

FLUSH_S = 0.2
#: Charts drawn before the person picks: the first series, in `metric_store`'s order.
MAX_DEFAULT_CHARTS = 6
_GROUP = "metrics"


class MetricsPanel(Vertical):
    BINDINGS = [
        Binding("l", "toggle_log_scale", "Log scale"),
        Binding(
            "e",
            "cycle_smoothing",
            "Smoothing",
            tooltip="Smooth the curves (EMA): off, 0.6, 0.9, 0.99",
        ),
    ]

    job_id: reactive[Optional[int]] = reactive(None)
    compare: reactive[FrozenSet[int]] = reactive(frozenset())

    def __init__(self, monitor: HostMonitor, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self.monitor = monitor
        self.data: Dict[int, JobMetrics] = {}
        self.problems: Dict[int, str] = {}
        self.log_y = False
        self.smoothing = 0.0
        self._picked: Set[str] = set()
        #: Until the person picks, every series is charted (up to `MAX_DEFAULT_CHARTS`).
        self._picked_by_person = False
        self._flush_pending = False
        self._generation = monitor.generation

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield SelectionList[str](id="metric-series")
            with Vertical(id="metric-main"):
                yield Static(id="metric-latest")
                yield MetricCharts(id="metric-charts")

    def on_mount(self) -> None:
        self.query_one("#metric-series", SelectionList).border_title = "series"
        self.monitor.listeners.append(self._on_host_change)
        self._draw()

    def on_unmount(self) -> None:
        if self._on_host_change in self.monitor.listeners:
            self.monitor.listeners.remove(self._on_host_change)

    # -- which jobs -----------------------------------------------------------------------

    @property
    def shown_jobs(self) -> List[int]:
        jobs = sorted(self.compare)
        if self.job_id is not None and self.job_id not in jobs:
            jobs.insert(0, self.job_id)
        return jobs

    def watch_job_id(self) -> None:
        self._sync_followers()

    def watch_compare(self) -> None:
        self._sync_followers()

    def _sync_followers(self) -> None:
        wanted = set(self.shown_jobs)
        for job_id in list(self.data):
            if job_id not in wanted:
                self.workers.cancel_group(self, f"{_GROUP}-{job_id}")
                del self.data[job_id]
                self.problems.pop(job_id, None)
        for job_id in wanted - set(self.data):
            self.data[job_id] = JobMetrics(job_id)
            self._start(job_id)
        self._draw()

    def _start(self, job_id: int) -> None:
        self.run_worker(self._follow(job_id), group=f"{_GROUP}-{job_id}", exit_on_error=False)

    def _on_host_change(self, change: HostChange) -> None:
        if change is not HostChange.LINK or self.monitor.generation == self._generation:
            return
        self._generation = self.monitor.generation
        for job_id, metrics in self.data.items():
            if not metrics.ended and job_id in self.problems:
                del self.problems[job_id]
                self._start(job_id)

    async def _follow(self, job_id: int) -> None:
        metrics = self.data[job_id]
        try:
            session = self.monitor.session
            if session is None:
                raise ConnectError(f"{self.monitor.label} is not connected")
            async for message in session.follow_metrics(job_id, metrics.offset):
                if isinstance(message, MetricsChunk):
                    metrics.add(message.records)
                    metrics.offset = message.next_offset
                    if message.malformed:
                        metrics.note_malformed(message.malformed, message.malformed_first)
                else:
                    metrics.ended = True
                self._schedule_draw()
        except TetherError as exc:
            self.problems[job_id] = str(exc)
            self._schedule_draw()

    # -- drawing --------------------------------------------------------------------------

    def action_toggle_log_scale(self) -> None:
        self.log_y = not self.log_y
        self._draw()

    def action_cycle_smoothing(self) -> None:
        index = SMOOTHING_STEPS.index(self.smoothing) if self.smoothing in SMOOTHING_STEPS else 0
        self.smoothing = SMOOTHING_STEPS[(index + 1) % len(SMOOTHING_STEPS)]
        self._draw()

    @on(SelectionList.SelectedChanged, "#metric-series")
    def _series_picked(self, event: SelectionList.SelectedChanged[str]) -> None:
        self._picked = set(event.selection_list.selected)
        self._picked_by_person = True
        self._draw()

    def _schedule_draw(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.set_timer(FLUSH_S, self._draw)

    def _draw(self) -> None:
        self._flush_pending = False
        if not self.children:
            return
        self._sync_series_list()
        self.query_one("#metric-latest", Static).update(self.latest_text())
        self.query_one(MetricCharts).show(self.charts(), log_y=self.log_y, smoothing=self.smoothing)

    def _names(self) -> List[str]:
        names: List[str] = []
        for job_id in self.shown_jobs:
            metrics = self.data.get(job_id)
            if metrics is not None:
                names += [n for n in metrics.names() if n not in names]
        return names

    def _sync_series_list(self) -> None:
        chooser: SelectionList[str] = self.query_one("#metric-series", SelectionList)
        names = self._names()
        have = [chooser.get_option_at_index(i).value for i in range(chooser.option_count)]
        if names == have:
            return
        if not self._picked_by_person:
            self._picked = set(names[:MAX_DEFAULT_CHARTS])
        with chooser.prevent(SelectionList.SelectedChanged):
            chooser.clear_options()
            chooser.add_options(
                [(Text(visible(name)), name, name in self._picked) for name in names]
            )

    def charts(self) -> List[Chart]:
        """A chart per picked metric, a curve per shown job in it (a colour per job).
        None while the selected job has reported nothing: other jobs' curves alone
        would read as its own."""
        primary = self.data.get(self.job_id) if self.job_id is not None else None
        if primary is None or not primary.series:
            return []
        jobs = self.shown_jobs
        charts = []
        for name in [n for n in self._names() if n in self._picked]:
            curves = []
            for job_index, job_id in enumerate(jobs):
                metrics = self.data.get(job_id)
                points = metrics.series.get(name) if metrics is not None else None
                if points is None:
                    continue
                label = visible(name) if len(jobs) == 1 else f"{job_id}:{visible(name)}"
                curves.append(PlotSeries(label, points.points, PALETTE[job_index % len(PALETTE)]))
            charts.append(Chart(visible(name), primary.latest(name), curves))
        return charts

    def plot_series(self) -> List[PlotSeries]:
        """Every curve drawn, chart by chart."""
        return [curve for chart in self.charts() for curve in chart.series]

    def latest_text(self) -> Text:
        """The primary job's newest values and the legend, then, a line each, anything
        skipped or wrong (it wraps rather than hide the part that needs reading)."""
        text = Text()
        if self.job_id is None:
            return Text("no job selected", style="dim")
        metrics = self.data.get(self.job_id)
        if metrics is None or not metrics.series:
            text.append(f"job {self.job_id}: no metrics reported yet", style="dim")
            text.append("  (append JSON lines to $TETHER_METRICS)", style="dim")
        else:
            step = metrics.last_step()
            text.append(f"job {self.job_id}", style="bold")
            if step is not None:
                text.append(f"  step {step:,.0f}")
            for name in metrics.names():
                text.append(f"  {visible(name)} ", style="dim")
                text.append(format_value(metrics.latest(name)))
        jobs = self.shown_jobs
        if len(jobs) > 1:  # the colours of the compared jobs, the same in every chart
            text.append("   ")
            for job_index, job_id in enumerate(jobs):
                text.append("■ ", style=PALETTE[job_index % len(PALETTE)])
                text.append(f"job {job_id} ", style="bold" if job_id == self.job_id else "")
        for job_id in self.shown_jobs:
            job_metrics = self.data.get(job_id)
            if job_metrics is not None and job_metrics.malformed:
                first = job_metrics.malformed_first
                first = f" ({visible(first)})" if first else ""
                text.append(
                    f"\njob {job_id}: {job_metrics.malformed} malformed lines skipped{first}",
                    style="yellow",
                )
            if job_id in self.problems:
                text.append(f"\njob {job_id}: {visible(self.problems[job_id])}", style="bold red")
        return text
