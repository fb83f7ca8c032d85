"""Real OpenSSH servers on 127.0.0.1 for the SSH tests, and the clients that use them.

Once per test session:

- a throwaway unix account (``useradd``, unlocked with ``usermod -p '*'`` because
  sshd refuses a locked account) plays the person's account on the GPU host, with
  its own home; its runner is the repository's code, run by a python the account
  can execute (the project venv itself when it can, else a venv made for it);
- three sshd processes with throwaway host keys: ``gpu`` (streamlocal forwarding
  on), ``nofwd`` (``AllowStreamLocalForwarding no``, so clients must use the
  bridge) and ``jump`` (a ProxyJump hop in front of ``gpu``).

Per test, `SshClient` is a fresh client HOME holding ``~/.ssh/config`` with a Host
alias per server, ``~/.ssh/known_hosts`` with their keys, and tether's own
``~/.config/tether/config.toml`` naming the runner (it is not on the account's
PATH, so that "not installed" can be tested too). The CLI runs as a subprocess,
the way a person runs it. Everything is removed at the end, the account included.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import psutil
import pytest

from tests.conftest import REPO, UserEnv, make_user_env, register_home_root, wait_for

SSHD = "/usr/sbin/sshd"
#: The aliases every client's ~/.ssh/config defines.
ALIASES = ("gpu", "gpu-nofwd", "gpu-via-jump", "jump", "gpu-agent")


def _run(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def _keygen(path: Path, comment: str) -> str:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))
    return path.with_suffix(".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the remote account --------------------------------------------------------------


@dataclass
class RemoteAccount:
    name: str
    uid: int
    home: Path

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """Run a command as the account, with its HOME, as sshd would."""
        return subprocess.run(
            [
                "runuser",
                "-u",
                self.name,
                "--",
                "env",
                f"HOME={self.home}",
                "PATH=/usr/local/bin:/usr/bin:/bin",
                *argv,
            ],
            capture_output=True,
            timeout=timeout,
            cwd="/",
        )

    def processes(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["uids"]):
            uids = proc.info.get("uids")
            if uids is not None and uids.real == self.uid:
                found.append(proc)
        return found

    def kill_processes(self) -> None:
        procs = self.processes()
        for proc in procs:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=10)


def create_account(base: Path) -> RemoteAccount:
    name = f"tether-t{secrets.token_hex(4)}"
    home = base / "remote-home"
    register_home_root(home)
    _run("useradd", "-m", "-d", str(home), "-s", "/bin/bash", name)
    _run("usermod", "-p", "*", name)
    uid = int(_run("id", "-u", name).stdout)
    return RemoteAccount(name=name, uid=uid, home=home)


def delete_account(account: RemoteAccount) -> None:
    account.kill_processes()
    subprocess.run(["userdel", "-r", "-f", account.name], capture_output=True)


def _runner_for(account: RemoteAccount, base: Path) -> str:
    """A tether-runner of this repository that the account can execute."""
    project = Path(sys.executable).parent / "tether-runner"
    if project.exists() and account.run(str(project), "--version").returncode == 0:
        return str(project)
    # The project's interpreter is out of the account's reach (e.g. under /root):
    # give it a venv of a system python of the same version, seeing the same code.
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = shutil.which(f"python{version}", path="/usr/local/bin:/usr/bin:/bin")
    if python is None:
        pytest.skip(f"no python{version} the test account can run (the project's is private)")
    venv = base / "runner-venv"
    _run(python, "-m", "venv", "--without-pip", str(venv))
    site = venv / "lib" / f"python{version}" / "site-packages"
    (site / "tether-dev.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    runner = venv / "bin" / "tether-runner"
    runner.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\n"
        "from runner.host.cli import main\nsys.exit(main())\n"
    )
    runner.chmod(0o755)
    check = account.run(str(runner), "--version")
    if check.returncode != 0:
        pytest.skip(f"the test account cannot run tether-runner: {check.stderr.decode()}")
    return str(runner)


# -- sshd ----------------------------------------------------------------------------


@dataclass
class SshServer:
    name: str
    port: int
    directory: Path
    host_key_line: str  # "ssh-ed25519 AAAA..." (no comment)
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> Path:
        return self.directory / "sshd.log"

    @property
    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key_line}\n"

    def connection_processes(self) -> list[psutil.Process]:
        """The per-connection sshd processes (and what runs under them)."""
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def signal_connections(self, sig: int) -> int:
        """Send `sig` to every process serving a connection; returns how many."""
        procs = self.connection_processes()
        for proc in procs:
            try:
                proc.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        return len(procs)

    def kill_connections(self) -> int:
        """Drop every connection the hard way, as a crashed or rebooted server would."""
        procs = self.connection_processes()
        count = self.signal_connections(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)
        return count

    def stop(self) -> None:
        self.kill_connections()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _sshd_config(
    server_dir: Path, port: int, user: Optional[str], streamlocal: bool, sftp: bool
) -> str:
    allow_users = f"AllowUsers {user}\n" if user else ""
    return (
        textwrap.dedent(f"""\
        Port {port}
        ListenAddress 127.0.0.1
        HostKey {server_dir / "host_key"}
        PidFile none
        UsePAM no
        AuthenticationMethods publickey
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitRootLogin no
        AllowTcpForwarding yes
        AllowStreamLocalForwarding {"yes" if streamlocal else "no"}
        X11Forwarding no
        PrintMotd no
        PrintLastLog no
        MaxStartups 100
        MaxSessions 100
        LogLevel VERBOSE
        """)
        + allow_users
        + ("Subsystem sftp internal-sftp\n" if sftp else "")
    )


def start_sshd(
    base: Path,
    name: str,
    user: Optional[str],
    *,
    streamlocal: bool = True,
    sftp: bool = False,
) -> SshServer:
    """A real sshd on a free loopback port; `user` alone may log in (None: anyone)."""
    server_dir = base / f"sshd-{name}"
    server_dir.mkdir()
    public = _keygen(server_dir / "host_key", f"tether-test-{name}")
    host_key_line = " ".join(public.split()[:2])
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    for _ in range(5):
        port = _free_port()
        config = server_dir / "sshd_config"
        config.write_text(_sshd_config(server_dir, port, user, streamlocal, sftp))
        log = server_dir / "sshd.log"
        process = subprocess.Popen(
            [SSHD, "-D", "-f", str(config), "-E", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _wait_for_banner(port, process):
            return SshServer(name, port, server_dir, host_key_line, process)
        process.kill()
        process.wait()
    raise RuntimeError(f"sshd {name} did not start; see {server_dir / 'sshd.log'}")


def _wait_for_banner(port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False  # e.g. the port was taken in between
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(64).startswith(b"SSH-2.0"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


# -- the world and its clients -------------------------------------------------------


@dataclass
class SshWorld:
    base: Path
    account: RemoteAccount
    runner: str
    client_key: Path
    servers: dict[str, SshServer]
    flags: Path  # a directory the account can read, for files that steer test jobs

    @property
    def gpu(self) -> SshServer:
        return self.servers["gpu"]

    def ssh_config(self) -> str:
        gpu, nofwd, jump = self.servers["gpu"], self.servers["nofwd"], self.servers["jump"]
        user, key = self.account.name, self.client_key

        def block(alias: str, port: int, *extra: str, identity: bool = True) -> str:
            lines = [f"Host {alias}", "  HostName 127.0.0.1", f"  Port {port}", f"  User {user}"]
            if identity:
                lines += [f"  IdentityFile {key}", "  IdentitiesOnly yes"]
            return "\n".join([*lines, *(f"  {e}" for e in extra)]) + "\n"

        return "".join(
            [
                block("gpu", gpu.port),
                block("gpu-nofwd", nofwd.port),
                block("jump", jump.port),
                block("gpu-via-jump", gpu.port, "ProxyJump jump"),
                block("gpu-agent", gpu.port, identity=False),
                f"Host 127.0.0.1\n  IdentityFile {key}\n  IdentitiesOnly yes\n",
            ]
        )

    def known_hosts(self) -> str:
        return "".join(s.known_hosts_line for s in self.servers.values())

    def tether_config(self, hosts: tuple[str, ...] = ALIASES) -> str:
        return "".join(f'[hosts."{h}"]\nrunner = "{self.runner}"\n\n' for h in hosts)

    def client(self, root: Path, *, runner_configured: bool = True) -> SshClient:
        env = make_user_env(root)
        ssh_dir = env.home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "config").write_text(self.ssh_config())
        (ssh_dir / "known_hosts").write_text(self.known_hosts())
        config = env.home / ".config" / "tether" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(self.tether_config() if runner_configured else "")
        env.env["USER"] = env.env["LOGNAME"] = "root"
        return SshClient(env=env, world=self)

    # -- the remote side, as the test sees it ------------------------------------------

    @property
    def remote_state(self) -> Path:
        return self.account.home / ".local" / "state" / "tether"

    def remote_log(self, job_id: int) -> bytes:
        return (self.remote_state / "jobs" / str(job_id) / "output.log").read_bytes()

    def remote_runner_pid(self) -> int | None:
        status = self.account.run(self.runner, "status", "--json")
        if status.returncode != 0:
            return None
        import json

        return int(json.loads(status.stdout)["pid"])

    def stop_remote_runner(self) -> None:
        result = self.account.run(self.runner, "stop")
        assert result.returncode == 0, result.stderr
        wait_for(lambda: self.remote_runner_pid() is None, timeout=20)

    def flag(self, name: str) -> Path:
        return self.flags / name

    def own_runner(self, name: str, **env: str) -> str:
        """A tether-runner of its own, as if on another box: a HOME of its own (the
        runner's state and socket follow ``HOME``) and `env` (``TETHER_GPU_SOURCE``
        to replay GPUs...). Configure it as an alias's ``runner``; `name` must be
        unique in the world. Stop it with ``account.run(runner, "stop")``."""
        home = self.base / f"home-{name}"
        home.mkdir(mode=0o700)
        _run("chown", f"{self.account.name}:", str(home))
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        wrapper = self.flags / f"runner-{name}"
        wrapper.write_text(
            f"#!/bin/sh\nexport HOME={shlex.quote(str(home))} {exports}\n"
            f'exec {shlex.quote(self.runner)} "$@"\n'
        )
        wrapper.chmod(0o755)
        return str(wrapper)

    def add_alias(self, client: SshClient, alias: str, port: int, runner: str) -> None:
        """`alias` in the client's SSH config (127.0.0.1:`port`, the world's account
        and key) and in its tether config, with `runner`."""
        ssh_config = client.home / ".ssh" / "config"
        ssh_config.write_text(
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {self.account.name}\n"
            f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n" + ssh_config.read_text()
        )
        config = client.tether_config
        config.write_text(f'[hosts."{alias}"]\nrunner = "{runner}"\n\n' + config.read_text())


@dataclass
class SshClient:
    """A person's machine: a HOME with SSH and tether configs, running `tether`."""

    env: UserEnv
    world: SshWorld
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.env.home

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    @property
    def tether_config(self) -> Path:
        return self.home / ".config" / "tether" / "config.toml"

    def tether(
        self, *args: str, timeout: float = 90, check: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        self.env.env.update(self.extra_env)
        return self.env.tether(*args, timeout=timeout, check=check)

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        env = {**self.env.env, **self.extra_env}
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            [sys.executable, "-m", "tui.cli", *args], env=env, cwd=self.home, **kwargs
        )


@pytest.fixture(scope="session")
def ssh_world() -> Iterator[SshWorld]:
    """Three real sshd servers and a throwaway account behind them (needs root); "gpu"
    offers SFTP, "nofwd" neither SFTP nor socket forwarding."""
    if os.geteuid() != 0:
        pytest.skip("the SSH tests create a unix account for the remote side: run them as root")
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} is missing: scripts/setup.sh installs openssh-server")
    base = Path(tempfile.mkdtemp(prefix="tether-ssh-", dir="/tmp"))
    base.chmod(0o755)
    account = create_account(base)
    servers: dict[str, SshServer] = {}
    try:
        flags = base / "flags"
        flags.mkdir(mode=0o755)
        key = base / "client_key"
        public = _keygen(key, "tether-test-client")
        ssh_dir = account.home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "authorized_keys").write_text(public + "\n")
        _run("chown", "-R", f"{account.name}:", str(ssh_dir))
        (ssh_dir / "authorized_keys").chmod(0o600)
        runner = _runner_for(account, base)
        servers["gpu"] = start_sshd(base, "gpu", account.name, sftp=True)
        servers["nofwd"] = start_sshd(base, "nofwd", account.name, streamlocal=False)
        servers["jump"] = start_sshd(base, "jump", account.name)
        yield SshWorld(base, account, runner, key, servers, flags)
    finally:
        for server in servers.values():
            server.stop()
        delete_account(account)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ssh_client(ssh_world: SshWorld, tmp_path: Path) -> SshClient:
    """A fresh client HOME that knows every test host and where the runner is."""
    return ssh_world.client(tmp_path)


def one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    """The error a failed `tether` printed, checked to be one clean line."""
    err = result.stderr.decode()
    assert result.returncode != 0, f"expected a failure, got: {result.stdout.decode()}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tether: "), err
    return lines[0]
