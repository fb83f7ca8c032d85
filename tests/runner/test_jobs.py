"""Jobs under a real runner: lifecycle, cancel, environment, bad requests."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import psutil

from tests.conftest import UserEnv, alive, wait_for


def _run(env: UserEnv, *args: str) -> int:
    out = env.tether("run", *args, check=True).stdout.strip()
    return int(out)


def _job(env: UserEnv, job_id: int) -> dict:
    jobs = json.loads(env.tether("ls", "--all", "--json", check=True).stdout)
    return next(j for j in jobs if j["id"] == job_id)


def _shim(env: UserEnv, job_id: int) -> dict:
    return json.loads(env.job_dir(job_id).joinpath("shim.json").read_text())


def test_ls_json_has_the_documented_fields(local_runner: UserEnv) -> None:
    job_id = _run(local_runner, "--name", "hello", "--", "true")
    local_runner.tether("logs", "-f", str(job_id), check=True)
    job = _job(local_runner, job_id)
    for key in (
        "id",
        "name",
        "state",
        "exit_code",
        "signal",
        "command",
        "cwd",
        "created_at",
        "started_at",
        "finished_at",
        "log_bytes",
    ):
        assert key in job
    assert job["name"] == "hello" and job["state"] == "succeeded" and job["exit_code"] == 0
    assert job["finished_at"].endswith("+00:00")


def test_cancel_kills_the_whole_process_group_even_a_child_ignoring_sigterm(
    local_runner: UserEnv,
) -> None:
    script = (
        "import os, signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        'print("child up", flush=True); time.sleep(600)\'])\n'
        "print('parent', os.getpid(), 'child', child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    job_id = _run(local_runner, "--", sys.executable, "-c", script)
    log = local_runner.job_dir(job_id) / "output.log"
    wait_for(lambda: b"child up" in log.read_bytes() if log.exists() else False, timeout=20)
    pgid = _shim(local_runner, job_id)["job_pid"]
    members = [p for p in psutil.process_iter() if _pgid(p.pid) == pgid]
    assert len(members) >= 2
    started = time.monotonic()
    result = local_runner.tether("cancel", str(job_id), check=True)
    assert f"cancelled job {job_id}" in result.stdout.decode()
    assert time.monotonic() - started < 15  # grace is 3 s in tests
    assert not [p for p in psutil.process_iter() if _pgid(p.pid) == pgid and alive(p.pid)]
    job = _job(local_runner, job_id)
    assert job["state"] == "cancelled"
    assert job["signal"] == "SIGTERM" and job["exit_code"] is None


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_job_gets_login_shell_environment_cwd_and_requested_env(local_runner: UserEnv) -> None:
    (local_runner.home / ".profile").write_text("export FROM_PROFILE=yes\n")
    workdir = local_runner.home / "work dir"
    workdir.mkdir()
    job_id = _run(
        local_runner,
        "--cwd",
        str(workdir),
        "--env",
        "MY_VAR=a b=c",
        "--",
        "bash",
        "-c",
        'echo "$FROM_PROFILE|$MY_VAR|$PYTHONUNBUFFERED|$TETHER_JOB_ID|$PWD"',
    )
    out = local_runner.tether("logs", "-f", str(job_id), check=True).stdout.decode()
    assert out == f"yes|a b=c|1|{job_id}|{workdir}\n"


def test_one_string_command_runs_through_bash(local_runner: UserEnv) -> None:
    job_id = _run(local_runner, "--", "echo one && echo two | tr a-z A-Z")
    out = local_runner.tether("logs", "-f", str(job_id), check=True).stdout
    assert out == b"one\nTWO\n"
    assert _job(local_runner, job_id)["command"] == "echo one && echo two | tr a-z A-Z"


def test_a_missing_program_is_refused_at_submit_naming_the_path_searched(
    local_runner: UserEnv,
) -> None:
    refused = local_runner.tether("run", "--", "no-such-program-xyz", "arg")
    assert refused.returncode == 1
    error = refused.stderr.decode()
    assert error.startswith("tether: job 1 could not start: no program 'no-such-program-xyz' ")
    assert "on the login shell's PATH (" in error and "/usr/bin" in error
    assert error.count("\n") == 1
    job = _job(local_runner, 1)
    assert job["state"] == "failed" and "no program 'no-such-program-xyz'" in job["reason"]
    log = local_runner.tether("logs", "1", check=True).stdout
    assert log.startswith(b"tether: no program 'no-such-program-xyz' on the login shell's PATH")
    # A file that may not be run is refused with the system's words.
    script = local_runner.home / "not-executable.sh"
    script.write_text("echo hi\n")
    script.chmod(0o644)
    odd = local_runner.tether("run", "--", str(script))
    assert odd.returncode == 1
    assert f"could not start: cannot run '{script}': Permission denied" in odd.stderr.decode()


def test_an_empty_name_or_directory_is_refused_before_anything_is_sent(
    local_runner: UserEnv,
) -> None:
    for flag, words in (("--name", "--name is empty"), ("--cwd", "--cwd is empty")):
        refused = local_runner.tether("run", flag, " ", "--", "true")
        assert refused.returncode == 1
        assert refused.stderr.decode().startswith(f"tether: {words}: give ")
    assert json.loads(local_runner.tether("ls", "--json", check=True).stdout) == []


def test_bad_requests_get_specific_errors(local_runner: UserEnv) -> None:
    missing = local_runner.tether("run", "--cwd", "/no/such/dir", "--", "true")
    assert missing.returncode == 1
    assert b"working directory /no/such/dir does not exist" in missing.stderr
    empty = local_runner.tether("run", "--")
    assert empty.returncode == 1 and b"nothing to run" in empty.stderr
    unknown = local_runner.tether("logs", "999")
    assert unknown.returncode == 1 and b"no job 999" in unknown.stderr
    cancel_unknown = local_runner.tether("cancel", "999")
    assert cancel_unknown.returncode == 1 and b"no job 999" in cancel_unknown.stderr
    bad_env = local_runner.tether("run", "--env", "NOEQUALS", "--", "true")
    assert bad_env.returncode == 1 and b"KEY=VALUE" in bad_env.stderr
    for result in (missing, empty, unknown, cancel_unknown, bad_env):
        assert b"Traceback" not in result.stderr
    done = _run(local_runner, "--", "true")
    local_runner.tether("logs", "-f", str(done), check=True)
    again = local_runner.tether("cancel", str(done))
    assert again.returncode == 1 and b"already ended (succeeded)" in again.stderr


def test_tail_starts_at_the_last_lines(local_runner: UserEnv) -> None:
    job_id = _run(local_runner, "--", "seq", "1", "1000")
    local_runner.tether("logs", "-f", str(job_id), check=True)
    out = local_runner.tether("logs", "--tail", "3", str(job_id), check=True).stdout
    assert out == b"998\n999\n1000\n"
    assert local_runner.tether("logs", "--tail", "0", str(job_id), check=True).stdout == b""


def test_ctrl_c_in_follow_detaches_and_leaves_the_job_running(local_runner: UserEnv) -> None:
    import subprocess

    job_id = _run(
        local_runner, "--", "bash", "-c", "for i in $(seq 1 300); do echo $i; sleep 0.1; done"
    )
    follower = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "logs", "-f", str(job_id)],
        env=local_runner.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert follower.stdout is not None
    follower.stdout.readline()
    follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=10) == 130
    assert b"Traceback" not in follower.stderr.read()  # type: ignore[union-attr]
    assert _job(local_runner, job_id)["state"] == "running"
    local_runner.tether("cancel", str(job_id), check=True)


def test_sigterm_stops_the_daemon_and_leaves_jobs_running(local_runner: UserEnv) -> None:
    job_id = _run(local_runner, "--", "sleep", "30")
    pid = local_runner.runner_pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid))
    assert not local_runner.socket.exists()
    job_pid = _shim(local_runner, job_id)["job_pid"]
    assert psutil.pid_exists(job_pid)
    # The next client brings a runner back, which re-adopts the job.
    assert _job(local_runner, job_id)["state"] == "running"
    local_runner.tether("cancel", str(job_id), check=True)
