"""Told when it matters, end to end: a job flagged `stalled` after its
``--stall-after`` and cleared when it speaks, `idle GPUs` from replayed idle
readings (and not from busy ones), the person's hook on end, stall and idle
(JSON on stdin, its environment, once per episode), a hanging hook killed after
its timeout while the runner keeps serving. Real runners, real jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import UserEnv, alive, wait_for
from tests.training.test_queue_order import H100, _error, _jobs, _state

#: Writes what the hook was given: one line per call in hook-calls, and the JSON
#: of each call in hook-<job>-<event>.json.
RECORDING_HOOK = (
    'body=$(cat); echo "$TETHER_EVENT $TETHER_JOB_ID $TETHER_JOB_STATE" >> "$HOME/hook-calls"; '
    'printf "%s" "$body" > "$HOME/hook-$TETHER_JOB_ID-$TETHER_EVENT.json"'
)

#: Says one line, keeps quiet until the test writes speak-<id>, says another, waits.
QUIET = (
    'echo started; while [ ! -e "$HOME/speak-$TETHER_JOB_ID" ]; do sleep 0.05; done; '
    "echo spoke; sleep 1000"
)


def _calls(env: UserEnv) -> list[str]:
    path = env.home / "hook-calls"
    return path.read_text().splitlines() if path.exists() else []


def _flags(env: UserEnv, job: int, flags: list[str], timeout: float = 30) -> dict:
    def reached() -> dict | None:
        listed = _jobs(env)[job]
        return listed if listed["flags"] == flags else None

    return wait_for(reached, timeout, 0.2)


def test_a_quiet_job_is_flagged_stalled_told_once_and_cleared_when_it_speaks(
    user_env: UserEnv,
) -> None:
    env = user_env
    env.env["TETHER_HOOK"] = RECORDING_HOOK
    job = int(
        env.tether("run", "--stall-after", "2s", "--", "bash", "-c", QUIET, check=True).stdout
    )
    _state(env, job, "running")
    listed = _flags(env, job, ["stalled"])
    assert listed["stall_after_s"] == 2.0
    rows = env.tether("ls", check=True).stdout.decode().splitlines()
    assert rows[1].split()[:1] == [str(job)] and "running (stalled)" in rows[1], rows
    wait_for(lambda: f"stalled {job} running" in _calls(env), timeout=30)
    told = json.loads((env.home / f"hook-{job}-stalled.json").read_text())
    assert told["event"] == "stalled" and told["job"]["id"] == job
    assert told["job"]["flags"] == ["stalled"]

    (env.home / f"speak-{job}").write_text("")
    _flags(env, job, [])
    assert _calls(env).count(f"stalled {job} running") == 1  # one episode, told once

    env.tether("cancel", str(job), check=True)
    wait_for(lambda: f"ended {job} cancelled" in _calls(env), timeout=30)
    ended = json.loads((env.home / f"hook-{job}-ended.json").read_text())
    assert ended["job"]["state"] == "cancelled" and ended["job"]["flags"] == []


def test_stall_after_zero_never_flags_and_bad_durations_queue_nothing(user_env: UserEnv) -> None:
    env = user_env
    env.env["TETHER_STALL_AFTER"] = "1"  # the runner's default, which the job overrides
    job = int(env.tether("run", "--stall-after", "0", "--", "bash", "-c", QUIET, check=True).stdout)
    quiet = int(env.tether("run", "--", "bash", "-c", QUIET, check=True).stdout)
    _flags(env, quiet, ["stalled"])  # the default applies where the job said nothing
    assert _jobs(env)[job]["flags"] == [] and _jobs(env)[job]["state"] == "running"
    for bad in ("5 parsecs", "-3", "1w", "99999999"):
        code, err = _error(env.tether("run", "--stall-after", bad, "--", "true"))
        assert code == 2 and "--stall-after" in err, err
    assert sorted(_jobs(env)) == sorted([job, quiet])
    env.tether("cancel", str(job), check=True)
    env.tether("cancel", str(quiet), check=True)


def _busy_recording(path: Path) -> Path:
    """The recording cut to its instants under load (utilisation 55 to 99 %), the
    recorded process taken out (a foreign process would keep the GPU from the job)."""
    data = json.loads(H100.read_text())
    data["samples"] = [
        {**s, "processes": []} for s in data["samples"] if (s.get("gpu_util") or 0) > 50
    ]
    path.write_text(json.dumps(data))
    return path


def test_a_job_holding_idle_gpus_is_flagged_and_told_and_a_busy_one_is_not(
    user_env: UserEnv,
) -> None:
    env = user_env
    env.env.update(
        {
            "TETHER_GPU_SOURCE": f"replay:{H100}#idle",
            "TETHER_STATS_INTERVAL": "0.2",
            "TETHER_IDLE_GPU_AFTER": "1",
            "TETHER_HOOK": RECORDING_HOOK,
        }
    )
    job = int(env.tether("run", "--gpus", "1", "--", "sleep", "1000", check=True).stdout)
    listed = _flags(env, job, ["idle GPUs"])
    assert listed["gpus"] == [0]
    wait_for(lambda: f"idle {job} running" in _calls(env), timeout=30)
    env.tether("cancel", str(job), check=True)
    env.stop_runner()

    env.env["TETHER_GPU_SOURCE"] = f"replay:{_busy_recording(env.home.parent / 'busy.json')}"
    busy = int(env.tether("run", "--gpus", "1", "--", "sleep", "1000", check=True).stdout)
    _state(env, busy, "running")
    # Three idle waits pass with fresh busy readings, each seen by the runner: no flag.
    first = _top_seq(env)
    time.sleep(3 * 1.0)
    wait_for(lambda: _top_seq(env) >= first + 3, timeout=30)
    assert _jobs(env)[busy]["flags"] == []
    env.tether("cancel", str(busy), check=True)


def _top_seq(env: UserEnv) -> int:
    stats = json.loads(env.tether("top", "--once", "--json", check=True).stdout)
    assert all(g["util_pct"] > 50 for g in stats["gpus"]), stats["gpus"]
    return int(stats["seq"])


def test_a_hanging_hook_is_killed_after_its_timeout_and_the_runner_keeps_serving(
    user_env: UserEnv,
) -> None:
    env = user_env
    hook = env.home / ".config" / "tether" / "hook"  # the file form: no setting needed
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text('#!/bin/sh\necho $$ > "$HOME/hook.pid"\nexec sleep 1000\n')
    hook.chmod(0o755)
    env.env["TETHER_HOOK_TIMEOUT"] = "3"
    job = int(env.tether("run", "--", "true", check=True).stdout)
    pid_file = env.home / "hook.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=30)
    pid = int(pid_file.read_text())
    second = int(env.tether("run", "--", "true", check=True).stdout)  # served meanwhile
    assert _state(env, second, "succeeded") and _jobs(env)[job]["state"] == "succeeded"
    wait_for(lambda: not alive(pid), timeout=30)
    log = (env.state_dir / "runner.log").read_text()
    assert f"hook for job {job} (ended) ran over 3 s and was killed" in log
