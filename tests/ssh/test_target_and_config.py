"""What may follow -H, and tether's own config file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui.config import ConfigError, load_config, parse_config
from tui.ssh.target import BadHost, SshTarget, parse_target


@pytest.mark.parametrize(
    ("typed", "user", "host", "port"),
    [
        ("gpu1", None, "gpu1", None),
        ("alice@gpu1", "alice", "gpu1", None),
        ("gpu1:2222", None, "gpu1", 2222),
        ("alice@gpu1.example.org:2222", "alice", "gpu1.example.org", 2222),
        ("ssh://alice@gpu1:2200/", "alice", "gpu1", 2200),
        ("[::1]:2222", None, "::1", 2222),
        ("bob@[fe80::1]", "bob", "fe80::1", None),
        ("fe80::1", None, "fe80::1", None),
        ("a@b@gpu1", "a@b", "gpu1", None),
    ],
)
def test_host_forms_ssh_accepts(typed: str, user: str | None, host: str, port: int | None) -> None:
    assert parse_target(typed) == SshTarget(typed=typed, host=host, user=user, port=port)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "no host given"),
        ("gpu1:0", "a port is a number from 1 to 65535"),
        ("gpu1:http", "a port is a number from 1 to 65535"),
        ("@gpu1", "empty user name"),
        ("alice@", "has no host name"),
        ("-oProxyCommand=x", "is not a host name"),
        ("gpu 1", "is not a host name"),
        ("[::1", "never closes it"),
        ("[::1]x", "expected :PORT"),
    ],
)
def test_bad_hosts_are_refused_with_the_reason(typed: str, reason: str) -> None:
    with pytest.raises(BadHost, match=reason) as caught:
        parse_target(typed)
    assert not caught.value.retryable


def test_ssh_command_for_messages_reaches_the_same_place() -> None:
    assert parse_target("alice@gpu1:2222").ssh_command() == "ssh -p 2222 alice@gpu1"
    assert parse_target("gpu1").ssh_command() == "ssh gpu1"


def test_config_gives_a_runner_per_host(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[hosts.gpu1]\nrunner = "/opt/venv/bin/tether-runner"\n\n'
        '[hosts."alice@box:2222"]\nrunner = "~/venv/bin/tether-runner"\n'
    )
    config = load_config(path)
    assert config.host("gpu1").runner == "/opt/venv/bin/tether-runner"
    assert config.host("alice@box:2222").runner == "~/venv/bin/tether-runner"
    assert config.host("bob@gpu1:22", "gpu1").runner == "/opt/venv/bin/tether-runner"
    assert config.host("other").runner is None


def test_a_hosts_executor_is_read_and_checked(tmp_path: Path) -> None:
    config = parse_config('[hosts.cluster]\nexecutor = "slurm"\n', tmp_path / "c.toml")
    assert config.host("cluster").executor == "slurm"
    assert config.host("gpu1").executor is None


def test_missing_config_is_empty(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.toml").host("gpu1").runner is None
    assert load_config(tmp_path / "absent.toml").app.notify == "desktop"


def test_the_apps_notify_setting_and_the_fleet_are_read(tmp_path: Path) -> None:
    assert parse_config("[app]\nnotify = 'off'\n", tmp_path / "c.toml").app.notify == "off"
    fleet = parse_config("[fleet]\nhosts = ['a', ' b ']\n", tmp_path / "c.toml").fleet
    assert fleet == ("a", "b")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[hosts.gpu1\n", "is not valid TOML"),
        ("[host.gpu1]\nrunner = '/x'\n", "unknown section [host]"),
        ("[hosts.gpu1]\nrunnr = '/x'\n", "unknown setting 'runnr' in [hosts.gpu1]; known: runner"),
        ("[hosts.gpu1]\nrunner = 3\n", "runner must be a path"),
        ("[hosts.c]\nexecutor = 'pbs'\n", '[hosts.c] executor must be "local" or "slurm"'),
        ("[hosts.gpu1]\nrunner = 'venv/bin/tether-runner'\n", "must be an absolute path"),
        ("hosts = 3\n", "must be a table"),
        ("[app]\nnotify = 'loud'\n", '[app] notify must be one of "desktop", "bell", "off"'),
        ("[app]\nnotfy = 'bell'\n", "unknown setting 'notfy' in [app]; known: notify"),
        ("app = 1\n", "`app` must be a table"),
        ("[fleet]\nhosts = 'gpu1'\n", "[fleet] hosts must be a list of names"),
        ("[fleet]\nhost = ['gpu1']\n", "[fleet] holds one setting: hosts"),
    ],
)
def test_a_wrong_config_says_where_and_what(text: str, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match=re.escape(reason)) as caught:
        parse_config(text, path)
    assert str(path) in str(caught.value)
