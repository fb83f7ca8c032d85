"""`tether metrics` against real jobs that report metrics, bad lines included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import PYTHON, UserEnv, wait_for

MIXED = r"""
import os
lines = [
    '{"step": 1, "loss": 2.0}',
    'Traceback (most recent call last):',
    '{"step": 2, "loss": 1.5, "lr": 0.1}',
    '[1, 2]',
    '{"step": 3, "loss": 1.25, "phase": "train"}',
    '{"step": "four", "loss": 1}',
    '{"step": 5, "val_acc": 0.875}',
]
with open(os.environ["TETHER_METRICS"], "a") as f:
    f.write("\n".join(lines) + "\n" + '{"step": 6, "loss": NaN}')  # last line unterminated
"""


def _run(env: UserEnv, code: str) -> int:
    return int(env.tether("run", "--", PYTHON, "-c", code, check=True).stdout)


def _wait_ended(env: UserEnv, job_id: int) -> None:
    def ended() -> bool:
        jobs = json.loads(env.tether("ls", "--json", check=True).stdout)
        return any(j["id"] == job_id and j["state"] not in ("queued", "running") for j in jobs)

    wait_for(ended, timeout=30)


def test_metrics_prints_a_table_and_says_which_lines_were_skipped(local_runner: UserEnv) -> None:
    job = _run(local_runner, MIXED)
    _wait_ended(local_runner, job)
    result = local_runner.tether("metrics", str(job))
    assert result.returncode == 0
    assert result.stdout.decode().splitlines() == [
        "    STEP         loss",
        "       1            2",
        "",
        "    STEP         loss           lr",
        "       2          1.5          0.1",
        "       3         1.25",
        "",
        "    STEP         loss           lr      val_acc",
        "       5                                  0.875",
        "       6          nan",
    ]
    assert result.stderr.decode() == (
        f"tether: skipped 3 malformed lines in job {job}'s metrics (first: line at byte 25: "
        "not valid JSON (Expecting value: line 1 column 1 (char 0)))\n"
    )


def test_metrics_json_gives_one_object_per_record(local_runner: UserEnv) -> None:
    job = _run(local_runner, MIXED)
    _wait_ended(local_runner, job)
    result = local_runner.tether("metrics", "--json", str(job))
    assert result.returncode == 0
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [(r["step"], r.get("loss")) for r in records[:3]] == [(1, 2.0), (2, 1.5), (3, 1.25)]
    assert records[1]["lr"] == 0.1 and records[3] == {"step": 5, "time": None, "val_acc": 0.875}
    assert records[4]["loss"] != records[4]["loss"]  # NaN


def test_metrics_of_a_job_that_reported_nothing_or_does_not_exist(local_runner: UserEnv) -> None:
    job = _run(local_runner, "print('hello')")
    _wait_ended(local_runner, job)
    quiet = local_runner.tether("metrics", str(job))
    assert quiet.returncode == 0 and quiet.stdout == b""
    assert f"job {job} has reported no metrics" in quiet.stderr.decode()
    missing = local_runner.tether("metrics", "999")
    assert missing.returncode == 1
    assert missing.stderr.decode() == "tether: no job 999 on this runner\n"


STEADY = r"""
import os, sys, time
sys.path.insert(0, os.environ["REPO"])
from runner.report import report
def wait(name):
    while not os.path.exists(name):
        time.sleep(0.02)
for step in range(1, 41):
    report(step=step, loss=1.0 / step)
    if step == 5:
        wait("gate-1")
    if step == 30:
        wait("gate-2")
sys.exit(3)
"""


def test_follow_survives_a_runner_crash_and_prints_each_record_once(
    local_runner: UserEnv, tmp_path: Path
) -> None:
    env = local_runner
    env.env["REPO"] = str(Path(__file__).resolve().parents[2])
    job = int(
        env.tether(
            "run", "--env", f"REPO={env.env['REPO']}", "--", PYTHON, "-c", STEADY, check=True
        ).stdout
    )
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        follower = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "metrics", "-f", "--json", str(job)],
            env=env.env,
            cwd=env.home,
            stdout=out,
            stderr=err,
        )
        try:
            wait_for(lambda: out_path.read_text().count("\n") >= 5, timeout=30)
            pid = env.runner_pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            (env.home / "gate-1").touch()  # the job reports on while no runner runs
            wait_for(lambda: out_path.read_text().count("\n") >= 30, timeout=60)
            assert env.runner_pid() not in (None, pid)  # the follower started a new one
            (env.home / "gate-2").touch()
            assert follower.wait(timeout=60) == 3  # the job's exit code
        finally:
            if follower.poll() is None:
                follower.kill()
    steps = [json.loads(line)["step"] for line in out_path.read_text().splitlines()]
    assert steps == list(range(1, 41))
    assert "reconnect" in err_path.read_text()
