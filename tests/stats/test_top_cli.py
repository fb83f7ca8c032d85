"""`tether top` against a real runner replaying the recorded H100, with real jobs."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import psutil
import pynvml
import pytest

from tests.conftest import PYTHON, UserEnv
from tests.stats.conftest import (
    RECORDED_LOAD_MEMORY,
    RECORDING,
    jobs_json,
    poll,
    process_gone,
    read_pid,
    top_json,
)

#: A training-like job: a shell that starts a worker which holds "the GPU" (its pid
#: goes where the replay puts the recorded load pid) and a helper.
TRAINER = (
    'python3 -c \'import os, time; open("{pid}.tmp", "w").write(str(os.getpid()));'
    ' os.rename("{pid}.tmp", "{pid}")\nend = time.time() + 120\nwhile time.time() < end: pass\' &'
    " sleep 120 & wait"
)
#: A job that ends at once and leaves its worker behind, still "on the GPU".
LEAVER = (
    'python3 -c \'import os, time; open("{pid}.tmp", "w").write(str(os.getpid()));'
    ' os.rename("{pid}.tmp", "{pid}"); time.sleep(300)\' & sleep 0.5; exit 0'
)


def _start(ue: UserEnv, script: str, name: str) -> int:
    command = script.format(pid=ue.home / "gpu.pid")
    out = ue.tether("run", "--name", name, "--", command, check=True).stdout
    return int(out)


def test_top_once_shows_the_recorded_gpu_and_this_hosts_system(user_env: UserEnv) -> None:
    user_env.env.update(
        {"TETHER_GPU_SOURCE": f"replay:{RECORDING}", "TETHER_STATS_INTERVAL": "0.2"}
    )
    text = user_env.tether("top", "--once", check=True).stdout.decode()
    lines = text.splitlines()
    assert lines[0].split() == [
        "GPU",
        "NAME",
        "UTIL",
        "MEM",
        "GiB",
        "TEMP",
        "POWER",
        "W",
        "SM",
        "MHz",
        "FAN",
    ]
    assert lines[1].split()[:5] == ["0", "NVIDIA", "H100", "80GB", "HBM3"]
    assert lines[1].endswith("n/a")  # the H100's fan: "Not Supported"
    assert "/ 79.6" in lines[1] and "/ 700" in lines[1]
    assert any(line.startswith("host: CPU ") and "disk free" in line for line in lines)
    assert "no running jobs" in lines

    frame = top_json(user_env)
    (gpu,) = frame["gpus"]
    assert frame["gpu_source"] == "replay" and frame["gpu_available"] is True
    assert (frame["driver_version"], frame["cuda_version"]) == ("580.159.04", "13.0")
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["fan_pct"] is None
    assert gpu["missing"]["fan_pct"] == "not supported by this GPU"
    assert gpu["mem_total_bytes"] == 85520809984 and gpu["power_limit_w"] == 700.0
    host = frame["host"]
    assert len(host["cpu_per_core_pct"]) == psutil.cpu_count()
    assert host["mem_total_bytes"] == psutil.virtual_memory().total
    assert len(host["load_avg"]) == 3
    assert Path(host["disk_path"]) == user_env.state_dir
    assert 0 < host["disk_free_bytes"] <= host["disk_total_bytes"]


def test_a_jobs_gpu_memory_is_attributed_to_it_and_its_tree_is_one_job(
    replay_env: UserEnv,
) -> None:
    job_id = _start(replay_env, TRAINER, "trainer")
    worker = read_pid(replay_env.home / "gpu.pid")

    def whole_tree_measured() -> dict:
        # Ready once the job's shell, worker and helper all run and the worker's
        # spinning shows in the job's CPU (measured between two samples, so a loaded
        # machine may need a few); every replayed reading shows the worker holding
        # the recorded memory (see `steady_load_recording`).
        frame = top_json(replay_env)
        jobs = frame["jobs"]
        return frame if jobs and jobs[0]["processes"] == 3 and jobs[0]["cpu_pct"] > 20 else {}

    frame = poll(whole_tree_measured)
    on_gpu = {"pid": worker, "gpu_memory_bytes": RECORDED_LOAD_MEMORY, "job_id": job_id}
    assert frame["gpus"][0]["processes"] == [{**on_gpu, "name": "python3"}]
    (usage,) = frame["jobs"]  # the shell, its worker and its helper: one job
    assert usage["job_id"] == job_id and usage["name"] == "trainer"
    assert usage["gpu_memory_bytes"] == RECORDED_LOAD_MEMORY and usage["gpus"] == [0]
    assert usage["rss_bytes"] > 5 * 1024 * 1024

    lines = replay_env.tether("top", "--once", check=True).stdout.decode().splitlines()
    (gpu_line,) = [line.split() for line in lines if line.split()[:1] == ["pid"]]
    assert gpu_line[:3] == ["pid", str(worker), "python3"]
    assert gpu_line[-3:] == ["job", str(job_id), "(trainer)"]
    job_rows = lines[lines.index(next(x for x in lines if x.startswith("JOB "))) + 1 :]
    job_rows = job_rows[: job_rows.index("")] if "" in job_rows else job_rows  # a cluster's part
    assert [row.split()[:2] for row in job_rows] == [[str(job_id), "trainer"]]
    replay_env.tether("cancel", str(job_id), check=True)


def test_a_process_left_on_the_gpu_by_an_ended_job_is_reported_and_cancel_kills_it(
    replay_env: UserEnv,
) -> None:
    job_id = _start(replay_env, LEAVER, "leaver")
    leftover = read_pid(replay_env.home / "gpu.pid")
    job = poll(lambda: (j := jobs_json(replay_env)[job_id])["leaked_gpu_pids"] and j)
    assert job["state"] == "succeeded" and job["leaked_gpu_pids"] == [leftover]
    assert f"{job_id}" in replay_env.tether("ls", check=True).stdout.decode()
    assert "succeeded (GPU leak)" in replay_env.tether("ls", check=True).stdout.decode()

    result = replay_env.tether("cancel", str(job_id), check=True)
    assert result.stdout.decode().strip() == (
        f"job {job_id} had already ended (succeeded); "
        f"killed the processes it left on the GPU: {leftover}"
    )
    assert process_gone(leftover)
    poll(lambda: jobs_json(replay_env)[job_id]["leaked_gpu_pids"] == [])

    again = replay_env.tether("cancel", str(job_id))
    assert again.returncode == 1
    assert f"job {job_id} has already ended (succeeded)" in again.stderr.decode()


def test_a_cancelled_jobs_worker_that_left_its_process_group_is_a_leak(
    replay_env: UserEnv,
) -> None:
    # Cancel signals the job's process group; a worker that made its own group
    # survives it and keeps its GPU memory.
    script = (
        "python3 -c 'import os, time; os.setpgid(0, 0);"
        ' open("{pid}.tmp", "w").write(str(os.getpid())); os.rename("{pid}.tmp", "{pid}");'
        " time.sleep(300)' & sleep 300"
    )
    job_id = _start(replay_env, script, "stray")
    stray = read_pid(replay_env.home / "gpu.pid")
    replay_env.tether("cancel", str(job_id), check=True)
    job = poll(lambda: (j := jobs_json(replay_env)[job_id])["leaked_gpu_pids"] and j)
    assert job["state"] == "cancelled" and job["leaked_gpu_pids"] == [stray]
    assert not process_gone(stray)
    frame = poll(lambda: (f := top_json(replay_env))["gpus"][0]["processes"] and f)
    assert frame["leaked_gpu_pids"] == {str(stray): job_id}
    replay_env.tether("cancel", str(job_id), check=True)
    assert process_gone(stray)


def test_without_a_driver_top_says_so_and_shows_the_rest(user_env: UserEnv) -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this host has an NVIDIA driver")
    user_env.env.pop("TETHER_GPU_SOURCE", None)
    frame = top_json(user_env)
    assert frame["gpu_source"] == "nvml" and frame["gpu_available"] is False
    assert frame["gpu_reason"].startswith("no NVIDIA driver")
    assert frame["gpus"] == []
    assert frame["host"]["mem_total_bytes"] > 0
    text = user_env.tether("top", "--once", check=True).stdout.decode()
    assert text.splitlines()[0].startswith("GPUs: none (no NVIDIA driver")
    assert "host: CPU" in text


def test_top_follows_samples_as_json_lines_until_interrupted(replay_env: UserEnv) -> None:
    proc = subprocess.Popen(
        [PYTHON, "-m", "tui.cli", "top", "--json", "--interval", "0.2"],
        env=replay_env.env,
        cwd=replay_env.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        frames = [json.loads(proc.stdout.readline()) for _ in range(3)]
        seqs = [f["seq"] for f in frames]
        assert seqs == sorted(set(seqs))
        assert all(b["t"] - a["t"] > 0.15 for a, b in zip(frames, frames[1:]))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_host_without_slurm_has_no_cluster_part(user_env: UserEnv, tmp_path: Path) -> None:
    user_env.env["PATH"] = str(tmp_path)  # no sbatch: the runner is no Slurm login node
    text = user_env.tether("top", "--once", check=True).stdout.decode()
    assert text.splitlines()[-1] == "no running jobs"
    assert "slurm:" not in text and "PARTITION" not in text
    assert top_json(user_env)["slurm"] is None


def test_top_refuses_a_bad_interval_before_connecting(user_env: UserEnv) -> None:
    result = user_env.tether("top", "--interval", "0")
    assert result.returncode == 1
    assert (
        result.stderr.decode().strip()
        == "tether: --interval takes a number of seconds greater than 0"
    )
    assert user_env.runner_pid() is None


def test_a_bad_stats_setting_stops_the_runner_with_a_clear_error(user_env: UserEnv) -> None:
    user_env.env["TETHER_STATS_INTERVAL"] = "fast"
    result = user_env.runner("serve", "--daemon")
    assert result.returncode == 1
    assert (
        "TETHER_STATS_INTERVAL must be a number of seconds, at least 0.01, not 'fast'"
        in result.stderr.decode()
    )


def test_an_unknown_gpu_source_is_shown_as_the_reason(user_env: UserEnv) -> None:
    user_env.env["TETHER_GPU_SOURCE"] = "cuda"
    frame = top_json(user_env)
    assert frame["gpu_available"] is False
    assert frame["gpu_reason"] == (
        "TETHER_GPU_SOURCE='cuda' is not understood: use nvml, none or replay:PATH"
    )
