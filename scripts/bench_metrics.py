#!/usr/bin/env python3
"""What metrics cost: importing the helper, one report() call, and the runner's reading.

Each figure is printed with a baseline measured in the same run on the same
machine, and the ratio between them, so the numbers mean something on any host:

- import: importing `runner.report` against importing ``json`` alone, each in a
  fresh interpreter (the helper must cost a training script nothing);
- report(): one call against writing the same JSON line by hand (open, write, close);
- reading: `runner.logs.metrics.read_metrics` over a file of records, against a bare
  ``json.loads`` per line (the runner adds validation, bounds and offsets).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _median_s(fn: Callable[[], object], repeat: int) -> float:
    times: List[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _line(name: str, value: float, unit: str, baseline: float) -> None:
    print(
        f"{name:<34} {value:10.2f} {unit:<10} baseline {baseline:10.2f} {unit:<10} "
        f"ratio {value / baseline:5.2f}"
    )


def bench_import(repeat: int) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def cost_ms(module: str) -> float:
        """The median import time of `module` in fresh interpreters (startup excluded)."""
        code = (
            f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        )
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(repeat)
        ]
        return statistics.median(runs) * 1e3

    _line("import runner.report", cost_ms("runner.report"), "ms", cost_ms("json"))


def bench_report(calls: int, directory: Path) -> None:
    from runner.report import report

    path = directory / "report.jsonl"
    os.environ["TETHER_METRICS"] = str(path)

    def helper() -> None:
        for step in range(calls):
            report(step=step, loss=0.5, lr=3e-4)

    def by_hand() -> None:
        for step in range(calls):
            line = json.dumps({"step": step, "time": time.time(), "loss": 0.5, "lr": 3e-4})
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(fd, (line + "\n").encode())
            os.close(fd)

    per_call = _median_s(helper, 5) / calls * 1e6
    baseline = _median_s(by_hand, 5) / calls * 1e6
    _line("report() per call", per_call, "us", baseline)


def bench_read(records: int, directory: Path) -> None:
    from runner.logs.metrics import read_metrics

    path = directory / "read.jsonl"
    with path.open("w") as f:
        for step in range(records):
            f.write(
                json.dumps(
                    {
                        "step": step,
                        "time": 1.7e9 + step,
                        "loss": 1 / (step + 1),
                        "lr": 3e-4,
                        "grad_norm": 0.9,
                    }
                )
                + "\n"
            )

    def runner_read() -> None:
        offset = 0
        while True:
            found = read_metrics(path, offset, final=True)
            if found.next_offset == offset:
                return
            offset = found.next_offset

    def bare() -> None:
        with path.open("rb") as f:
            for line in f:
                json.loads(line)

    ours = records / _median_s(runner_read, 5) / 1e3
    baseline = records / _median_s(bare, 5) / 1e3
    # Throughput: a ratio below 1 is the runner's overhead over bare parsing.
    _line("read_metrics throughput", ours, "k rec/s", baseline)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--imports", type=int, default=15, help="interpreters per import figure")
    parser.add_argument("--calls", type=int, default=2000, help="report() calls per timing")
    parser.add_argument("--records", type=int, default=50_000, help="records in the read test")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        bench_import(args.imports)
        bench_report(args.calls, Path(tmp))
        bench_read(args.records, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
