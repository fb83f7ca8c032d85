"""Placement across hosts, and ``HOST:ID`` references, through a real sshd.

Each "host" here is an alias of the test sshd whose runner lives in a home of
its own (the runner's state and socket follow ``HOME``) and replays the recorded
H100 in a phase of its own: "busy" has a foreign process on its one GPU (the
recording's load phase), "idle" has it free. So the runners disagree about
their GPUs exactly as three real boxes would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.sshd import SshClient, SshWorld
from tests.stats.conftest import RECORDING, steady_load_recording


@dataclass
class GpuHosts:
    client: SshClient
    runners: dict[str, str]

    def stop(self) -> None:
        for alias, runner in self.runners.items():
            self.client.world.account.run(runner, "stop")


@pytest.fixture
def gpu_hosts(ssh_client: SshClient, ssh_world: SshWorld) -> Iterator[GpuHosts]:
    recording = ssh_world.flags / "steady-load.json"
    if not recording.exists():
        steady_load_recording(recording)
        recording.chmod(0o644)
    idle = ssh_world.flags / "recording.json"
    if not idle.exists():
        idle.write_bytes(RECORDING.read_bytes())
        idle.chmod(0o644)
    hosts = GpuHosts(ssh_client, {})
    for alias, phase, source in (
        ("busy", "load", recording),
        ("busy2", "load", recording),
        ("idle", "idle", idle),
    ):
        unique = f"{alias}-{ssh_client.home.parent.name}"
        runner = ssh_world.own_runner(
            unique, TETHER_GPU_SOURCE=f"replay:{source}#{phase}", TETHER_STATS_INTERVAL="0.2"
        )
        hosts.runners[alias] = runner
        ssh_world.add_alias(ssh_client, alias, ssh_world.gpu.port, runner)
    try:
        yield hosts
    finally:
        hosts.stop()


def test_a_job_goes_where_its_gpus_are_free_and_is_named_host_colon_id(
    gpu_hosts: GpuHosts,
) -> None:
    client = gpu_hosts.client
    placed = client.tether("run", "-H", "busy,idle", "--gpus", "1", "--", "echo", "here")
    assert placed.returncode == 0, placed.stderr
    assert placed.stderr.decode().splitlines() == ["tether: placed on idle: 1 of 1 GPUs free"]
    ref = placed.stdout.decode().strip()
    host, _, job = ref.partition(":")
    assert host == "idle" and job.isdigit()
    logs = client.tether("logs", "-f", ref)
    assert (logs.returncode, logs.stdout) == (0, b"here\n")
    listed = json.loads(client.tether("ls", "-H", "idle", "--all", "--json", check=True).stdout)
    assert [(j["id"], j["gpus"]) for j in listed] == [(int(job), [0])]
    assert json.loads(client.tether("ls", "-H", "busy", "--all", "--json").stdout) == []

    # Nobody has the GPU free now: the job joins the shorter queue.
    queued = client.tether("run", "-H", "busy2", "--gpus", "1", "--", "true", check=True)
    again = client.tether("run", "-H", "busy,busy2", "--gpus", "1", "--", "true")
    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().startswith("busy:")
    assert "the shortest queue (0 jobs queued)" in again.stderr.decode()
    for ref in (f"busy2:{int(queued.stdout)}", again.stdout.decode().strip()):
        assert client.tether("cancel", ref).returncode == 0

    # A job no host can hold is refused, host by host, and nothing is sent.
    too_big = client.tether("run", "-H", "busy,idle", "--gpus", "2", "--", "true")
    assert too_big.returncode == 1 and too_big.stdout == b""
    assert too_big.stderr.decode() == (
        "tether: no host can take a job asking for --gpus 2 "
        "(busy: 1 GPU in all; idle: 1 GPU in all)\n"
    )


def test_top_once_shows_each_host_and_hosts_counts_their_free_gpus(gpu_hosts: GpuHosts) -> None:
    client = gpu_hosts.client
    frames = client.tether("top", "--once", "--json", "-H", "busy,idle", check=True)
    lines = [json.loads(line) for line in frames.stdout.decode().splitlines()]
    by_host = {line["host"]: line["top"] for line in lines}
    assert list(by_host) == ["busy", "idle"]
    assert [len(g["processes"]) for g in by_host["busy"]["gpus"]] == [1]
    assert [len(g["processes"]) for g in by_host["idle"]["gpus"]] == [0]
    text = client.tether("top", "--once", "-H", "busy,idle", check=True).stdout.decode()
    assert text.startswith("busy\n") and "\n\nidle\n" in text

    (client.tether_config).write_text(
        client.tether_config.read_text() + '\n[fleet]\nhosts = ["busy", "idle"]\n'
    )
    reports = json.loads(client.tether("hosts", "--json", check=True).stdout)
    assert [(r["host"], r["gpus_free"], r["gpus_total"]) for r in reports] == [
        ("busy", 0, 1),
        ("idle", 1, 1),
    ]
    following = client.tether("top", "-H", "busy,idle")
    assert following.returncode == 2
    assert following.stderr.decode().startswith(
        "tether top: follows one host: add --once for a frame of each (-H a,b,c and -H @all "
        "work with ls, status, top --once, run and hosts)"
    )


def test_a_reference_and_dash_h_that_disagree_are_refused(gpu_hosts: GpuHosts) -> None:
    client = gpu_hosts.client
    clash = client.tether("logs", "-H", "busy", "idle:1")
    assert clash.returncode == 2
    assert clash.stderr.decode() == (
        "tether logs: idle:1 is on idle, but -H says busy: give one of the two\n"
    )
    after = client.tether("run", "-H", "busy,idle", "--after", "3", "--", "true")
    assert after.returncode == 2
    assert after.stderr.decode() == (
        "tether run: --after names jobs of one host: give one -H with it\n"
    )
