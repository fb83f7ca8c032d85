"""The person's SSH setup is the configuration: ProxyJump, the agent, refused keys."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.sshd import SshClient, SshWorld, one_line_error


def _accepted(world: SshWorld, server: str) -> int:
    log = world.servers[server].log.read_text(errors="replace")
    return log.count(f"Accepted publickey for {world.account.name}")


def test_proxyjump_goes_through_the_jump_host(ssh_client: SshClient, ssh_world: SshWorld) -> None:
    through_jump = _accepted(ssh_world, "jump")
    job_id = int(
        ssh_client.tether("run", "-H", "gpu-via-jump", "--", "echo", "hopped", check=True).stdout
    )
    follow = ssh_client.tether("logs", "-H", "gpu-via-jump", str(job_id), "-f")
    assert (follow.returncode, follow.stdout) == (0, b"hopped\n")
    assert _accepted(ssh_world, "jump") >= through_jump + 2  # one hop per command


@pytest.fixture
def agent(tmp_path: Path, ssh_world: SshWorld) -> Iterator[str]:
    """A real ssh-agent holding the client key; yields its socket."""
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock), timeout=20)
        subprocess.run(
            ["ssh-add", "-q", str(ssh_world.client_key)],
            env={"SSH_AUTH_SOCK": sock, "PATH": os.environ["PATH"]},
            check=True,
            capture_output=True,
        )
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


def test_keys_from_the_agent_are_used(ssh_client: SshClient, agent: str) -> None:
    ssh_client.extra_env["SSH_AUTH_SOCK"] = agent
    ssh_client.tether("ls", "-H", "gpu-agent", check=True)


def test_no_usable_key_is_an_auth_refusal(ssh_client: SshClient, ssh_world: SshWorld) -> None:
    message = one_line_error(ssh_client.tether("ls", "-H", "gpu-agent"))
    assert f"refused every key for user {ssh_world.account.name!r}" in message
    assert "IdentityFile" in message and "ssh-add" in message
