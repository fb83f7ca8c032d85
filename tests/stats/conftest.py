"""Stats tests: the recorded H100 readings, and a runner that replays them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.conftest import REPO, UserEnv, wait_for

RECORDING = REPO / "tests" / "fixtures" / "nvml_h100.json"
#: The pid that held GPU memory in the recording ("load" phase).
RECORDED_LOAD_PID = 401
#: What that process held, in bytes, while the load ran.
RECORDED_LOAD_MEMORY = 1012924416


def recording() -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads(RECORDING.read_text())
    return data


def steady_load_recording(path: Path) -> Path:
    """The recording cut to the instants of its load phase where the load process
    held its steady `RECORDED_LOAD_MEMORY` (the phase also has instants before the
    process appeared and one while it was still allocating), written to `path`.

    Every reading of a replay of it is then the same, so a test that reads one
    reading at some moment knows exactly what it must show."""
    data = recording()
    data["samples"] = [
        s
        for s in data["samples"]
        if s.get("phase") == "load"
        and [(p["pid"], p["used_gpu_memory"]) for p in s.get("processes") or []]
        == [(RECORDED_LOAD_PID, RECORDED_LOAD_MEMORY)]
    ]
    assert len(data["samples"]) > 10
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def replay_env(user_env: UserEnv) -> UserEnv:
    """A user environment whose runner replays the recording's load phase, steady
    (see `steady_load_recording`), ten times a second, the recorded load pid
    mapped onto the pid in ~/gpu.pid."""
    steady = steady_load_recording(user_env.home.parent / "steady-load.json")
    user_env.env.update(
        {
            "TETHER_GPU_SOURCE": f"replay:{steady}#load",
            "TETHER_GPU_REPLAY_PID_MAP": f"{RECORDED_LOAD_PID}=@{user_env.home / 'gpu.pid'}",
            "TETHER_STATS_INTERVAL": "0.1",
        }
    )
    return user_env


def top_json(ue: UserEnv) -> Dict[str, Any]:
    result = ue.tether("top", "--once", "--json", check=True)
    data: Dict[str, Any] = json.loads(result.stdout)
    return data


def jobs_json(ue: UserEnv) -> Dict[int, Dict[str, Any]]:
    jobs = json.loads(ue.tether("ls", "--json", check=True).stdout)
    return {job["id"]: job for job in jobs}


def read_pid(path: Path, timeout: float = 30.0) -> int:
    def ready() -> int:
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return 0
        return int(text) if text.isdigit() else 0

    return int(wait_for(ready, timeout=timeout))


def process_gone(pid: int) -> bool:
    """Gone, or a zombie waiting for its parent: either way, it has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(b")") + 2 :].split()[0] == b"Z"


def poll(fn: Any, timeout: float = 60.0) -> Any:
    """`wait_for` with the generous timeout a loaded 2-core machine needs."""
    return wait_for(fn, timeout=timeout, interval=0.2)


__all__ = ["RECORDED_LOAD_MEMORY", "RECORDED_LOAD_PID", "RECORDING", "time"]
