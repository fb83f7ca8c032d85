"""``tether forward`` against a real sshd: a job's declared port reached on this
machine, across a cut of every SSH connection, a busy local port, bad targets."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from collections.abc import Iterator

import psutil
import pytest

from tests.conftest import wait_for
from tests.ssh.serving import free_port, get, serve, try_get
from tests.sshd import SshClient, SshWorld, one_line_error


@pytest.fixture
def served(ssh_client: SshClient, ssh_world: SshWorld) -> Iterator[tuple[int, int]]:
    """A job serving a folder with a marker file on the host's 127.0.0.1: (job, port)."""
    port = free_port()
    job = serve(ssh_client, ssh_world, port)
    yield job, port
    ssh_client.tether("cancel", "-H", "gpu", str(job))


def _start_forward(client: SshClient, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = client.popen(
        "forward", "-H", "gpu", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    assert line, proc.stderr.read().decode() if proc.stderr else ""
    return proc, line


def _open_to(port: int) -> bool:
    return any(
        c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        for c in psutil.net_connections("tcp")
    )


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return err.decode()


def test_a_jobs_port_is_reached_and_comes_back_after_a_cut(
    ssh_client: SshClient, ssh_world: SshWorld, served: tuple[int, int]
) -> None:
    job, port = served
    listed = json.loads(ssh_client.tether("ls", "-H", "gpu", "--json", check=True).stdout)
    assert [j["ports"] for j in listed if j["id"] == job] == [[port]]
    local = free_port()
    proc, line = _start_forward(ssh_client, str(job), "--local", str(local))
    try:
        assert line == f"http://127.0.0.1:{local} → gpu:{port}"
        wait_for(lambda: "marker-file.txt" in try_get(f"http://127.0.0.1:{local}/"), timeout=30)

        assert ssh_world.gpu.kill_connections() > 0
        wait_for(lambda: "marker-file.txt" in try_get(f"http://127.0.0.1:{local}/"), timeout=60)
    finally:
        err = _stop(proc)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err


def test_stopping_with_a_connection_open_ends_quietly(
    ssh_client: SshClient, served: tuple[int, int]
) -> None:
    """A browser's keep-alive connection is still open when the person presses
    Ctrl-C: its relay is cancelled, which must not print a traceback."""
    job, port = served
    local = free_port()
    proc, _ = _start_forward(ssh_client, str(job), "--local", str(local))
    try:
        wait_for(lambda: "marker-file.txt" in try_get(f"http://127.0.0.1:{local}/"), timeout=30)
        with socket.create_connection(("127.0.0.1", local), timeout=10) as held:
            held.sendall(b"GET / HTTP/1.1\r\n")  # half a request: the server waits
            wait_for(lambda: _open_to(port), timeout=30)  # the channel reached the job
            err = _stop(proc)
    finally:
        if proc.poll() is None:
            _stop(proc)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err and "Exception in callback" not in err, err


def test_a_busy_local_port_moves_to_the_next_and_says_so(
    ssh_client: SshClient, served: tuple[int, int]
) -> None:
    job, port = served
    # The host is this machine: the job's own server holds the same port here.
    wait_for(lambda: try_get(f"http://127.0.0.1:{port}/") != "", timeout=30)
    proc, line = _start_forward(ssh_client, str(job))
    try:
        moved = int(line.split()[0].rsplit(":", 1)[1])
        assert moved > port
        assert "marker-file.txt" in get(f"http://127.0.0.1:{moved}/")
    finally:
        err = _stop(proc)
    assert f"local port {port} is in use: using {moved}" in err


def test_a_bare_port_is_forwarded_with_colon(
    ssh_client: SshClient, served: tuple[int, int]
) -> None:
    _, port = served
    local = free_port()
    proc, line = _start_forward(ssh_client, f":{port}", "--local", str(local))
    try:
        assert line == f"http://127.0.0.1:{local} → gpu:{port}"
        wait_for(lambda: "marker-file.txt" in try_get(f"http://127.0.0.1:{local}/"), timeout=30)
    finally:
        _stop(proc)


def test_bad_targets_are_one_clear_line(ssh_client: SshClient) -> None:
    plain = int(ssh_client.tether("run", "-H", "gpu", "--", "sleep", "60", check=True).stdout)
    try:
        line = one_line_error(ssh_client.tether("forward", "-H", "gpu", str(plain)))
        assert f"job {plain} declared no ports (tether run --port PORT" in line
    finally:
        ssh_client.tether("cancel", "-H", "gpu", str(plain))
    done = int(
        ssh_client.tether("run", "-H", "gpu", "--port", "8123", "--", "true", check=True).stdout
    )
    wait_for(lambda: ssh_client.tether("logs", "-H", "gpu", str(done), "-f").returncode == 0)
    line = one_line_error(ssh_client.tether("forward", "-H", "gpu", str(done)))
    assert f"job {done} has ended (succeeded)" in line
    line = one_line_error(ssh_client.tether("forward", "-H", "gpu", "web"))
    assert "forward takes a job id or :PORT (like 14 or :6006), not 'web'" in line
    line = one_line_error(ssh_client.tether("forward", "-H", "gpu", "99999"))
    assert "99999 is no job on gpu, and as a port it must be from 1 to 65535" in line
    line = one_line_error(ssh_client.tether("forward", "-H", "gpu", ":70000"))
    assert "must be from 1 to 65535" in line
    line = one_line_error(ssh_client.tether("forward", "-H", "gpu", ":8000", "--local", "x"))
    assert "--local takes a port number, not 'x'" in line
    bad = one_line_error(ssh_client.tether("run", "-H", "gpu", "--port", "0", "--", "true"))
    assert "--port" in bad and "1 to 65535" in bad
