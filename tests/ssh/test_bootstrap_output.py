"""What the bootstrap's output means, including the failures a person must read."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from protocol.version import PROTOCOL_VERSION, __version__
from tui.errors import ConnectError, IncompatibleRunner
from tui.ssh.bootstrap import bootstrap_command, parse_bootstrap
from tui.ssh.errors import RunnerMissing


def _status(**fields: object) -> str:
    status = {
        "running": True,
        "protocol": PROTOCOL_VERSION,
        "runner_version": "0.1.0",
        "socket_path": "/home/a/.local/state/tether/run/runner.sock",
        **fields,
    }
    return json.dumps(status)


def test_a_running_runner_gives_its_socket() -> None:
    out = f"motd noise\ntether-bootstrap: runner /opt/tr\ntether-bootstrap: status {_status()}\n"
    location = parse_bootstrap("gpu1", out, "", 0)
    assert location.runner == "/opt/tr"
    assert location.socket_path == "/home/a/.local/state/tether/run/runner.sock"


def test_another_protocol_version_is_a_clear_mismatch() -> None:
    out = f"tether-bootstrap: runner /opt/tr\ntether-bootstrap: status {_status(protocol=99)}\n"
    with pytest.raises(IncompatibleRunner, match="speaks protocol 99") as caught:
        parse_bootstrap("gpu1", out, "", 0)
    assert "install the same tether version on both sides" in str(caught.value)
    assert not caught.value.retryable


def test_a_runner_that_does_not_answer_is_retryable() -> None:
    out = "tether-bootstrap: runner /opt/tr\ntether-bootstrap: status holds the lock but no\n"
    with pytest.raises(ConnectError, match="does not answer") as caught:
        parse_bootstrap("gpu1", out, "", 0)
    assert caught.value.retryable


def test_a_shell_that_never_ran_the_script_is_named() -> None:
    with pytest.raises(ConnectError, match="This account is currently not available"):
        parse_bootstrap("gpu1", "", "This account is currently not available.\n", 1)


def test_a_runner_that_cannot_start_says_why() -> None:
    out = "tether-bootstrap: runner /opt/tr\ntether-bootstrap: start-failed\n"
    with pytest.raises(ConnectError, match="could not start: disk full"):
        parse_bootstrap("gpu1", out, "tether-runner: could not start: disk full\n", 0)


def test_missing_runner_says_where_it_looked_and_how_to_install_it() -> None:
    with pytest.raises(RunnerMissing) as caught:
        parse_bootstrap("gpu1", "tether-bootstrap: missing\n", "", 0)
    message = str(caught.value)
    assert message.startswith("tether's runner is not installed on gpu1: ")
    assert f"~/.local/share/tether/runner/{__version__}/" in message
    assert "login shell's PATH" in message and "pip install tether" in message
    assert '[hosts.gpu1] runner = "/path/to/tether-runner" in ~/.config/tether/config.toml' in (
        message
    )
    assert not caught.value.retryable


def test_missing_runner_names_a_configured_path_that_is_not_there() -> None:
    stderr = "tether-bootstrap: missing-override /home/a/venv/bin/tether-runner\n"
    with pytest.raises(RunnerMissing) as caught:
        parse_bootstrap("a@b:22", "tether-bootstrap: missing\n", stderr, 0)
    message = str(caught.value)
    assert "the runner set in tether's config (/home/a/venv/bin/tether-runner) is not an " in (
        message
    )
    assert '[hosts."a@b:22"] runner' in message


@pytest.mark.parametrize("override", ["", "/opt/x y/tether-runner", "~/it's/tether-runner"])
def test_the_command_quotes_every_argument(override: str, tmp_path: Path) -> None:
    """Whatever the configured path holds, the script sees it as one argument."""
    command = bootstrap_command("start", override or None)
    words = shlex.split(command)
    assert words[:2] == ["sh", "-c"] and words[-1] == override
    result = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert result.stdout.strip().splitlines()[-1] == "tether-bootstrap: missing"
    if override:
        shown = override.replace("~", str(tmp_path), 1)
        assert f"tether-bootstrap: missing-override {shown}" in result.stderr
