"""The live NVML path, on a machine with an NVIDIA driver: what `tether top` shows
is what `nvidia-smi` shows, and a job's GPU memory is attributed to the job.

Everywhere else these tests are skipped ("no NVIDIA driver"): CI replays the
recorded H100 instead (tests/stats). `scripts/gpu-check` runs them on a GPU host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional

import pytest

from tests.conftest import UserEnv
from tests.stats.conftest import poll, read_pid, top_json

pytestmark = pytest.mark.gpu

MIB = 1024 * 1024
#: What the test job allocates on its GPU.
JOB_ALLOCATION = 512 * MIB
#: Allocates JOB_ALLOCATION bytes on the GPU it was given, publishes its pid and
#: CUDA_VISIBLE_DEVICES, then holds the memory.
JOB = (
    "import os, time, torch\n"
    f"x = torch.empty({JOB_ALLOCATION}, dtype=torch.uint8, device='cuda')\n"
    "torch.cuda.synchronize()\n"
    "d = os.environ['HOME']\n"
    "open(d + '/visible', 'w').write(os.environ.get('CUDA_VISIBLE_DEVICES', ''))\n"
    "open(d + '/gpu.pid.tmp', 'w').write(str(os.getpid()))\n"
    "os.rename(d + '/gpu.pid.tmp', d + '/gpu.pid')\n"
    "time.sleep(300)\n"
)


def nvidia_smi(*fields: str) -> List[List[str]]:
    """One row per GPU, in nvidia-smi's index order: the fields asked for."""
    if shutil.which("nvidia-smi") is None:
        pytest.fail("an NVIDIA driver is loaded but nvidia-smi is not on PATH")
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [[cell.strip() for cell in line.split(",")] for line in out.strip().splitlines()]


@pytest.fixture
def live_env(user_env: UserEnv) -> UserEnv:
    """A user environment whose runner reads the GPUs through live NVML."""
    for key in list(user_env.env):
        if key.startswith("TETHER_GPU"):
            del user_env.env[key]
    user_env.env["TETHER_GPU_SOURCE"] = "nvml"
    user_env.env["TETHER_STATS_INTERVAL"] = "0.5"
    return user_env


def test_top_reports_every_gpu_nvidia_smi_reports(live_env: UserEnv) -> None:
    frame = top_json(live_env)
    assert frame["gpu_source"] == "nvml"
    assert frame["gpu_available"] is True, frame["gpu_reason"]
    smi = nvidia_smi("index", "name", "memory.total", "driver_version")
    assert frame["driver_version"] == smi[0][3]
    shown = [(g["index"], g["name"], g["mem_total_bytes"] // MIB) for g in frame["gpus"]]
    assert shown == [(int(i), name, int(total)) for i, name, total, _ in smi]
    assert all(g["error"] is None for g in frame["gpus"])

    text = live_env.tether("top", "--once", check=True).stdout.decode()
    for index, name, _, _ in smi:
        assert any(line.split()[:1] == [index] and name in line for line in text.splitlines())


def _cuda_python() -> Optional[str]:
    """A python that imports torch with CUDA working: $TETHER_CUDA_PYTHON, this
    one, or the system's python3."""
    candidates = [os.environ.get("TETHER_CUDA_PYTHON"), sys.executable, shutil.which("python3")]
    for python in dict.fromkeys(c for c in candidates if c):
        check = subprocess.run(
            [python, "-c", "import torch; assert torch.cuda.is_available()"],
            capture_output=True,
            timeout=120,
        )
        if check.returncode == 0:
            return python
    return None


def test_a_jobs_gpu_memory_is_attributed_to_it(live_env: UserEnv) -> None:
    python = _cuda_python()
    if python is None:
        pytest.skip("torch with CUDA is not importable here (the job needs it to allocate)")
    live_env.env["TETHER_GPUS_ALLOW_BUSY"] = "1"  # a GPU someone else uses is fine here
    script = live_env.home / "allocate.py"
    script.write_text(JOB)
    out = live_env.tether(
        "run", "--name", "allocator", "--gpus", "1", "--", python, str(script), check=True
    )
    job_id = int(out.stdout)
    worker = read_pid(live_env.home / "gpu.pid", timeout=120)
    (gpu_index,) = [int(i) for i in (live_env.home / "visible").read_text().split(",")]

    def on_its_gpu() -> Dict[str, Any]:
        frame = top_json(live_env)
        return frame if _on_gpu(frame, gpu_index, worker) and frame["jobs"] else {}

    frame = poll(on_its_gpu, timeout=120)
    (proc,) = _on_gpu(frame, gpu_index, worker)
    assert proc["job_id"] == job_id and proc["name"].startswith("python")
    assert proc["gpu_memory_bytes"] >= JOB_ALLOCATION
    (usage,) = [j for j in frame["jobs"] if j["job_id"] == job_id]
    assert usage["name"] == "allocator" and usage["gpus"] == [gpu_index]
    assert usage["gpu_memory_bytes"] == proc["gpu_memory_bytes"]
    assert frame["leaked_gpu_pids"] == {}

    live_env.tether("cancel", str(job_id), check=True)

    def released() -> Dict[str, Any]:
        frame = top_json(live_env)
        return {} if _on_gpu(frame, gpu_index, worker) else frame

    assert poll(released)["jobs"] == []  # its memory freed, its usage gone


def _on_gpu(frame: Dict[str, Any], index: int, pid: int) -> List[Dict[str, Any]]:
    """The entries for `pid` among GPU `index`'s processes in a `top --json` frame."""
    (gpu,) = [g for g in frame["gpus"] if g["index"] == index]
    return [p for p in gpu["processes"] if p["pid"] == pid]
