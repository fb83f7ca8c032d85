"""Hosts that have never seen tether, behind a real sshd, for the install tests.

Once per test session: two OpenSSH servers on 127.0.0.1 with throwaway host
keys, one with the SFTP subsystem and one without (so uploads must fall back to
``cat``), both open to any account but root. Per test, `fresh_host` makes a new
unix account (``useradd``, unlocked with ``usermod -p '*'``) whose python3 is the
system's, and a client HOME whose ``~/.ssh/config`` reaches it as ``gpu`` (and
``gpu-nosftp``). The client has no tether config: the runner is found or
installed exactly as on a person's first contact. The wheels of the runner's
dependencies for these hosts are downloaded once per run, by the first parallel
worker to need them, and every client's wheel cache is that one, as a person's
cache serves all their hosts of one kind.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, UserEnv, alive, make_user_env, session_root, wait_for
from tests.sshd import (
    SSHD,
    RemoteAccount,
    SshServer,
    _keygen,
    create_account,
    delete_account,
    start_sshd,
)
from tui.install.tags import HostPlatform
from tui.install.wheelhouse import Wheelhouse, wheelhouse_for

SYSTEM_PYTHON = "/usr/bin/python3"
INSTALL_ROOT = ".local/share/tether/runner"


def _start_sshd(base: Path, name: str, sftp: bool) -> SshServer:
    return start_sshd(base, f"install-{name}", None, sftp=sftp)


@dataclass
class InstallServers:
    base: Path
    client_key: Path
    sftp: SshServer
    nosftp: SshServer
    wheel_cache: Path


def host_platform() -> HostPlatform:
    """The kind of host the test accounts are: this machine, with the system python3."""
    said = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import sys, os; print(sys.version_info[0], "
            "sys.version_info[1], os.confstr('CS_GNU_LIBC_VERSION').split()[1])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    libc = tuple(int(p) for p in said[2].split(".")[:2])
    return HostPlatform(
        platform.machine(), "glibc", (libc[0], libc[1]), (int(said[0]), int(said[1]))
    )


def run_wheelhouse(config: pytest.Config, kind: HostPlatform) -> Wheelhouse:
    """The runner's dependencies for hosts of `kind`, from this run's wheel cache:
    the first worker to ask fills it (`wheelhouse_for`, the client's own code) while
    the others wait on a lock, then find it whole. A download is most of a minute
    of pip, for each worker and each test that would otherwise start from nothing."""
    root = session_root(config)
    with open(root / "wheel-cache.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return asyncio.run(wheelhouse_for(kind, root=root / "wheel-cache"))


@pytest.fixture(scope="session")
def wheel_cache(pytestconfig: pytest.Config) -> Path:
    """This run's wheel cache, holding the wheels for the test hosts' kind."""
    return run_wheelhouse(pytestconfig, host_platform()).directory.parent


@pytest.fixture(scope="session")
def install_servers(request: pytest.FixtureRequest) -> Iterator[InstallServers]:
    if os.geteuid() != 0:
        pytest.skip("the install tests create unix accounts for the host side: run them as root")
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} is missing: scripts/setup.sh installs openssh-server")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} is missing: the host side needs a system python3")
    wheel_cache: Path = request.getfixturevalue("wheel_cache")
    base = Path(tempfile.mkdtemp(prefix="tether-install-", dir="/tmp"))
    base.chmod(0o755)
    servers = []
    try:
        key = base / "client_key"
        _keygen(key, "tether-install-client")
        servers.append(_start_sshd(base, "sftp", sftp=True))
        servers.append(_start_sshd(base, "nosftp", sftp=False))
        yield InstallServers(base, key, servers[0], servers[1], wheel_cache)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class FreshHost:
    """A host account that has never seen tether, and a person's client that reaches it."""

    account: RemoteAccount
    client: UserEnv
    servers: InstallServers

    @property
    def root(self) -> Path:
        return self.account.home / INSTALL_ROOT

    def tether(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[bytes]:
        return self.client.tether(*args, timeout=timeout)

    def as_account(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return self.account.run(*argv, timeout=timeout)

    def login_shell(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """`script` in the account's login shell, as ``ssh HOST cmd`` then ``bash -l`` sees it."""
        return subprocess.run(
            ["runuser", "-l", self.account.name, "-c", script],
            capture_output=True,
            timeout=timeout,
            cwd="/",
        )

    def installed_versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if not p.is_symlink() and (p / "installed.json").is_file()
        )

    def marker(self, version: str) -> dict[str, object]:
        return json.loads((self.root / version / "installed.json").read_text())

    def launcher(self, version: str) -> Path:
        return self.root / version / "bin" / "tether-runner"

    def runner_status(self, version: str) -> dict[str, object]:
        done = self.as_account(str(self.launcher(version)), "status", "--json")
        return json.loads(done.stdout) if done.stdout.strip().startswith(b"{") else {}

    def daemon_pid(self, version: str) -> int | None:
        status = self.runner_status(version)
        return int(status["pid"]) if status.get("running") else None  # type: ignore[arg-type]

    def block_index(self) -> None:
        """Point the account's own pip config at a dead index: installs then use the
        wheels the client pushes (quick once they are cached), the offline-node path."""
        dead = "http://127.0.0.1:9/simple"
        self.write_file(
            ".config/pip/pip.conf",
            f"[global]\nindex-url = {dead}\nextra-index-url = {dead}\nfind-links = {dead}\n",
        )

    def write_file(self, relative: str, text: str, mode: int = 0o644) -> Path:
        """A file in the account's home, owned by the account."""
        path = self.account.home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        subprocess.run(["chown", "-R", f"{self.account.name}:", str(self.account.home)], check=True)
        return path


def _client_ssh_config(servers: InstallServers, user: str) -> str:
    def block(alias: str, server: SshServer) -> str:
        return (
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {server.port}\n  User {user}\n"
            f"  IdentityFile {servers.client_key}\n  IdentitiesOnly yes\n"
        )

    return block("gpu", servers.sftp) + block("gpu-nosftp", servers.nosftp)


def make_fresh_host(servers: InstallServers, root: Path) -> FreshHost:
    account_base = Path(tempfile.mkdtemp(prefix="acct-", dir=servers.base))
    account_base.chmod(0o755)
    account = create_account(account_base)
    ssh_dir = account.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    public = servers.client_key.with_suffix(".pub").read_text()
    (ssh_dir / "authorized_keys").write_text(public)
    (ssh_dir / "authorized_keys").chmod(0o600)
    subprocess.run(["chown", "-R", f"{account.name}:", str(account.home)], check=True)
    client = make_user_env(root)
    client_ssh = client.home / ".ssh"
    client_ssh.mkdir(mode=0o700)
    (client_ssh / "config").write_text(_client_ssh_config(servers, account.name))
    (client_ssh / "known_hosts").write_text(
        servers.sftp.known_hosts_line + servers.nosftp.known_hosts_line
    )
    cache = client.home / ".cache" / "tether"
    cache.mkdir(parents=True)
    (cache / "wheels").symlink_to(servers.wheel_cache)
    client.env["USER"] = client.env["LOGNAME"] = "root"
    return FreshHost(account, client, servers)


@pytest.fixture
def fresh_host(install_servers: InstallServers, tmp_path: Path) -> Iterator[FreshHost]:
    host = make_fresh_host(install_servers, tmp_path)
    try:
        yield host
    finally:
        delete_account(host.account)


@pytest.fixture(scope="module")
def installed_host(
    install_servers: InstallServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FreshHost]:
    """A host account where a first contact (`tether run -H gpu -- true`) installed the
    runner, shared by the tests of one module that only look at it."""
    host = make_fresh_host(install_servers, tmp_path_factory.mktemp("installed"))
    host.block_index()
    try:
        first = host.tether("run", "-H", "gpu", "--", "true")
        assert first.returncode == 0, first.stderr
        yield host
    finally:
        delete_account(host.account)


@pytest.fixture
def old_client(tmp_path: Path) -> Callable[[str], Path]:
    """A copy of this tether stating another version: yesterday's (or tomorrow's) client."""

    def build(version: str) -> Path:
        root = tmp_path / f"tether-{version}"
        for package in ("protocol", "runner", "tui"):
            shutil.copytree(
                REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
            )
        version_file = root / "protocol" / "version.py"
        text = version_file.read_text()
        stamped, count = re.subn(
            r'^__version__ = "[^"]*"$', f'__version__ = "{version}"', text, flags=re.MULTILINE
        )
        assert count == 1
        version_file.write_text(stamped)
        return root

    return build


__all__ = [
    "FreshHost",
    "InstallServers",
    "alive",
    "host_platform",
    "make_fresh_host",
    "run_wheelhouse",
    "wait_for",
]
