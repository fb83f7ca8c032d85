"""`SignalProcess` (``tether top``'s ``K`` on a process row), against a real runner
and real processes: one process of a running job hears the signal by its pid,
once per key, and the runner refuses, in a sentence, every pid that is not a
process of its jobs (init, itself, a job's shim, a process of no job, one of
another user) and signals nothing else."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from protocol.codec import FrameDecoder, encode
from protocol.errors import ErrorCode
from protocol.messages import Error, Hello, Welcome
from protocol.signals import ProcessSignalled, SignalProcess, not_a_job_process
from protocol.version import PROTOCOL_VERSION
from tests.conftest import UserEnv, alive, make_user_env, wait_for
from tests.runner.test_daemon import _connect, _recv
from tests.runner.test_signal_cli import TRAPS_USR1, _job, _log, _trapping_job
from tests.stats.conftest import RECORDED_LOAD_PID, process_gone, read_pid, steady_load_recording

NOBODY = 65534


def _job_root(env: UserEnv, job_id: int) -> psutil.Process:
    """The job's first process (its shell), found as a person would: the process
    whose environment names the job (in this test's HOME: another test's runner
    may have a job of the same id running the same command)."""

    def find() -> psutil.Process | None:
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if (proc.info["cmdline"] or [])[-2:] != ["-c", TRAPS_USR1]:
                    continue
                environ = proc.environ()
                if environ.get("TETHER_JOB_ID") == str(job_id) and environ.get("HOME") == str(
                    env.home
                ):
                    return proc
            except psutil.Error:
                continue
        return None

    return wait_for(find, timeout=30, interval=0.1)  # type: ignore[no-any-return]


@pytest.fixture
def wire(local_runner: UserEnv) -> Iterator[tuple[socket.socket, FrameDecoder]]:
    sock, decoder = _connect(local_runner), FrameDecoder()
    sock.sendall(encode(Hello(protocol=PROTOCOL_VERSION, client_version="t")))
    assert isinstance(_recv(sock, decoder), Welcome)
    yield sock, decoder
    sock.close()


_IDS = itertools.count(1)


def _ask(wire: tuple[socket.socket, FrameDecoder], pid: int, name: str, key: str = "") -> object:
    sock, decoder = wire
    sock.sendall(encode(SignalProcess(id=next(_IDS), pid=pid, signal=name, key=key or None)))
    return _recv(sock, decoder)


def _sent(reply: object) -> tuple[int, str, int, bool]:
    assert isinstance(reply, ProcessSignalled), reply
    return reply.pid, reply.signal, reply.job_id, reply.leaked


def _refused(wire: tuple[socket.socket, FrameDecoder], pid: int, name: str = "TERM") -> Error:
    reply = _ask(wire, pid, name)
    assert isinstance(reply, Error), reply
    return reply


def test_usr1_reaches_one_process_of_a_job_by_its_pid_once_per_key(
    local_runner: UserEnv, wire: tuple[socket.socket, FrameDecoder]
) -> None:
    env = local_runner
    job = _trapping_job(env)
    shell = _job_root(env, job)
    first = _sent(_ask(wire, shell.pid, "USR1", key="p1"))
    assert first == (shell.pid, "USR1", job, False)
    wait_for(lambda: _log(env, job).count("got usr1") == 1, timeout=10, interval=0.1)
    again = _ask(wire, shell.pid, "SIGUSR1", key="p1")  # a lost answer, asked again
    assert _sent(again) == first
    time.sleep(0.5)  # the trap runs every 0.1 s: a second USR1 would show by now
    assert _log(env, job).count("got usr1") == 1  # the repeated key sent nothing more
    assert _sent(_ask(wire, shell.pid, "usr1", key="p2")) == first
    wait_for(lambda: _log(env, job).count("got usr1") == 2, timeout=10, interval=0.1)
    assert _job(env, job)["state"] == "running"
    env.tether("cancel", str(job), check=True)


def test_init_the_runner_its_shims_and_processes_of_no_job_are_refused(
    local_runner: UserEnv, wire: tuple[socket.socket, FrameDecoder]
) -> None:
    env = local_runner
    job = _trapping_job(env)
    shell = _job_root(env, job)
    shim = shell.parent()
    assert shim is not None
    runner = env.runner_pid()
    assert runner is not None and runner != shim.pid
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        said = _refused(wire, 1, "KILL")
        assert (said.code, said.message) == (
            ErrorCode.FORBIDDEN,
            "pid 1 is the host's init: tether never signals it",
        )
        said = _refused(wire, runner, "KILL")
        assert said.code is ErrorCode.FORBIDDEN
        assert said.message.startswith(f"pid {runner} is this tether runner: ")
        said = _refused(wire, shim.pid, "KILL")
        assert said.code is ErrorCode.FORBIDDEN
        assert said.message.startswith(f"pid {shim.pid} is the shim of job {job}, ")
        said = _refused(wire, stranger.pid, "KILL")
        assert (said.code, said.message) == (ErrorCode.FORBIDDEN, not_a_job_process(stranger.pid))
        said = _refused(wire, shell.pid, "FOO")
        assert said.code is ErrorCode.BAD_REQUEST and "unknown signal 'FOO'" in said.message
        said = _refused(wire, shell.pid, "STOP")
        assert said.code is ErrorCode.BAD_REQUEST and "tether pause stops a job" in said.message
        gone = subprocess.Popen(["true"])
        gone.wait()
        said = _refused(wire, gone.pid, "KILL")
        assert said.code is ErrorCode.JOB_NOT_ACTIVE and said.message.startswith("no process ")
        # Process 0 would be the runner's own group to kill(2): not a message at all.
        sock, decoder = wire
        zero = SignalProcess.model_construct(id=next(_IDS), pid=0, signal="KILL", key=None)
        sock.sendall(encode(zero))
        said = _recv(sock, decoder)
        assert isinstance(said, Error) and said.code is ErrorCode.INVALID_MESSAGE
        assert alive(runner) and shim.is_running() and stranger.poll() is None
        assert _job(env, job)["state"] == "running"
    finally:
        stranger.kill()
        stranger.wait()
    env.tether("cancel", str(job), check=True)


def test_a_process_of_another_user_in_a_job_is_refused(
    local_runner: UserEnv, wire: tuple[socket.socket, FrameDecoder]
) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("making a process of another user takes root and setpriv")
    env = local_runner
    script = f"setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups sleep 300 & wait"
    job = int(env.tether("run", "--", script, check=True).stdout)

    def nobodys() -> psutil.Process | None:
        for proc in psutil.process_iter(["uids", "environ"]):
            environ = proc.info["environ"] or {}
            ours = environ.get("HOME") == str(env.home)  # not another test's job of that id
            if (
                proc.info["uids"].real == NOBODY
                and environ.get("TETHER_JOB_ID") == str(job)
                and ours
            ):
                return proc
        return None

    other = wait_for(nobodys, timeout=30, interval=0.1)
    said = _refused(wire, other.pid, "KILL")
    assert said.code is ErrorCode.FORBIDDEN
    assert said.message.startswith(f"pid {other.pid} runs as uid {NOBODY}, not as this runner's")
    assert other.is_running()
    env.tether("cancel", str(job), check=True)
    with contextlib.suppress(psutil.NoSuchProcess):
        other.kill()


#: A job that ends at once and leaves its worker behind, "on the GPU" of the replay.
LEAVER = (
    'python3 -c \'import os, time; open("{pid}.tmp", "w").write(str(os.getpid()));'
    ' os.rename("{pid}.tmp", "{pid}"); time.sleep(300)\' & sleep 0.5; exit 0'
)


def test_a_process_an_ended_job_left_on_a_gpu_is_signalled_as_its_leak(tmp_path: Path) -> None:
    env = make_user_env(tmp_path)
    steady = steady_load_recording(tmp_path / "steady-load.json")
    env.env.update(
        {
            "TETHER_GPU_SOURCE": f"replay:{steady}#load",
            "TETHER_GPU_REPLAY_PID_MAP": f"{RECORDED_LOAD_PID}=@{env.home / 'gpu.pid'}",
            "TETHER_STATS_INTERVAL": "0.1",
        }
    )
    assert env.runner("serve", "--daemon").returncode == 0
    try:
        command = LEAVER.format(pid=env.home / "gpu.pid")
        job = int(env.tether("run", "--", command, check=True).stdout)
        leftover = read_pid(env.home / "gpu.pid")
        wait_for(lambda: _job(env, job)["leaked_gpu_pids"] == [leftover], timeout=60, interval=0.2)
        sock, decoder = _connect(env), FrameDecoder()
        try:
            sock.sendall(encode(Hello(protocol=PROTOCOL_VERSION, client_version="t")))
            assert isinstance(_recv(sock, decoder), Welcome)
            reply = _ask((sock, decoder), leftover, "TERM")
        finally:
            sock.close()
        assert _sent(reply) == (leftover, "TERM", job, True)
        wait_for(lambda: process_gone(leftover), timeout=10, interval=0.1)
    finally:
        env.stop_runner()
