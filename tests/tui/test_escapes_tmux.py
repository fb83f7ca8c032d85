"""Escape sequences from a host cannot drive the person's terminal, checked in a
real tmux: a job whose command and output carry a title change, a clipboard
write, DCS, APC, the alternate screen, a cursor save/restore and a clear,
shown by ``tether ls``, ``tether logs`` and the app.

tmux is what would obey them: it takes OSC 0/2 (and APC) as the pane's title and, with
``set-clipboard on`` (set here, so these tests can fail), OSC 52 as a paste
buffer. Each test asserts the title never changed, no buffer was written, and
the sequences read on screen as text (``\\x1b]0;...``) instead.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import UserEnv, wait_for
from tests.tui.test_tmux_e2e import Tmux

TITLE = "\x1b]0;pwned-title\x07"
PAYLOADS = [
    TITLE,
    "\x1b]2;pwned-title2\x1b\\",
    "\x1b]52;c;aGVsbG8=\x07",  # "hello" to the clipboard
    "\x1bP+q544e\x1b\\",  # DCS: ask the terminal for its terminfo
    "\x1b_Gf=100;AAAA\x1b\\",  # APC: a kitty graphics command
    "\x1b[?1049h",  # the alternate screen
    "\x1b7\x1b[10;10H\x1b8",  # cursor save, move, restore
    "\x1b[2J",  # clear the screen
]
HOSTILE = "<" + "|".join(PAYLOADS) + ">"


class EscapeTmux(Tmux):
    """A private tmux that obeys clipboard writes (tmux's default ignores them)."""

    def __init__(self, root: Path, env: dict[str, str], size: tuple[int, int]) -> None:
        super().__init__(root, env, size)
        self.config.write_text(
            'set -g default-terminal "tmux-256color"\nset -g status off\n'
            "set -g set-clipboard on\nset -g history-limit 5000\n"
        )

    def title(self) -> str:
        return self.tmux("display", "-p", "-t", "e2e", "#{pane_title}").strip()

    def buffers(self) -> str:
        return self.tmux("list-buffers")

    def history(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "e2e")

    def hijacked_title(self) -> bool:
        """OSC 0/2 set tmux's pane title, and so does an APC (screen's title form)."""
        title = self.title()
        return "pwned" in title or "AAAA" in title

    def assert_untouched(self) -> None:
        assert not self.hijacked_title(), self.title()
        assert self.buffers() == "", f"a paste buffer was written: {self.buffers()!r}"


@pytest.fixture
def hostile_job(local_runner: UserEnv) -> UserEnv:
    """Job 1: its command holds every payload and prints them all to its log."""
    local_runner.tether("run", "--", "printf", "%s\\nend of output\\n", HOSTILE, check=True)
    log = local_runner.job_dir(1) / "output.log"  # read where it is written: no CLI per look
    wait_for(lambda: log.exists() and b"end of output" in log.read_bytes())
    return local_runner


@pytest.fixture
def tmux(hostile_job: UserEnv, tmp_path: Path) -> Iterator[EscapeTmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup.sh installs it)")
    env = {**hostile_job.env, "TERM": "xterm-256color"}
    session = EscapeTmux(tmp_path, env, (200, 40))
    yield session
    session.kill()


def _tether(*args: str) -> str:
    return f"{sys.executable} -m tui.cli {' '.join(args)}"


def test_ls_shows_a_hostile_command_and_name_as_text(tmux: EscapeTmux) -> None:
    tmux.start(f"{_tether('ls')}; echo LS-DONE; sleep 600")
    screen = tmux.wait_for("LS-DONE")
    tmux.assert_untouched()
    assert "\\x1b]0;pwned-title\\x07" in tmux.history()  # the name and command, as text
    assert "ID" in screen and "COMMAND" in screen  # no clear wiped the table
    assert tmux.tmux("display", "-p", "-t", "e2e", "#{alternate_on}").strip() == "0"


def test_logs_to_a_terminal_shows_hostile_output_as_text(tmux: EscapeTmux) -> None:
    tmux.start(f"echo BEFORE; {_tether('logs', '1')}; echo LOGS-DONE; sleep 600")
    screen = tmux.wait_for("LOGS-DONE")
    tmux.assert_untouched()
    history = tmux.history()
    assert "\\x1b]52;c;aGVsbG8=\\x07" in history
    assert "\\x1b[?1049h" in history and "\\x1b[2J" in history
    assert "BEFORE" in screen and "end of output" in screen  # nothing cleared
    assert tmux.tmux("display", "-p", "-t", "e2e", "#{alternate_on}").strip() == "0"


def test_logs_raw_to_a_terminal_passes_the_bytes(tmux: EscapeTmux) -> None:
    """The control: the same output with ``--raw`` does drive tmux, so the checks
    above would see a filter that stopped filtering."""
    tmux.start(f"{_tether('logs', '--raw', '1')}; echo LOGS-DONE; sleep 600")
    tmux.wait_for("LOGS-DONE")
    assert tmux.hijacked_title()
    assert "hello" in tmux.buffers()


def test_app_shows_a_hostile_job_without_obeying_it(tmux: EscapeTmux) -> None:
    tmux.start(_tether())
    screen = tmux.wait_for(lambda s: "end of output" in s, what="the job's log in the app")
    tmux.assert_untouched()
    assert "\\x1b]0;pwned-title" in screen  # the job's name, in the table and the log title
