#!/usr/bin/env python3
"""Every host at a glance: `tether hosts` and the app with many hosts, on loopback.

Starts its own OpenSSH sshd on 127.0.0.1 with a throwaway account, as
bench_ssh.py does (tests/sshd.py; needs root, /usr/sbin/sshd and tmux). Each
"host" is an alias of that sshd whose runner has a HOME of its own (its own
state, socket and daemon, as on another box) and replays one recorded H100
(tests/fixtures/nvml_h100.json, idle phase). Two things are measured, each
against a baseline taken in the same run:

  hosts  `tether hosts --json` over the whole fleet (default 20 hosts) against
         the slowest host asked alone (a client whose fleet is that host only);
         median of --repeat runs each, no kept connections (TETHER_PERSIST=0)
         ratio = fleet time / slowest single host; goal <= 1.5
  app    the full-screen app (`tether -H h0 -H h1 ...`) in a real tmux at
         80x24, with 1, 5 and 20 hosts open: its CPU (% of one core, over a
         window of --window seconds) and RSS, idle and while a job on h0 prints
         10,000 lines/s (the app keeps that log in its mirror); next to the app
         with one host open and a bare python at rest
         goals: idle CPU <= 1 % of a core, RSS < 200 MB at 20 hosts

All hosts share this machine's cores (and one sshd), so the fleet's 20 SSH
handshakes and runner calls compete for CPU as 20 real boxes would not: the
hosts ratio is pessimistic. Only the app's own process is measured (it speaks
SSH in-process).
Run: .venv/bin/python scripts/bench_fleet.py [--hosts 1,5,20] [--window 10]
     [--only hosts|app]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_keys import STREAMER, Tmux  # noqa: E402
from bench_ssh import bench_world, tether_argv  # noqa: E402

from tests.sshd import SshClient, SshWorld  # noqa: E402

RECORDING = REPO / "tests" / "fixtures" / "nvml_h100.json"
MB = 1024 * 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", default="1,5,20", help="hosts open in the app, per case")
    parser.add_argument("--fleet", type=int, default=20, help="hosts for `tether hosts`")
    parser.add_argument("--window", type=float, default=10.0, help="app measuring window (s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each `tether hosts`")
    parser.add_argument("--rate", type=int, default=10_000, help="lines/s of the streaming job")
    parser.add_argument("--only", choices=("hosts", "app"), help="run only this part")
    parser.add_argument("--screens", type=Path, help="keep each app's last screen in this folder")
    args = parser.parse_args()
    args.counts = sorted({int(n) for n in args.hosts.split(",")})
    return args


# -- the fleet ------------------------------------------------------------------------


@dataclass
class Fleet:
    world: SshWorld
    client: SshClient
    #: alias -> runner wrapper (its own HOME)
    runners: Dict[str, str]

    @property
    def names(self) -> List[str]:
        return list(self.runners)

    def runner_home(self, alias: str) -> Path:
        return self.world.base / f"home-{alias}"

    def stop(self) -> None:
        for runner in self.runners.values():
            self.world.account.run(runner, "stop")


def set_fleet(client: SshClient, hosts: List[str]) -> None:
    names = ", ".join(f'"{h}"' for h in hosts)
    client.tether_config.write_text(
        f"{client.tether_config.read_text()}\n[fleet]\nhosts = [{names}]\n"
    )


def build_fleet(world: SshWorld, count: int) -> Fleet:
    recording = world.flags / "recording.json"
    recording.write_bytes(RECORDING.read_bytes())
    recording.chmod(0o644)
    client = world.client(world.base / "client")
    fleet = Fleet(world, client, {})
    for index in range(count):
        alias = f"h{index}"
        runner = world.own_runner(alias, TETHER_GPU_SOURCE=f"replay:{recording}#idle")
        fleet.runners[alias] = runner
        world.add_alias(client, alias, world.gpu.port, runner)
    set_fleet(client, fleet.names)
    return fleet


def hosts_json(client: SshClient, timeout: float = 60) -> List[Dict[str, object]]:
    """Every host's report, or exit if one did not answer. The deadline is generous:
    here all hosts share this machine's cores, and with tether's 8 s a fresh client
    once lost all 20 hosts at once (their SSH servers, not the client, were busy)."""
    result = client.tether("hosts", "--json", "--timeout", str(timeout), timeout=timeout + 60)
    reports: List[Dict[str, object]] = json.loads(result.stdout or b"[]")
    down = [f"{r['host']}: {r['problem']}" for r in reports if r["link"] != "connected"]
    if result.returncode != 0 or down:
        raise SystemExit(f"tether hosts: not every host answered: {down or result.stderr!r}")
    return reports


def start_runners(fleet: Fleet) -> None:
    """First contact starts each host's runner; the timings want them running."""
    started = time.perf_counter()
    reports = hosts_json(fleet.client)
    print(
        f"{len(reports)} runners started in {time.perf_counter() - started:.1f} s "
        f"(first `tether hosts`, not timed)"
    )


# -- tether hosts ---------------------------------------------------------------------


def time_hosts(client: SshClient, expect: int) -> float:
    started = time.perf_counter()
    reports = hosts_json(client)
    elapsed = time.perf_counter() - started
    assert len(reports) == expect, reports
    return elapsed


def bench_hosts(fleet: Fleet, args: argparse.Namespace) -> None:
    hosts = fleet.names[: args.fleet]
    full = fleet.world.client(fleet.world.base / "client-hosts")
    singles: Dict[str, SshClient] = {}
    for alias in hosts:
        fleet.world.add_alias(full, alias, fleet.world.gpu.port, fleet.runners[alias])
        single = fleet.world.client(fleet.world.base / f"client-{alias}")
        fleet.world.add_alias(single, alias, fleet.world.gpu.port, fleet.runners[alias])
        set_fleet(single, [alias])
        singles[alias] = single
    set_fleet(full, hosts)
    first = {alias: time_hosts(client, 1) for alias, client in singles.items()}
    first_fleet = time_hosts(full, len(hosts))  # from here on routes are cached
    fleet_times: List[float] = []
    single_times: Dict[str, List[float]] = {alias: [] for alias in hosts}
    for _ in range(args.repeat):  # interleaved, so a busy moment hurts both sides
        fleet_times.append(time_hosts(full, len(hosts)))
        for alias, single in singles.items():
            single_times[alias].append(time_hosts(single, 1))
    t_fleet = statistics.median(fleet_times)
    medians = {alias: statistics.median(t) for alias, t in single_times.items()}
    slowest = max(medians, key=lambda alias: medians[alias])
    t_slow = medians[slowest]
    print(f"\ntether hosts --json (median of {args.repeat}; each host's runner running):")
    print(f"  {f'{len(hosts)} hosts at once':<28}  {t_fleet * 1000:7.0f} ms")
    print(f"  {f'slowest host alone ({slowest})':<28}  {t_slow * 1000:7.0f} ms")
    print(
        f"  (single hosts: fastest {min(medians.values()) * 1000:.0f} ms, "
        f"median {statistics.median(medians.values()) * 1000:.0f} ms)"
    )
    print(
        f"  (first contact of a fresh client: {len(hosts)} hosts {first_fleet * 1000:.0f} ms, "
        f"slowest alone {max(first.values()) * 1000:.0f} ms)"
    )
    verdict = "met" if t_fleet / t_slow <= 1.5 else "missed"
    print(
        f"  ratio ({len(hosts)} hosts / slowest alone): {t_fleet / t_slow:.2f}  (goal <= 1.5: {verdict})"
    )


# -- the app in tmux ------------------------------------------------------------------


@dataclass
class Usage:
    cpu_percent: float
    rss: int


def app_process(tmux: Tmux, session: str, timeout: float = 30) -> psutil.Process:
    """The app's python: the pane's process, or the one under it running tui.cli."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pane = tmux.run("list-panes", "-t", session, "-F", "#{pane_pid}").strip()
        if pane:
            root = psutil.Process(int(pane))
            for proc in [root, *root.children(recursive=True)]:
                if "tui.cli" in proc.cmdline():
                    return proc
        time.sleep(0.1)
    raise SystemExit(f"no app process in tmux session {session}")


def settle(tmux: Tmux, session: str, least: float = 5.0, most: float = 60.0) -> str:
    """Wait `least` seconds, then until no host on screen is still connecting."""
    started = time.monotonic()
    time.sleep(least)
    screen = tmux.screen(session)
    while "connecting" in screen and time.monotonic() - started < most:
        time.sleep(0.25)
        screen = tmux.screen(session)
    time.sleep(1.0)  # the first frames after connecting
    return tmux.screen(session)


def measure(proc: psutil.Process, window: float) -> Usage:
    before = proc.cpu_times()
    started = time.perf_counter()
    time.sleep(window)
    after = proc.cpu_times()
    elapsed = time.perf_counter() - started
    busy = (after.user + after.system) - (before.user + before.system)
    return Usage(100 * busy / elapsed, proc.memory_info().rss)


def log_lines(fleet: Fleet, alias: str, job: int) -> int:
    log = fleet.runner_home(alias) / ".local" / "state" / "tether" / "jobs" / str(job)
    try:
        return (log / "output.log").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def follow(tmux: Tmux, session: str, job: int, timeout: float = 20) -> bool:
    """Select `job` in the jobs table (Up, as a person would: the newest is on top)
    so that its log is the one on screen; an earlier case's job may hold the cursor."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = tmux.screen(session)
        if f"─job {job}:" in screen:
            return True
        if any(line.split()[:1] == [str(job)] for line in screen.splitlines()):
            tmux.run("send-keys", "-t", session, "Up")
        time.sleep(0.3)
    return False


@dataclass
class AppCase:
    hosts: int
    idle: Usage
    streaming: Usage
    rate: float  # lines/s the job wrote during the streaming window
    notes: List[str]


def bench_app_case(fleet: Fleet, tmux: Tmux, count: int, args: argparse.Namespace) -> AppCase:
    client, session = fleet.client, f"app{count}"
    argv = tether_argv(*[arg for alias in fleet.names[:count] for arg in ("-H", alias)])
    tmux.run(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "80",
        "-y",
        "24",
        "-c",
        str(client.home),
        shlex.join(argv),
    )
    notes: List[str] = []
    job: Optional[int] = None
    try:
        proc = app_process(tmux, session)
        # A second a host: the ones past the host bar's edge connect unseen, and
        # their first contact (handshake, 15 min of stats history) is not idling.
        screen = settle(tmux, session, least=5.0 + count)
        notes += [f"'{word}' on screen" for word in ("connecting", "offline") if word in screen]
        idle = measure(proc, args.window)
        seconds = args.window + 6
        out = (
            client.tether(
                "run",
                "-H",
                fleet.names[0],
                "--",
                "python3",
                "-c",
                STREAMER,
                str(args.rate),
                str(seconds),
                check=True,
            )
            .stdout.decode()
            .strip()
        )
        job = int(out.rpartition(":")[2])
        if not follow(tmux, session, job):
            notes.append(f"job {job} never selected")
        time.sleep(1.0)  # its lines reach the app
        first = log_lines(fleet, fleet.names[0], job)
        started = time.perf_counter()
        streaming = measure(proc, args.window)
        rate = (log_lines(fleet, fleet.names[0], job) - first) / (time.perf_counter() - started)
        screen = tmux.screen(session)
        if "step " not in screen:
            notes.append("the job's lines were not on screen")
        if args.screens:
            args.screens.mkdir(parents=True, exist_ok=True)
            (args.screens / f"{session}.txt").write_text(screen)
        if not proc.is_running():
            notes.append("the app exited")
    finally:
        tmux.run("kill-session", "-t", session)
        if job is not None:
            client.tether("cancel", "-H", fleet.names[0], str(job))
    return AppCase(count, idle, streaming, rate, notes)


def bare_python_rss() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        return int(psutil.Process(proc.pid).memory_info().rss)
    finally:
        proc.kill()
        proc.wait()


def bench_app(fleet: Fleet, args: argparse.Namespace) -> None:
    env = {**fleet.client.env.env, "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    tmux = Tmux(fleet.world.base / "tmux.sock", env)
    cases: List[AppCase] = []
    try:
        for count in args.counts:
            cases.append(bench_app_case(fleet, tmux, count, args))
    finally:
        tmux.run("kill-server")
    bare = bare_python_rss()
    base = cases[0]
    print(
        f"\nthe app in tmux 80x24, CPU over {args.window:g} s (% of one core) and RSS; "
        f"streaming: a job on {fleet.names[0]} printing {args.rate:,} lines/s:"
    )
    print(
        f"  {'hosts':>5}  {'idle CPU':>9}  {'idle RSS':>9}  {'stream CPU':>10}  "
        f"{'stream RSS':>10}  {'lines/s':>8}  vs {base.hosts} host(s): idle CPU, RSS"
    )
    for case in cases:
        print(
            f"  {case.hosts:>5}  {case.idle.cpu_percent:7.2f} %  {case.idle.rss / MB:6.0f} MB  "
            f"{case.streaming.cpu_percent:8.1f} %  {case.streaming.rss / MB:7.0f} MB  "
            f"{case.rate:8.0f}  {case.idle.cpu_percent / max(base.idle.cpu_percent, 0.01):5.1f}x, "
            f"{case.idle.rss / base.idle.rss:4.2f}x"
            + (f"  ({'; '.join(case.notes)})" if case.notes else "")
        )
    print(f"  (a bare python at rest: {bare / MB:.0f} MB)")
    last = cases[-1]
    worst_cpu = max(c.idle.cpu_percent for c in cases)
    worst_rss = max(max(c.idle.rss, c.streaming.rss) for c in cases if c.hosts == last.hosts)
    print(
        f"  goals: idle CPU <= 1 % of a core (worst {worst_cpu:.2f} %: "
        f"{'met' if worst_cpu <= 1 else 'missed'}); RSS < 200 MB at {last.hosts} hosts "
        f"({worst_rss / MB:.0f} MB: {'met' if worst_rss < 200 * MB else 'missed'})"
    )


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("bench_fleet: needs root (it creates a throwaway account for the remote side)")
        return 2
    if shutil.which("tmux") is None:
        print("bench_fleet needs tmux (scripts/setup.sh installs it)", file=sys.stderr)
        return 2
    parts = [args.only] if args.only else ["hosts", "app"]
    count = max([args.fleet if "hosts" in parts else 0, *args.counts])
    with bench_world("fleet") as world:
        fleet = build_fleet(world, count)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"sshd on 127.0.0.1:{world.gpu.port}; {os.cpu_count()} cores, load {load}")
        try:
            start_runners(fleet)
            if "hosts" in parts:
                bench_hosts(fleet, args)
            if "app" in parts:
                bench_app(fleet, args)
        finally:
            fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
