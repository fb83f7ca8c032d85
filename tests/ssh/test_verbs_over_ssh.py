"""Every `tether` verb against a host reached over a real sshd, on both transports."""

from __future__ import annotations

import json

import pytest

from protocol.version import __version__
from tests.conftest import wait_for
from tests.sshd import SshClient, SshWorld

# Raw bytes, a carriage-return progress bar and a code the follow must exit with.
JOB = (
    "import sys, time\n"
    "out = sys.stdout.buffer\n"
    "out.write(b'start \\xff\\xfe not utf8\\n')\n"
    "for i in range(5):\n"
    "    out.write(b'\\r%d%%' % (i * 25)); out.flush(); time.sleep(0.05)\n"
    "sys.stderr.write('to stderr\\n'); sys.stderr.flush()\n"
    "out.write(b'\\nend\\n'); sys.exit(3)\n"
)
EXPECTED = (
    b"start \xff\xfe not utf8\n"
    + b"".join(b"\r%d%%" % (i * 25) for i in range(5))
    + b"to stderr\n\nend\n"
)
SLEEPER = "import time\nprint('waiting', flush=True)\ntime.sleep(120)\n"


def _jobs(client: SshClient, host: str) -> dict[int, dict[str, object]]:
    listed = json.loads(client.tether("ls", "-H", host, "--all", "--json", check=True).stdout)
    return {job["id"]: job for job in listed}


@pytest.mark.parametrize(("alias", "transport"), [("gpu", "streamlocal"), ("gpu-nofwd", "bridge")])
def test_every_verb_works_over_ssh(
    ssh_client: SshClient, ssh_world: SshWorld, alias: str, transport: str
) -> None:
    run = ssh_client.tether(
        "run", "-H", alias, "--name", "bytes", "--", "python3", "-c", JOB, check=True
    )
    job_id = int(run.stdout)

    follow = ssh_client.tether("logs", "-H", alias, str(job_id), "-f")
    assert follow.returncode == 3, follow.stderr
    assert follow.stdout == EXPECTED
    assert ssh_world.remote_log(job_id) == EXPECTED
    assert ssh_client.tether("logs", "-H", alias, str(job_id), check=True).stdout == EXPECTED
    tail = ssh_client.tether("logs", "-H", alias, str(job_id), "--tail", "1", check=True)
    assert tail.stdout == b"end\n"

    job = _jobs(ssh_client, alias)[job_id]
    assert (job["state"], job["exit_code"], job["name"]) == ("failed", 3, "bytes")
    assert job["cwd"] == str(ssh_world.account.home)  # a remote job starts in the remote home
    table = ssh_client.tether("ls", "-H", alias, "--all", check=True).stdout.decode()
    assert f"{job_id} " in table and "failed" in table

    sleeper = int(
        ssh_client.tether("run", "-H", alias, "--", "python3", "-c", SLEEPER, check=True).stdout
    )
    wait_for(lambda: _jobs(ssh_client, alias)[sleeper]["state"] == "running", timeout=30)
    cancel = ssh_client.tether("cancel", "-H", alias, str(sleeper), check=True)
    assert f"cancelled job {sleeper}" in cancel.stdout.decode()
    assert _jobs(ssh_client, alias)[sleeper]["state"] == "cancelled"

    status = ssh_client.tether("status", "-H", alias, check=True).stdout.decode()
    assert status.startswith(f"tether runner {__version__} on ")
    assert f"socket: {ssh_world.remote_state}" in status or "socket: /tmp/" in status
    as_json = json.loads(ssh_client.tether("status", "-H", alias, "--json", check=True).stdout)
    assert as_json["pid"] == ssh_world.remote_runner_pid()
    assert as_json["started_at"].endswith("+00:00")  # times in JSON: ISO 8601, UTC

    routes = json.loads((ssh_client.home / ".cache" / "tether" / "ssh-routes.json").read_text())
    assert routes[alias]["transport"] == transport
    # Each command closed its SSH connection (and, on the bridge, the bridge) on the way out.
    server = ssh_world.servers["gpu" if alias == "gpu" else "nofwd"]
    wait_for(lambda: not server.connection_processes(), timeout=20)


def test_unknown_job_over_ssh_is_one_clear_line(ssh_client: SshClient) -> None:
    result = ssh_client.tether("logs", "-H", "gpu", "999999")
    assert result.returncode == 1
    assert "999999" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_tether_host_sets_the_default_host(ssh_client: SshClient, ssh_world: SshWorld) -> None:
    ssh_client.extra_env["TETHER_HOST"] = "gpu"
    job_id = int(ssh_client.tether("run", "--", "true", check=True).stdout)
    assert ssh_world.remote_state.joinpath("jobs", str(job_id)).is_dir()
    ids = [
        j["id"] for j in json.loads(ssh_client.tether("ls", "--all", "--json", check=True).stdout)
    ]
    assert job_id in ids


def test_user_at_host_colon_port_needs_no_alias(ssh_client: SshClient, ssh_world: SshWorld) -> None:
    typed = f"{ssh_world.account.name}@127.0.0.1:{ssh_world.gpu.port}"
    config = ssh_client.tether_config
    config.write_text(config.read_text() + f'[hosts."{typed}"]\nrunner = "{ssh_world.runner}"\n')
    status = ssh_client.tether("status", "-H", typed, "--json", check=True)
    assert json.loads(status.stdout)["pid"] == ssh_world.remote_runner_pid()
