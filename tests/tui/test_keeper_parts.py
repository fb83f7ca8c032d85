"""The keeper's pure parts: its greeting, its setting, where its socket goes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protocol.socket_path import MAX_SOCKET_PATH_BYTES, SOCKET_NAME, choose_run_dir
from tui.keeper.greeting import greeted_host, greeting
from tui.keeper.place import (
    DEFAULT_PERSIST_S,
    PersistSettingError,
    host_key,
    keeper_place,
    persist_seconds,
)

#: What the kernel takes in sun_path, without its NUL.
KERNEL_SUN_PATH = 107


@pytest.mark.parametrize("host", ["gpu", "me@gpu1:2222", "ünïcode-host", "a b"])
def test_a_greeting_names_its_host_and_only_it(host: str) -> None:
    assert greeted_host(greeting(host)) == host
    assert greeted_host(greeting(host)[:-1]) is None  # cut short
    assert greeted_host(b"SSH-2.0-OpenSSH\n") is None
    assert greeted_host(b"tether-keeper \xff\n") is None


def test_hosts_get_distinct_sockets() -> None:
    keys = {host_key(h) for h in ("gpu", "gpu1", "me@gpu", "gpu:22", "gpu-nofwd")}
    assert len(keys) == 5
    assert host_key("gpu") == host_key("gpu")


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(None, DEFAULT_PERSIST_S), ("", DEFAULT_PERSIST_S), ("0", 0.0), (" 30 ", 30.0), ("1.5", 1.5)],
)
def test_the_persist_setting(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, seconds: float
) -> None:
    if raw is None:
        monkeypatch.delenv("TETHER_PERSIST", raising=False)
    else:
        monkeypatch.setenv("TETHER_PERSIST", raw)
    assert persist_seconds() == seconds


@pytest.mark.parametrize("raw", ["-1", "ten", "nan", "inf", "10m"])
def test_a_bad_persist_setting_says_what_it_takes(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("TETHER_PERSIST", raw)
    with pytest.raises(PersistSettingError, match=r"number of seconds .* \(0 keeps none\)"):
        persist_seconds()


def test_a_keeper_socket_fits_wherever_the_runner_socket_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The deepest home whose runner socket still goes under the home, not /tmp.
    suffix = len("/.local/state/tether/run/" + SOCKET_NAME)
    home = "/" + "h" * (MAX_SOCKET_PATH_BYTES - suffix - 1)
    monkeypatch.setenv("HOME", home)
    runner = choose_run_dir().socket
    assert len(os.fsencode(str(runner))) == MAX_SOCKET_PATH_BYTES
    assert runner.parent == Path(home, ".local/state/tether/run")
    kept = keeper_place("some-host.example.com").socket
    assert kept.parent == runner.parent
    assert len(os.fsencode(str(kept))) <= KERNEL_SUN_PATH
