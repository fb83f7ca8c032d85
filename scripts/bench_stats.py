#!/usr/bin/env python3
"""Benchmark the stats sampler: what one sample costs, and what the runner costs idle.

Prints numbers measured in this run, with ratios against baselines measured in
the same run (absolute times drift on shared machines):
  1. the psutil calls one host reading makes, timed bare (the baseline), and
     ``psutil.process_iter`` over every process here (what walking the whole
     host each sample would cost, which the sampler never does);
  2. the sampler's CPU time per sample, in this process, with a running
     job-like process tree to map (GPU readings from the recording or NVML);
  3. a real runner's CPU (% of one core) over SECONDS at its default 1 Hz, with
     no subscriber, 1 and 10 (each on its own connection), against the same
     runner sampling once an hour (the baseline: what the runner costs without
     the sampler); the goal is <= 0.5 % of a core with 10 subscribers;
  4. one ``nvidia-smi --query-gpu`` where the host has one (else the time
     recorded on an H100), against a whole sample.

Runs in a throwaway HOME with its own runner.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from protocol.stats import StatsUpdate  # noqa: E402
from runner.gpu.open_source import source_from_env  # noqa: E402
from runner.stats.host import HostProbe  # noqa: E402
from runner.stats.jobtree import JobTrees, RunningJob  # noqa: E402
from runner.stats.measure import Measurer  # noqa: E402

RECORDING = REPO / "tests" / "fixtures" / "nvml_h100.json"
NVIDIA_SMI_QUERY = [
    "nvidia-smi",
    "--query-gpu=utilization.gpu,memory.used,temperature.gpu,power.draw",
    "--format=csv,noheader,nounits",
]
#: One job: a parent with four sleeping workers, like a trainer and its data loaders.
JOB = (
    "import subprocess, sys, time\n"
    "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])"
    " for _ in range(4)]\n"
    "time.sleep(600)\n"
)


def _per_call_us(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e6


def psutil_baseline(state_dir: Path, repeat: int) -> Tuple[float, float, int]:
    """µs for the psutil calls of one host reading; µs for one process_iter; processes."""

    def host_calls() -> None:
        psutil.cpu_percent(percpu=True)
        psutil.virtual_memory()
        psutil.swap_memory()
        psutil.disk_usage(str(state_dir))
        os.getloadavg()

    raw = _per_call_us(host_calls, repeat)
    count = len(psutil.pids())
    walk = _per_call_us(
        lambda: [p.info for p in psutil.process_iter(["ppid"])], max(repeat // 20, 5)
    )
    return raw, walk, count


def sampler_cost(source_spec: str, state_dir: Path, repeat: int) -> Tuple[float, int, int]:
    """CPU µs per sample in this process, the sample's bytes on the wire, full scans made."""
    job = subprocess.Popen([sys.executable, "-c", JOB], start_new_session=True)
    try:
        time.sleep(0.5)
        env = {"TETHER_GPU_SOURCE": source_spec} if source_spec else {}
        trees = JobTrees(refresh_period_s=5.0)
        measurer = Measurer(source_from_env(env), HostProbe(state_dir), trees)
        measurer.open()
        running = [RunningJob(1, job.pid)]
        measurer.take(0, running, [])
        start = time.thread_time()
        wire = 0
        for seq in range(1, repeat + 1):
            tick = measurer.take(seq, running, [])
            wire = tick.wire_bytes
        cpu = (time.thread_time() - start) / repeat * 1e6
        assert tick.sample.jobs[0].processes >= 5, tick.sample.jobs
        measurer.close()
        return cpu, wire, trees.scans
    finally:
        job.kill()
        job.wait()


class Runner:
    """A real runner daemon in a throwaway HOME."""

    def __init__(self, home: Path, source_spec: str, interval_s: float = 1.0) -> None:
        self.home = home
        self.home.mkdir()
        self.env = {**os.environ, "HOME": str(self.home), "PYTHONPATH": str(REPO)}
        self.env.pop("XDG_STATE_HOME", None)
        if source_spec:
            self.env["TETHER_GPU_SOURCE"] = source_spec
        self.env["TETHER_STATS_INTERVAL"] = str(interval_s)
        out = subprocess.run(
            [sys.executable, "-m", "runner", "serve", "--daemon"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        match = re.search(r"pid (\d+)", out)
        assert match, out
        self.process = psutil.Process(int(match.group(1)))

    def cpu_seconds(self) -> float:
        """CPU time of all its threads, to the nanosecond where the kernel keeps
        schedstat (clock ticks, 10 ms, would blur a 60 s idle measure)."""
        total = 0
        try:
            for task in os.listdir(f"/proc/{self.process.pid}/task"):
                with open(f"/proc/{self.process.pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            times = self.process.cpu_times()
            return float(times.user + times.system)
        return total / 1e9

    def stop(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "runner", "stop"], env=self.env, capture_output=True, check=False
        )


async def runner_cpu(
    runner: Runner, subscribers: int, seconds: float, sampling: bool = True
) -> Tuple[float, float, int]:
    """% of a core, CPU ms per sample, and samples delivered, with `subscribers` attached
    (`sampling` False: the runner takes no sample in the time measured)."""
    os.environ["HOME"] = str(runner.home)
    from tui.hosts import make_session

    sessions = [make_session("local") for _ in range(max(subscribers, 1))]
    for session in sessions:
        await session.start()
    received: Dict[int, int] = {}

    async def consume(index: int) -> None:
        async for event in sessions[index].subscribe_stats(history_s=0):
            if isinstance(event, StatsUpdate):
                received[index] = received.get(index, 0) + 1

    tasks = [asyncio.ensure_future(consume(i)) for i in range(subscribers)]
    await asyncio.sleep(2.0)  # settle: subscriptions made, first samples out
    first = (await sessions[0].stats_snapshot()).sample.seq if sampling else 0
    cpu0, t0 = runner.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = runner.cpu_seconds(), time.monotonic()
    last = (await sessions[0].stats_snapshot()).sample.seq if sampling else 0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for session in sessions:
        await session.close()
    samples = max(last - first, 1)
    delivered = sum(received.values())
    return (cpu1 - cpu0) / (t1 - t0) * 100, (cpu1 - cpu0) / samples * 1000, delivered


def nvidia_smi_ms() -> Tuple[float, str]:
    if shutil.which("nvidia-smi") is None:
        import json

        recorded = json.loads(RECORDING.read_text())["nvidia_smi_query_ms"]
        return float(recorded), "recorded on an H100 (no nvidia-smi here)"
    times: List[float] = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(NVIDIA_SMI_QUERY, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), "measured here, median of 5"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="how long each idle-CPU measure runs (default 60)",
    )
    parser.add_argument(
        "--repeat", type=int, default=200, help="samples timed in-process (default 200)"
    )
    parser.add_argument(
        "--gpu-source",
        default=f"replay:{RECORDING}#load",
        help="TETHER_GPU_SOURCE for the sampler ('nvml' on a GPU host; default: the H100 recording)",
    )
    args = parser.parse_args()
    if args.seconds <= 0 or args.repeat <= 0:
        parser.error("--seconds and --repeat must be greater than 0")
    source = "" if args.gpu_source == "nvml" else args.gpu_source

    with tempfile.TemporaryDirectory(prefix="tether-bench-stats-") as tmp:
        root = Path(tmp)
        raw, walk, processes = psutil_baseline(root, args.repeat)
        print(
            f"host: {psutil.cpu_count()} cores, {processes} processes; GPU source: {args.gpu_source}"
        )
        print(f"psutil calls of one host reading (baseline)   {raw:9.0f} us")
        print(
            f"psutil.process_iter over {processes:4d} processes       {walk:9.0f} us  ({walk / raw:.1f}x baseline; never done per sample)"
        )
        cost, wire, scans = sampler_cost(source, root, args.repeat)
        print(
            f"sampler CPU per sample, one 5-process job     {cost:9.0f} us  ({cost / raw:.1f}x baseline; {wire} bytes on the wire; {scans} full /proc scans in {args.repeat + 1} samples)"
        )
        quiet = Runner(root / "quiet", source, interval_s=3600)
        try:
            base, _, _ = asyncio.run(runner_cpu(quiet, 0, args.seconds, sampling=False))
        finally:
            quiet.stop()
        print(f"runner CPU sampling once an hour (baseline)   {base:9.3f} % of a core")
        runner = Runner(root / "busy", source)
        try:
            results = {}
            for subscribers in (0, 1, 10):
                pct, per_second_ms, delivered = asyncio.run(
                    runner_cpu(runner, subscribers, args.seconds)
                )
                results[subscribers] = pct
                print(
                    f"runner CPU at 1 Hz, {subscribers:2d} subscriber(s)          {pct:9.3f} % of a core"
                    f"  (+{pct - base:.3f} over baseline; {per_second_ms:.2f} ms runner CPU"
                    f" per sample; {delivered} samples delivered)"
                )
        finally:
            runner.stop()
        print(
            f"  10 subscribers vs no subscriber: {results[10] / (results[0] or 1e-9):.2f}x;"
            " goal <= 0.5 % of a core: " + ("met" if results[10] <= 0.5 else "NOT met")
        )
        smi, how = nvidia_smi_ms()
        print(
            f"nvidia-smi --query-gpu, once                  {smi * 1000:9.0f} us  ({smi * 1000 / cost:.0f}x a whole sample; {how})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
