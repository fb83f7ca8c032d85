"""Several hosts at once, through a real sshd: ``tether hosts`` with a host that
answers, one that refuses and one that swallows the connection (accepts and
never speaks), within its deadline; ``ls`` and ``status`` across hosts with a
HOST column and one line per failure; the last answer of a host that went away."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.sshd import SshClient, SshWorld


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never says a word (a dropped route looks
    the same to a client: it waits)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: connecting is refused


def _fleet(client: SshClient, *hosts: str) -> None:
    config = client.tether_config.read_text()
    names = ", ".join(f'"{h}"' for h in hosts)
    client.tether_config.write_text(f"{config}\n[fleet]\nhosts = [{names}]\n")


def _add_alias(client: SshClient, alias: str, port: int) -> None:
    world = client.world
    ssh_config = client.home / ".ssh" / "config"
    block = (
        f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {world.account.name}\n"
        f"  IdentityFile {world.client_key}\n  IdentitiesOnly yes\n"
    )
    ssh_config.write_text(block + ssh_config.read_text())
    # The runner the world installed, as for its own aliases: a first contact must
    # not install one in the shared remote home (other tests look for it there).
    config = client.tether_config
    config.write_text(f'[hosts."{alias}"]\nrunner = "{world.runner}"\n\n' + config.read_text())


def test_hosts_asks_every_host_at_once_and_a_dead_one_costs_only_its_line(
    ssh_client: SshClient, ssh_world: SshWorld, blackhole: int
) -> None:
    _add_alias(ssh_client, "refusing", refused_port())
    _add_alias(ssh_client, "silent", blackhole)
    _fleet(ssh_client, "gpu", "refusing", "silent")
    started = time.monotonic()
    result = ssh_client.tether("hosts", "--json", "--timeout", "4")
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr  # some host did not answer
    reports = {r["host"]: r for r in json.loads(result.stdout)}
    assert list(reports) == ["gpu", "refusing", "silent"]
    gpu = reports["gpu"]
    assert gpu["link"] == "connected" and gpu["stale"] is False
    assert gpu["version"] and gpu["running"] == 0 and gpu["problem"] is None
    assert reports["refusing"]["link"] == "unreachable"
    assert "connection refused" in reports["refusing"]["problem"]
    assert reports["silent"]["problem"] == "no answer within 4 s (--timeout waits longer)"
    assert reports["silent"]["as_of"] is None  # never seen
    assert took < 4 + 6, took  # the silent host's deadline, not the sum of all

    table = ssh_client.tether("hosts", "--timeout", "2").stdout.decode().splitlines()
    assert table[0].split() == [
        "HOST",
        "LINK",
        "VERSION",
        "GPUS",
        "FREE",
        "RUNNING",
        "QUEUED",
        "SEEN",
    ]
    row = next(line for line in table if line.startswith("refusing"))
    assert "unreachable" in row and row.rstrip().endswith("(connection refused)")
    assert "never" in row


def test_ls_and_status_across_hosts_and_a_host_that_went_away(
    ssh_client: SshClient, ssh_world: SshWorld
) -> None:
    job = int(
        ssh_client.tether("run", "-H", "gpu", "--name", "far", "--", "true", check=True).stdout
    )
    _add_alias(ssh_client, "refusing", refused_port())
    listed = ssh_client.tether("ls", "-H", "gpu,refusing", "--json")
    assert listed.returncode == 1
    jobs = json.loads(listed.stdout)
    assert {(j["host"], j["id"], j["name"]) for j in jobs} >= {("gpu", job, "far")}
    err = listed.stderr.decode().strip().splitlines()
    assert err == ["tether: refusing: cannot reach 127.0.0.1 port " + err[0].split("port ")[1]]
    table = ssh_client.tether("ls", "-H", "gpu,refusing").stdout.decode().splitlines()
    assert table[0].split()[:2] == ["HOST", "ID"]
    assert any(line.split()[:3] == ["gpu", str(job), "far"] for line in table)

    status = ssh_client.tether("status", "-H", "gpu,refusing")
    assert status.returncode == 1 and status.stdout.decode().startswith("gpu: runner ")
    one = ssh_client.tether("logs", "-H", "gpu,refusing", str(job))
    assert one.returncode == 2
    assert one.stderr.decode() == (
        "tether logs: acts on one host at a time (-H a,b,c and -H @all work with ls, status, "
        "top --once, run and hosts)\n"
    )

    # "flaky" answers once, then its address stops answering: its last answer stays.
    _add_alias(ssh_client, "flaky", ssh_world.gpu.port)
    _fleet(ssh_client, "flaky")
    first = ssh_client.tether("hosts", "--json", "--timeout", "60")  # a first contact
    answered = {r["host"]: r["link"] for r in json.loads(first.stdout)}
    assert answered["flaky"] == "connected", first.stdout
    ssh_config = ssh_client.home / ".ssh" / "config"
    ssh_config.write_text(
        ssh_config.read_text().replace(f"Port {ssh_world.gpu.port}", f"Port {refused_port()}", 1)
    )
    again = ssh_client.tether("hosts", "--json")
    flaky = next(r for r in json.loads(again.stdout) if r["host"] == "flaky")
    assert flaky["stale"] is True and flaky["as_of"] is not None and flaky["version"]
    row = next(
        line
        for line in ssh_client.tether("hosts").stdout.decode().splitlines()
        if line.startswith("flaky")
    )
    assert "unreachable" in row and "s ago" in row and f"({flaky['version']})" in row
