"""``tether shell``'s command line: JOB and COMMAND told apart as a person means
them, mistakes said before anything connects, and a parser that costs nothing."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.test_import_hygiene import HEAVY
from tui.errors import ShellError
from tui.shell.verb import add_shell_arguments, parse_job_id


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tether shell", exit_on_error=False)
    add_shell_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "host", "job", "command"),
    [
        ([], None, None, []),
        (["12"], None, "12", []),
        (["-H", "gpu", "12"], "gpu", "12", []),
        (["--", "nvidia-smi", "-q"], None, None, ["nvidia-smi", "-q"]),
        (["-H", "gpu", "--", "htop"], "gpu", None, ["htop"]),
        (["12", "--", "sh", "-c", "ls -- -H x"], None, "12", ["sh", "-c", "ls -- -H x"]),
    ],
)
def test_job_and_command_are_split_at_the_double_dash(
    argv: list[str], host: str | None, job: str | None, command: list[str]
) -> None:
    args = parse(*argv)
    assert (args.host, args.job, args.command) == (host, job, command)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["12", "-H", "gpu"], "options go before JOB: -H HOST JOB"),
        (["nvidia-smi", "-q"], "to run a command, put it after --: -- nvidia-smi -q$"),
        (["12", "nvidia-smi"], "to run a command, put it after --: -- nvidia-smi$"),
        (["12", "--"], "nothing after --"),
    ],
)
def test_a_misplaced_word_is_a_usage_error_that_says_where_it_goes(
    argv: list[str], said: str
) -> None:
    with pytest.raises(argparse.ArgumentError, match=said):
        parse(*argv)


def test_a_job_that_is_not_a_number_is_said_with_the_way_to_run_a_command() -> None:
    assert parse_job_id("12") == 12
    assert parse_job_id(None) is None
    with pytest.raises(ShellError, match=r"not 'htop'; to run a command, put it after --"):
        parse_job_id("htop")


def test_the_verbs_parser_loads_nothing_heavy() -> None:
    """The CLI builds every verb's parser for every command line (issue 19)."""
    code = (
        "import argparse, contextlib, sys\n"
        "from tui.shell.verb import add_shell_arguments\n"
        "parser = argparse.ArgumentParser(prog='tether shell')\n"
        "add_shell_arguments(parser)\n"
        "with contextlib.suppress(SystemExit):\n"
        "    parser.parse_args(['--help'])\n"
        "sys.stderr.write('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=REPO)
    assert "usage: tether shell [-h] [-H HOST] [JOB] [-- COMMAND ...]" in out.stdout.decode()
    assert not HEAVY & set(out.stderr.decode().split())
