#!/usr/bin/env python3
"""A deep queue: does submitting stay flat at 10,000 jobs, as SQLite should make it?

pueue's README warns it was not built for hundreds of tasks: it rewrites its whole
state on every add, so an add grows from 4.6 ms to 24 ms by 2,500 tasks. Issue 18
asks tether to stay flat. Measured in one run, in a throwaway HOME (and
XDG_RUNTIME_DIR, XDG_STATE_HOME) with its own runner, whose queue is paused first
(`tether queue pause`) so no job ever starts:

  - submit latency with 0, 1,000, 5,000 and JOBS queued: the median of SAMPLES
    submits, one after another, over one client connection in this process
    (`HostSession.submit`); the queue is filled between levels over that same kind
    of connection, many submits in flight. Goal: last / first <= 2x;
  - `tether run -- true` as a person types it (a whole CLI process), near 0 and
    at JOBS queued;
  - `tether ls --json --all` of every job (goal < 1 s), its count checked, beside
    the same verb on an empty runner (the CLI's own start-up);
  - `tether cancel --group bench` of them all: until the runner shows none queued,
    and until the CLI has its answer (one that never comes is reported, with the
    runner log's last error, after 60 s);
  - the runner's RSS with JOBS queued and with JOBS finished (goal < 150 MB), the
    latter again in a fresh runner on the same state after three `ls`, and
    its idle CPU at 0, JOBS queued and JOBS finished (5 s each);
  - pueue beside it when `pueue` and `pueued` are found (on PATH, ~/.cargo/bin, or
    --pueue-bin DIR): its own daemon and config in the same tempdir, its default
    group paused, `pueue add -- true` timed at the same levels (2,500 too) until a
    level takes over --pueue-cap seconds; filled by parallel `pueue add` processes.
    A pueue add is a whole CLI process: compare it with `tether run`, not with the
    in-process submit.

  scripts/bench_queue.py [--jobs N] [--quick] [--no-pueue] [--pueue-bin DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import psutil

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
GROUP = "bench"
#: Submits in flight while filling the queue (timed submits go one at a time).
FILL_IN_FLIGHT = 32
PUEUE_FILL_PROCESSES = 4
#: pueue's own figures (its README): ms per add, by tasks already queued.
PUEUE_PUBLISHED = "4.6 ms per add at first, 24 ms by 2,500 tasks"


@dataclass(frozen=True)
class Level:
    """The median of `samples` timed operations with `queued` jobs already queued."""

    queued: int
    median_ms: float
    samples: int


def median_ms(seconds: Sequence[float]) -> float:
    return statistics.median(seconds) * 1000


def timed(argv: Sequence[str], env: Dict[str, str]) -> tuple[float, str]:
    """Seconds a command took, and its stdout; raises when it fails."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


def idle_cpu(pid: int, seconds: float = 5.0) -> float:
    """Percent of one core the process used over `seconds` while nobody asked it
    anything."""
    proc = psutil.Process(pid)
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    return (after.user + after.system - before.user - before.system) / seconds * 100


@dataclass(frozen=True)
class CancelResult:
    """Seconds until every job had ended, and until the CLI had its answer (None:
    it never came, `error` says what the runner logged)."""

    ended_s: float
    answered_s: Optional[float]
    error: str


def private_env(root: Path) -> Dict[str, str]:
    """A private HOME, XDG_RUNTIME_DIR and XDG_STATE_HOME under `root` (so its own
    runner), no GPU sampling, and no setting of the person's that would steer the
    CLI elsewhere. This process is pointed at it too: the in-process client finds
    the runner's socket from HOME, like the CLI."""
    home, runtime, state = root / "home", root / "runtime", root / "state"
    for path in (home, runtime, state):
        path.mkdir(parents=True)
        path.chmod(0o700)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_STATE_HOME": str(state),
        "TETHER_GPU_SOURCE": "none",
    }
    for key in ("TETHER_HOST", "XDG_CONFIG_HOME", "PYTHONPATH", "TETHER_EXECUTOR"):
        env.pop(key, None)
    os.environ.clear()
    os.environ.update(env)
    return env


class TetherBench:
    """A private HOME with its own runner, and this process pointed at it."""

    def __init__(self, root: Path) -> None:
        self.env = private_env(root)
        self.state = root / "state"
        self.submitted = 0

    def tether(self, *args: str) -> tuple[float, str]:
        return timed([str(VENV_BIN / "tether"), *args], self.env)

    def runner_pid(self) -> int:
        return int(json.loads(self.tether("status", "--json")[1])["pid"])

    def stop(self) -> None:
        subprocess.run([str(VENV_BIN / "tether-runner"), "stop"], env=self.env, capture_output=True)

    def queued(self) -> int:
        return int(json.loads(self.tether("status", "--json")[1])["job_counts"]["queued"])

    def last_runner_error(self) -> str:
        """The last exception line of the runner's log, or "" when it has none."""
        log = self.state / "tether" / "runner.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return next((line for line in reversed(lines) if "Error: " in line), "")

    def cancel_group(self, answer_timeout: float) -> CancelResult:
        """`tether cancel --group`, timed two ways: until the runner shows no
        queued job (polled with `tether status`), and until the CLI has its answer;
        a CLI still waiting after `answer_timeout` more seconds is killed."""
        start = time.perf_counter()
        cli = subprocess.Popen(
            [str(VENV_BIN / "tether"), "cancel", "--group", GROUP],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while self.queued() > 0 and cli.poll() is None:
            time.sleep(0.2)
        ended_s = time.perf_counter() - start
        try:
            cli.wait(answer_timeout)
        except subprocess.TimeoutExpired:
            cli.kill()
            cli.wait()
            return CancelResult(ended_s, None, self.last_runner_error())
        answered_s = time.perf_counter() - start if cli.returncode == 0 else None
        return CancelResult(ended_s, answered_s, "" if answered_s else self.last_runner_error())

    def cli_run(self, repeats: int) -> float:
        """Median ms of a whole `tether run -- true` process."""
        times = [self.tether("run", "--group", GROUP, "--", "true")[0] for _ in range(repeats)]
        self.submitted += repeats
        return median_ms(times)

    def list_all(self, repeats: int) -> float:
        """Median ms of `tether ls --json --all`; every job submitted must be listed."""
        times: List[float] = []
        for _ in range(repeats):
            elapsed, out = self.tether("ls", "--json", "--all")
            listed = len(json.loads(out))
            if listed != self.submitted:
                raise AssertionError(f"ls listed {listed} jobs, {self.submitted} were submitted")
            times.append(elapsed)
        return median_ms(times)

    def submit_levels(self, levels: Sequence[int], samples: int) -> List[Level]:
        return asyncio.run(self._submit_levels(levels, samples))

    async def _submit_levels(self, levels: Sequence[int], samples: int) -> List[Level]:
        from protocol.jobs import JobSpec
        from tui.hosts import make_session

        spec = JobSpec(argv=["true"], group=GROUP)
        session = make_session("local", reconnect=False)
        await session.start()
        results: List[Level] = []
        try:
            for level in levels:
                while self.submitted < level:
                    batch = min(FILL_IN_FLIGHT, level - self.submitted)
                    await asyncio.gather(*(session.submit(spec) for _ in range(batch)))
                    self.submitted += batch
                times: List[float] = []
                for _ in range(samples):
                    start = time.perf_counter()
                    await session.submit(spec)
                    times.append(time.perf_counter() - start)
                results.append(Level(self.submitted, median_ms(times), samples))
                self.submitted += samples
                print(
                    f"  tether: {results[-1].queued:>6,} queued  {results[-1].median_ms:7.2f} ms",
                    flush=True,
                )
        finally:
            await session.close()
        return results


@dataclass(frozen=True)
class PueueResult:
    levels: List[Level]
    stopped: Optional[str]
    state_bytes: int
    rss_mb: float


class PueueBench:
    """pueued in the same tempdir, with its own config, socket and state."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.pueue, self.dir = str(bin_dir / "pueue"), root / "pueue"
        for sub in ("home", "data", "runtime", "config"):
            (self.dir / sub).mkdir(parents=True)
            (self.dir / sub).chmod(0o700)
        self.config = self.dir / "config" / "pueue.yml"
        self.config.write_text(
            "shared:\n"
            f"  pueue_directory: {self.dir / 'data'}\n"
            f"  runtime_directory: {self.dir / 'runtime'}\n"
            f"  unix_socket_path: {self.dir / 'runtime' / 'pueue.socket'}\n"
            f"  alias_file: {self.dir / 'config' / 'pueue_aliases.yml'}\n"
        )
        self.env = {
            **os.environ,
            "HOME": str(self.dir / "home"),
            "XDG_CONFIG_HOME": str(self.dir / "config"),
            "XDG_DATA_HOME": str(self.dir / "data"),
            "XDG_RUNTIME_DIR": str(self.dir / "runtime"),
            "PUEUE_CONFIG_PATH": str(self.config),
        }
        self.daemon = subprocess.Popen(
            [str(bin_dir / "pueued"), "-c", str(self.config)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "pueued.log").open("wb"),
        )
        self.added = 0

    def cli(self, *args: str) -> float:
        return timed([self.pueue, "-c", str(self.config), *args], self.env)[0]

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.cli("status")
                return
            except RuntimeError:
                if time.monotonic() > deadline or self.daemon.poll() is not None:
                    raise
                time.sleep(0.1)

    def add(self) -> float:
        return self.cli("add", "--", "true")

    def fill(self, target: int) -> None:
        count = target - self.added
        if count <= 0:
            return
        with ThreadPoolExecutor(PUEUE_FILL_PROCESSES) as pool:
            list(pool.map(lambda _: self.add(), range(count)))
        self.added = target

    def measure(self, levels: Sequence[int], samples: int, cap_s: float) -> PueueResult:
        self.wait_ready()
        self.cli("pause")
        results: List[Level] = []
        stopped: Optional[str] = None
        for level in levels:
            start = time.monotonic()
            self.fill(level)
            times = [self.add() for _ in range(samples)]
            results.append(Level(self.added, median_ms(times), samples))
            self.added += samples
            took = time.monotonic() - start
            print(
                f"  pueue:  {level:>6,} queued  {results[-1].median_ms:7.2f} ms  ({took:.0f} s)",
                flush=True,
            )
            if took > cap_s and level != levels[-1]:
                stopped = f"stopped growing after {level:,} (that level took {took:.0f} s > {cap_s:.0f} s)"
                break
        state = self.dir / "data" / "state.json"
        state_bytes = state.stat().st_size if state.exists() else 0
        return PueueResult(results, stopped, state_bytes, rss_mb(self.daemon.pid))

    def stop(self) -> None:
        self.daemon.terminate()
        try:
            self.daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()


def find_pueue(bin_dir: Optional[Path]) -> Optional[Path]:
    """The directory holding both `pueue` and `pueued`, or None."""
    candidates = [bin_dir] if bin_dir is not None else []
    found = shutil.which("pueued")
    if found is not None:
        candidates.append(Path(found).parent)
    candidates.append(Path.home() / ".cargo" / "bin")
    for candidate in candidates:
        if all((candidate / name).is_file() for name in ("pueue", "pueued")):
            return candidate
    return None


def ratio_line(name: str, levels: List[Level], goal: str) -> str:
    first, last = levels[0], levels[-1]
    return (
        f"{name}: {first.queued:,} → {last.queued:,} queued: {first.median_ms:.2f} → "
        f"{last.median_ms:.2f} ms ({last.median_ms / first.median_ms:.2f}x{goal})"
    )


def cancel_line(total: int, cancel: CancelResult) -> str:
    line = f"cancel --group of {total:,} queued: all ended in {cancel.ended_s:.1f} s"
    if cancel.answered_s is not None:
        return f"{line}, the CLI answered in {cancel.answered_s:.1f} s"
    return f"{line}, but the CLI got NO ANSWER (runner log: {cancel.error or 'nothing'})"


def run_tether(root: Path, levels: List[int], samples: int, repeats: int) -> List[str]:
    bench = TetherBench(root)
    lines: List[str] = []
    try:
        bench.tether("queue", "pause")
        list_empty = bench.list_all(3)
        pid = bench.runner_pid()
        cpu_empty = idle_cpu(pid)
        submits = bench.submit_levels(levels[:1], samples)
        cli_first_at = bench.submitted
        cli_first = bench.cli_run(repeats)
        submits += bench.submit_levels(levels[1:], samples)
        cli_last_at = bench.submitted
        cli_last = bench.cli_run(repeats)
        total = bench.submitted
        list_queued = bench.list_all(3)
        print(f"  tether: ls --json --all of {total:,}: {list_queued / 1000:.2f} s", flush=True)
        rss_queued = rss_mb(pid)
        cpu_queued = idle_cpu(pid)
        cancel = bench.cancel_group(answer_timeout=60.0)
        print(f"  tether: {cancel_line(total, cancel)}", flush=True)
        list_finished = bench.list_all(3)
        rss_finished = rss_mb(pid)
        cpu_finished = idle_cpu(pid)
        bench.stop()
        bench.list_all(3)  # the first verb starts a fresh runner on the same state
        rss_restarted = rss_mb(bench.runner_pid())
    finally:
        bench.stop()
    lines.append(ratio_line("tether submit", submits, "; goal ≤ 2x"))
    lines += [f"  {lv.queued:>6,} queued  {lv.median_ms:7.2f} ms" for lv in submits]
    lines.append(
        f"tether run -- true (a CLI process): {cli_first_at:,} → {cli_last_at:,} queued: "
        f"{cli_first:.0f} → {cli_last:.0f} ms ({cli_last / cli_first:.2f}x)"
    )
    lines.append(f"ls --json --all of 0 jobs (the CLI's own cost): {list_empty / 1000:.2f} s")
    lines.append(f"ls --json --all of {total:,} queued: {list_queued / 1000:.2f} s (goal < 1 s)")
    lines.append(f"ls --json --all of {total:,} finished: {list_finished / 1000:.2f} s")
    lines.append(cancel_line(total, cancel))
    lines.append(f"runner RSS at {total:,} queued: {rss_queued:.0f} MB (goal < 150 MB)")
    lines.append(
        f"runner RSS at {total:,} finished: {rss_finished:.0f} MB (goal < 150 MB); "
        f"{rss_restarted:.0f} MB in a fresh runner after 3 ls"
    )
    lines.append(
        f"runner idle CPU: {cpu_empty:.1f} % of a core at 0 jobs, {cpu_queued:.1f} % at "
        f"{total:,} queued, {cpu_finished:.1f} % at {total:,} finished"
    )
    return lines


def run_pueue(
    root: Path, bin_dir: Path, levels: List[int], samples: int, cap_s: float
) -> List[str]:
    bench = PueueBench(root, bin_dir)
    try:
        result = bench.measure(levels, samples, cap_s)
    finally:
        bench.stop()
    lines = [ratio_line("pueue add (a CLI process)", result.levels, "")]
    lines += [f"  {lv.queued:>6,} queued  {lv.median_ms:7.2f} ms" for lv in result.levels]
    if result.stopped:
        lines.append(f"  {result.stopped}")
    last = result.levels[-1].queued
    lines.append(f"pueue state.json at {last:,}: {result.state_bytes / 1e6:.1f} MB")
    lines.append(f"pueued RSS at {last:,} queued: {result.rss_mb:.0f} MB")
    lines.append(f"pueue's README: {PUEUE_PUBLISHED}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="the deepest queue (10000)")
    parser.add_argument("--quick", action="store_true", help="levels 0/200/1000: a smoke run")
    parser.add_argument("--samples", type=int, default=50, help="timed submits per level")
    parser.add_argument("--no-pueue", action="store_true", help="skip pueue")
    parser.add_argument("--pueue-bin", type=Path, help="a directory with pueue and pueued")
    parser.add_argument(
        "--pueue-cap",
        type=float,
        default=180.0,
        help="stop growing pueue after a level this slow (s)",
    )
    args = parser.parse_args()
    deepest = 1000 if args.quick else args.jobs
    marks = (0, 200, 1000) if args.quick else (0, 1000, 5000)
    levels = sorted({m for m in marks if m < deepest} | {deepest})
    pueue_levels = sorted({m for m in (*marks, 2500) if m < deepest} | {deepest})
    pueue_bin = None if args.no_pueue else find_pueue(args.pueue_bin)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tether-queue-") as tmp:
        root = Path(tmp)
        print(f"tether: levels {', '.join(f'{lv:,}' for lv in levels)}; {args.samples} per level")
        lines = run_tether(root / "tether", levels, args.samples, 5)
        if args.no_pueue:
            lines.append("pueue: skipped (--no-pueue)")
        elif pueue_bin is None:
            lines.append(
                "pueue: skipped: pueue and pueued not found (on PATH, ~/.cargo/bin or --pueue-bin); "
                f"its README: {PUEUE_PUBLISHED}"
            )
        else:
            print(f"pueue ({pueue_bin}): levels {', '.join(f'{lv:,}' for lv in pueue_levels)}")
            pueue_samples = max(5, args.samples // 2)
            lines += run_pueue(root, pueue_bin, pueue_levels, pueue_samples, args.pueue_cap)
    print()
    print("\n".join(lines))
    print(f"(whole run: {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
