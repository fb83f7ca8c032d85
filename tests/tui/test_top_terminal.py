"""`tether top` on a terminal, as nvitop and htop users expect it: `q` quits, and a
narrow terminal wraps the host line between fields, never inside one."""

from __future__ import annotations

import shutil
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
        tmux.wait_for("cores %", what="a frame of top")
        tmux.keys("q")
        screen = tmux.wait_for("STTY-DONE", what="top ending on q and stty reporting")
    finally:
        tmux.kill()
    assert "TOP-EXITED 0" in screen
    assert " icanon" in screen  # the terminal is back in line mode (not -icanon)


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
