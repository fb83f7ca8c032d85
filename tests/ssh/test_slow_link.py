"""Over a slow, stalling link (tests/slow_link.py) through the real sshd: follows
stay byte-exact across cuts, and logs cross the link compressed when both sides
agree, plain when the client offers nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import wait_for
from tests.slow_link import PROFILES, SlowLink, add_slow_host
from tests.ssh.test_follow_over_ssh import Follower
from tests.sshd import SshClient, SshWorld

SLOW = "gpu-slow"

# Training-style text (numbers, a progress bar) or random bytes, until a flag
# file appears; then exits 5 (the random kind carries every byte value).
WRITER = (
    "import os, sys, time\n"
    "out = sys.stdout.buffer\n"
    "i = 0\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    if sys.argv[2] == 'text':\n"
    "        bar = b'#' * (i % 30) + b'.' * (30 - i % 30)\n"
    "        lines = [b'step %07d loss %.5f |%s| %d%%\\r\\n'\n"
    "                 % (i * 50 + k, 1.0 / (i + k + 1), bar, i % 100) for k in range(50)]\n"
    "        out.write(b''.join(lines))\n"
    "    else:\n"
    "        out.write(os.urandom(16384) + bytes(range(256)))\n"
    "    out.flush()\n"
    "    i += 1\n"
    "    time.sleep(0.02)\n"
    "out.write(b'done\\n'); sys.exit(5)\n"
)
# A finished training-style log of about 3 MB.
BULK = (
    "import sys\n"
    "out = sys.stdout.buffer\n"
    "for i in range(40000):\n"
    "    bar = b'=' * (i % 25) + b' ' * (25 - i % 25)\n"
    "    out.write(b'epoch %d step %07d loss %.6f acc %.4f |%s| %d it/s\\n' % "
    "(i // 1000, i, 1.0 / (i + 1), i / 40000, bar, 100 + i % 7))\n"
)


@pytest.fixture
def slow_link(ssh_world: SshWorld, ssh_client: SshClient) -> Iterator[SlowLink]:
    """The "bad-wifi" link (20 Mbit/s, 25 ms each way, 1-3 s stalls) to "gpu"."""
    with SlowLink(ssh_world.gpu.port, PROFILES["bad-wifi"], seed=16) as link:
        add_slow_host(ssh_client.home, SLOW, link, ssh_world)
        yield link


def _job(client: SshClient, *argv: str) -> int:
    run = client.tether("run", "-H", SLOW, "--", "python3", "-c", *argv, check=True, timeout=120)
    return int(run.stdout)


@pytest.mark.parametrize("kind", ["text", "random"])
def test_follow_over_a_stalling_link_is_byte_exact_across_two_cuts(
    ssh_client: SshClient, ssh_world: SshWorld, slow_link: SlowLink, tmp_path: Path, kind: str
) -> None:
    flag = ssh_world.flag(f"stop-{tmp_path.name}")
    job_id = _job(ssh_client, WRITER, str(flag), kind)
    follower = Follower(ssh_client, SLOW, job_id, tmp_path / "follow.out")
    try:
        for cut in range(2):
            seen = follower.received
            wait_for(lambda: follower.received > seen + 100_000, timeout=90)
            assert slow_link.cut() >= 1
            wait_for(lambda: follower.count("tether: reconnected") > cut, timeout=90)
        wait_for(lambda: slow_link.stalls >= 1, timeout=60)  # the link stalled at least once
        seen = follower.received
        wait_for(lambda: follower.received > seen + 100_000, timeout=90)
        flag.touch()
        assert follower.finish(timeout=120) == 5, follower.stderr
    finally:
        flag.touch()
        follower.finish()
    log = ssh_world.remote_log(job_id)
    assert log.endswith(b"done\n")
    assert follower.out.read_bytes() == log
    assert follower.count("tether: reconnecting") >= 2


def _wire(client: SshClient) -> dict:  # type: ignore[type-arg]
    status = client.tether("status", "-H", SLOW, "--json", check=True, timeout=120)
    return json.loads(status.stdout)["wire"]  # type: ignore[no-any-return]


def test_a_log_crosses_the_link_compressed_and_plain_when_not_offered(
    ssh_client: SshClient, ssh_world: SshWorld, slow_link: SlowLink
) -> None:
    job_id = _job(ssh_client, BULK)
    ssh_client.tether("wait", "-H", SLOW, str(job_id), check=True, timeout=120)
    log = ssh_world.remote_log(job_id)
    assert len(log) > 2_000_000

    before = slow_link.bytes_relayed
    got = ssh_client.tether("logs", "-H", SLOW, str(job_id), check=True, timeout=120)
    compressed = slow_link.bytes_relayed - before
    assert got.stdout == log
    assert compressed < len(log) / 3, (compressed, len(log))
    wire = _wire(ssh_client)
    assert wire["compression"] == "zlib"

    # A client that offers no compression (as an older one): plain frames, same bytes.
    ssh_client.extra_env["TETHER_WIRE_COMPRESSION"] = "off"
    before = slow_link.bytes_relayed
    got = ssh_client.tether("logs", "-H", SLOW, str(job_id), check=True, timeout=120)
    plain = slow_link.bytes_relayed - before
    assert got.stdout == log
    assert plain > len(log), (plain, len(log))
    wire = _wire(ssh_client)
    assert wire["compression"] is None
    assert wire["received"]["compressed_frames"] == 0
