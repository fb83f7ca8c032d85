#!/usr/bin/env python3
"""Benchmark the app (tether's TUI) where it has to stay quick.

Runs in a throwaway HOME with its own runner, the app driven by Textual's Pilot
in this process (headless: the time to draw a frame is counted, the terminal's
time to show it is not). Prints each number with a ratio against a baseline
measured in the same run, since absolute times drift on shared machines:

  1. keystroke to screen while a job prints LINES_PER_S lines a second: from a
     key (PgUp/PgDn in the log, alternately) to the first frame that shows its
     effect; median and p95 (goal: <= 50 ms), against the same keys with no job
     printing; and the app's CPU % and RSS while it streams (goal RSS <= 250 MB),
     against the app idle;
  2. opening a log of BIG_LINES lines (~100 MB): from selecting the job to the
     first frame showing its last line (goal <= 1 s), against opening a
     1,000-line log; the app's RSS then (goal <= 250 MB); and one step of
     scrolling back into earlier output.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PY = sys.executable

STREAMER = """
import sys, time
rate = int(sys.argv[1]); seconds = float(sys.argv[2])
out = sys.stdout; batch = rate // 100; i = 0
start = time.monotonic()
while time.monotonic() - start < seconds:
    out.write(''.join(f'step {j:08d} loss {1 / (j + 1):.6f} lr 3.0e-04 \\x1b[32mok\\x1b[0m\\n'
                      for j in range(i, i + batch)))
    out.flush()
    i += batch
    time.sleep(max(0.0, start + i / rate - time.monotonic()))
"""
BIG = """
import sys
n = int(sys.argv[1]); out = sys.stdout
pad = 'x' * 60
for start in range(0, n, 10000):
    out.write(''.join(f'line {i:09d} loss {1 / (i + 1):.8f} {pad}\\n' for i in range(start, min(n, start + 10000))))
"""


class FrameClock:
    """Timestamps of the frames the app draws, and what was on them."""

    def __init__(self, app: Any) -> None:
        self.frames: List[float] = []
        self.checks: List[tuple[Callable[[], bool], asyncio.Future[float]]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            now = time.perf_counter()
            self.frames.append(now)
            for check, future in list(self.checks):
                if not future.done() and check():
                    future.set_result(now)
                    self.checks.remove((check, future))

        app._display = display

    async def first_frame_where(self, check: Callable[[], bool], timeout: float = 30.0) -> float:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.checks.append((check, future))
        return await asyncio.wait_for(future, timeout)


async def until(pilot: Any, predicate: Callable[[], Any], timeout: float = 60.0) -> None:
    """Let the app run until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app never reached: {predicate}")
        await pilot.pause(0.02)


def setup_home(root: Path) -> dict[str, str]:
    home = root / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "TETHER_GPU_SOURCE": "none",
    }
    for key in ("XDG_CONFIG_HOME", "TETHER_HOST"):
        env.pop(key, None)
    os.environ.update(env)
    os.chdir(home)
    subprocess.run(
        [PY, "-m", "runner", "serve", "--daemon"], env=env, check=True, capture_output=True
    )
    return env


def tether(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, "-m", "tui.cli", *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


async def key_latency(app: Any, pilot: Any, clock: FrameClock, presses: int) -> List[float]:
    """Milliseconds from each key to the first frame showing the log moved."""
    from textual import events

    from tui.app.log_lines import LogLines

    lines = app.current_view.query_one(LogLines)
    lines.focus()
    await pilot.pause(0.2)
    results = []
    for n in range(presses):
        key = "pageup" if n % 2 == 0 else "pagedown"
        before = lines.scroll_offset.y
        waiting = asyncio.ensure_future(
            clock.first_frame_where(lambda before=before: lines.scroll_offset.y != before)
        )
        await asyncio.sleep(0)
        start = time.perf_counter()
        app._driver.send_message(events.Key(key, None))
        shown = await waiting
        results.append((shown - start) * 1000)
        await asyncio.sleep(0.05)
    await pilot.press("end")
    return results


def summary(values: List[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def stream_bench(
    env: dict[str, str], rate: int, seconds: float, presses: int
) -> dict[str, Any]:
    from tui.app.app import TetherApp
    from tui.app.log_panel import LogPanel

    me = psutil.Process()
    out: dict[str, Any] = {}
    quiet = tether(env, "run", "--name", "quiet", "--", PY, "-c", BIG, "5000")
    tether(env, "logs", "-f", quiet, "--tail", "0")
    app = TetherApp([""], watch_stats=False, remember_hosts=False)
    async with app.run_test(size=(120, 40)) as pilot:
        clock = FrameClock(app)
        await until(pilot, lambda: app.current_monitor.connected and app.current_monitor.jobs)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: panel.job_id == int(quiet) and panel.ended is not None)
        await pilot.pause(1.0)
        out["idle_ms"] = await key_latency(app, pilot, clock, presses)
        cpu0, t0 = me.cpu_times(), time.monotonic()
        await pilot.pause(2.0)
        cpu1, t1 = me.cpu_times(), time.monotonic()
        out["idle_cpu"] = 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (t1 - t0)
        out["idle_rss"] = me.memory_info().rss

        job = tether(
            env, "run", "--name", "streamer", "--", PY, "-c", STREAMER, str(rate), str(seconds)
        )
        await until(pilot, lambda: app.current_monitor.job(int(job)) is not None)
        app.current_view.table.select_job(int(job))
        await until(pilot, lambda: panel.job_id == int(job) and panel.window.line_count > rate // 2)
        cpu0, t0 = me.cpu_times(), time.perf_counter()
        taken0 = panel.log_size
        out["stream_ms"] = await key_latency(app, pilot, clock, presses)
        await pilot.pause(1.0)
        cpu1, t1 = me.cpu_times(), time.perf_counter()
        out["stream_cpu"] = (
            100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (t1 - t0)
        )
        out["stream_rss"] = me.memory_info().rss
        out["bytes_per_s"] = (panel.log_size - taken0) / (t1 - t0)
        out["frames_per_s"] = sum(1 for f in clock.frames if t0 <= f <= t1) / (t1 - t0)
        await app.action_quit()
    return out


async def open_bench(env: dict[str, str], job: int, last_line: str) -> dict[str, Any]:
    """Seconds from selecting `job` to the first frame showing `last_line`."""
    from tui.app.app import TetherApp
    from tui.app.log_panel import LogPanel

    me = psutil.Process()
    app = TetherApp([""], watch_stats=False, remember_hosts=False)
    out: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        clock = FrameClock(app)
        await until(pilot, lambda: app.current_monitor.connected and app.current_monitor.jobs)
        view = app.current_view
        panel = view.query_one(LogPanel)
        await pilot.pause(0.5)
        panel.job_id = None
        await pilot.pause(0.5)
        rss0 = me.memory_info().rss
        shown = clock.first_frame_where(
            lambda: any(last_line in t for t in panel.lines.render_lines_text())
        )
        start = time.perf_counter()
        panel.job_id = job
        out["first_screen_s"] = await shown - start
        out["rss"] = me.memory_info().rss
        out["rss_before"] = rss0
        out["held_bytes"] = panel.window.end - panel.window.start
        start_offset = panel.window.start
        if start_offset > 0:
            panel.lines.focus()
            start = time.perf_counter()
            await pilot.press("home")
            await until(pilot, lambda: panel.window.start < start_offset)
            out["scroll_back_s"] = time.perf_counter() - start
        await app.action_quit()
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lines-per-s", type=int, default=10_000, help="the streaming job's rate (10000)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="how long it streams (20)")
    parser.add_argument("--presses", type=int, default=40, help="keys timed per case (40)")
    parser.add_argument(
        "--big-lines", type=int, default=1_000_000, help="lines of the big log (1000000)"
    )
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="tether-bench-tui-"))
    env = setup_home(root)
    try:
        print(
            f"streaming: a job printing {args.lines_per_s:,} lines/s; {args.presses} keys per case"
        )
        s = asyncio.run(stream_bench(env, args.lines_per_s, args.seconds, args.presses))
        idle_med, idle_p95 = summary(s["idle_ms"])
        med, p95 = summary(s["stream_ms"])
        print(f"  key to screen, idle:      median {idle_med:6.1f} ms  p95 {idle_p95:6.1f} ms")
        print(
            f"  key to screen, streaming: median {med:6.1f} ms  p95 {p95:6.1f} ms  "
            f"(x{med / idle_med:.2f} idle; goal <= 50 ms: {'met' if p95 <= 50 else 'NOT met'})"
        )
        print(
            f"  stream taken in: {s['bytes_per_s'] / 1e6:.2f} MB/s, {s['frames_per_s']:.1f} frames/s"
        )
        print(
            f"  app CPU: {s['stream_cpu']:.0f}% of a core streaming vs {s['idle_cpu']:.0f}% idle; "
            f"RSS {s['stream_rss'] / 2**20:.0f} MB streaming vs {s['idle_rss'] / 2**20:.0f} MB idle "
            f"(goal <= 250 MB: {'met' if s['stream_rss'] <= 250 * 2**20 else 'NOT met'})"
        )

        print(f"big log: {args.big_lines:,} lines")
        small = tether(env, "run", "--", PY, "-c", BIG, "1000")
        big = tether(env, "run", "--", PY, "-c", BIG, str(args.big_lines))
        tether(env, "logs", "-f", big, "--tail", "0")
        tether(env, "logs", "-f", small, "--tail", "0")
        size = (root / "home/.local/state/tether/jobs" / big / "output.log").stat().st_size
        o_small = asyncio.run(open_bench(env, int(small), "line 000000999"))
        o_big = asyncio.run(open_bench(env, int(big), f"line {args.big_lines - 1:09d}"))
        print(
            f"  first screen: {o_big['first_screen_s'] * 1000:.0f} ms for {size / 1e6:.0f} MB vs "
            f"{o_small['first_screen_s'] * 1000:.0f} ms for 1,000 lines "
            f"(x{o_big['first_screen_s'] / o_small['first_screen_s']:.2f}; goal <= 1 s: "
            f"{'met' if o_big['first_screen_s'] <= 1 else 'NOT met'})"
        )
        print(
            f"  read to show it: {o_big['held_bytes'] / 1e3:.0f} kB of {size / 1e6:.0f} MB; "
            f"one step back into earlier output: {o_big['scroll_back_s'] * 1000:.0f} ms"
        )
        print(
            f"  app RSS: {o_big['rss'] / 2**20:.0f} MB with the big log open vs "
            f"{o_big['rss_before'] / 2**20:.0f} MB before "
            f"(goal <= 250 MB: {'met' if o_big['rss'] <= 250 * 2**20 else 'NOT met'})"
        )
    finally:
        subprocess.run([PY, "-m", "runner", "stop"], env=env, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
