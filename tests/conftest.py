"""Shared fixtures: an isolated user environment and a real runner daemon in it.

Every test that starts a runner gets its own HOME and XDG dirs (so its socket,
lock, database and logs are its own) and the runner is a real process, started
and stopped exactly as a person's would be.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

pytest_plugins = ["tests.sshd"]

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class UserEnv:
    """A throwaway user environment: HOME, XDG dirs, and helpers to run tether in it."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.home / ".local" / "state" / "tether"

    @property
    def socket(self) -> Path:
        sys.path.insert(0, str(REPO))
        from protocol.socket_path import socket_path

        return socket_path(self.home)

    def job_dir(self, job_id: int) -> Path:
        return self.state_dir / "jobs" / str(job_id)

    def tether(
        self, *args: str, timeout: float = 60, check: bool = False, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [PYTHON, "-m", "tui.cli", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            input=input,
            cwd=self.home,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"tether {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}"
            )
        return result

    def runner(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [PYTHON, "-m", "runner", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            cwd=self.home,
        )

    def runner_pid(self) -> int | None:
        lock = self.socket.parent / "runner.lock"
        try:
            text = lock.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def stop_runner(self) -> None:
        self.runner("stop")


def make_user_env(root: Path) -> UserEnv:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "LANG": "C.UTF-8",
        "TETHER_CANCEL_GRACE": "3",
        "SHELL": "/bin/bash",
    }
    return UserEnv(home=home, env=env)


@pytest.fixture
def user_env(tmp_path: Path) -> Iterator[UserEnv]:
    """A fresh HOME with no runner; any runner started in it is stopped afterwards."""
    ue = make_user_env(tmp_path)
    yield ue
    ue.stop_runner()


@pytest.fixture
def local_runner(user_env: UserEnv) -> UserEnv:
    """A fresh HOME with a real runner daemon already serving in it."""
    result = user_env.runner("serve", "--daemon")
    assert result.returncode == 0, result.stderr
    return user_env


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody reaped (PID 1 of a container may not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; fail the test with what was last seen."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")
