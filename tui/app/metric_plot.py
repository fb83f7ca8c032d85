"""`render_plot`: a line plot in braille dots, several series overlaid, with axes
(one chart of `tui.app.metric_charts`).

Each character cell holds 2 by 4 braille dots, so a 70 by 12 plot has 140 by 48 points of
resolution and needs nothing but text. For each dot column the plot draws the
span between the lowest and highest value that falls in it, joined to the next
column, so a noisy loss curve reads as a band and a spike is never lost between
samples. Non-finite values (a loss gone NaN) are left out of the curve and
counted in the legend. Colours are named ANSI colours (safe in 256-colour tmux).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from rich.text import Text

from tui.app.metric_store import format_value

#: Braille dot bits by (column, row) inside one cell.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
PALETTE = ("cyan", "yellow", "magenta", "green", "red", "blue", "bright_white")
Y_LABEL_WIDTH = 9


@dataclass(frozen=True)
class PlotSeries:
    label: str
    points: Sequence[Tuple[float, float]]
    style: str


def _finite(points: Sequence[Tuple[float, float]]) -> List[Tuple[float, float]]:
    return [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]


def _bounds(
    series: Sequence[PlotSeries], log_y: bool
) -> Optional[Tuple[float, float, float, float]]:
    xs: List[float] = []
    ys: List[float] = []
    for s in series:
        for x, y in _finite(s.points):
            if log_y and y <= 0:
                continue
            xs.append(x)
            ys.append(math.log10(y) if log_y else y)
    if not xs:
        return None
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if y0 == y1:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    return x0, x1, y0, y1


def render_plot(
    series: Sequence[PlotSeries], width: int, height: int, *, log_y: bool = False
) -> List[Text]:
    """`height` lines of `width` cells: y labels, the braille plot, and an x axis line."""
    plot_w = max(1, width - Y_LABEL_WIDTH - 1)
    plot_h = max(1, height - 1)
    bounds = _bounds(series, log_y)
    if bounds is None:
        blank = [Text(" " * width) for _ in range(height)]
        blank[height // 2] = Text("no values to plot yet".center(width), style="dim")
        return blank
    x0, x1, y0, y1 = bounds
    dots_w, dots_h = plot_w * 2, plot_h * 4
    cells: Dict[Tuple[int, int], int] = {}
    owner: Dict[Tuple[int, int], str] = {}

    def set_dot(dx: int, dy: int, style: str) -> None:
        key = (dx // 2, dy // 4)
        cells[key] = cells.get(key, 0) | _DOTS[dx % 2][dy % 4]
        owner[key] = style

    for s in series:
        columns: Dict[int, Tuple[int, int]] = {}
        for x, raw_y in _finite(s.points):
            if log_y and raw_y <= 0:
                continue
            y = math.log10(raw_y) if log_y else raw_y
            dx = round((x - x0) / (x1 - x0) * (dots_w - 1))
            dy = round((y1 - y) / (y1 - y0) * (dots_h - 1))
            low, high = columns.get(dx, (dy, dy))
            columns[dx] = (min(low, dy), max(high, dy))
        previous: Optional[Tuple[int, int]] = None
        for dx in sorted(columns):
            low, high = columns[dx]
            if previous is not None:
                # Join to the previous column so the curve has no gaps.
                low, high = min(low, previous[1]), max(high, previous[0])
            for dy in range(low, high + 1):
                set_dot(dx, dy, s.style)
            previous = columns[dx]

    lines: List[Text] = []
    for row in range(plot_h):
        line = Text(_y_label(row, plot_h, y0, y1, log_y).rjust(Y_LABEL_WIDTH) + "┤", style="dim")
        for col in range(plot_w):
            bits = cells.get((col, row))
            if bits:
                line.append(chr(0x2800 + bits), style=owner[(col, row)])
            else:
                line.append(" ")
        lines.append(line)
    axis = f"{_x_text(x0)}{'':>{max(1, plot_w - len(_x_text(x0)) - len(_x_text(x1)))}}{_x_text(x1)}"
    lines.append(Text(" " * (Y_LABEL_WIDTH + 1) + axis[:plot_w], style="dim"))
    return lines


def _y_label(row: int, rows: int, y0: float, y1: float, log_y: bool) -> str:
    if row not in (0, rows - 1, rows // 2) or rows < 2:
        return ""
    value = y1 - (y1 - y0) * row / max(1, rows - 1)
    if log_y:
        return format_value(10**value)[:Y_LABEL_WIDTH]
    return axis_label(value, y1 - y0)[:Y_LABEL_WIDTH]


def axis_label(value: float, span: float) -> str:
    """One label of an axis spanning `span`: every label of it with the same number
    of decimals, enough to tell the labels apart (``0.50 0.25 0.00``, not ``0.5
    0.25 0``); an exponent where plain digits would not fit."""
    magnitude = max(abs(value), span)
    if magnitude >= 1e5 or (0 < magnitude < 1e-3):
        return f"{value:.2e}"
    decimals = min(6, max(0, 1 - math.floor(math.log10(span)))) if span > 0 else 2
    if abs(value) < 0.5 * 10**-decimals:
        value = 0.0  # not "-0.0"
    return f"{value:.{decimals}f}"


def _x_text(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1 or x == 0 else f"{x:.2g}"
