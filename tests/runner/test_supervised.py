"""No background task dies quietly: a failing loop is logged, restarted with backoff,
and shown as the runner being degraded until it works again."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from runner import tasks
from runner.tasks import Health, TaskSet
from tests.conftest import PYTHON, UserEnv, wait_for


async def test_a_failing_loop_is_restarted_with_backoff_and_reported_until_it_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "RESTART_BACKOFF_S", (0.01, 0.02, 0.04))
    health = Health()
    starts: list[float] = []
    working = asyncio.Event()

    async def loop() -> None:
        starts.append(asyncio.get_running_loop().time())
        if len(starts) <= 3:
            raise OSError(28, "No space left on device")
        health.ok("the test loop")
        working.set()
        await asyncio.Event().wait()

    owner = TaskSet("test")
    owner.supervise("the test loop", loop, health)
    while len(starts) < 3:
        await asyncio.sleep(0.005)
    problems = health.problems()
    assert len(problems) == 1
    assert problems[0].startswith("the test loop failed ")
    assert "No space left on device" in problems[0]
    await asyncio.wait_for(working.wait(), 5)
    assert health.problems() == []
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps[0] >= 0.01 and gaps[1] >= 0.02 and gaps[2] >= 0.04  # backing off
    await owner.close()
    assert len(owner) == 0


def _status(env: UserEnv) -> dict:
    return json.loads(env.tether("status", "--json", check=True).stdout)


def test_a_sweep_that_fails_shows_the_runner_degraded_then_healthy_without_a_restart(
    user_env: UserEnv,
) -> None:
    env = {**user_env.env, "TETHER_FAIL_AT": "sweep:3"}
    started = subprocess.run(
        [PYTHON, "-m", "runner", "serve", "--daemon"], env=env, capture_output=True, timeout=60
    )
    assert started.returncode == 0, started.stderr.decode()
    pid = user_env.runner_pid()
    degraded = wait_for(lambda: _status(user_env)["problems"], timeout=10)
    assert degraded[0].startswith("the job sweep failed")
    assert "injected failure at sweep" in degraded[0]
    text = user_env.tether("status", check=True).stdout.decode()
    assert ", degraded" in text.splitlines()[0]
    assert "  degraded: the job sweep failed" in text
    # A job that ends meanwhile still ends with its code.
    job = user_env.tether("run", "--", "sh", "-c", "exit 5", check=True).stdout.decode().strip()
    wait_for(lambda: _status(user_env)["problems"] == [], timeout=20, interval=0.2)
    assert user_env.runner_pid() == pid  # healthy again with no restart
    assert ", healthy" in user_env.tether("status", check=True).stdout.decode().splitlines()[0]
    jobs = json.loads(user_env.tether("ls", "--json", check=True).stdout)
    assert [(j["id"], j["state"], j["exit_code"]) for j in jobs] == [(int(job), "failed", 5)]
    log = (user_env.state_dir / "runner.log").read_text()
    assert log.count("the job sweep failed; restarting it in") == 3
    assert "Traceback" in log and "InjectedFault" in log
