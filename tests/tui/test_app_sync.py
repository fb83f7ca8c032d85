"""The app's `p` pulls a job's outputs with a progress bar, and `r` on a synced job
runs it again in a fresh copy of its snapshot, as `tether pull` and `tether rerun` do."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import PYTHON, UserEnv, wait_for
from tests.tui.pilot_helpers import make_app, screen_text, until, until_connected

WRITER = (
    "import os, pathlib\n"
    "pathlib.Path('out').mkdir(exist_ok=True)\n"
    "pathlib.Path('out/model.bin').write_bytes(os.urandom(3 * 1024 * 1024))\n"
    "print(open('data.txt').read(), end='')\n"
)


def _synced_job(env: UserEnv, tree: Path) -> int:
    tree.mkdir()
    (tree / "data.txt").write_text("version one\n")
    (tree / "train.py").write_text(WRITER)
    run = env.tether("run", "--name", "train", "--sync", str(tree), "--", PYTHON, "train.py")
    assert run.returncode == 0, run.stderr
    job = int(run.stdout)  # named: the title then fits at 80 columns whatever PYTHON's path
    wait_for(lambda: _job(env, job)["state"] == "succeeded", timeout=60)
    return job


def _job(env: UserEnv, job_id: int) -> dict:
    jobs = json.loads(env.tether("ls", "--all", "--json", check=True).stdout)
    return next(j for j in jobs if j["id"] == job_id)


async def test_p_pulls_the_highlighted_jobs_outputs_with_a_progress_bar(
    app_env: UserEnv,
) -> None:
    job = _synced_job(app_env, app_env.home / "project")
    app = make_app([""], watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: app.current_view.selected_job is not None, what="a job row")
        snapshot = _job(app_env, job)["snapshot"]
        title = f"snapshot {snapshot['id'][:12]} (2 files,"  # beside the job's log
        await until(pilot, lambda: title in screen_text(app), what="the job's snapshot")
        await pilot.press("p")
        await until(pilot, lambda: " pulled (" in screen_text(app), what="the pull done")
        text = " ".join(screen_text(app).split())
        assert f"Pull job {job} from" in text
        assert "1 file pulled (3.0 MiB)" in text  # out/model.bin: what the job made
        await pilot.press("enter")
        await until(pilot, lambda: " pulled (" not in screen_text(app), what="closed")
        await app.action_quit()
    pulled = app_env.home / "tether-out" / "local" / str(job)
    host_copy = Path(_job(app_env, job)["cwd"]) / "out" / "model.bin"
    assert (pulled / "out" / "model.bin").read_bytes() == host_copy.read_bytes()
    assert not (pulled / "train.py").exists()  # unchanged files of the snapshot stay there


async def test_r_on_a_synced_job_reruns_it_in_its_snapshot_not_the_edited_tree(
    app_env: UserEnv,
) -> None:
    tree = app_env.home / "project"
    job = _synced_job(app_env, tree)
    (tree / "data.txt").write_text("version two, edited after the sync\n")
    app = make_app([""], watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: app.current_view.selected_job is not None, what="a job row")
        await pilot.press("r")
        await until(pilot, lambda: "fresh copy of its snapshot" in screen_text(app), what="asked")
        await pilot.press("y")
        await until(pilot, lambda: app.current_monitor.job(job + 1) is not None, what="job 2")
        await app.action_quit()
    wait_for(lambda: _job(app_env, job + 1)["state"] == "succeeded", timeout=60)
    again = _job(app_env, job + 1)
    assert again["snapshot"] == _job(app_env, job)["snapshot"]
    assert again["cwd"] != _job(app_env, job)["cwd"]  # its own copy
    log = app_env.tether("logs", str(job + 1), check=True).stdout
    assert log == b"version one\n"
    assert os.path.isdir(again["cwd"])
