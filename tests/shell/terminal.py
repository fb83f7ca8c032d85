"""Driving ``tether shell`` in a real tmux: starting it, typing into the shell it
opens, and reading what the pane shows (`tests.tui.test_tmux_e2e.Tmux`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.conftest import wait_for
from tests.tui.test_tmux_e2e import Tmux

#: What the shell is asked to say about its place; `$((6*7))` is 42 only once run,
#: so the typed line on screen is never taken for the answer.
REPORT = (
    'echo "at=$PWD" "id=$TETHER_JOB_ID" "cvd=${CUDA_VISIBLE_DEVICES-unset}" '
    '"greeting=$GREETING" "mark=$((6*7))"'
)


def shell_command(*args: str) -> list[str]:
    """``tether shell ARGS`` as the tests start it."""
    return [sys.executable, "-m", "tui.cli", "shell", *args]


def new_tmux(root: Path, env: dict[str, str]) -> Tmux:
    env = {**env, "TERM": "xterm-256color"}
    env.pop("COLORTERM", None)
    return Tmux(root, env, (160, 40))


def pane(tmux: Tmux) -> str:
    """The whole pane, scrollback included, wrapped lines joined."""
    return tmux.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "e2e")


def wait_pane(tmux: Tmux, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = pane(tmux)
        if text in seen:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"the pane never showed {text!r}; it shows:\n{seen}")


def enter(tmux: Tmux, line: str) -> None:
    tmux.type(line)
    tmux.keys("Enter")


def check_the_jobs_place(tmux: Tmux, cwd: str, job_id: int, cvd: str) -> None:
    """The shell in the pane is in the job's directory, with its variables."""
    enter(tmux, REPORT)
    screen = wait_pane(tmux, "mark=42")
    assert f"at={cwd} id={job_id} cvd={cvd} greeting=hello there mark=42" in screen


def check_resize_and_ctrl_c(tmux: Tmux) -> None:
    """A resized window reaches the shell's pty, and Ctrl-C its program, not tether."""
    tmux.tmux("resize-window", "-t", "e2e", "-x", "100", "-y", "30")
    size = ("display", "-p", "-t", "e2e", "#{pane_width}x#{pane_height}")
    wait_for(lambda: tmux.tmux(*size).strip() == "100x30")
    enter(tmux, 'echo "size=$(stty size)" "mark=$((7*7))"')
    assert "size=30 100 mark=49" in wait_pane(tmux, "mark=49")

    enter(tmux, 'echo "mark=$((8*8))"; sleep 30; echo "slept=$((9*9))"')
    wait_pane(tmux, "mark=64")
    tmux.keys("C-c")
    enter(tmux, 'echo "mark=$((10*10))"')
    assert "slept=81" not in wait_pane(tmux, "mark=100")
