"""known_hosts is always checked: first contact and changed keys fail clearly."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.sshd import SshClient, SshWorld, one_line_error


def _fingerprint(line: str) -> str:
    result = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input=line, capture_output=True, text=True, check=True
    )
    return result.stdout.split()[1]


def _without(text: str, port: int) -> str:
    return "".join(ln for ln in text.splitlines(True) if not ln.startswith(f"[127.0.0.1]:{port} "))


def test_unknown_host_key_fails_with_how_to_accept_it(
    ssh_client: SshClient, ssh_world: SshWorld
) -> None:
    port = ssh_world.gpu.port
    ssh_client.known_hosts.write_text(_without(ssh_world.known_hosts(), port))
    before = ssh_client.known_hosts.read_bytes()

    message = one_line_error(ssh_client.tether("ls", "-H", "gpu"))
    assert f"the host key of [127.0.0.1]:{port} is not in ~/.ssh/known_hosts" in message
    assert _fingerprint(ssh_world.gpu.host_key_line) in message
    assert f"ssh-keyscan -p {port} 127.0.0.1 >> ~/.ssh/known_hosts" in message
    assert "`ssh gpu`" in message
    assert ssh_client.known_hosts.read_bytes() == before  # never accepted behind the back

    # Doing what the message says is enough.
    scanned = subprocess.run(
        ["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True, check=True
    ).stdout
    with ssh_client.known_hosts.open("a") as out:
        out.write(scanned)
    ssh_client.tether("ls", "-H", "gpu", check=True)


def test_changed_host_key_is_refused_loudly(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    port = ssh_world.gpu.port
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    old_key = " ".join(impostor.with_suffix(".pub").read_text().split()[:2])
    ssh_client.known_hosts.write_text(
        _without(ssh_world.known_hosts(), port) + f"[127.0.0.1]:{port} {old_key}\n"
    )

    message = one_line_error(ssh_client.tether("status", "-H", "gpu"))
    assert "HOST KEY OF [127.0.0.1]:" in message and "HAS CHANGED" in message
    assert _fingerprint(ssh_world.gpu.host_key_line) in message
    assert "refuses to connect" in message
    assert f"ssh-keygen -R '[127.0.0.1]:{port}'" in message


def test_changed_key_is_refused_on_the_bridge_path_too(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    port = ssh_world.servers["nofwd"].port
    ssh_client.known_hosts.write_text(
        _without(ssh_world.known_hosts(), port)
        + f"[127.0.0.1]:{port} {ssh_world.gpu.host_key_line}\n"  # another server's key
    )
    assert "HAS CHANGED" in one_line_error(ssh_client.tether("ls", "-H", "gpu-nofwd"))


def test_unknown_jump_host_key_is_named(ssh_client: SshClient, ssh_world: SshWorld) -> None:
    jump = ssh_world.servers["jump"].port
    ssh_client.known_hosts.write_text(_without(ssh_world.known_hosts(), jump))
    message = one_line_error(ssh_client.tether("ls", "-H", "gpu-via-jump"))
    assert "jump host (ProxyJump)" in message and "127.0.0.1" in message


def test_a_jump_host_is_checked_even_where_the_ssh_config_turns_checking_off(
    ssh_client: SshClient, ssh_world: SshWorld
) -> None:
    jump = ssh_world.servers["jump"].port
    config = ssh_client.home / ".ssh" / "config"
    config.write_text(config.read_text() + "Host *\n  UserKnownHostsFile none\n")
    ssh_client.known_hosts.write_text(_without(ssh_world.known_hosts(), jump))
    before = ssh_client.known_hosts.read_bytes()

    message = one_line_error(ssh_client.tether("ls", "-H", "gpu-via-jump"))
    # The same sentence as for the last hop, naming the jump host.
    assert message.startswith("tether: gpu-via-jump's jump host (ProxyJump) jump: ")
    assert f"the host key of [127.0.0.1]:{jump} is not in ~/.ssh/known_hosts" in message
    assert _fingerprint(ssh_world.servers["jump"].host_key_line) in message
    assert f"ssh-keyscan -p {jump} 127.0.0.1 >> ~/.ssh/known_hosts" in message
    assert "`ssh jump`" in message
    assert ssh_client.known_hosts.read_bytes() == before

    # A changed jump host key is refused as loudly as the last hop's.
    other = ssh_world.gpu.host_key_line
    ssh_client.known_hosts.write_text(before.decode() + f"[127.0.0.1]:{jump} {other}\n")
    changed = one_line_error(ssh_client.tether("ls", "-H", "gpu-via-jump"))
    assert f"THE HOST KEY OF [127.0.0.1]:{jump} HAS CHANGED" in changed

    # With the key known, the same config goes through the jump host.
    ssh_client.known_hosts.write_text(ssh_world.known_hosts())
    ssh_client.tether("ls", "-H", "gpu-via-jump", check=True)
