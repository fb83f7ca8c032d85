"""Fixtures for the app: a real runner in a throwaway HOME, and the app pointed at it.

The app finds the local runner through ``$HOME`` (the socket path derives from
it), so each test sets the process environment to the runner's before the app
creates its sessions. GPU readings come from the recorded H100 file, replayed
by the runner itself (``TETHER_GPU_SOURCE=replay:PATH``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import UserEnv, make_user_env
from tests.sshd import SshClient

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
H100 = FIXTURES / "nvml_h100.json"
PY = sys.executable


@pytest.fixture
def stats_interval() -> str:
    """Seconds between the runner's samples: its default. A module whose tests wait
    for many readings overrides this fixture with a shorter one; everywhere else a
    faster rate only makes the app redraw its GPU panel more often."""
    return "1"


@pytest.fixture
def gpu_runner(tmp_path: Path, stats_interval: str) -> Iterator[UserEnv]:
    """A real runner whose GPU readings replay the recorded H100."""
    env = make_user_env(tmp_path)
    env.env["TETHER_GPU_SOURCE"] = f"replay:{H100}"
    env.env["TETHER_STATS_INTERVAL"] = stats_interval
    result = env.runner("serve", "--daemon")
    assert result.returncode == 0, result.stderr
    yield env
    env.stop_runner()


@pytest.fixture
def app_env(gpu_runner: UserEnv, monkeypatch: pytest.MonkeyPatch) -> UserEnv:
    """The runner's environment made this process's, so the app's sessions find it."""
    for key, value in gpu_runner.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("TETHER_HOST", raising=False)
    monkeypatch.chdir(gpu_runner.home)
    return gpu_runner


@pytest.fixture
def client_env(ssh_client: SshClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshClient]:
    """The app's process as the SSH tests' client: its HOME, SSH and tether configs."""
    for key, value in {**ssh_client.env.env, **ssh_client.extra_env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.chdir(ssh_client.home)
    yield ssh_client
