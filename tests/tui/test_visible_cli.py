"""The CLI shows a host's text with control characters made visible, keeps exact
strings in JSON and exact bytes through a pipe or with ``--raw``, and filters a
job's output printed to a terminal."""

from __future__ import annotations

import argparse
import json
import os
import pty
import subprocess

import pytest

from protocol.jobs import JobInfo, JobState
from tests.conftest import PYTHON, UserEnv, wait_for
from tui.cli import main as cli_main
from tui.cli import session_runs
from tui.cli.format import jobs_table
from tui.cli.top import JobDirectory, job_lines
from tui.errors import TetherError

ESC_ARG = "\x1b]0;pwned\x07\x1b]52;c;aGk=\x07"
OUTPUT = b"\x1b[31mred\x1b[0m \x1b]0;pwned\x07\x1b[?1049h\x1b]52;c;aGk=\x07\x1b[2J done\n"


@pytest.fixture
def hostile(local_runner: UserEnv) -> UserEnv:
    """Job 1: an argument full of escapes; it prints `OUTPUT`."""
    printed = OUTPUT.decode()
    local_runner.tether("run", "--", "printf", "%s", printed, check=True)
    log = local_runner.job_dir(1) / "output.log"  # read where it is written: no CLI per look
    wait_for(lambda: log.exists() and log.read_bytes() == OUTPUT)
    return local_runner


def _on_a_terminal(env: UserEnv, *args: str) -> bytes:
    """What `tether ARGS` writes when its stdout is a terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [PYTHON, "-m", "tui.cli", *args], env=env.env, cwd=env.home, stdout=slave
    )
    os.close(slave)
    out = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        out += data
    os.close(master)
    assert proc.wait(timeout=30) == 0
    return out.replace(b"\r\n", b"\n")  # the terminal's line discipline


def test_ls_shows_escapes_in_a_command_as_text_and_json_keeps_them(hostile: UserEnv) -> None:
    hostile.tether("run", "--", "echo", ESC_ARG, check=True)
    table = hostile.tether("ls", check=True).stdout
    assert b"\x1b" not in table and b"\x07" not in table
    assert b"echo '\\x1b]0;pwned\\x07\\x1b]52;c;aGk=\\x07'" in table  # the command, visible
    jobs = json.loads(hostile.tether("ls", "--json", check=True).stdout)
    job = next(j for j in jobs if j["id"] == 2)
    assert job["argv"] == ["echo", ESC_ARG]  # exact strings, escaped by JSON itself
    assert job["name"] == "echo '\\x1b]0;pwned\\x07\\x1b]52;c;aGk=\\x07'"  # a printable name
    assert b"\x1b" not in hostile.tether("ls", "--json").stdout


def test_ls_json_is_one_job_a_line_to_a_pipe_and_indented_on_a_terminal(
    hostile: UserEnv,
) -> None:
    hostile.tether("run", "--", "true", check=True)
    piped = hostile.tether("ls", "--json", check=True).stdout.decode("ascii")
    lines = piped.splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    assert [json.loads(line.rstrip(","))["id"] for line in lines[1:-1]] == [2, 1]
    shown = _on_a_terminal(hostile, "ls", "--json")
    assert b"\x1b" not in shown
    assert json.loads(shown) == json.loads(piped)
    assert b'\n    "argv": [\n' in shown  # indented for a person


def test_logs_through_a_pipe_are_the_exact_bytes(hostile: UserEnv) -> None:
    assert hostile.tether("logs", "1", check=True).stdout == OUTPUT
    assert hostile.tether("logs", "--raw", "1", check=True).stdout == OUTPUT


def test_logs_to_a_terminal_keep_colours_and_show_other_escapes(hostile: UserEnv) -> None:
    out = _on_a_terminal(hostile, "logs", "1")
    assert out == (
        b"\x1b[31mred\x1b[0m \\x1b]0;pwned\\x07\\x1b[?1049h\\x1b]52;c;aGk=\\x07\\x1b[2J done\n"
    )
    assert _on_a_terminal(hostile, "logs", "-f", "1") == out


def test_logs_raw_to_a_terminal_are_the_exact_bytes(hostile: UserEnv) -> None:
    assert _on_a_terminal(hostile, "logs", "--raw", "1") == OUTPUT


def test_an_error_from_a_host_is_printed_with_escapes_visible(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fails(args: argparse.Namespace, host: str) -> int:
        print(f"job name: {ESC_ARG}")
        raise TetherError(f"runner says: {ESC_ARG}\nsecond line")

    monkeypatch.setattr(session_runs, "status", fails)  # where VERBS["status"] says it is
    assert cli_main.main(["status"]) == 1
    out, err = capsys.readouterr()
    assert out == "job name: \\x1b]0;pwned\\x07\\x1b]52;c;aGk=\\x07\n"
    assert err == "tether: runner says: \\x1b]0;pwned\\x07\\x1b]52;c;aGk=\\x07\nsecond line\n"


def _job(name: str, argv: list[str]) -> JobInfo:
    return JobInfo(id=7, name=name, state=JobState.RUNNING, argv=argv, cwd="/", created_at=0)


def test_the_ls_table_and_top_show_a_raw_name_from_an_old_runner_as_text() -> None:
    job = _job("a\x1b]0;t\x07b\nc", ["x\x1b[2J"])
    table = jobs_table([job], width=200)
    assert "\x1b" not in table and table.count("\n") == 1
    assert "a\\x1b]0;t\\x07b\\nc" in table and "'x\\x1b[2J'" in table
    directory = JobDirectory()
    directory.update([job])
    from protocol.stats import HostReading, JobUsage, StatsSample

    host = HostReading(
        cpu_pct=0,
        mem_total_bytes=0,
        mem_used_bytes=0,
        mem_available_bytes=0,
        swap_total_bytes=0,
        swap_used_bytes=0,
        disk_path="/",
        disk_total_bytes=0,
        disk_free_bytes=0,
    )
    sample = StatsSample(
        seq=0, t=0, host=host, jobs=[JobUsage(job_id=7, cpu_pct=0, rss_bytes=0, processes=1)]
    )
    lines = job_lines(sample, directory)
    assert not any("\x1b" in line or "\n" in line for line in lines)
    assert "a\\x1b]0;t\\x07b\\n" in lines[1]
