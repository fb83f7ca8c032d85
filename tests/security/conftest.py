"""Two real unix accounts on one host: a victim who uses tether and an attacker.

The victim's home is deep enough that its runner's socket cannot live under it
and falls back to /tmp (`protocol.socket_path`), the place another account can
reach. Both accounts run a python they can execute (the project's own
interpreter lives under /root here), seeing this repository's code. Everything
is removed afterwards: the accounts, their processes, and every /tmp run dir the
victim's (uid, home) could have used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol.socket_path import fallback_candidates
from tests.conftest import REPO
from tests.sshd import RemoteAccount, _runner_for, create_account, delete_account

#: The attacker's tools are stdlib-only scripts run by the system python.
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass
class Person:
    """An account and the python it runs tether with."""

    account: RemoteAccount
    python: str
    runner: str

    @property
    def home(self) -> Path:
        return self.account.home

    @property
    def state_dir(self) -> Path:
        return self.home / ".local" / "state" / "tether"

    def candidates(self) -> list[Path]:
        return fallback_candidates(self.home, self.account.uid)

    def env(self) -> list[str]:
        return [
            f"HOME={self.home}",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            f"PYTHONPATH={REPO}",
            "LANG=C.UTF-8",
            "SHELL=/bin/bash",
            "TETHER_CANCEL_GRACE=3",
        ]

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """`argv` as this account, with a clean environment, from its home."""
        return subprocess.run(
            ["runuser", "-u", self.account.name, "--", "env", "-i", *self.env(), *argv],
            capture_output=True,
            timeout=timeout,
            cwd=self.home,
        )

    def popen(self, *argv: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["runuser", "-u", self.account.name, "--", "env", "-i", *self.env(), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.home,
        )

    def tether(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return self.run(self.python, "-m", "tui.cli", *args, timeout=timeout)

    def tether_runner(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return self.run(self.python, "-m", "runner", *args)


def _python_for(account: RemoteAccount, base: Path) -> tuple[str, str]:
    """(python, tether-runner) the account can execute, both seeing this repository."""
    runner = _runner_for(account, base)
    project = Path(sys.executable).parent / "tether-runner"
    python = sys.executable if runner == str(project) else str(Path(runner).parent / "python")
    return python, runner


@dataclass
class TwoAccounts:
    base: Path
    victim: Person
    attacker: Person


def _clean(victim: Person) -> None:
    """Stop the victim's runner and remove its state and every /tmp run dir it could use."""
    victim.tether_runner("stop")
    for person_dir in victim.candidates():
        shutil.rmtree(person_dir, ignore_errors=True)
    shutil.rmtree(victim.home / ".local", ignore_errors=True)
    shutil.rmtree(victim.home / ".cache" / "tether", ignore_errors=True)


@pytest.fixture(scope="module")
def two_accounts() -> Iterator[TwoAccounts]:
    if os.geteuid() != 0:
        pytest.skip("the security tests create two unix accounts: run them as root")
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"{SYSTEM_PYTHON} is missing: the attacker's scripts need it")
    base = Path(tempfile.mkdtemp(prefix="tether-sec-", dir="/tmp"))
    base.chmod(0o755)
    # Deep enough that the victim's socket path would pass 100 bytes: /tmp fallback.
    deep = base / ("d" * 60) / ("e" * 40)
    deep.mkdir(parents=True)
    for part in (deep, deep.parent):
        part.chmod(0o755)
    (base / "attacker").mkdir(mode=0o755)
    created: list[RemoteAccount] = []
    try:
        victim_account = create_account(deep)
        created.append(victim_account)
        attacker_account = create_account(base / "attacker")
        created.append(attacker_account)
        for account in created:
            account.home.chmod(0o755)  # as many hosts make homes: tether must not rely on it
        victim = Person(victim_account, *_python_for(victim_account, base))
        attacker = Person(attacker_account, SYSTEM_PYTHON, "")
        yield TwoAccounts(base, victim, attacker)
        _clean(victim)
    finally:
        for account in created:
            delete_account(account)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def accounts(two_accounts: TwoAccounts) -> Iterator[TwoAccounts]:
    """The two accounts with no runner, no state and no planted directory."""
    _clean(two_accounts.victim)
    yield two_accounts
    two_accounts.attacker.account.kill_processes()
    _clean(two_accounts.victim)
    two_accounts.victim.account.kill_processes()


#: The attacker's fake runner: a directory where the victim's socket would go, a
#: socket anyone may connect to, and a record of every connection and every byte.
FAKE_RUNNER = """
import os, socket, sys
directory, record = sys.argv[1], sys.argv[2]
os.mkdir(directory, 0o755)
os.chmod(directory, 0o755)
sock = socket.socket(socket.AF_UNIX)
sock.bind(os.path.join(directory, "runner.sock"))
os.chmod(os.path.join(directory, "runner.sock"), 0o777)
sock.listen(16)
print("ready", flush=True)
while True:
    conn, _ = sock.accept()
    with open(record, "ab") as out:
        out.write(b"<connection>")
    conn.settimeout(5)
    try:
        data = conn.recv(65536)
    except OSError:
        data = b""
    with open(record, "ab") as out:
        out.write(data)
    conn.close()
"""


@dataclass
class FakeRunner:
    directory: Path
    record: Path
    process: subprocess.Popen[bytes]

    def heard(self) -> bytes:
        try:
            return self.record.read_bytes()
        except FileNotFoundError:
            return b""


def plant_fake_runner(attacker: Person, directory: Path) -> FakeRunner:
    """The attacker's fake runner listening in `directory` (which it creates)."""
    record = attacker.home / f"heard-{directory.name}"
    process = attacker.popen(SYSTEM_PYTHON, "-c", FAKE_RUNNER, str(directory), str(record))
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == b"ready", process.stderr.read() if process.stderr else b""
    assert directory.stat().st_uid == attacker.account.uid
    return FakeRunner(directory, record, process)


def wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
