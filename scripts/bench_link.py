#!/usr/bin/env python3
"""Benchmark tether over a slow, far link against plain `ssh`, in one run.

Builds the same world as scripts/bench_ssh.py (its own sshd on 127.0.0.1 and a
throwaway account; needs root), then puts a user-space relay (tests/slow_link.py,
profile "vpn": 20 Mbit/s each way, 25 ms each way, so 50 ms of round trip)
between every client and that sshd, and measures, each against a baseline taken
in the same run over the same relay:

  throughput  `tether logs -H HOST JOB` of a finished training-style log (text
              with numbers and progress bars), against `ssh HOST cat LOG` and
              `ssh -C HOST cat LOG` (ratio = ssh time / tether time; goals >= 3
              and >= 1.2)
  latency     a line written by a job -> the same line printed by
              `tether logs -H HOST JOB -f` (p50; goal <= one round trip + 10 ms),
              next to `ssh HOST tail -f LOG`
  connect     `tether ls -H HOST` warm (through the kept connection) against
              `ssh HOST true` (ratio = tether time / ssh time; goal <= 0.5)

Run: .venv/bin/python scripts/bench_link.py [--log-mb 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from bench_ssh import (  # noqa: E402
    bench_world,
    best_of,
    follow_latencies,
    latency_job,
    median_of,
    percentile,
    submit,
    tether_argv,
    timed,
    wait_finished,
)

from tests.conftest import wait_for  # noqa: E402
from tests.slow_link import PROFILES, SlowLink, add_slow_host  # noqa: E402
from tests.sshd import SshClient, SshWorld  # noqa: E402

HOST = "gpu-link"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-mb", type=int, default=30, help="size of the log to fetch (MB)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each throughput timing")
    parser.add_argument("--connects", type=int, default=5, help="runs of each connect timing")
    parser.add_argument("--lines", type=int, default=100, help="lines timed for latency")
    parser.add_argument("--interval-ms", type=float, default=50.0, help="gap between timed lines")
    parser.add_argument("--profile", default="vpn", choices=sorted(PROFILES))
    parser.add_argument(
        "--only", choices=("connect", "latency", "throughput"), action="append", help="one part"
    )
    return parser.parse_args()


def ssh_argv(client: SshClient, *remote: str, compress: bool = False) -> List[str]:
    """Plain OpenSSH over the relay, with tether's config, key and known_hosts."""
    return [
        "ssh",
        "-F",
        str(client.home / ".ssh" / "config"),
        "-o",
        f"UserKnownHostsFile={client.known_hosts}",
        "-o",
        "BatchMode=yes",
        *(["-C"] if compress else []),
        HOST,
        *remote,
    ]


def training_log_job(size: int) -> str:
    """A job printing ``size`` bytes of what training prints: step lines with
    losses and rates, and tqdm-style progress bars redrawn with \\r."""
    return (
        "import random, sys\n"
        "rng = random.Random(16)\n"
        "out = sys.stdout.buffer\n"
        f"left = {size}\n"
        "step = 0\n"
        "while left > 0:\n"
        "    parts = []\n"
        "    for _ in range(200):\n"
        "        step += 1\n"
        "        if step % 10:\n"
        "            pct = step % 100\n"
        "            bar = '\\u2588' * (pct // 10) + ' ' * (10 - pct // 10)\n"
        "            parts.append('\\r%3d%%|%s| %d/10000 [%02d:%02d<%02d:%02d, %.2fit/s]' % "
        "(pct, bar, step % 10000, step // 60 % 60, step % 60, rng.randrange(60), "
        "rng.randrange(60), rng.uniform(5, 60)))\n"
        "        else:\n"
        "            parts.append('\\nepoch %d step %d loss %.6f lr %.3e grad_norm %.4f "
        "tokens/s %d\\n' % (step // 10000, step, rng.uniform(0.1, 3), "
        "rng.uniform(1e-5, 3e-4), rng.uniform(0.1, 9), rng.randrange(10**5, 10**6)))\n"
        "    block = ''.join(parts).encode()[:left]\n"
        "    out.write(block); left -= len(block)\n"
    )


def bench_throughput(client: SshClient, world: SshWorld, args: argparse.Namespace) -> None:
    size = args.log_mb * 1_000_000
    job_id = submit(client, "python3", "-c", training_log_job(size))
    wait_finished(client, job_id)
    log = world.remote_state / "jobs" / str(job_id) / "output.log"
    assert log.stat().st_size == size, log.stat().st_size
    env = {**client.env.env, "TETHER_PERSIST": "0"}
    cwd = client.home
    n = args.repeat
    t_ssh = best_of(n, lambda: timed(ssh_argv(client, "cat", str(log)), env, cwd))
    t_ssh_c = best_of(n, lambda: timed(ssh_argv(client, "cat", str(log), compress=True), env, cwd))
    t_tether = best_of(n, lambda: timed(tether_argv("logs", "-H", HOST, str(job_id)), env, cwd))
    status = subprocess.run(
        tether_argv("status", "-H", HOST, "--json"), env=env, cwd=cwd, capture_output=True
    )
    codec = json.loads(status.stdout)["wire"]["compression"] if status.returncode == 0 else "?"
    mb = size / 1e6
    print(f"throughput, {args.log_mb} MB training-style log (best of {n}; codec {codec}):")
    for name, t in (("ssh cat", t_ssh), ("ssh -C cat", t_ssh_c), ("tether logs", t_tether)):
        print(f"  {name:12s} {t:7.2f} s  {mb / t:7.2f} MB/s")
    print(
        f"  ratio ssh cat / tether: {t_ssh / t_tether:.2f} (goal >= 3); "
        f"ssh -C cat / tether: {t_ssh_c / t_tether:.2f} (goal >= 1.2)"
    )


def bench_latency(
    client: SshClient, world: SshWorld, link: SlowLink, args: argparse.Namespace
) -> None:
    env = {**client.env.env, "TETHER_PERSIST": "0"}
    cwd = client.home
    job_id = submit(client, "python3", "-c", latency_job(args.lines, args.interval_ms))
    tether = follow_latencies(
        tether_argv("logs", "-H", HOST, str(job_id), "-f"), env, cwd, args.lines
    )
    job2 = submit(client, "python3", "-c", latency_job(args.lines, args.interval_ms))
    log = world.remote_state / "jobs" / str(job2) / "output.log"
    wait_for(log.exists, timeout=30)
    ssh = follow_latencies(
        ssh_argv(client, "tail", "-n", "+1", "-f", str(log)), env, cwd, args.lines
    )
    rtt_ms = link.profile.rtt_s * 1000
    print(
        f"follow latency, line written -> line printed ({args.lines} lines, one every "
        f"{args.interval_ms:.0f} ms; link round trip {rtt_ms:.0f} ms):"
    )
    for name, values in (("tether logs -f", tether), ("ssh tail -f", ssh)):
        print(
            f"  {name:15s} p50 {percentile(values, 50):6.1f} ms   "
            f"p99 {percentile(values, 99):6.1f} ms   ({len(values)} lines)"
        )
    print(f"  goal: tether p50 <= {rtt_ms + 10:.0f} ms (one round trip + 10 ms)")


def bench_connect(client: SshClient, args: argparse.Namespace) -> None:
    cwd = client.home
    cold = {**client.env.env, "TETHER_PERSIST": "0"}
    warm = {**client.env.env, "TETHER_PERSIST": "600"}
    n = args.connects
    t_ssh = median_of(n, lambda: timed(ssh_argv(client, "true"), cold, cwd))
    ls = tether_argv("ls", "-H", HOST)
    t_cold = median_of(n, lambda: timed(ls, cold, cwd))
    timed(ls, warm, cwd)  # starts the keeper
    wait_for(lambda: any(client.home.glob(".local/state/tether/run/k-*.sock")), timeout=30)
    t_warm = median_of(n, lambda: timed(ls, warm, cwd))
    timed(tether_argv("disconnect", "-H", HOST), warm, cwd)
    print(f"connect to answer over the link (median of {n}):")
    print(f"  ssh HOST true               {t_ssh * 1000:7.0f} ms")
    print(f"  tether ls -H HOST, cold     {t_cold * 1000:7.0f} ms   {t_cold / t_ssh:5.2f}x")
    print(f"  tether ls -H HOST, warm     {t_warm * 1000:7.0f} ms   {t_warm / t_ssh:5.2f}x")
    print(f"  ratio warm ls / ssh true: {t_warm / t_ssh:.2f}  (goal <= 0.5)")


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("bench_link: needs root (it creates a throwaway account for the remote side)")
        return 2
    profile = PROFILES[args.profile]
    with bench_world("link") as world:
        client = world.client(world.base / "client")
        with SlowLink(world.gpu.port, profile, seed=16) as link:
            add_slow_host(client.home, HOST, link, world)
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(
                f"link {profile.name}: {profile.rate_bps / 1e6:.0f} Mbit/s each way, "
                f"{profile.delay_s * 1000:.0f} ms each way, relay 127.0.0.1:{link.port} -> "
                f"sshd :{world.gpu.port}; {os.cpu_count()} cores, load {load}"
            )
            started = time.monotonic()
            parts = args.only or ["throughput", "latency", "connect"]
            if "throughput" in parts:
                bench_throughput(client, world, args)
            if "latency" in parts:
                bench_latency(client, world, link, args)
            if "connect" in parts:
                bench_connect(client, args)
            print(
                f"({time.monotonic() - started:.0f} s; {link.bytes_relayed / 1e6:.0f} MB relayed)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
