"""GPU-aware queueing end to end: a real runner whose inventory is TETHER_GPUS=0,1,2,3,
real jobs that print the CUDA_VISIBLE_DEVICES they were given, and `tether ls`."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.conftest import UserEnv, alive, wait_for

#: Prints what CUDA would see, then holds its GPUs until the test lets it go.
HOLD = (
    'echo "CVD=${CUDA_VISIBLE_DEVICES-unset} ORDER=${CUDA_DEVICE_ORDER-unset}"; '
    'while [ ! -e "release-$TETHER_JOB_ID" ]; do sleep 0.05; done'
)


@pytest.fixture
def four_gpu_runner(user_env: UserEnv) -> UserEnv:
    """Four GPUs, and a queue in strict order: a job that waits at all has waited
    long enough to have GPUs held for it (backfill: tests/training/test_queue_order.py)."""
    user_env.env["TETHER_GPUS"] = "0,1,2,3"
    user_env.env["TETHER_STARVE_AFTER"] = "0"
    result = user_env.runner("serve", "--daemon")
    assert result.returncode == 0, result.stderr
    return user_env


def _submit(env: UserEnv, *flags: str) -> int:
    return int(env.tether("run", *flags, "--", "bash", "-c", HOLD, check=True).stdout)


def _jobs(env: UserEnv) -> dict[int, dict]:
    listed = json.loads(env.tether("ls", "--all", "--json", check=True).stdout)
    return {j["id"]: j for j in listed}


def _seen(env: UserEnv, job_id: int) -> str:
    """What the job printed: `CVD=... ORDER=...`, once it has printed it."""
    log = env.job_dir(job_id) / "output.log"
    return wait_for(lambda: log.exists() and log.read_text().strip(), timeout=30)


def _release(env: UserEnv, job_id: int) -> None:
    (env.home / f"release-{job_id}").touch()


def _state(env: UserEnv, job_id: int, state: str) -> dict:
    def reached() -> dict | None:
        job = _jobs(env)[job_id]
        return job if job["state"] == state else None

    return wait_for(reached, 30, interval=0.2)


def _assert_running_jobs_have_disjoint_gpus(env: UserEnv) -> dict[int, list[int]]:
    running = {i: j for i, j in _jobs(env).items() if j["state"] == "running"}
    held: dict[int, list[int]] = {}
    for job_id, job in running.items():
        if job["gpus_requested"] in (None, "0"):
            continue
        visible = _seen(env, job_id).split()[0].removeprefix("CVD=")
        assert visible == ",".join(map(str, job["gpus"]))
        held[job_id] = job["gpus"]
    every = [g for gpus in held.values() for g in gpus]
    assert len(every) == len(set(every)), f"a GPU was handed out twice: {held}"
    assert set(every) <= {0, 1, 2, 3}
    return held


def _kill_runner(env: UserEnv) -> None:
    pid = env.runner_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid))


def test_jobs_asking_1_2_4_get_disjoint_gpus_in_fcfs_order_across_runner_crashes(
    four_gpu_runner: UserEnv,
) -> None:
    env = four_gpu_runner
    one = _submit(env, "--gpus", "1")
    two = _submit(env, "--gpus", "2")
    four = _submit(env, "--gpus", "4")
    late_one = _submit(env, "--gpus", "1")
    assert _seen(env, one) == "CVD=0 ORDER=PCI_BUS_ID"
    assert _seen(env, two) == "CVD=1,2 ORDER=PCI_BUS_ID"
    assert _assert_running_jobs_have_disjoint_gpus(env) == {one: [0], two: [1, 2]}
    jobs = _jobs(env)
    # GPU 3 is free, but the 4-GPU job came first: the late 1-GPU job waits behind it.
    assert (jobs[four]["state"], jobs[four]["queue_position"]) == ("queued", 1)
    assert (jobs[late_one]["state"], jobs[late_one]["queue_position"]) == ("queued", 2)
    assert jobs[one]["queue_position"] is None
    table = env.tether("ls", check=True).stdout.decode()
    assert "queued #1" in table and "queued #2" in table

    _release(env, one)
    _state(env, one, "succeeded")
    assert _jobs(env)[four]["state"] == "queued"
    _release(env, two)
    _state(env, four, "running")
    assert _seen(env, four) == "CVD=0,1,2,3 ORDER=PCI_BUS_ID"
    assert _jobs(env)[late_one]["queue_position"] == 1

    # A crashed runner rebuilds the allocation from the running jobs: the 4-GPU
    # job still holds everything, so nothing is handed out twice.
    _kill_runner(env)
    jobs = _jobs(env)  # starts a fresh runner
    assert jobs[four]["state"] == "running" and jobs[four]["gpus"] == [0, 1, 2, 3]
    assert (jobs[late_one]["state"], jobs[late_one]["queue_position"]) == ("queued", 1)

    # A job that ends while the runner is down frees its GPUs on the restart.
    _kill_runner(env)
    _release(env, four)
    wait_for(lambda: env.job_dir(four).joinpath("status.json").exists(), timeout=30)
    _state(env, late_one, "running")
    assert _seen(env, late_one) == "CVD=0 ORDER=PCI_BUS_ID"
    assert _jobs(env)[four]["state"] == "succeeded"
    _release(env, late_one)
    _state(env, late_one, "succeeded")


def test_gpus_0_hides_every_gpu_and_no_flag_leaves_the_environment_alone(
    four_gpu_runner: UserEnv,
) -> None:
    env = four_gpu_runner
    whole_host = _submit(env, "--gpus", "all")
    hidden = _submit(env, "--gpus", "0")
    untouched = _submit(env)
    # Neither waits for the job holding every GPU: they are not the queue's business.
    assert _seen(env, hidden) == "CVD= ORDER=PCI_BUS_ID"
    assert _seen(env, untouched) == "CVD=unset ORDER=unset"
    assert _seen(env, whole_host) == "CVD=0,1,2,3 ORDER=PCI_BUS_ID"
    jobs = _jobs(env)
    assert jobs[hidden]["gpus"] == [] and jobs[untouched]["gpus"] == []
    for job_id in (whole_host, hidden, untouched):
        _release(env, job_id)


def test_cancelling_a_queued_job_removes_it_and_moves_the_queue_up(
    four_gpu_runner: UserEnv,
) -> None:
    env = four_gpu_runner
    everything = _submit(env, "--gpus", "all")
    first = _submit(env, "--gpus", "2")
    second = _submit(env, "--gpus", "3")
    assert _jobs(env)[second]["queue_position"] == 2
    out = env.tether("cancel", str(first), check=True).stdout.decode()
    assert out.startswith(f"cancelled job {first}")
    jobs = _jobs(env)
    assert jobs[first]["state"] == "cancelled"
    assert jobs[first]["reason"] == "cancelled while queued"
    assert jobs[first]["queue_position"] is None
    assert jobs[second]["queue_position"] == 1
    assert not env.job_dir(first).joinpath("output.log").exists()  # it never ran
    _release(env, everything)
    _state(env, second, "running")
    assert _seen(env, second) == "CVD=0,1,2 ORDER=PCI_BUS_ID"
    _release(env, second)


def test_a_request_the_host_can_never_satisfy_is_refused_at_once(
    four_gpu_runner: UserEnv,
) -> None:
    result = four_gpu_runner.tether("run", "--gpus", "8", "--", "true")
    assert result.returncode == 1
    assert result.stderr.decode().strip() == (
        "tether: the job asks for 8 GPUs but this host has 4 GPUs (0,1,2,3)"
    )
    assert _jobs(four_gpu_runner) == {}


def test_a_host_without_gpus_refuses_gpu_jobs_and_says_how_to_give_some(
    user_env: UserEnv,
) -> None:
    user_env.env["TETHER_GPUS"] = ""
    result = user_env.tether("run", "--gpus", "1", "--", "true")
    assert result.returncode == 1
    assert "this host has no GPUs tether may hand out (set TETHER_GPUS=0,1,..." in (
        result.stderr.decode()
    )
    assert user_env.tether("run", "--gpus", "0", "--", "true").returncode == 0


def test_a_bad_gpu_inventory_stops_the_runner_with_the_reason(user_env: UserEnv) -> None:
    user_env.env["TETHER_GPUS"] = "0,1,gpu2"
    result = user_env.runner("serve", "--daemon")
    assert result.returncode != 0
    assert "TETHER_GPUS must list GPU indices like 0,1,2,3; 'gpu2' is not an index" in (
        result.stdout.decode() + result.stderr.decode()
    )
