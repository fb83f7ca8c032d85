"""`tether top` on a terminal, as nvitop and htop users expect it: the interactive
table opens and `q` quits it, giving the terminal back; into a pipe it still
prints text frames; and a narrow terminal wraps the text host line between
fields, never inside one."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from protocol.stats import HostReading
from tests.conftest import UserEnv
from tests.tui.test_tmux_e2e import Tmux
from tui.cli.top import host_line


def test_q_quits_top_and_gives_the_terminal_back(local_runner: UserEnv, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup.sh installs it)")
    tmux = Tmux(tmp_path, {**local_runner.env, "TERM": "xterm-256color"}, (80, 24))
    try:
        tmux.start(
            f"{sys.executable} -m tui.cli top; echo TOP-EXITED $?; "
            "stty -a | grep -o ' icanon' ; echo STTY-DONE; sleep 60"
        )
        tmux.wait_for("WHAT ▲", what="the interactive table of top")
        tmux.keys("q")
        screen = tmux.wait_for("STTY-DONE", what="top ending on q and stty reporting")
    finally:
        tmux.kill()
    assert "TOP-EXITED 0" in screen
    assert " icanon" in screen  # the terminal is back in line mode (not -icanon)


def test_into_a_pipe_top_follows_with_text_frames(local_runner: UserEnv) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "top", "--interval", "0.5"],
        env=local_runner.env,
        cwd=local_runner.home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().decode()]
        while not lines[-1].startswith("no running jobs"):
            assert lines[-1] != "" and len(lines) < 100, lines  # ended, or no frame's end
            lines.append(proc.stdout.readline().decode())
        assert any(line.startswith("host: CPU ") for line in lines)
        assert any(line.startswith("cores %: ") for line in lines)
        assert not any("\x1b" in line for line in lines)  # text, no screen of an app
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_the_host_line_wraps_between_fields_at_80_columns() -> None:
    host = HostReading(
        cpu_pct=12.5,
        cpu_per_core_pct=[10.0] * 64,
        load_avg=[1.0, 2.0, 3.0],
        mem_used_bytes=100 << 30,
        mem_total_bytes=2000 << 30,
        mem_available_bytes=1900 << 30,
        swap_used_bytes=0,
        swap_total_bytes=8 << 30,
        disk_free_bytes=500 << 30,
        disk_total_bytes=1000 << 30,
        disk_path="/home/someone/.local/state/tether",
    )
    lines = host_line(host, 80).splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("host: CPU 12.5%  load 1.00 2.00 3.00")
    assert any(line.startswith("disk free 500.0 GiB (") for line in lines)
    assert lines[-1].startswith("cores %: ") and lines[-1].endswith("…")
