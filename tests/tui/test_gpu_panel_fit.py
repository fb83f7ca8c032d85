"""The GPU panel in the room it has: every number of a GPU's row on one line from
60 columns up (the bars give way), the sparkline as wide as the room left, and on
a short screen the GPUs that do not fit sharing one line."""

from __future__ import annotations

import re

import pytest

from tests.tui.snapshot_world import recorded_samples
from tui.app.gpu_panel import GpuPanel, sparkline


def _panel(gpus: int) -> GpuPanel:
    panel = GpuPanel()
    panel.inventory, panel.history = recorded_samples(gpus)
    return panel


@pytest.mark.parametrize("width", [58, 78, 118, 198])
def test_each_gpu_keeps_every_number_on_its_own_line(width: int) -> None:
    rows = [row.plain for row in _panel(8)._rows(width)]
    assert len(rows) == 8
    assert all(len(row) <= width for row in rows)
    numbers = re.compile(r"util [█░]+ +\d+%  mem [█░]+ +\d+\.\d/79\.6 GiB +\d+°C +\d+W")
    assert all(numbers.search(row) for row in rows), rows
    assert [row.split()[0] for row in rows] == [str(k) for k in range(8)]


def test_the_sparkline_fills_its_room_when_the_history_is_longer() -> None:
    line = sparkline([0.0] * 40 + [100.0] * 24, 53)
    assert len(line) == 53 and " " not in line
    assert line.endswith("█" * 20) and line.startswith("▁")


def test_a_short_panel_folds_the_gpus_without_room_into_one_line() -> None:
    rows = [row.plain for row in _panel(8)._rows(78, height=4)]
    assert len(rows) == 4
    assert [row.split()[0] for row in rows] == ["0", "1", "2", "3-7"]
    assert rows[3].startswith("3-7 util 0% 0% 0% 0% 0%")
    assert [row.plain for row in _panel(4)._rows(78, height=4)][3].split()[0] == "3"
