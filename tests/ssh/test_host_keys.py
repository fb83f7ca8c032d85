"""known_hosts is always checked: first contact and changed keys fail clearly."""

from __future__ import annotations

import subprocess

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
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path
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
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path
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
