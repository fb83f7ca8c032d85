"""The main screen (host line, GPU panel, jobs table, log) at every size issue 17
names, 60x20 to 200x50, with no GPU, one and eight, and with three jobs and 300.

The world is `tests.tui.snapshot_world`'s, built once per job count: a real
runner ran the three jobs of `test_snapshots`; for 300 it then took 297 more
with its queue paused (`tether queue pause`), so they stay queued. Eight GPUs
are the H100 recording eight times, each at another instant: four under load
(as at 160x48 in `test_snapshots`), four after it, cooling down. No GPU is a
host without an NVIDIA driver.

Update after an intended change with ``pytest tests/tui/test_snapshot_matrix.py
--snapshot-update`` and look at the SVGs in ``__snapshots__``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import UserEnv
from tests.tui.snapshot_world import SnapshotApp, runner_world, settled

SIZES = [(60, 20), (80, 24), (120, 40), (200, 50)]
GPU_COUNTS = [0, 1, 8]
JOB_COUNTS = [3, 300]
#: Where each of eight GPUs is in the recording, in instants from its end of load:
#: behind it (ramping up, or still idle) for 0 to 3 and 7, past it for 4 to 6.
EIGHT_GPUS = (0, -6, -24, -54, 2, 6, 10, -3)


@pytest.fixture(scope="module", params=JOB_COUNTS, ids=lambda n: f"{n}jobs")
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UserEnv]:
    jobs: int = request.param
    with runner_world(tmp_path_factory.mktemp(f"matrix-{jobs}"), queued=jobs - 3) as env:
        yield env


@pytest.mark.parametrize("gpus", GPU_COUNTS, ids=lambda n: f"{n}gpus")
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(world: UserEnv, snap_compare: Any, size: tuple[int, int], gpus: int) -> None:
    app = SnapshotApp(gpus, EIGHT_GPUS if gpus == 8 else None)
    assert snap_compare(app, terminal_size=size, run_before=settled)


def test_the_jobs_pictured_are_on_the_runner(
    world: UserEnv, request: pytest.FixtureRequest
) -> None:
    """The pictures show real jobs: three that ran, and the rest queued."""
    jobs = json.loads(world.tether("ls", "--all", "--json", check=True).stdout)
    states = [job["state"] for job in jobs]
    assert len(jobs) == request.node.callspec.params["world"]
    assert states[-3:] == ["running", "failed", "succeeded"]
    assert set(states[:-3]) <= {"queued"}
