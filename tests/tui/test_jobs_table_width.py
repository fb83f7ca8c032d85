"""The jobs table at every width from 60 columns up: each column as wide as its
content, NAME taking what is left and cut with …, so STATE, RUNTIME, GPUS and EXIT
stay on screen (with 8 GPUs held as with none)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from protocol.jobs import JobInfo, JobState
from tui.app.jobs_table import JobsTable

LONG = "python train.py --model llama-7b --dataset /data/shards --epochs 30 --lr 3e-4"


def _jobs() -> list[JobInfo]:
    return [
        JobInfo(
            id=12,
            name=LONG,
            state=JobState.RUNNING,
            argv=["x"],
            cwd="/",
            created_at=0,
            started_at=0,
            gpus=[0, 1, 2, 3, 4, 5, 6, 7],
            gpus_requested="8",
        ),
        JobInfo(
            id=11,
            name="short",
            state=JobState.FAILED,
            argv=["x"],
            cwd="/",
            created_at=0,
            started_at=0,
            finished_at=3725,
            exit_code=137,
        ),
    ]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield JobsTable(id="jobs")

    def on_mount(self) -> None:
        table = self.query_one(JobsTable)
        table.now = 3725.0
        table.jobs = _jobs()


@pytest.mark.parametrize("width", [60, 80, 120, 200])
async def test_every_column_fits_and_only_the_name_gives_way(width: int) -> None:
    app = TableApp()
    async with app.run_test(size=(width, 12)) as pilot:
        await pilot.pause()
        lines = app.query_one(JobsTable).render_lines(app.query_one(JobsTable).region)
        text = [line.text.rstrip() for line in lines[:3]]
    header, first, second = text
    assert header.split() == ["ID▼", "NAME", "STATE", "RUNTIME", "GPUS", "EXIT"]
    assert all(len(line) <= width for line in text)
    assert "0,1,2,3,4,5,6,7" in first and "running" in first
    assert "137" in second and "1h02m" in second
    if width < 200:
        assert "…" in first and LONG not in first
    else:
        assert LONG in first
