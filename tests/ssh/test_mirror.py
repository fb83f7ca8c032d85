"""The local mirror through a real sshd: what was read while the host answered
is what ``ls``, ``logs`` and ``metrics`` show once it does not, byte for byte,
marked stale (one line on stderr, exit status 3, ``"stale": true``); a copy a
killed client left behind is repaired; a damaged one is never shown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from tests.conftest import wait_for
from tests.ssh.test_fleet import refused_port
from tests.sshd import SshClient, SshWorld

ALIAS = "mirrored"

JOB = r"""
import json, os, sys, time
out = sys.stdout.buffer
out.write(b"first line\n\x00\xff\xfe not utf-8\n\x1b[31mred\x1b[0m\n")
out.flush()
with open(os.environ["TETHER_METRICS"], "a") as m:
    for step, loss in enumerate([2.5, 1.25, float("nan")]):
        m.write(json.dumps({"step": step, "loss": loss}) + "\n")
flag = sys.argv[1]
while not os.path.exists(flag):
    time.sleep(0.05)
out.write(b"second part, after the flag\nlast line without a newline")
"""


def _alias(client: SshClient, port: int) -> None:
    """`ALIAS`: the test sshd under another name, its runner the world's."""
    world = client.world
    ssh_config = client.home / ".ssh" / "config"
    text = ssh_config.read_text()
    text = re.sub(rf"Host {ALIAS}\n(  .*\n)*", "", text)
    ssh_config.write_text(
        f"Host {ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n  User {world.account.name}\n"
        f"  IdentityFile {world.client_key}\n  IdentitiesOnly yes\n" + text
    )
    config = client.tether_config
    if f'[hosts."{ALIAS}"]' not in config.read_text():
        config.write_text(f'[hosts."{ALIAS}"]\nrunner = "{world.runner}"\n\n' + config.read_text())


STALE = re.compile(
    rf"^tether: {ALIAS} unreachable \(.*connection refused.*\); showing what was known at "
    r"\d\d:\d\d, \d+s ago"
)


def test_an_unreachable_host_answers_from_the_mirror_byte_for_byte_marked_stale(
    ssh_client: SshClient, ssh_world: SshWorld
) -> None:
    _alias(ssh_client, ssh_world.gpu.port)
    flag = ssh_world.flag(f"mirror-{os.getpid()}-{time.monotonic_ns()}")
    run = ssh_client.tether("run", "-H", ALIAS, "--", "python3", "-c", JOB, str(flag), check=True)
    job = int(run.stdout)
    ref = f"{ALIAS}:{job}"
    wait_for(lambda: b"red" in ssh_world.remote_log(job), timeout=30)
    first = ssh_client.tether("logs", ref, check=True).stdout  # read while it runs
    assert first == ssh_world.remote_log(job)
    online_metrics = ssh_client.tether("metrics", "--json", ref, check=True).stdout
    listed = json.loads(ssh_client.tether("ls", "-H", ALIAS, "--json", check=True).stdout)
    assert job in [j["id"] for j in listed]  # other tests' jobs are on this host too

    _alias(ssh_client, refused_port())  # the host is gone
    flag.write_text("")  # ...and its job goes on there, unseen
    logs = ssh_client.tether("logs", ref)
    assert logs.returncode == 3, logs.stderr
    assert logs.stdout == first  # exactly the part that was read
    err = logs.stderr.decode().splitlines()
    assert len(err) == 1 and STALE.match(err[0]), err
    assert err[0].endswith(f"; job {job} was running then, so there may be more now")
    tail = ssh_client.tether("logs", "--tail", "1", ref)
    assert (tail.returncode, tail.stdout) == (3, first.splitlines(keepends=True)[-1])

    metrics = ssh_client.tether("metrics", "--json", ref)
    assert (metrics.returncode, metrics.stdout) == (3, online_metrics)
    assert STALE.match(metrics.stderr.decode())

    ls = ssh_client.tether("ls", "-H", ALIAS, "--json")
    assert ls.returncode == 3 and STALE.match(ls.stderr.decode())
    rows = {r["id"]: r for r in json.loads(ls.stdout)}
    assert (rows[job]["state"], rows[job]["stale"]) == ("running", True)
    assert all(r["stale"] is True for r in rows.values())
    assert rows[job]["as_of"].endswith("+00:00")
    table = ssh_client.tether("ls", "-H", ALIAS)
    assert table.returncode == 3 and table.stdout.decode().split()[:2] == ["ID", "NAME"]

    unknown = ssh_client.tether("logs", f"{ALIAS}:{job + 1000}")
    assert unknown.returncode == 1 and "connection refused" in unknown.stderr.decode()
    assert unknown.stdout == b""
    never = ssh_client.tether("metrics", f"{ALIAS}:{job + 1000}")
    assert never.returncode == 1

    # Back: the rest of the log is read and kept, and the copy is the whole log.
    _alias(ssh_client, ssh_world.gpu.port)
    assert ssh_client.tether("logs", "-f", ref).returncode == 0
    whole = ssh_world.remote_log(job)
    assert whole.endswith(b"last line without a newline")
    _alias(ssh_client, refused_port())
    offline = ssh_client.tether("logs", ref)
    assert (offline.returncode, offline.stdout) == (3, whole)
    assert "there may be more" not in offline.stderr.decode()  # it had ended


def test_a_client_killed_while_writing_leaves_a_prefix_and_damage_is_never_shown(
    ssh_client: SshClient, ssh_world: SshWorld
) -> None:
    _alias(ssh_client, ssh_world.gpu.port)
    chatty = "import sys\nfor i in range(400000):\n    print(f'line {i:07d}', flush=i % 97 == 0)\n"
    job = int(
        ssh_client.tether("run", "-H", ALIAS, "--", "python3", "-c", chatty, check=True).stdout
    )
    ref = f"{ALIAS}:{job}"
    follow = ssh_client.popen(
        "logs", "-f", ref, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    copy = ssh_client.home / ".cache" / "tether" / "mirror" / ALIAS / "jobs" / str(job)
    wait_for(lambda: (copy / "output.log").exists(), timeout=60)
    wait_for(lambda: (copy / "output.log").stat().st_size > 200_000, timeout=60)
    follow.send_signal(signal.SIGKILL)  # mid-stream, mid-write as likely as not
    follow.communicate()
    with (copy / "output.log").open("ab") as log:
        log.write(b"line 99999\ngarbage a killed client could have left")

    _alias(ssh_client, refused_port())
    kept = ssh_client.tether("logs", ref)
    assert kept.returncode == 3
    whole = ssh_world.remote_log(job)
    assert len(kept.stdout) > 200_000 and whole.startswith(kept.stdout)

    raw = bytearray((copy / "output.log").read_bytes())
    raw[1000] ^= 0x01
    (copy / "output.log").write_bytes(bytes(raw))
    damaged = ssh_client.tether("logs", ref)
    assert damaged.returncode == 1 and damaged.stdout == b""
    assert f"the mirror holds no log of job {job}" in damaged.stderr.decode()

    pruned = ssh_client.tether("mirror", "--prune", "--json", check=True)
    report = json.loads(pruned.stdout)
    assert report["max_bytes"] == 2 * 1024**3
    assert [h["host"] for h in report["hosts"]] == [ALIAS]


@pytest.mark.parametrize("setting", ['"0"'])
def test_the_mirror_can_be_turned_off(
    ssh_client: SshClient, ssh_world: SshWorld, setting: str
) -> None:
    _alias(ssh_client, ssh_world.gpu.port)
    config = ssh_client.tether_config
    config.write_text(config.read_text() + f"\n[mirror]\nmax_size = {setting}\n")
    job = int(ssh_client.tether("run", "-H", ALIAS, "--", "echo", "hi", check=True).stdout)
    assert ssh_client.tether("logs", "-f", f"{ALIAS}:{job}").returncode == 0
    assert not (ssh_client.home / ".cache" / "tether" / "mirror" / ALIAS / "jobs").exists()
    _alias(ssh_client, refused_port())
    gone = ssh_client.tether("logs", f"{ALIAS}:{job}")
    assert gone.returncode == 1 and "connection refused" in gone.stderr.decode()
    config.write_text(config.read_text().replace('max_size = "0"', 'max_size = "lots"'))
    bad = ssh_client.tether("ls", "-H", ALIAS)
    assert bad.returncode == 1
    assert '[mirror] max_size is a size such as "500M" or "2G"' in bad.stderr.decode()
