"""The fleet in a real tmux at 80x24, as on a jump host: twenty hosts open, the
hosts screen lists them all (it scrolls), and a host that cannot be reached
opens on what the mirror kept of it, marked stale."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ssh.test_fleet import refused_port
from tests.ssh.test_mirror import ALIAS, _alias
from tests.sshd import SshClient, SshWorld
from tests.tui.test_tmux_e2e import Tmux, tmux_for


@pytest.fixture
def small_tmux(ssh_client: SshClient, tmp_path: Path) -> Iterator[Tmux]:
    yield from tmux_for(ssh_client, tmp_path, (80, 24))


def test_twenty_hosts_at_80x24_and_an_unreachable_one_shows_its_mirror(
    small_tmux: Tmux, ssh_client: SshClient, ssh_world: SshWorld
) -> None:
    _alias(ssh_client, ssh_world.gpu.port)
    job = int(
        ssh_client.tether(
            "run", "-H", ALIAS, "--name", "mirrored-job", "--", "echo", "kept line", check=True
        ).stdout
    )
    assert ssh_client.tether("logs", "-f", f"{ALIAS}:{job}").stdout == b"kept line\n"
    _alias(ssh_client, refused_port())
    gone = [f"127.0.0.1:{refused_port()}" for _ in range(18)]
    hosts = ["gpu", ALIAS, *gone]
    small_tmux.start(f"{sys.executable} -m tui.cli " + " ".join(f"-H {h}" for h in hosts))
    small_tmux.wait_for(lambda s: "● gpu" in s, what="gpu connected")
    small_tmux.keys("h")
    screen = small_tmux.wait_for(
        lambda s: ALIAS in s and "cannot reach" in s, what="the hosts screen"
    )
    rows = screen.splitlines()
    assert len(rows) <= 24 and all(len(row) <= 80 for row in rows)
    small_tmux.keys("End")
    small_tmux.wait_for(lambda s: gone[-1] in s, what="the last host, scrolled to")
    small_tmux.keys("Home", "Down", "Enter")  # the second host: the mirrored one
    shown = small_tmux.wait_for(
        lambda s: "mirrored-job" in s and "stale" in s, what="its mirrored job table"
    )
    assert "kept line" in small_tmux.wait_for(lambda s: "kept line" in s, what="its log")
    if "from the mirror" not in shown:  # a frame caught mid-redraw is not the screen
        small_tmux.wait_for(lambda s: "from the mirror" in s, what="the log's mirror note")
