#!/usr/bin/env python3
"""Benchmark the runner against doing the same thing without it.

Prints ratios measured in this run (absolute times drift on shared machines):
  1. a job writing SIZE of output under the runner vs the same command writing to
     a file directly (goal >= 0.95), also with a `tether logs -f` follower
     attached, and under tmux for reference;
  2. `tether logs JOB` of a LOG_MB log vs `cat` of the file, both into a pipe;
  3. the runner's idle CPU (% of one core) and RSS with one follower attached,
     against a bare Python interpreter's RSS.

Runs in a throwaway HOME with its own runner; needs tmux for the reference row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
WRITER = (
    "import sys\n"
    "n = int(sys.argv[1]); line = b'x' * 99 + b'\\n'; block = line * 10486\n"
    "out = sys.stdout.buffer; written = 0\n"
    "while written < n:\n"
    "    out.write(block); written += len(block)\n"
    "out.flush()\n"
)


class Bench:
    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.home.mkdir()
        self.env = {**os.environ, "HOME": str(self.home), "PYTHONPATH": str(REPO)}
        self.env.pop("XDG_STATE_HOME", None)

    def tether(
        self, *args: str, stdout: int | None = subprocess.PIPE
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [PY, "-m", "tui.cli", *args],
            env=self.env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            check=True,
        )

    def runner(self, *args: str) -> None:
        subprocess.run([PY, "-m", "runner", *args], env=self.env, capture_output=True, check=True)

    def job_dir(self, job_id: int) -> Path:
        return self.home / ".local/state/tether/jobs" / str(job_id)

    def run_job(self, *argv: str, follow: bool = False, drop_log: bool = True) -> float:
        """Seconds the job ran, from the shim's own start and exit records."""
        job_id = int(self.tether("run", "--", *argv).stdout)
        if follow:
            self.tether("logs", "-f", str(job_id), stdout=subprocess.DEVNULL)
        else:
            status = self.job_dir(job_id) / "status.json"
            while not status.exists():
                time.sleep(0.01)
        shim = json.loads((self.job_dir(job_id) / "shim.json").read_text())
        exit_record = json.loads((self.job_dir(job_id) / "status.json").read_text())
        if drop_log:
            (self.job_dir(job_id) / "output.log").unlink()
        return float(exit_record["finished_at"] - shim["started_at"])


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best(samples: list[float]) -> float:
    return min(samples)


def direct_write(size: int, path: Path) -> float:
    with open(path, "wb") as f:
        elapsed = timed(lambda: subprocess.run([PY, "-c", WRITER, str(size)], stdout=f, check=True))
    path.unlink()
    return elapsed


def tmux_write(size: int, root: Path) -> float | None:
    if shutil.which("tmux") is None:
        return None
    sock = str(root / "tmux.sock")
    script = root / "writer.py"
    script.write_text(WRITER)
    cmd = f"{PY} {script} {size}; tmux -S {sock} wait-for -S done"
    start = time.perf_counter()
    subprocess.run(
        ["tmux", "-S", sock, "new-session", "-d", "-x", "200", "-y", "50", cmd], check=True
    )
    subprocess.run(["tmux", "-S", sock, "wait-for", "done"], check=True)
    elapsed = time.perf_counter() - start
    subprocess.run(["tmux", "-S", sock, "kill-server"], capture_output=True)
    return elapsed


def bench_output(b: Bench, size: int, repeats: int, root: Path) -> None:
    # Interleaved, each output deleted after its run, so that page-cache writeback
    # weighs on every variant alike.
    direct: list[float] = []
    under: list[float] = []
    followed: list[float] = []
    for _ in range(repeats):
        direct.append(direct_write(size, root / "direct.out"))
        under.append(b.run_job(PY, "-c", WRITER, str(size)))
        followed.append(b.run_job(PY, "-c", WRITER, str(size), follow=True))
    direct_s, under_s, followed_s = (statistics.median(x) for x in (direct, under, followed))
    tmux = tmux_write(min(size, 200 << 20), root)
    mb = size / (1 << 20)
    print(f"1. writing {mb:.0f} MiB of output (median of {repeats}, interleaved)")
    print(f"   direct to a file        {direct_s:7.2f} s   ({mb / direct_s:7.0f} MiB/s)")
    print(
        f"   under the runner        {under_s:7.2f} s   speed ratio {direct_s / under_s:.3f} (goal >= 0.95)"
    )
    print(
        f"   runner + a follower     {followed_s:7.2f} s   speed ratio {direct_s / followed_s:.3f}"
    )
    if tmux is not None:
        tmb = min(size, 200 << 20) / (1 << 20)
        rate = tmb / tmux
        print(
            f"   tmux pane (reference)   {tmb:.0f} MiB in {tmux:.2f} s  ({rate:.0f} MiB/s, ratio {rate / (mb / direct_s):.3f})"
        )


def bench_logs(b: Bench, log_mb: int, repeats: int) -> None:
    job_id = int(b.tether("run", "--", PY, "-c", WRITER, str(log_mb << 20)).stdout)
    b.tether("logs", "-f", str(job_id), stdout=subprocess.DEVNULL)
    log = b.job_dir(job_id) / "output.log"
    cat = best(
        [
            timed(lambda: subprocess.run(["cat", str(log)], stdout=subprocess.PIPE, check=True))
            for _ in range(repeats)
        ]
    )
    via = best([timed(lambda: b.tether("logs", str(job_id))) for _ in range(repeats)])
    print(f"2. reading a {log_mb} MiB log")
    print(f"   cat FILE                {cat:7.3f} s")
    print(f"   tether logs JOB         {via:7.3f} s   speed ratio {cat / via:.3f}")


def bench_idle(b: Bench, seconds: float) -> None:
    job_id = int(b.tether("run", "--", "sleep", str(seconds + 30)).stdout)
    follower = subprocess.Popen(
        [PY, "-m", "tui.cli", "logs", "-f", str(job_id)],
        env=b.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    pid = int((b.home / ".local/state/tether/run/runner.lock").read_text())
    proc = psutil.Process(pid)
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    cpu = (after.user + after.system - before.user - before.system) / seconds
    rss = proc.memory_info().rss
    bare = subprocess.Popen([PY, "-c", "import time; time.sleep(5)"])
    time.sleep(0.5)
    bare_rss = psutil.Process(bare.pid).memory_info().rss
    bare.kill()
    follower.kill()
    b.tether("cancel", str(job_id))
    print(f"3. runner idle with one follower, over {seconds:.0f} s")
    print(f"   CPU                     {cpu * 100:7.3f} % of one core")
    print(
        f"   RSS                     {rss / 2**20:7.1f} MiB  ({rss / bare_rss:.1f}x a bare python, {bare_rss / 2**20:.1f} MiB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="output of the writer job (MiB)")
    parser.add_argument("--log-mb", type=int, default=200, help="log size for the read test (MiB)")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tether-bench-") as tmp:
        b = Bench(Path(tmp))
        b.runner("serve", "--daemon")
        try:
            bench_output(b, args.size_mb << 20, args.repeats, Path(tmp))
            bench_logs(b, args.log_mb, args.repeats)
            bench_idle(b, args.idle_seconds)
        finally:
            b.runner("stop")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
