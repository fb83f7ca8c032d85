"""`tether logs -f` over SSH across dropped and dead links: every byte exactly once."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from protocol.limits import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S
from tests.conftest import wait_for
from tests.sshd import SshClient, SshServer, SshWorld

# Writes numbered lines holding every byte value until a flag file appears, then
# exits 5; a follow that loses or repeats a byte cannot match the log file.
WRITER = (
    "import os, sys, time\n"
    "out = sys.stdout.buffer\n"
    "i = 0\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    out.write(b'line %06d ' % i + bytes(range(256)) + b'\\n'); out.flush()\n"
    "    i += 1\n"
    "    time.sleep(0.005)\n"
    "out.write(b'done\\n'); sys.exit(5)\n"
)
SERVERS = {"gpu": "gpu", "gpu-nofwd": "nofwd"}


class Follower:
    """`tether logs -f` as a person runs it, with its stdout in a file."""

    def __init__(self, client: SshClient, host: str, job_id: int, out: Path) -> None:
        self.out = out
        self._stdout = out.open("wb")
        self.proc = client.popen(
            "logs", "-H", host, str(job_id), "-f", stdout=self._stdout, stderr=subprocess.PIPE
        )
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip("\n"))

    def count(self, prefix: str) -> int:
        return sum(1 for line in list(self.stderr) if line.startswith(prefix))

    @property
    def received(self) -> int:
        return self.out.stat().st_size

    def finish(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(10)
            self._stdout.close()
        return code


def _start_writer(client: SshClient, world: SshWorld, host: str, flag: Path) -> int:
    run = client.tether("run", "-H", host, "--", "python3", "-c", WRITER, str(flag), check=True)
    return int(run.stdout)


@pytest.mark.parametrize("host", ["gpu", "gpu-nofwd"])
def test_follow_survives_killed_connections_byte_for_byte(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path, host: str
) -> None:
    server = ssh_world.servers[SERVERS[host]]
    flag = ssh_world.flag(f"stop-{tmp_path.name}")
    job_id = _start_writer(ssh_client, ssh_world, host, flag)
    follower = Follower(ssh_client, host, job_id, tmp_path / "follow.out")
    try:
        for kill in range(3):
            seen = follower.received
            wait_for(lambda: follower.received > seen + 20_000, timeout=60)
            assert server.kill_connections() >= 1
            wait_for(lambda: follower.count("tether: reconnected") > kill, timeout=60)
        flag.touch()
        assert follower.finish() == 5, follower.stderr
    finally:
        flag.touch()
        follower.finish()
    log = ssh_world.remote_log(job_id)
    assert log.endswith(b"done\n")
    assert follower.out.read_bytes() == log
    assert follower.count("tether: reconnecting") >= 3


def test_two_clients_follow_one_job_through_a_drop(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    flag = ssh_world.flag(f"stop-{tmp_path.name}")
    job_id = _start_writer(ssh_client, ssh_world, "gpu", flag)
    other = ssh_world.client(tmp_path / "other")
    followers = [
        Follower(ssh_client, "gpu", job_id, tmp_path / "one.out"),
        Follower(other, "gpu-nofwd", job_id, tmp_path / "two.out"),
    ]
    try:
        wait_for(lambda: all(f.received > 20_000 for f in followers), timeout=60)
        ssh_world.gpu.kill_connections()
        wait_for(lambda: followers[0].count("tether: reconnected") >= 1, timeout=60)
        wait_for(lambda: all(f.received > 60_000 for f in followers), timeout=60)
        flag.touch()
        assert [f.finish() for f in followers] == [5, 5]
    finally:
        flag.touch()
        for f in followers:
            f.finish()
    log = ssh_world.remote_log(job_id)
    assert followers[0].out.read_bytes() == log
    assert followers[1].out.read_bytes() == log


def _freeze(server: SshServer) -> list[psutil.Process]:
    frozen = server.connection_processes()
    for proc in frozen:
        proc.send_signal(signal.SIGSTOP)
    return frozen


def test_dead_link_is_noticed_by_the_heartbeat(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    """A link that goes silent without closing (the laptop's Wi-Fi died)."""
    flag = ssh_world.flag(f"stop-{tmp_path.name}")
    job_id = _start_writer(ssh_client, ssh_world, "gpu", flag)
    follower = Follower(ssh_client, "gpu", job_id, tmp_path / "follow.out")
    frozen: list[psutil.Process] = []
    try:
        wait_for(lambda: follower.received > 20_000, timeout=60)
        frozen = _freeze(ssh_world.gpu)
        assert frozen
        stopped_at = time.monotonic()
        wait_for(lambda: follower.count("tether: reconnecting") >= 1, timeout=40, interval=0.1)
        noticed_after = time.monotonic() - stopped_at
        wait_for(lambda: follower.count("tether: reconnected") >= 1, timeout=60)
        flag.touch()
        assert follower.finish() == 5, follower.stderr
    finally:
        flag.touch()
        for proc in frozen:
            proc.kill()
        follower.finish()
    # The heartbeat's own guarantee: a check every interval, silence over the timeout.
    assert noticed_after <= HEARTBEAT_TIMEOUT_S + HEARTBEAT_INTERVAL_S + 2, noticed_after
    assert follower.out.read_bytes() == ssh_world.remote_log(job_id)


def test_a_restarted_runner_is_reached_over_the_same_ssh_connection(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    """Killing the runner (jobs live on in their shims) costs a channel, not a login."""
    flag = ssh_world.flag(f"stop-{tmp_path.name}")
    job_id = _start_writer(ssh_client, ssh_world, "gpu", flag)
    logins = ssh_world.gpu.log.read_text(errors="replace").count("Accepted publickey")
    follower = Follower(ssh_client, "gpu", job_id, tmp_path / "follow.out")
    try:
        for restart in range(2):
            seen = follower.received
            wait_for(lambda: follower.received > seen + 20_000, timeout=60)
            pid = ssh_world.remote_runner_pid()
            assert pid is not None
            psutil.Process(pid).kill()
            wait_for(lambda: follower.count("tether: reconnected") > restart, timeout=60)
            assert ssh_world.remote_runner_pid() not in (None, pid)
        flag.touch()
        assert follower.finish() == 5, follower.stderr
    finally:
        flag.touch()
        follower.finish()
    assert follower.out.read_bytes() == ssh_world.remote_log(job_id)
    after = ssh_world.gpu.log.read_text(errors="replace").count("Accepted publickey")
    assert after == logins + 1
    wait_for(lambda: not ssh_world.gpu.connection_processes(), timeout=20)
