"""End to end in a real tmux: `tether -H gpu` against a real sshd, driven with
send-keys and read with capture-pane, as a person on a jump host would use it.

A job is started with keystrokes; while it prints, the SSH connection is killed
(the sshd process serving it, as a crashed link would). The pane must show the
reconnecting state, then the output must carry on with no line missing or
doubled, checked page by page in the full-screen log.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sshd import SshClient, SshWorld

LINES = 300
JOB = f"for i in $(seq 0 {LINES - 1}); do echo line $i; sleep 0.02; done"


class Tmux:
    """One private tmux server (its own socket) with one window running a command."""

    def __init__(self, root: Path, env: dict[str, str], size: tuple[int, int]) -> None:
        self.socket = root / f"tmux-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.size = size
        config = root / "tmux.conf"
        config.write_text('set -g default-terminal "tmux-256color"\nset -g status off\n')
        self.config = config

    def tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=self.env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {result.stderr}")
        return result.stdout

    def start(self, command: str) -> None:
        width, height = self.size
        self.tmux("new-session", "-d", "-s", "e2e", "-x", str(width), "-y", str(height), command)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "e2e", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "e2e", "-l", text)

    def screen(self, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "e2e")

    def wait_for(self, check: object, timeout: float = 30.0, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text) if callable(check) else check in text:  # type: ignore[operator]
                return text
            time.sleep(0.02)
        raise AssertionError(f"tmux pane never showed {what or check!r}; last screen:\n{text}")

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


def tmux_for(client: SshClient, root: Path, size: tuple[int, int]) -> Iterator[Tmux]:
    """A private tmux of `size` with `client`'s environment, killed after (a fixture's body)."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup.sh installs it)")
    env = {**client.env.env, **client.extra_env, "TERM": "xterm-256color"}
    env.pop("COLORTERM", None)
    session = Tmux(root, env, size)
    yield session
    session.kill()


@pytest.fixture
def tmux(ssh_client: SshClient, tmp_path: Path) -> Iterator[Tmux]:
    yield from tmux_for(ssh_client, tmp_path, (100, 32))


def log_numbers(screen: str) -> list[int]:
    """The log lines on screen (a scrollbar thumb may end a row, and a notice may
    cover a row's right side, from its border ▌ on)."""
    rows = (row.split("▌", 1)[0] for row in screen.splitlines())
    return [int(m.group(1)) for row in rows for m in re.finditer(r"^line (\d+)[^\w]*$", row)]


def test_tether_in_tmux_survives_a_killed_ssh_connection_without_losing_a_line(
    tmux: Tmux, ssh_world: SshWorld
) -> None:
    tmux.start(f"{sys.executable} -m tui.cli -H gpu")
    tmux.wait_for(lambda s: "● gpu" in s and "connected" in s, what="gpu connected")
    assert "tmux-256color" in tmux.tmux("show-options", "-g", "default-terminal")

    # A job, with keystrokes only.
    tmux.keys("n")
    tmux.wait_for("New job on gpu")
    tmux.type(JOB)
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "line 40" in s, what="the job's output")
    colours = tmux.screen(escapes=True)
    assert "38;5;" in colours or "48;5;" in colours  # drawn in 256 colours...
    assert "38;2;" not in colours and "48;2;" not in colours  # ...never truecolor

    # Kill the connection, and hold new ones back until the pane has shown it.
    listener = ssh_world.gpu.process.pid
    os.kill(listener, signal.SIGSTOP)
    try:
        assert ssh_world.gpu.kill_connections() > 0
        tmux.wait_for(lambda s: "reconnecting (attempt" in s, what="the reconnecting state")
        tmux.wait_for(lambda s: "◐ gpu #" in s, what="the host bar's state")
    finally:
        os.kill(listener, signal.SIGCONT)
    tmux.wait_for(lambda s: "● gpu" in s, timeout=60, what="connected again")
    # The status line may be drawn a frame before the log has scrolled to its end.
    tmux.wait_for(
        lambda s: "succeeded (0)" in s and log_numbers(s)[-1:] == [LINES - 1],
        timeout=60,
        what="the job's end, and its last line",
    )

    # Every line exactly once: page through the full-screen log from the top.
    tmux.keys("f")
    tmux.wait_for(lambda s: "Back" in s and log_numbers(s), what="the full-screen log")
    tmux.keys("g")
    page = tmux.wait_for(lambda s: log_numbers(s)[:1] == [0], what="the top of the log")
    seen: list[int] = []
    while True:
        numbers = log_numbers(page)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), page
        seen += [n for n in numbers if not seen or n > seen[-1]]
        if seen[-1] == LINES - 1:
            break
        last = numbers[-1]
        tmux.keys("PageDown")
        page = tmux.wait_for(lambda s, last=last: log_numbers(s)[-1:] != [last], what="next page")
    assert seen == list(range(LINES))
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "jobs (all)" in s, what="back on the main screen")
    tmux.keys("q")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "e2e" in tmux.tmux("ls", check=False):
        time.sleep(0.1)
    assert "e2e" not in tmux.tmux("ls", check=False)  # q quit the app (and the pane)
