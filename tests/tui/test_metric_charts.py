"""`tui.app.metric_charts` and the plot's axis labels: small multiples, pure."""

from __future__ import annotations

import math

from tui.app.metric_charts import Chart, ema, grid, render_charts
from tui.app.metric_plot import PlotSeries, axis_label


def test_ema_is_debiased_and_passes_over_non_finite_values() -> None:
    points = [(0.0, 10.0), (1.0, 10.0), (2.0, math.nan), (3.0, 0.0)]
    assert ema(points, 0.0) == points
    smoothed = ema(points, 0.9)
    assert [x for x, _ in smoothed] == [0.0, 1.0, 3.0]
    assert smoothed[0][1] == 10.0 and math.isclose(smoothed[1][1], 10.0)  # no pull to zero
    assert 6.0 < smoothed[2][1] < 7.5  # 0 moves it only part of the way


def test_the_grid_fills_the_width_and_stacks_what_does_not_fit_in_a_row() -> None:
    assert grid(0, 100, 20) == (0, 0)
    assert grid(1, 200, 20) == (1, 1)
    assert grid(4, 80, 40) == (2, 2)
    assert grid(4, 160, 20) == (4, 1)
    assert grid(3, 30, 40) == (1, 3)


def test_every_label_of_an_axis_has_the_same_decimals() -> None:
    assert [axis_label(v, 0.5) for v in (0.5, 0.25, 0.0)] == ["0.50", "0.25", "0.00"]
    assert axis_label(2.31, 0.02) == "2.310"
    assert axis_label(1234.5, 1000.0) == "1234"
    assert axis_label(3e-4, 3e-4) == "3.00e-04"
    assert axis_label(-0.01, 2.0) == "0.0"


def _chart(name: str, scale: float) -> Chart:
    points = [(float(x), scale / (x + 1)) for x in range(50)]
    return Chart(name, points[-1][1], [PlotSeries(name, points, "cyan")])


def test_charts_are_drawn_side_by_side_with_titles_and_marks() -> None:
    lines = render_charts(
        [_chart("loss", 1.0), _chart("acc", 2.0)], 80, 12, log_y=True, smoothing=0.9
    )
    assert len(lines) == 12 and all(line.cell_len <= 80 for line in lines)
    title = lines[0].plain
    assert title.startswith("loss 0.02 (log, smoothed 0.9)")
    assert " acc 0.04 (log, smoothed 0.9)" in title
    assert title.index("acc") >= 40  # the second chart starts in the right half
    assert sum(0x2800 < ord(c) <= 0x28FF for line in lines for c in line.plain) > 40


def test_charts_that_do_not_fit_are_named() -> None:
    charts = [_chart(f"m{i}", 1.0) for i in range(6)]
    lines = render_charts(charts, 40, 12, log_y=False, smoothing=0.0)
    assert len(lines) == 12
    assert lines[9].plain.strip().endswith("49")  # the bottom charts keep their x axis
    assert lines[-1].plain.startswith("not shown (no room): m4, m5")
    assert "no metric picked" in "".join(
        line.plain for line in render_charts([], 40, 6, log_y=False, smoothing=0.0)
    )
