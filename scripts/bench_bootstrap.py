#!/usr/bin/env python3
"""Benchmark reaching a host that has never seen tether, against plain `ssh HOST true`.

Starts its own OpenSSH sshd on 127.0.0.1 and throwaway unix accounts whose python3
is the system's, exactly as the install tests do (tests/install/conftest.py;
needs root and /usr/sbin/sshd), then times, each against `ssh HOST true` measured
in the same run (ratio = tether time / ssh time):

  first contact   `tether status -H HOST` on an account with no runner: probe,
                  upload, install, start, answer. With the wheels already in the
                  client's cache and the host's pip pointed at a dead index (the
                  offline-node path); goal <= 20 s on loopback. With --index, also
                  through the host's own pip and package index.
  later contact   `tether status -H HOST` once the runner is installed and running
                  (goal <= 1.5x `ssh HOST true`).

Run: .venv/bin/python scripts/bench_bootstrap.py [--firsts 3] [--laters 10] [--index]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.install.conftest import (  # noqa: E402
    FreshHost,
    InstallServers,
    _start_sshd,
    make_fresh_host,
)
from tests.sshd import _keygen, delete_account  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--firsts", type=int, default=3, help="first contacts timed (fresh accounts)"
    )
    parser.add_argument("--laters", type=int, default=10, help="later contacts timed")
    parser.add_argument(
        "--index",
        action="store_true",
        help="also time first contacts that install from the host's own index",
    )
    return parser.parse_args()


def timed(run: Callable[[], subprocess.CompletedProcess[bytes]]) -> float:
    started = time.perf_counter()
    done = run()
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed: {done.args}: {done.stderr.decode()[-500:]}")
    return elapsed


def ssh_true(host: FreshHost) -> subprocess.CompletedProcess[bytes]:
    config = host.client.home / ".ssh" / "config"
    return subprocess.run(
        [
            "ssh",
            "-F",
            str(config),
            "-o",
            f"UserKnownHostsFile={config.parent / 'known_hosts'}",
            "-o",
            "BatchMode=yes",
            "gpu",
            "true",
        ],
        capture_output=True,
        env=host.client.env,
    )


def tether_status(host: FreshHost) -> subprocess.CompletedProcess[bytes]:
    return host.tether("status", "-H", "gpu")


def first_contacts(servers: InstallServers, base: Path, count: int, index: bool) -> List[float]:
    times = []
    for i in range(count):
        host = make_fresh_host(servers, base / f"first-{'index' if index else 'wheels'}-{i}")
        try:
            if not index:
                host.block_index()
            times.append(timed(lambda host=host: tether_status(host)))  # type: ignore[misc]
            print(
                f"  first contact ({'host index' if index else 'client wheels'}) "
                f"#{i + 1}: {times[-1]:.2f} s",
                flush=True,
            )
        finally:
            delete_account(host.account)
    return times


def row(name: str, seconds: float, baseline: float, goal: str) -> str:
    return f"{name:<42} {seconds:8.3f} s   {seconds / baseline:7.1f}x   {goal}"


def main() -> int:
    args = parse_args()
    base = Path(tempfile.mkdtemp(prefix="tether-bench-bootstrap-", dir="/tmp"))
    base.chmod(0o755)
    key = base / "client_key"
    _keygen(key, "tether-bench")
    cache = base / "wheel-cache"
    cache.mkdir()
    sftp = _start_sshd(base, "sftp", sftp=True)
    nosftp = _start_sshd(base, "nosftp", sftp=False)
    servers = InstallServers(base, key, sftp, nosftp, cache)
    try:
        warm = make_fresh_host(servers, base / "warm")  # fills the client's wheel cache
        warm.block_index()
        timed(lambda: tether_status(warm))
        baseline = statistics.median(timed(lambda: ssh_true(warm)) for _ in range(args.laters))
        laters = [timed(lambda: tether_status(warm)) for _ in range(args.laters)]
        delete_account(warm.account)
        firsts = first_contacts(servers, base, args.firsts, index=False)
        index_firsts = first_contacts(servers, base, args.firsts, index=True) if args.index else []
    finally:
        sftp.stop()
        nosftp.stop()
        shutil.rmtree(base, ignore_errors=True)
    print()
    print(f"{'':<42} {'median':>10}   {'vs ssh':>8}   goal")
    print(row("ssh HOST true (baseline)", baseline, baseline, ""))
    print(
        row(
            "first contact, wheels cached on the client",
            statistics.median(firsts),
            baseline,
            "<= 20 s",
        )
    )
    if index_firsts:
        print(
            row(
                "first contact, host installs from its index",
                statistics.median(index_firsts),
                baseline,
                "<= 20 s",
            )
        )
    print(row("later contact (tether status)", statistics.median(laters), baseline, "<= 1.5x"))
    print(f"\nlater contacts: min {min(laters):.3f} s, max {max(laters):.3f} s over {len(laters)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
