#!/usr/bin/env python3
"""Benchmark tether over SSH against plain `ssh`, on loopback, in one run.

Starts its own OpenSSH sshd on 127.0.0.1 with a throwaway account, exactly as
the test fixtures do (tests/sshd.py; needs root and /usr/sbin/sshd), then
measures three things, each against a baseline taken in the same run:

  throughput  `tether logs -H HOST JOB` of a large finished log, against
              `ssh HOST cat LOGFILE` (ratio = ssh time / tether time; goal >= 0.8)
  connect     `tether ls -H HOST` and `tether run -H HOST`, cold (connecting)
              and warm (through the kept connection), against `ssh HOST true`
              (ratio = tether time / ssh time; lower is better; warm goal <= 0.5)
  latency     from a line written by a job to the same line printed by
              `tether logs -H HOST JOB -f` (p50 and p99; goals 20 ms and 100 ms),
              next to the same for `ssh HOST tail -f LOGFILE`

Both clients print to a pipe the benchmark drains, so terminal speed is not
measured. Run: .venv/bin/python scripts/bench_ssh.py [--log-mb 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import wait_for  # noqa: E402
from tests.sshd import (  # noqa: E402
    SshClient,
    SshWorld,
    _keygen,
    _run,
    _runner_for,
    create_account,
    delete_account,
    start_sshd,
)
from tui.ssh.options import cpu_has_aes  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-mb", type=int, default=200, help="size of the log to fetch (MB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each throughput timing")
    parser.add_argument("--connects", type=int, default=10, help="runs of each connect timing")
    parser.add_argument("--lines", type=int, default=300, help="lines timed for latency")
    parser.add_argument(
        "--only",
        choices=("connect", "latency", "throughput"),
        action="append",
        help="run only this part (repeatable; default: all three)",
    )
    parser.add_argument(
        "--interval-ms", type=float, default=30.0, help="gap between the job's timed lines"
    )
    return parser.parse_args()


def build_world(base: Path, sftp: bool = False) -> SshWorld:
    account = create_account(base)
    key = base / "client_key"
    public = _keygen(key, "tether-bench")
    ssh_dir = account.home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "authorized_keys").write_text(public + "\n")
    _run("chown", "-R", f"{account.name}:", str(ssh_dir))
    flags = base / "flags"
    flags.mkdir(mode=0o755)
    world = SshWorld(base, account, _runner_for(account, base), key, {}, flags)
    for name in ("gpu", "nofwd", "jump"):
        world.servers[name] = start_sshd(
            base, name, account.name, streamlocal=name != "nofwd", sftp=sftp
        )
    return world


@contextlib.contextmanager
def bench_world(name: str, sftp: bool = False) -> Iterator[SshWorld]:
    """A world under a fresh /tmp folder, its sshds stopped, account deleted and
    folder removed afterwards, however the benchmark ends."""
    base = Path(tempfile.mkdtemp(prefix=f"tether-bench-{name}-", dir="/tmp"))
    base.chmod(0o755)
    world = None
    try:
        world = build_world(base, sftp=sftp)
        yield world
    finally:
        if world is not None:
            for server in world.servers.values():
                server.stop()
            delete_account(world.account)
        shutil.rmtree(base, ignore_errors=True)


def ssh_argv(client: SshClient, *remote: str) -> List[str]:
    """Plain OpenSSH with the same config, key and known_hosts as tether uses."""
    return [
        "ssh",
        "-F",
        str(client.home / ".ssh" / "config"),
        "-o",
        f"UserKnownHostsFile={client.known_hosts}",
        "-o",
        "BatchMode=yes",
        "gpu",
        *remote,
    ]


def tether_argv(*args: str) -> List[str]:
    return [sys.executable, "-m", "tui.cli", *args]


def timed(argv: List[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv[:6]} failed: {result.stderr.decode()}")
    return elapsed


def best_of(n: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(n))


def median_of(n: int, run: Callable[[], float]) -> float:
    return statistics.median(run() for _ in range(n))


def submit(client: SshClient, *argv: str) -> int:
    out = client.tether("run", "-H", "gpu", "--", *argv, check=True).stdout
    return int(out.strip())


def wait_finished(client: SshClient, job_id: int, timeout: float = 600) -> None:
    def finished() -> bool:
        jobs = json.loads(client.tether("ls", "-H", "gpu", "--all", "--json", check=True).stdout)
        return any(j["id"] == job_id and j["state"] == "succeeded" for j in jobs)

    wait_for(finished, timeout=timeout, interval=1.0)


def bench_throughput(client: SshClient, world: SshWorld, args: argparse.Namespace) -> None:
    size = args.log_mb * 1024 * 1024
    writer = (
        "import sys\n"
        "line = (b'0123456789abcdef' * 8)[:127] + b'\\n'\n"
        f"block = line * 8192\nleft = {size}\n"
        "while left > 0:\n"
        "    sys.stdout.buffer.write(block[:left]); left -= len(block)\n"
    )
    job_id = submit(client, "python3", "-c", writer)
    wait_finished(client, job_id)
    log = world.remote_state / "jobs" / str(job_id) / "output.log"
    assert log.stat().st_size == size, log.stat().st_size
    env, cwd = client.env.env, client.home
    t_ssh = best_of(args.repeat, lambda: timed(ssh_argv(client, "cat", str(log)), env, cwd))
    t_tether = best_of(
        args.repeat, lambda: timed(tether_argv("logs", "-H", "gpu", str(job_id)), env, cwd)
    )
    mb = size / 1e6
    print(f"throughput, {args.log_mb} MB log (best of {args.repeat}):")
    print(f"  ssh cat        {t_ssh:7.2f} s  {mb / t_ssh:8.1f} MB/s")
    print(f"  tether logs    {t_tether:7.2f} s  {mb / t_tether:8.1f} MB/s")
    print(f"  ratio (ssh time / tether time): {t_ssh / t_tether:.2f}  (goal >= 0.8)")


def bench_connect(client: SshClient, args: argparse.Namespace) -> None:
    """Cold: every verb connects on its own (``TETHER_PERSIST=0``, as before kept
    connections). Warm: a keeper holds the connection (`tui.keeper`), as for every
    verb after the first one within ``TETHER_PERSIST`` seconds."""
    cwd = client.home
    cold = {**client.env.env, "TETHER_PERSIST": "0"}
    warm = {**client.env.env, "TETHER_PERSIST": "600"}
    n = args.connects
    t_ssh = median_of(n, lambda: timed(ssh_argv(client, "true"), cold, cwd))
    ls = tether_argv("ls", "-H", "gpu")
    run = tether_argv("run", "-H", "gpu", "--", "true")
    t_ls_cold = median_of(n, lambda: timed(ls, cold, cwd))
    t_run_cold = median_of(n, lambda: timed(run, cold, cwd))
    timed(ls, warm, cwd)  # starts the keeper
    wait_for(lambda: any(client.home.glob(".local/state/tether/run/k-*.sock")), timeout=30)
    t_ls_warm = median_of(n, lambda: timed(ls, warm, cwd))
    t_run_warm = median_of(n, lambda: timed(run, warm, cwd))
    timed(tether_argv("disconnect", "-H", "gpu"), warm, cwd)
    t_version = median_of(n, lambda: timed(tether_argv("--version"), cold, cwd))
    print(f"connect to answer (median of {n}):")
    print(f"  ssh HOST true                 {t_ssh * 1000:7.0f} ms")
    for name, t in (
        ("tether ls -H HOST, cold", t_ls_cold),
        ("tether ls -H HOST, warm", t_ls_warm),
        ("tether run -H HOST, cold", t_run_cold),
        ("tether run -H HOST, warm", t_run_warm),
    ):
        print(f"  {name:28s}  {t * 1000:7.0f} ms   {t / t_ssh:5.2f}x ssh true")
    print(f"  (tether --version             {t_version * 1000:7.0f} ms: start-up alone)")
    print(
        f"  ratio warm ls / ssh true: {t_ls_warm / t_ssh:.2f}, warm run / ssh true: "
        f"{t_run_warm / t_ssh:.2f}  (goal <= 0.5)"
    )


def latency_job(lines: int, interval_ms: float) -> str:
    return (
        "import sys, time\n"
        "out = sys.stdout.buffer\n"
        "time.sleep(1.0)\n"
        f"for i in range({lines}):\n"
        "    out.write(b'tick %d %d\\n' % (i, time.time_ns())); out.flush()\n"
        f"    time.sleep({interval_ms / 1000.0})\n"
    )


def follow_latencies(argv: List[str], env: dict[str, str], cwd: Path, lines: int) -> List[float]:
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, bufsize=0)
    assert proc.stdout is not None
    delays: List[float] = []
    buffer = b""
    while len(delays) < lines:
        data = os.read(proc.stdout.fileno(), 65536)
        now = time.time_ns()
        if not data:
            break
        buffer += data
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            if line.startswith(b"tick "):
                delays.append((now - int(line.split()[2])) / 1e6)
    proc.terminate()
    proc.wait(30)
    return delays


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_latency(client: SshClient, world: SshWorld, args: argparse.Namespace) -> None:
    env, cwd = client.env.env, client.home
    job_id = submit(client, "python3", "-c", latency_job(args.lines, args.interval_ms))
    tether = follow_latencies(
        tether_argv("logs", "-H", "gpu", str(job_id), "-f"), env, cwd, args.lines
    )
    job2 = submit(client, "python3", "-c", latency_job(args.lines, args.interval_ms))
    log = world.remote_state / "jobs" / str(job2) / "output.log"
    wait_for(log.exists, timeout=30)
    ssh = follow_latencies(
        ssh_argv(client, "tail", "-n", "+1", "-f", str(log)), env, cwd, args.lines
    )
    print(
        f"follow latency, line written -> line printed ({args.lines} lines, "
        f"one every {args.interval_ms:.0f} ms):"
    )
    for name, values in (("tether logs -f", tether), ("ssh tail -f", ssh)):
        print(
            f"  {name:15s} p50 {percentile(values, 50):6.1f} ms   p99 {percentile(values, 99):6.1f} ms"
            f"   ({len(values)} lines)"
        )
    print(
        f"  ratio of p50 (tether / ssh tail): "
        f"{percentile(tether, 50) / max(percentile(ssh, 50), 0.001):.2f}  (goals: p50 <= 20 ms, "
        f"p99 <= 100 ms)"
    )


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("bench_ssh: needs root (it creates a throwaway account for the remote side)")
        return 2
    with bench_world("ssh") as world:
        client = world.client(world.base / "client")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"sshd on 127.0.0.1:{world.gpu.port}; {os.cpu_count()} cores, load {load}; "
            f"AES-GCM preferred: {'yes' if cpu_has_aes() else 'no'}"
        )
        parts = args.only or ["connect", "latency", "throughput"]
        if "connect" in parts:
            bench_connect(client, args)
        if "latency" in parts:
            bench_latency(client, world, args)
        if "throughput" in parts:
            bench_throughput(client, world, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
