"""Kill the runner or a shim at every crash point of a job's life, restart, and check
the invariants: each job ends in its true state with its true exit code, none is
left queued or running with no process behind it, none runs twice, nothing of it
is left running, and the person's `tether run` / `tether cancel` is answered once.

A point is armed with ``TETHER_CRASH_AT`` in the environment of the runner the test
starts (`runner.faults`); its shims inherit it. The CLI is not armed, and the
runner it starts again after the crash is not either.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import psutil
import pytest

from protocol.codec import FrameDecoder, encode
from protocol.errors import ErrorCode
from protocol.jobs import JobSpec
from protocol.messages import Cancel, Error, Hello, JobReply, Submit, Welcome
from protocol.version import PROTOCOL_VERSION
from runner.faults import POINTS
from runner.lock import read_holder
from tests.conftest import PYTHON, UserEnv, alive, wait_for

#: The job: counts its starts in a file, then ends with a code of its own.
COUNTING_JOB = 'echo started >> "$HOME/starts"; exit 3'


def _start_runner(env: UserEnv, **extra: str) -> None:
    result = subprocess.run(
        [PYTHON, "-m", "runner", "serve", "--daemon"],
        env={**env.env, **extra},
        capture_output=True,
        timeout=60,
        cwd=env.home,
    )
    assert result.returncode == 0, result.stderr.decode()


def _jobs(env: UserEnv) -> list[dict]:
    return json.loads(env.tether("ls", "--all", "--json", check=True).stdout)


def _ended(env: UserEnv) -> list[dict]:
    """Every job, once none is active (the CLI starts a stopped runner)."""

    def settled() -> list[dict] | None:
        jobs = _jobs(env)
        return jobs if jobs and all(j["state"] not in ("queued", "running") for j in jobs) else None

    found: list[dict] = wait_for(settled, timeout=20, interval=0.2)
    return found


def _starts(env: UserEnv) -> int:
    try:
        return (env.home / "starts").read_text().count("started")
    except FileNotFoundError:
        return 0


def _job_processes(env: UserEnv) -> list[psutil.Process]:
    """Processes of this test's jobs (their environment names the job), runners aside."""
    found = []
    for proc in psutil.process_iter(["environ", "cmdline"]):
        environ = proc.info["environ"] or {}
        if environ.get("HOME") == str(env.home) and "TETHER_JOB_ID" in environ:
            found.append(proc)
    return found


def _runner_died(env: UserEnv, pid: int | None) -> bool:
    return pid is not None and not alive(pid)  # a zombie PID 1 has not reaped is dead


# -- the runner dies while a submit is answered: asked again, answered once -----------


@pytest.mark.parametrize(
    "point",
    ["submit.committed", "launch.spec_partial", "launch.spec_written", "launch.shim_started"],
)
def test_a_runner_killed_during_a_submit_runs_the_job_once_and_run_prints_its_id_once(
    user_env: UserEnv, point: str
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT=point)
    first_runner = user_env.runner_pid()
    result = user_env.tether("run", "--", "sh", "-c", COUNTING_JOB, timeout=90)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == "1\n"  # one job id, printed once
    assert "runner error" not in result.stderr.decode()
    assert _runner_died(user_env, first_runner)  # the crash point was reached
    jobs = _ended(user_env)
    assert [(j["id"], j["state"], j["exit_code"]) for j in jobs] == [(1, "failed", 3)]
    assert _starts(user_env) == 1
    assert _job_processes(user_env) == []
    assert list(user_env.job_dir(1).glob(".*.tmp")) == []  # no half-written file is left


def test_a_runner_killed_as_it_sees_a_job_end_records_the_exit_code_after_restart(
    user_env: UserEnv,
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT="finish.seen")
    first_runner = user_env.runner_pid()
    gate = user_env.home / "gate"
    job = f'while [ ! -e "{gate}" ]; do sleep 0.05; done; {COUNTING_JOB}'
    result = user_env.tether("run", "--", "sh", "-c", job, check=True)
    assert result.stdout.decode() == "1\n"
    gate.touch()
    wait_for(lambda: _runner_died(user_env, first_runner), timeout=15)
    # Nothing runs now: `ls` starts a runner, which finds the job's exit status.
    jobs = _ended(user_env)
    assert [(j["id"], j["state"], j["exit_code"]) for j in jobs] == [(1, "failed", 3)]
    assert _starts(user_env) == 1


def test_a_runner_killed_between_recording_a_cancel_and_telling_the_job_still_cancels_it(
    user_env: UserEnv,
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT="cancel.recorded")
    first_runner = user_env.runner_pid()
    job_id = user_env.tether("run", "--", "sleep", "300", check=True).stdout.decode().strip()
    wait_for(lambda: _job_processes(user_env))
    result = user_env.tether("cancel", job_id, timeout=90)
    assert result.returncode == 0, result.stderr.decode()
    assert f"cancelled job {job_id}" in result.stdout.decode()
    assert _runner_died(user_env, first_runner)
    jobs = _ended(user_env)
    assert [(j["id"], j["state"]) for j in jobs] == [(1, "cancelled")]
    wait_for(lambda: _job_processes(user_env) == [], timeout=10)


# -- the shim dies: the job ends in the state it is really in, and nothing is left ------


def test_a_shim_killed_before_it_starts_the_job_fails_it_and_the_job_never_runs(
    user_env: UserEnv,
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT="shim.claimed")
    result = user_env.tether("run", "--", "sh", "-c", COUNTING_JOB)
    assert result.returncode == 1
    error = result.stderr.decode()
    assert error.count("tether: ") == 1  # printed once
    assert "job 1 could not start" in error and "shim died while starting" in error
    jobs = _ended(user_env)
    assert [(j["id"], j["state"]) for j in jobs] == [(1, "failed")]
    assert "could not start" in jobs[0]["reason"]
    assert _starts(user_env) == 0


def test_a_shim_killed_right_after_starting_the_job_takes_the_job_with_it(
    user_env: UserEnv,
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT="shim.job_forked")
    result = user_env.tether("run", "--", "sh", "-c", 'echo started >> "$HOME/starts"; sleep 300')
    assert result.returncode == 1
    assert "job 1 could not start" in result.stderr.decode()
    jobs = _ended(user_env)
    assert [(j["id"], j["state"]) for j in jobs] == [(1, "failed")]
    # The job got SIGKILL with its shim: no `sleep 300` is left behind.
    wait_for(lambda: _job_processes(user_env) == [], timeout=10)


def test_a_shim_killed_before_writing_the_exit_status_leaves_the_job_lost_with_the_reason(
    user_env: UserEnv,
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT="shim.job_exited")
    user_env.tether("run", "--", "sh", "-c", COUNTING_JOB, check=True)
    jobs = _ended(user_env)
    assert [(j["id"], j["state"], j["exit_code"]) for j in jobs] == [(1, "lost", None)]
    assert "died without an exit status" in jobs[0]["reason"]
    assert _starts(user_env) == 1


# -- more than one crash, and more than one runner --------------------------------------


def test_two_runners_racing_to_start_after_a_crash_recover_the_job_once(
    user_env: UserEnv,
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT="submit.committed")
    spec = JobSpec(argv=["sh", "-c", COUNTING_JOB], cwd=str(user_env.home))
    submit = Submit(id=1, spec=spec, key="k-1")
    # A client with no runner-starting of its own: after the crash nobody starts one
    # until four start at once.
    assert _ask(user_env, submit) is None  # the runner died before answering
    assert read_holder(user_env.socket.parent / "runner.lock") is None
    racers = [
        subprocess.Popen(
            [PYTHON, "-m", "runner", "serve", "--daemon"],
            env=user_env.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].decode() for p in racers]
    assert [p.returncode for p in racers] == [0, 0, 0, 0]
    assert sum("already running" in out for out in outputs) == 3
    # Asked again with the same key, the winner answers with the job the first made.
    again = _ask(user_env, Submit(id=2, spec=spec, key="k-1"))
    assert isinstance(again, JobReply) and again.job.id == 1
    jobs = _ended(user_env)
    assert [(j["id"], j["state"], j["exit_code"]) for j in jobs] == [(1, "failed", 3)]
    assert _starts(user_env) == 1


def test_a_cancel_asked_again_with_its_key_gets_the_job_and_another_hears_it_ended(
    local_runner: UserEnv,
) -> None:
    job_id = int(local_runner.tether("run", "--", "sleep", "300", check=True).stdout)
    first = _ask(local_runner, Cancel(id=1, job_id=job_id, key="c-1"))
    assert isinstance(first, JobReply) and first.job.state.value == "cancelled"
    again = _ask(local_runner, Cancel(id=1, job_id=job_id, key="c-1"))
    assert isinstance(again, JobReply) and again.job == first.job
    other = _ask(local_runner, Cancel(id=1, job_id=job_id, key="c-2"))
    assert isinstance(other, Error) and other.code is ErrorCode.JOB_NOT_ACTIVE
    assert other.message == f"job {job_id} has already ended (cancelled)"


def _ask(env: UserEnv, request: Submit | Cancel) -> object:
    """One request on a fresh connection: its answer, or None when the runner hung up."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(env.socket))
        decoder = FrameDecoder()
        sock.sendall(encode(Hello(protocol=PROTOCOL_VERSION, client_version="test")))
        sock.sendall(encode(request))
        while True:
            message = decoder.next_message()
            if isinstance(message, Welcome):
                continue
            if message is not None:
                return message
            data = sock.recv(65536)
            if not data:
                return None
            decoder.feed(data)


def test_every_crash_point_is_tested() -> None:
    source = Path(__file__).read_text()
    assert [p for p in POINTS if f'"{p}"' not in source] == []


# -- pause and retries -----------------------------------------------------------------


def _proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    return raw[raw.rindex(b")") + 2 :].split()[0].decode()


def test_a_runner_killed_between_recording_a_pause_and_stopping_the_job_stops_it_on_restart(
    user_env: UserEnv,
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT="pause.recorded")
    first_runner = user_env.runner_pid()
    job_id = user_env.tether("run", "--", "sleep", "300", check=True).stdout.decode().strip()
    procs = wait_for(lambda: _job_processes(user_env))
    result = user_env.tether("pause", job_id, timeout=90)
    assert result.returncode == 0, result.stderr.decode()
    assert _runner_died(user_env, first_runner)
    assert [j["state"] for j in _jobs(user_env)] == ["paused"]
    assert [_proc_state(p.pid) for p in procs] == ["T"]
    assert user_env.tether("cancel", job_id, check=True).returncode == 0
    assert [j["state"] for j in _ended(user_env)] == ["cancelled"]


def test_a_runner_killed_as_it_records_a_retry_runs_the_next_attempt_once_after_restart(
    user_env: UserEnv,
) -> None:
    _start_runner(user_env, TETHER_CRASH_AT="retry.recorded", TETHER_RETRY_BACKOFF="0.2")
    first_runner = user_env.runner_pid()
    job = (
        'echo started >> "$HOME/starts"; echo "attempt $TETHER_ATTEMPT"; [ "$TETHER_ATTEMPT" = 2 ]'
    )
    result = user_env.tether("run", "--retry", "1", "--", "sh", "-c", job, check=True)
    assert result.stdout.decode() == "1\n"
    wait_for(lambda: _runner_died(user_env, first_runner), timeout=15)
    jobs = _ended(user_env)  # `ls` starts a runner: it moves attempt 1 aside and runs 2
    assert [(j["state"], j["attempt"], j["exit_code"]) for j in jobs] == [("succeeded", 2, 0)]
    assert _starts(user_env) == 2
    for attempt in ("1", "2"):
        log = user_env.tether("logs", "1", "--attempt", attempt, check=True).stdout
        assert log == f"attempt {attempt}\n".encode()
