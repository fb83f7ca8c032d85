"""Over SSH, a route remembered from before a reboot leads to the attacker's
planted socket: the victim's client checks it on the host first, and never sends
it a byte."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.conftest import TwoAccounts, plant_fake_runner
from tests.sshd import SshWorld, _keygen, start_sshd


@pytest.fixture(scope="module")
def victim_world(two_accounts: TwoAccounts) -> Iterator[SshWorld]:
    """A real sshd that lets the victim in, as the `gpu` host of an SSH world."""
    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("/usr/sbin/sshd is missing: scripts/setup.sh installs openssh-server")
    base, victim = two_accounts.base, two_accounts.victim
    key = base / "client_key"
    public = _keygen(key, "tether-security-client")
    ssh_dir = victim.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "authorized_keys").write_text(public + "\n")
    (ssh_dir / "authorized_keys").chmod(0o600)
    subprocess.run(["chown", "-R", f"{victim.account.name}:", str(ssh_dir)], check=True)
    server = start_sshd(base, "security", victim.account.name)
    flags = base / "flags"
    flags.mkdir(mode=0o755, exist_ok=True)
    servers = {"gpu": server, "nofwd": server, "jump": server}
    try:
        yield SshWorld(base, victim.account, victim.runner, key, servers, flags)
    finally:
        server.stop()
        shutil.rmtree(ssh_dir, ignore_errors=True)


def _routes(home: Path) -> dict[str, dict[str, str]]:
    return json.loads((home / ".cache" / "tether" / "ssh-routes.json").read_text())  # type: ignore[no-any-return]


def test_a_remembered_route_to_a_planted_socket_is_never_used(
    accounts: TwoAccounts, victim_world: SshWorld, tmp_path: Path
) -> None:
    victim, attacker = accounts.victim, accounts.attacker
    first, second = victim.candidates()[:2]
    client = victim_world.client(tmp_path)
    contact = client.tether("ls", "-H", "gpu")
    assert contact.returncode == 0, contact.stderr.decode()
    route = _routes(client.home)["gpu"]
    assert route == {**route, "socket_path": str(first / "runner.sock"), "transport": "streamlocal"}
    # The host "reboots": the runner is gone and so is its directory in /tmp...
    assert victim.tether_runner("stop").returncode == 0
    shutil.rmtree(first)
    # ...and the attacker is first to create it, with a runner of its own.
    fake = plant_fake_runner(attacker, first)
    result = client.tether("run", "-H", "gpu", "--env", "HF_TOKEN=hf_secret", "--", "true")
    assert fake.heard() == b"", "the fake runner heard from the victim's client"
    assert result.returncode == 0, result.stderr.decode()
    assert _routes(client.home)["gpu"]["socket_path"] == str(second / "runner.sock")
    status = json.loads(victim.tether_runner("status", "--json").stdout)
    assert status["running"] and status["socket_path"] == str(second / "runner.sock")
