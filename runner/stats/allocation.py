"""A Slurm job's own GPUs, sampled inside its allocation.

A login node's NVML cannot see the GPUs of a compute node. So the shim of a
Slurm job that was given GPUs (``SLURM_JOB_GPUS``) starts this sampler beside
the job, on the job's node: it reads those GPUs with the runner's GPU source
(NVML; a recording in tests, ``TETHER_GPU_SOURCE``) every
``TETHER_STATS_INTERVAL`` seconds (at least `MIN_INTERVAL_S`) and replaces
`GPUS_FILE` in the job's directory. The runner on the login node reads that
file over the shared filesystem into each stats sample (`read_allocation`), so
``tether top`` and the app show the job's GPUs wherever it runs.

The sampler ends with its shim: when the shim stops it, or, should the shim be
killed, when it finds itself orphaned.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import List, Mapping, Optional

from pydantic import ValidationError

from protocol.stats import AllocationGpus
from runner.gpu.open_source import source_from_env

#: In the job's directory: the newest reading of its GPUs.
GPUS_FILE = "gpus.json"
#: The most a reading may take on disk (32 GPUs fit many times over).
MAX_FILE_BYTES = 256 * 1024
#: Shared filesystems are written no more often than this.
MIN_INTERVAL_S = 1.0
#: A reading older than this many intervals (and `STALE_FLOOR_S`) is no longer shown.
STALE_INTERVALS = 5
STALE_FLOOR_S = 15.0


def allocated_gpus(env: Mapping[str, str]) -> Optional[List[int]]:
    """The GPU indexes Slurm gave the job (``SLURM_JOB_GPUS=0,2``), None for none."""
    for name in ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        words = [w.strip() for w in env.get(name, "").split(",") if w.strip()]
        if words and all(w.isdigit() for w in words):
            return sorted({int(w) for w in words})
    return None


def interval_s(env: Mapping[str, str]) -> float:
    try:
        asked = float(env.get("TETHER_STATS_INTERVAL", "") or 2.0)
    except ValueError:
        asked = 2.0
    return max(MIN_INTERVAL_S, asked)


def sample(job_dir: Path, job_id: int, gpus: List[int], env: Mapping[str, str]) -> None:
    """Read the job's GPUs until stopped (SIGTERM) or orphaned."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    parent = os.getppid()
    every = interval_s(env)
    node = socket.gethostname().split(".")[0]
    source = source_from_env(env)
    inventory = source.open()
    # Under Slurm's device cgroup NVML sees only the job's GPUs, numbered from 0:
    # then every GPU it sees is the job's.
    seen = {device.index for device in inventory.devices}
    wanted = set(gpus) if set(gpus) <= seen else seen
    devices = [d for d in inventory.devices if d.index in wanted]
    target = job_dir / GPUS_FILE
    try:
        while not stop.is_set() and os.getppid() == parent:
            read = source.read()
            reading = AllocationGpus(
                job_id=job_id,
                node=node,
                t=time.time(),
                devices=devices,
                gpus=[g for g in read.gpus if g.index in wanted],
                error=read.error or (None if inventory.available else inventory.reason),
            )
            _replace(target, reading.model_dump_json().encode())
            stop.wait(every)
    finally:
        source.close()


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_allocation(
    job_dir: str, job_id: int, interval: float, now: float
) -> Optional[AllocationGpus]:
    """The job's newest reading from its node, None before there is one; one
    too old to show says since when its node has been silent."""
    try:
        with open(f"{job_dir}/{GPUS_FILE}", "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(data) > MAX_FILE_BYTES:
        return None
    try:
        reading = AllocationGpus.model_validate_json(data)
    except ValidationError:
        return None  # caught between writes on a filesystem without atomic rename
    silent = now - reading.t
    if silent > max(STALE_FLOOR_S, STALE_INTERVALS * interval):
        return reading.model_copy(
            update={
                "job_id": job_id,
                "gpus": [],
                "error": f"no reading from {reading.node} for {silent:.0f} s",
            }
        )
    return reading.model_copy(update={"job_id": job_id})


def main(argv: List[str]) -> int:
    if len(argv) != 3 or not argv[2].isdigit():
        print("usage: python -m runner.stats.allocation JOB_DIR JOB_ID", file=sys.stderr)
        return 2
    gpus = allocated_gpus(os.environ)
    if gpus is None:
        return 0  # no GPUs were given: nothing to read
    sample(Path(argv[1]), int(argv[2]), gpus, os.environ)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
