"""Steering the queue, end to end: `tether pause` / `resume` (SIGSTOP and SIGCONT to
the job's whole group, across a runner SIGKILL, and a cancel of a paused job),
`tether queue pause` / `resume`, `--retry` with a log per attempt, and `--group`
with `--label`. Real runners, real jobs, real signals, real SQLite."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.conftest import PYTHON, UserEnv, alive, wait_for
from tests.training.test_queue_order import (
    H100,
    _error,
    _jobs,
    _kill_runner,
    _release,
    _state,
    _submit,
)

#: Starts a child in its own group's background, says who both are, then ticks;
#: says when SIGTERM reached it (a paused job must wake to hear it).
TICKER = (
    "trap 'echo heard > term-$TETHER_JOB_ID; kill $(cat child-$TETHER_JOB_ID); exit 0' TERM; "
    "sleep 1000 & echo $! > child-$TETHER_JOB_ID; echo $$ > main-$TETHER_JOB_ID; "
    "while :; do echo tick >> ticks-$TETHER_JOB_ID; sleep 0.05; done"
)


def _proc_state(pid: int) -> str:
    """The kernel's one-letter state of `pid` (``T``: stopped)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    return raw[raw.rindex(b")") + 2 :].split()[0].decode()


def _ticker(env: UserEnv, *flags: str) -> tuple[int, list[int]]:
    """A job whose shell and its child we can watch: its id, and the two pids."""
    job = int(env.tether("run", *flags, "--", "bash", "-c", TICKER, check=True).stdout)
    paths = [env.home / f"main-{job}", env.home / f"child-{job}"]
    wait_for(lambda: all(p.exists() and p.read_text().strip() for p in paths), timeout=30)
    return job, [int(p.read_text()) for p in paths]


def _ticks(env: UserEnv, job: int) -> int:
    return len((env.home / f"ticks-{job}").read_text().splitlines())


def _still(env: UserEnv, job: int) -> bool:
    """Whether the job wrote nothing for half a second."""
    before = _ticks(env, job)
    time.sleep(0.5)
    return _ticks(env, job) == before


@pytest.fixture
def gpu_env(user_env: UserEnv) -> UserEnv:
    user_env.env["TETHER_GPU_SOURCE"] = f"replay:{H100}#idle"
    user_env.env["TETHER_STATS_INTERVAL"] = "0.2"
    return user_env


# -- pause and resume ------------------------------------------------------------------


def test_pause_stops_the_whole_group_outlives_a_runner_sigkill_and_resume_continues(
    gpu_env: UserEnv,
) -> None:
    env = gpu_env
    job, pids = _ticker(env, "--gpus", "1")
    _state(env, job, "running")
    out = env.tether("pause", str(job), check=True).stdout.decode()
    assert out.startswith(f"paused job {job} ") and "GPUs (" in out and "stay held" in out
    assert [_proc_state(p) for p in pids] == ["T", "T"]
    assert _still(env, job)
    listed = _jobs(env)[job]
    assert listed["state"] == "paused" and len(listed["gpus"]) == 1
    table = env.tether("ls", check=True).stdout.decode()
    assert f"paused (GPUs {listed['gpus'][0]} held)" in table
    assert env.tether("pause", str(job), check=True).returncode == 0  # asked again: as it is

    # The runner dies and a new one starts: the job is still paused, still stopped.
    _kill_runner(env)
    assert _jobs(env)[job]["state"] == "paused"
    assert [_proc_state(p) for p in pids] == ["T", "T"]
    assert _still(env, job)

    out = env.tether("resume", str(job), check=True).stdout.decode()
    assert out.startswith(f"resumed job {job} ") and out.strip().endswith("running")
    assert "T" not in [_proc_state(p) for p in pids]
    assert not _still(env, job)
    assert _jobs(env)[job]["state"] == "running"

    # A paused job can be cancelled: it is woken to hear SIGTERM and dies.
    env.tether("pause", str(job), check=True)
    started = time.monotonic()
    cancelled = env.tether("cancel", str(job), check=True).stdout.decode()
    assert cancelled.startswith(f"cancelled job {job} ")
    assert time.monotonic() - started < 10
    assert (env.home / f"term-{job}").read_text() == "heard\n"  # not killed unheard
    assert _jobs(env)[job]["state"] == "cancelled"
    wait_for(lambda: not any(alive(p) for p in pids), timeout=10)


def test_pause_and_resume_refuse_what_they_cannot_do_in_one_line(user_env: UserEnv) -> None:
    env = user_env
    first = _submit(env)
    queued = _submit(env, "--after", str(first))
    _state(env, first, "running")
    code, err = _error(env.tether("pause", str(queued)))
    assert code == 1 and err.endswith(
        f"job {queued} is queued, not started: only a running job can be paused"
    )
    code, err = _error(env.tether("resume", str(first)))
    assert code == 1 and err.endswith(
        f"job {first} is running, not paused: only a paused job can be resumed"
    )
    _release(env, first)
    _state(env, first, "succeeded")
    code, err = _error(env.tether("pause", str(first)))
    assert code == 1 and err.endswith(
        f"job {first} has ended (succeeded): only a running job can be paused"
    )
    code, err = _error(env.tether("pause", "abc"))
    assert (code, err) == (
        2,
        "tether pause: a job is named by its id, like 3 (or HOST:3), not 'abc'",
    )
    code, err = _error(env.tether("queue", "stop"))
    assert code == 2 and err == "tether queue: takes pause or resume, not 'stop'"


def test_a_paused_queue_starts_nothing_across_a_restart_until_resumed(user_env: UserEnv) -> None:
    env = user_env
    running, _ = _ticker(env)
    assert "queue paused" in env.tether("queue", "pause", check=True).stdout.decode()
    held = _submit(env)
    status = env.tether("status", check=True).stdout.decode()
    assert "queue: paused" in status
    assert json.loads(env.tether("status", "--json", check=True).stdout)["queue_paused"] is True
    time.sleep(1.0)
    jobs = _jobs(env)
    assert (jobs[held]["state"], jobs[running]["state"]) == ("queued", "running")
    assert not _still(env, running)  # running jobs go on

    _kill_runner(env)  # the pause is in the database: the next runner keeps it
    time.sleep(1.0)
    assert _jobs(env)[held]["state"] == "queued"
    assert "queue: paused" in env.tether("status", check=True).stdout.decode()

    env.tether("queue", "resume", check=True)
    _state(env, held, "running")
    assert "queue: paused" not in env.tether("status", check=True).stdout.decode()
    _release(env, held)
    _state(env, held, "succeeded")
    env.tether("cancel", str(running), check=True)


# -- retries -----------------------------------------------------------------------------

#: Fails (exit 4) on its first two attempts, succeeds on the third.
FLAKY = 'echo "attempt $TETHER_ATTEMPT"; [ "$TETHER_ATTEMPT" -ge 3 ] || exit 4'


def test_a_job_that_fails_twice_then_succeeds_under_retry_2_keeps_three_logs(
    user_env: UserEnv,
) -> None:
    env = user_env
    env.env["TETHER_RETRY_BACKOFF"] = "0.3,0.6"
    job = int(env.tether("run", "--retry", "2", "--", "bash", "-c", FLAKY, check=True).stdout)
    done = env.tether("wait", str(job), timeout=60)
    assert done.returncode == 0, done.stderr
    listed = _jobs(env)[job]
    assert (listed["state"], listed["exit_code"]) == ("succeeded", 0)
    assert (listed["attempt"], listed["attempts"], listed["retry_on"]) == (3, 3, "any")
    past = listed["past_attempts"]
    assert [(a["attempt"], a["state"], a["exit_code"]) for a in past] == [
        (1, "failed", 4),
        (2, "failed", 4),
    ]
    for attempt in (1, 2, 3):
        log = env.tether("logs", str(job), "--attempt", str(attempt), check=True).stdout
        assert log == f"attempt {attempt}\n".encode()
    assert env.tether("logs", str(job), check=True).stdout == b"attempt 3\n"
    assert "succeeded 3/3" in env.tether("ls", check=True).stdout.decode()
    code, err = _error(env.tether("logs", str(job), "--attempt", "4"))
    assert code == 2 and err == f"tether logs: job {job} has had 3 attempts, not 4"


def test_logs_follow_goes_on_from_attempt_to_attempt(user_env: UserEnv) -> None:
    env = user_env
    env.env["TETHER_RETRY_BACKOFF"] = "0.5"
    # The first attempt holds until the follower is there; each attempt then
    # writes its line a moment after it starts.
    gated = '[ "$TETHER_ATTEMPT" -gt 1 ] || while [ ! -e go ]; do sleep 0.05; done; ' + FLAKY
    job = int(env.tether("run", "--retry", "2", "--", "bash", "-c", gated, check=True).stdout)
    follower = subprocess.Popen(
        [PYTHON, "-m", "tui.cli", "logs", "-f", str(job)],
        env=env.env,
        cwd=env.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        def clients() -> int:
            status = env.tether("status", "--json", check=True).stdout
            return int(json.loads(status)["clients"])

        wait_for(lambda: clients() >= 2, timeout=30, interval=0.2)  # it and this status
        (env.home / "go").touch()
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert out == b"attempt 1\nattempt 2\nattempt 3\n"
    assert err.decode().splitlines() == [
        f"tether: job {job}: attempt 1 ended; following attempt 2 of 3",
        f"tether: job {job}: attempt 2 ended; following attempt 3 of 3",
    ]


def test_a_gpu_jobs_retry_gives_back_its_gpus_and_gets_them_again(gpu_env: UserEnv) -> None:
    env = gpu_env
    env.env["TETHER_RETRY_BACKOFF"] = "0.2"
    flaky = 'echo "CVD=$CUDA_VISIBLE_DEVICES"; [ "$TETHER_ATTEMPT" = 2 ]'
    job = int(
        env.tether(
            "run", "--gpus", "all", "--retry", "1", "--", "bash", "-c", flaky, check=True
        ).stdout
    )
    done = env.tether("wait", str(job), timeout=60)
    assert done.returncode == 0, done.stderr
    listed = _jobs(env)[job]
    assert (listed["state"], listed["attempt"]) == ("succeeded", 2)
    every = ",".join(map(str, listed["gpus"]))
    for attempt in ("1", "2"):
        log = env.tether("logs", str(job), "--attempt", attempt, check=True).stdout
        assert log == f"CVD={every}\n".encode()
    after = _submit(env, "--gpus", "all")  # nothing of the job holds a GPU now
    _state(env, after, "running")
    _release(env, after)


def test_a_retry_outlives_a_runner_sigkill_and_retry_on_exit_ignores_success(
    user_env: UserEnv,
) -> None:
    env = user_env
    env.env["TETHER_RETRY_BACKOFF"] = "6"
    job = int(
        env.tether(
            "run",
            "--retry",
            "1",
            "--retry-on",
            "exit",
            "--",
            "bash",
            "-c",
            "exit $((3 - TETHER_ATTEMPT))",
            check=True,
        ).stdout
    )
    waiting = wait_for(
        lambda: (j := _jobs(env)[job])["attempt"] == 2 and j["state"] == "queued" and j, timeout=30
    )
    assert waiting["reason"].startswith("attempt 1 failed (exit 2); attempt 2 starts after 6 s")
    assert "queued 2/2 (retry in" in env.tether("ls", check=True).stdout.decode()
    _kill_runner(env)
    _state(env, job, "failed")  # attempt 2 exits 1: no attempt is left
    listed = _jobs(env)[job]
    assert (listed["attempt"], listed["exit_code"]) == (2, 1)
    assert [a["exit_code"] for a in listed["past_attempts"]] == [2]


def test_cancel_stops_retrying_and_retry_on_lost_leaves_a_failure_alone(
    user_env: UserEnv,
) -> None:
    env = user_env
    env.env["TETHER_RETRY_BACKOFF"] = "30"
    job = int(env.tether("run", "--retry", "5", "--", "false", check=True).stdout)
    wait_for(lambda: _jobs(env)[job]["attempt"] == 2, timeout=30)
    out = env.tether("cancel", str(job), check=True).stdout.decode()
    assert out.startswith(f"cancelled job {job} ")
    listed = _jobs(env)[job]
    assert (listed["state"], listed["attempt"]) == ("cancelled", 2)

    lost_only = int(
        env.tether("run", "--retry", "3", "--retry-on", "lost", "--", "false", check=True).stdout
    )
    _state(env, lost_only, "failed")
    assert _jobs(env)[lost_only]["attempt"] == 1


# -- groups and labels ------------------------------------------------------------------


def test_a_group_is_listed_and_cancelled_together_and_json_carries_labels(
    user_env: UserEnv,
) -> None:
    env = user_env
    sweep = [
        _submit(env, "--group", "sweep-1", "--label", f"lr=0.{i}", "--label", "kind=grid")
        for i in range(3)
    ]
    other = _submit(env, "--group", "other")
    for job in sweep:
        _state(env, job, "running")
    listed = json.loads(env.tether("ls", "--group", "sweep-1", "--json", check=True).stdout)
    assert sorted(j["id"] for j in listed) == sweep
    assert {j["group"] for j in listed} == {"sweep-1"}
    assert {j["labels"]["lr"] for j in listed} == {"0.0", "0.1", "0.2"}
    assert (
        "no jobs in group none" in env.tether("ls", "--group", "none", check=True).stdout.decode()
    )

    out = env.tether("cancel", "--group", "sweep-1", check=True).stdout.decode()
    assert out.splitlines()[-1] == "cancelled 3 jobs of group sweep-1"
    jobs = _jobs(env)
    assert [jobs[j]["state"] for j in sweep] == ["cancelled"] * 3
    assert jobs[other]["state"] == "running"
    again = env.tether("cancel", "--group", "sweep-1", check=True).stdout.decode()
    assert again.strip() == "cancelled 0 jobs of group sweep-1"
    _release(env, other)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            ["--retry", "-1"],
            "--retry takes how many more attempts a failed job gets, 0 to 100, not '-1'",
        ),
        (["--retry-on", "never"], "--retry-on takes exit, lost, any, not 'never'"),
        (["--label", "novalue"], "--label takes KEY=VALUE, not 'novalue'"),
        (
            ["--group", "a b"],
            "--group 'a b' is not valid: up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        ),
    ],
)
def test_bad_steering_values_are_refused_in_one_line_and_nothing_is_queued(
    user_env: UserEnv, flags: list[str], said: str
) -> None:
    code, err = _error(user_env.tether("run", *flags, "--", "true"))
    assert (code, err) == (2, f"tether run: {said}")
    assert not user_env.state_dir.joinpath("jobs.db").exists() or _jobs(user_env) == {}


def test_cancel_takes_a_job_or_a_group(user_env: UserEnv) -> None:
    code, err = _error(user_env.tether("cancel"))
    assert (code, err) == (2, "tether cancel: give a job to cancel or --group NAME, one of the two")
    code, err = _error(user_env.tether("cancel", "3", "--group", "g"))
    assert code == 2
