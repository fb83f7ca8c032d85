"""A queue people can steer, end to end: `--after` / `--after-any` chains (with and
without GPUs, across a runner SIGKILL), `--priority` and `tether set`, backfill and
the no-starvation rule on replayed GPUs, and `tether wait` across a dropped link.
Real runners, real jobs, real SQLite; the jobs hold until the test releases them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PYTHON, UserEnv, alive, wait_for

H100 = Path(__file__).resolve().parent.parent / "fixtures" / "nvml_h100.json"

#: Prints what CUDA would see, holds until the test writes release-<id>, then exits
#: with the code written there (empty: 0).
HOLD = (
    'echo "CVD=${CUDA_VISIBLE_DEVICES-unset}"; '
    'while [ ! -e "release-$TETHER_JOB_ID" ]; do sleep 0.05; done; '
    'exit "$(cat "release-$TETHER_JOB_ID")"'
)


def _submit(env: UserEnv, *flags: str) -> int:
    return int(env.tether("run", *flags, "--", "bash", "-c", HOLD, check=True).stdout)


def _release(env: UserEnv, job_id: int, code: int = 0) -> None:
    path = env.home / f"release-{job_id}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(code))
    tmp.rename(path)  # whole, or not at all: the job reads it once it appears


def _jobs(env: UserEnv) -> dict[int, dict]:
    listed = json.loads(env.tether("ls", "--all", "--json", check=True).stdout)
    return {j["id"]: j for j in listed}


def _state(env: UserEnv, job_id: int, state: str, timeout: float = 30) -> dict:
    def reached() -> dict | None:
        job = _jobs(env)[job_id]
        return job if job["state"] == state else None

    return wait_for(reached, timeout, interval=0.2)


def _kill_runner(env: UserEnv) -> None:
    pid = env.runner_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid))


def _error(result: subprocess.CompletedProcess[bytes]) -> tuple[int, str]:
    """The exit status and the whole of stderr, which must be one line."""
    err = result.stderr.decode()
    assert err.count("\n") == 1, f"not one line: {err!r}"
    return result.returncode, err.strip()


@pytest.fixture
def gpu_env(user_env: UserEnv) -> UserEnv:
    """A runner whose GPU readings replay the recorded H100's idle phase."""
    user_env.env["TETHER_GPU_SOURCE"] = f"replay:{H100}#idle"
    user_env.env["TETHER_STATS_INTERVAL"] = "0.2"
    return user_env


# -- --after ---------------------------------------------------------------------------


def test_a_chain_waits_shows_why_and_outlives_a_runner_sigkill(user_env: UserEnv) -> None:
    env = user_env
    first = _submit(env)
    second = _submit(env, "--after", str(first))
    third = _submit(env, "--after", str(second))
    either = _submit(env, "--after-any", f"{first},{second}")
    jobs = _jobs(env)
    assert jobs[second]["state"] == "queued" and jobs[second]["waiting_for"] == [first]
    assert (jobs[third]["after"], jobs[third]["waiting_for"]) == ([second], [second])
    assert (jobs[either]["after_any"], jobs[either]["waiting_for"]) == (True, [first, second])
    table = env.tether("ls", check=True).stdout.decode()
    assert f"waiting for job {first} " in table and f"waiting for jobs {first},{second}" in table

    # The runner dies; the first job ends while nobody watches; a new runner
    # (started by the next command) finds the chain in its database and goes on.
    _kill_runner(env)
    _release(env, first)
    wait_for(lambda: env.job_dir(first).joinpath("status.json").exists(), timeout=30)
    _state(env, second, "running")
    assert _jobs(env)[third]["waiting_for"] == [second]
    _kill_runner(env)  # and once more, with the second running and the third waiting
    _release(env, second)
    _state(env, third, "running")
    _state(env, either, "running")
    _release(env, third)
    _release(env, either)
    done = env.tether("wait", str(third), str(either), timeout=60)
    assert done.returncode == 0, done.stderr
    jobs = _jobs(env)
    assert [jobs[i]["state"] for i in (first, second, third, either)] == ["succeeded"] * 4
    assert jobs[first]["finished_at"] <= jobs[second]["started_at"]
    assert jobs[second]["finished_at"] <= jobs[third]["started_at"]
    assert jobs[third]["waiting_for"] == []


def test_a_failed_job_cancels_what_runs_after_it_and_after_any_still_runs(
    user_env: UserEnv,
) -> None:
    env = user_env
    first = _submit(env)
    second = _submit(env, "--after", str(first))
    third = _submit(env, "--after", str(second))
    either = _submit(env, "--after-any", str(first))
    _release(env, first, 3)
    _state(env, third, "cancelled")
    jobs = _jobs(env)
    assert (jobs[first]["state"], jobs[first]["exit_code"]) == ("failed", 3)
    assert (jobs[second]["state"], jobs[second]["reason"]) == ("cancelled", f"job {first} failed")
    assert jobs[third]["reason"] == f"job {second} was cancelled"
    for never_ran in (second, third):
        assert not env.job_dir(never_ran).joinpath("output.log").exists()
    _state(env, either, "running")
    _release(env, either)
    # The first failure's exit code: job `first` exited 3, before `second` was cancelled.
    done = env.tether("wait", str(either), str(second), str(first), timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout.decode().splitlines()[:2] == [
        f"job {first}: failed (exit 3)",
        f"job {second}: cancelled (job {first} failed)",
    ]
    assert env.tether("wait", str(either)).returncode == 0
    # A cancelled job that never ran has no code of its own: 1, as for any failure.
    assert env.tether("wait", str(second)).returncode == 1


def test_rerun_keeps_the_queue_order_and_the_stall_setting(user_env: UserEnv) -> None:
    env = user_env
    first = _submit(env)
    second = _submit(env, "--after", str(first), "--priority", "3", "--stall-after", "5m")
    again = int(env.tether("rerun", str(second), check=True).stdout.split()[-1])
    jobs = _jobs(env)
    kept = ("after", "after_any", "priority", "stall_after_s")
    assert [jobs[again][k] for k in kept] == [[first], False, 3, 300.0]
    assert jobs[again]["waiting_for"] == [first]
    _release(env, first)
    _state(env, again, "running")
    for job in (second, again):
        _release(env, job)
        _state(env, job, "succeeded")


def test_a_gpu_job_after_a_cpu_job_waits_then_queues_for_its_gpu(gpu_env: UserEnv) -> None:
    env = gpu_env
    cpu = _submit(env)
    gpu = _submit(env, "--gpus", "1", "--after", str(cpu))
    job = _jobs(env)[gpu]
    assert (job["state"], job["waiting_for"], job["queue_position"]) == ("queued", [cpu], None)
    _release(env, cpu)
    _state(env, gpu, "running")
    log = env.job_dir(gpu) / "output.log"
    assert wait_for(lambda: log.exists() and log.read_text().strip()) == "CVD=0"
    _release(env, gpu)
    _state(env, gpu, "succeeded")


def test_bad_values_are_refused_in_one_line_and_nothing_is_queued(user_env: UserEnv) -> None:
    env = user_env
    only = _submit(env)
    cases = {
        ("--priority", "x"): "tether run: --priority takes a whole number like 10 or -5, not 'x'",
        ("--after", "abc"): "tether run: --after takes job ids like 3 or 3,4, not 'abc'",
        ("--after", "0"): "tether run: --after takes job ids like 3 or 3,4, not '0'",
        ("--after", "999"): (
            "tether run: --after names job 999, which this host does not have "
            "(a job can wait only for jobs submitted before it)"
        ),
        # Its own id, the next one: no job has it yet.
        ("--after", f"{only},{only + 1}"): (
            f"tether run: --after names job {only + 1}, which this host does not have "
            "(a job can wait only for jobs submitted before it)"
        ),
        ("--after", "1", "--after-any", "1"): "tether run: give --after or --after-any, not both",
    }
    for flags, message in cases.items():
        assert _error(env.tether("run", *flags, "--", "true")) == (2, message), flags
    assert list(_jobs(env)) == [only]
    assert _error(env.tether("set", "999", "--priority", "3")) == (
        1,
        "tether: no job 999 on this runner",
    )
    assert _error(env.tether("set", str(only), "--priority", "3")) == (
        1,
        f"tether: job {only} is running: only a queued job's priority can change",
    )
    _release(env, only)
    _state(env, only, "succeeded")
    assert _error(env.tether("set", str(only), "--priority", "3")) == (
        1,
        f"tether: job {only} has ended (succeeded): only a queued job's priority can change",
    )
    missing = env.tether("set", str(only))  # argparse: --priority is required
    assert missing.returncode == 2 and b"required: --priority" in missing.stderr
    assert _error(env.tether("wait", "999")) == (
        2,
        "tether wait: no job 999 on local: there is nothing to wait for",
    )
    assert _error(env.tether("wait", "x")) == (
        2,
        "tether wait: a job is named by its id, like 3 (or HOST:3), not 'x'",
    )


# -- priorities, backfill, no starvation (replayed GPUs) --------------------------------


def test_higher_priority_starts_first_and_set_moves_a_queued_job(gpu_env: UserEnv) -> None:
    env = gpu_env  # one replayed H100: GPU 0
    holder = _submit(env, "--gpus", "1")
    _state(env, holder, "running")
    low = _submit(env, "--gpus", "1")
    high = _submit(env, "--gpus", "1", "--priority", "5")
    high_too = _submit(env, "--gpus", "1", "--priority", "5")
    jobs = _jobs(env)
    assert [jobs[i]["queue_position"] for i in (high, high_too, low)] == [1, 2, 3]
    assert "queued #1 (priority 5)" in env.tether("ls", check=True).stdout.decode()
    moved = env.tether("set", str(low), "--priority", "10", check=True).stdout.decode()
    assert moved.strip() == f"job {low}: priority 10, #1 in the GPU queue"
    jobs = _jobs(env)
    assert [jobs[i]["queue_position"] for i in (low, high, high_too)] == [1, 2, 3]
    assert jobs[low]["priority"] == 10
    order = []
    running = holder
    for expected in (low, high, high_too):
        _release(env, running)
        _state(env, expected, "running")
        order.append(expected)
        running = expected
    assert order == [low, high, high_too]
    _release(env, running)


def test_small_jobs_backfill_until_the_big_one_has_waited_then_its_gpus_are_held(
    gpu_env: UserEnv,
) -> None:
    env = gpu_env
    env.env["TETHER_GPUS"] = "0,1"  # GPU 0 replayed, idle; GPU 1 unseen, never busy
    env.env["TETHER_STARVE_AFTER"] = "8"
    small = _submit(env, "--gpus", "1")
    _state(env, small, "running")
    big = _submit(env, "--gpus", "2")
    big_since = time.monotonic()
    backfill = _submit(env, "--gpus", "1")
    # GPU 1 is free and the big job cannot use it yet: a later small job takes it.
    _state(env, backfill, "running", timeout=10)
    assert time.monotonic() - big_since < 8, "too slow to see the backfill before the hold"
    job = _jobs(env)[big]
    assert (job["state"], job["queue_position"]) == ("queued", 1)
    # Past the starve limit: GPU 1 frees, and a new small job fits, but it is held.
    time.sleep(max(0.0, 8.5 - (time.monotonic() - big_since)))
    _release(env, backfill)
    _state(env, backfill, "succeeded")
    late = _submit(env, "--gpus", "1")
    time.sleep(6)  # past the queue's 5 s recheck
    jobs = _jobs(env)
    assert (jobs[late]["state"], jobs[late]["queue_position"]) == ("queued", 2)
    assert (jobs[big]["state"], jobs[big]["gpus"]) == ("queued", [])
    _release(env, small)
    assert _state(env, big, "running")["gpus"] == [0, 1]
    assert _jobs(env)[late]["state"] == "queued"
    _release(env, big)
    assert _state(env, late, "running")["gpus"] == [0]
    _release(env, late)


# -- tether wait -----------------------------------------------------------------------


def _clients(env: UserEnv) -> int:
    status = env.tether("status", "--json", check=True)
    return int(json.loads(status.stdout)["clients"])


def test_wait_outlives_a_dropped_link_and_exits_with_the_first_failure(user_env: UserEnv) -> None:
    env = user_env
    ok = _submit(env)
    bad = _submit(env)
    waiter = subprocess.Popen(
        [PYTHON, "-m", "tui.cli", "wait", str(ok), str(bad)],
        env=env.env,
        cwd=env.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = subprocess.Popen(
        [PYTHON, "-m", "tui.cli", "wait", "--any", str(ok), str(bad)],
        env=env.env,
        cwd=env.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Both are watching (connected: the runner counts them, and this asker too),
        # however long a loaded machine takes to start them.
        wait_for(lambda: _clients(env) >= 3, timeout=60)
        assert waiter.poll() is None and first.poll() is None
        _kill_runner(env)  # the link drops; they reconnect (starting a new runner)
        _release(env, bad, 7)
        out, err = first.communicate(timeout=60)
        assert first.returncode == 7, err
        assert out.decode() == f"job {bad}: failed (exit 7)\n"
        assert "tether: reconnected" in err.decode()
        assert waiter.poll() is None  # the other job still runs
        _release(env, ok)
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 7, err
        assert out.decode() == f"job {bad}: failed (exit 7)\njob {ok}: succeeded (exit 0)\n"
    finally:
        for proc in (waiter, first):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
