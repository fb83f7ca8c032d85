"""Small multiples, as TensorBoard and W&B draw metrics: one chart per metric
(every compared job's curve in it, a colour per job), laid out in a grid that
fills the space, instead of loss, accuracy and learning rate sharing one axis.

Smoothing is TensorBoard's: an exponential moving average, debiased so the
curve starts at the first value rather than at zero. The raw curve stays,
dimmed, under the smoothed one, so a spike is never hidden by the smoothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from rich.text import Text
from textual.widget import Widget

from tui.app.metric_plot import Y_LABEL_WIDTH, PlotSeries, render_plot
from tui.app.metric_store import format_value

#: A chart narrower than this is not worth drawing: the grid uses fewer columns.
MIN_CHART_WIDTH = 34
#: Nor lower than this (a title, three labelled rows, the x axis).
MIN_CHART_HEIGHT = 5
#: What the smoothing key steps through (0: off).
SMOOTHING_STEPS = (0.0, 0.6, 0.9, 0.99)

Points = Sequence[Tuple[float, float]]


def ema(points: Points, weight: float) -> List[Tuple[float, float]]:
    """The debiased exponential moving average of `points` (weight 0: as they are).
    A non-finite value is passed over (kept out of the average, as the plot
    keeps it out of the curve)."""
    if weight <= 0:
        return list(points)
    smoothed: List[Tuple[float, float]] = []
    last, count = 0.0, 0
    for x, y in points:
        if not math.isfinite(y):
            continue
        count += 1
        last = last * weight + (1 - weight) * y
        smoothed.append((x, last / (1 - weight**count)))
    return smoothed


@dataclass(frozen=True)
class Chart:
    """One metric: its name, the newest value of the selected job, a curve per job."""

    name: str
    latest: Optional[float]
    series: Sequence[PlotSeries]


def grid(count: int, width: int, height: int) -> Tuple[int, int]:
    """(columns, rows) for `count` charts in `width` by `height` cells: as many
    columns as fit at `MIN_CHART_WIDTH`, never more than needed."""
    if count <= 0:
        return 0, 0
    columns = max(1, min(count, (width + 1) // (MIN_CHART_WIDTH + 1)))
    rows = math.ceil(count / columns)
    # Too low for every row: more columns, if they fit at all.
    while rows > 1 and height // rows < MIN_CHART_HEIGHT and columns < count:
        if (width + 1) // (columns + 1) - 1 < Y_LABEL_WIDTH + 8:
            break
        columns += 1
        rows = math.ceil(count / columns)
    return columns, rows


def render_charts(
    charts: Sequence[Chart], width: int, height: int, *, log_y: bool, smoothing: float
) -> List[Text]:
    """`height` lines of `width` cells holding every chart that fits; charts that do
    not fit are named in the last line."""
    if not charts:
        lines = [Text(" " * width) for _ in range(height)]
        if height:
            lines[height // 2] = Text("no metric picked".center(width), style="dim")
        return lines
    columns, rows = grid(len(charts), width, height)
    fitting = min(rows, max(1, height // MIN_CHART_HEIGHT))
    if fitting < rows:
        height -= 1  # a line to name the charts left out
        fitting = max(1, height // MIN_CHART_HEIGHT)
    chart_w = (width - (columns - 1)) // columns
    chart_h = height // fitting
    shown = list(charts[: columns * fitting])
    out: List[Text] = []
    for row in range(fitting):
        blocks = [
            _chart_lines(chart, chart_w, chart_h, log_y=log_y, smoothing=smoothing)
            for chart in shown[row * columns : (row + 1) * columns]
        ]
        for index in range(chart_h):
            line = Text()
            for column, block in enumerate(blocks):
                if column:
                    line.append(" ")
                line.append_text(block[index])
            out.append(line)
    out += [Text("") for _ in range(height - len(out))]
    hidden = charts[len(shown) :]
    if hidden:
        names = ", ".join(chart.name for chart in hidden)
        note = Text(f"not shown (no room): {names}", style="dim")
        note.truncate(width, overflow="ellipsis")
        out.append(note)
    return out


def _chart_lines(
    chart: Chart, width: int, height: int, *, log_y: bool, smoothing: float
) -> List[Text]:
    title = Text(chart.name, style="bold")
    if chart.latest is not None:
        title.append(f" {format_value(chart.latest)}")
    marks = [
        mark for mark, on in (("log", log_y), (f"smoothed {smoothing:g}", smoothing > 0)) if on
    ]
    if marks:
        title.append(f" ({', '.join(marks)})", style="dim")
    title.truncate(width, overflow="ellipsis", pad=True)
    series: List[PlotSeries] = []
    for curve in chart.series:
        if smoothing > 0:
            series.append(PlotSeries(curve.label, curve.points, f"dim {curve.style}"))
    for curve in chart.series:
        points = ema(curve.points, smoothing) if smoothing > 0 else curve.points
        series.append(PlotSeries(curve.label, points, curve.style))
    plot = render_plot(series, width, height - 1, log_y=log_y)
    for line in plot:
        line.truncate(width, pad=True)
    return [title, *plot]


class MetricCharts(Widget):
    """Draws `charts` to fit its size; the parent sets them with `show`."""

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self.charts: List[Chart] = []
        self.log_y = False
        self.smoothing = 0.0

    def show(self, charts: List[Chart], *, log_y: bool, smoothing: float) -> None:
        self.charts, self.log_y, self.smoothing = charts, log_y, smoothing
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        if width < Y_LABEL_WIDTH + 4 or height < 2:
            return Text("")
        lines = render_charts(
            self.charts, width, height, log_y=self.log_y, smoothing=self.smoothing
        )
        return Text("\n").join(lines)
