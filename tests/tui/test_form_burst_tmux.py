"""Keys typed in one burst through a real terminal land in the field that had focus
when each was typed: a Tab moves focus before the next key is handed out, so the
new-job form runs the command that was typed, not a mix of its fields."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import UserEnv, wait_for
from tests.tui.test_tmux_e2e import Tmux


def test_a_burst_with_tabs_fills_each_field_of_the_new_job_form(
    local_runner: UserEnv, tmp_path: Path
) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup.sh installs it)")
    workdir = tmp_path / "work"
    workdir.mkdir()
    tmux = Tmux(tmp_path, {**local_runner.env, "TERM": "xterm-256color"}, (80, 24))
    try:
        tmux.start(f"{sys.executable} -m tui.cli")
        tmux.wait_for("connected", what="the app, connected")
        tmux.keys("n")
        tmux.wait_for("New job on local", what="the new-job form")
        # One send-keys: tmux writes it to the app as fast as a paste.
        tmux.keys("echo 123456789", "Tab", "burst-name", "Tab", str(workdir), "Enter")
        # The job's row, not the Name field where the burst typed the same word.
        tmux.wait_for("job 1: burst-name", what="the job in the table, selected")
    finally:
        tmux.kill()

    def jobs() -> list[dict] | None:
        listed = json.loads(local_runner.tether("ls", "--json", check=True).stdout)
        return listed or None

    (job,) = wait_for(jobs, timeout=30)  # each `ls` is a new python: slow under load
    assert job["argv"] == ["bash", "-lc", "echo 123456789"]
    assert job["name"] == "burst-name"
    assert job["cwd"] == str(workdir)


def test_a_burst_after_slash_lands_in_the_filter_and_in_the_log_search(
    local_runner: UserEnv, tmp_path: Path
) -> None:
    """`/` and the words after it in one burst: all of them the filter's (before,
    the table got them, and `o` toggled the metrics overlay); a `/` inside the
    field is a character; in the log, `/` opens its own search the same way."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup.sh installs it)")
    for name in ("board-a", "other"):
        local_runner.tether("run", "--name", name, "--", "echo", "needle", check=True)
    tmux = Tmux(tmp_path, {**local_runner.env, "TERM": "xterm-256color"}, (80, 24))
    try:
        tmux.start(f"{sys.executable} -m tui.cli")
        tmux.wait_for("other", what="the app, with its jobs")
        tmux.keys("/", "bo/x")
        screen = tmux.wait_for(" bo/x", what="the burst in the filter field")
        assert "overlay" not in screen
        tmux.keys("BSpace", "BSpace", "Enter")
        screen = tmux.wait_for("1/2 · /bo─", what="the filter kept, in the title")
        assert "board-a" in screen and " other " not in screen
        assert "job-filter" not in screen and " bo\n" not in screen  # the field closed
        tmux.keys("Tab", "/", "needle")  # Tab: the log; its search field gets the word
        tmux.wait_for("needle", what="the log search")
        tmux.keys("Enter")
        tmux.wait_for("  /needle  ", what="the search ran, named in the status line")
    finally:
        tmux.kill()


def test_a_burst_in_the_columns_chooser_is_applied_in_order(
    local_runner: UserEnv, tmp_path: Path
) -> None:
    """Space, arrows and Enter in one burst: every tick is taken before Enter
    applies them (a priority Enter once applied before the ticks were read)."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup.sh installs it)")
    local_runner.tether("run", "--name", "one", "--", "true", check=True)
    tmux = Tmux(tmp_path, {**local_runner.env, "TERM": "xterm-256color"}, (80, 24))
    try:
        tmux.start(f"{sys.executable} -m tui.cli")
        tmux.wait_for(" one ", what="the app, with its job")
        tmux.keys("C")
        tmux.wait_for("Columns of the jobs table", what="the chooser")
        tmux.keys("Space", "Down", "Down", "Down", "Space", "Enter")  # AGE and CPU on

        def header(screen: str) -> list[str]:
            line = next((ln for ln in screen.splitlines() if ln.startswith(" ID")), "")
            return line.split()

        screen = tmux.wait_for(
            lambda s: "Columns of the jobs table" not in s and "AGE" in header(s),
            what="the chooser closed, its choice applied",
        )
        assert header(screen) == ["ID▼", "NAME", "STATE", "AGE", "RUNTIME", "GPUS", "CPU", "EXIT"]
    finally:
        tmux.kill()
