"""The daemon itself: one per user, crash-proof state, a socket only its user reaches."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path

import psutil

from protocol.codec import FrameDecoder, encode
from protocol.errors import ErrorCode
from protocol.messages import Error, FollowLog, Hello, LogChunk, LogEnd, Welcome
from protocol.socket_path import MAX_SOCKET_PATH_BYTES, socket_path
from protocol.version import PROTOCOL_VERSION
from tests.conftest import PYTHON, REPO, UserEnv, alive, make_user_env, wait_for


def _run(env: UserEnv, *args: str) -> int:
    return int(env.tether("run", *args, check=True).stdout.strip())


def _jobs(env: UserEnv) -> dict[int, dict]:
    return {j["id"]: j for j in json.loads(env.tether("ls", "--all", "--json", check=True).stdout)}


def _shim(env: UserEnv, job_id: int) -> dict:
    return json.loads(env.job_dir(job_id).joinpath("shim.json").read_text())


def test_socket_is_0600_in_a_0700_dir_and_no_tcp_listener(local_runner: UserEnv) -> None:
    sock = local_runner.socket
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    pid = local_runner.runner_pid()
    assert pid is not None
    connections = psutil.Process(pid).net_connections(kind="all")
    bound = [(c.family, c.type, c.laddr) for c in connections if c.laddr]
    # It serves the socket the clients find, and nothing else: no TCP, no UDP.
    assert bound == [(socket.AF_UNIX, socket.SOCK_STREAM, str(sock))]
    assert not psutil.Process(pid).net_connections(kind="inet")


def test_two_daemons_started_at_once_one_serves(user_env: UserEnv) -> None:
    procs = [
        subprocess.Popen(
            [PYTHON, "-m", "runner", "serve", "--daemon"],
            env=user_env.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    texts = [out.decode() for out, _ in outputs]
    assert sum("started" in t for t in texts) == 1
    assert sum("already running" in t for t in texts) == 3
    pid = user_env.runner_pid()
    assert pid is not None
    runners = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"]
        and p.info["cmdline"][-2:] == ["serve", "--daemon"]
        and p.environ().get("HOME") == str(user_env.home)
    ]
    assert [p.pid for p in runners] == [pid]


def test_runner_sigkilled_while_jobs_run_then_restarted_reports_truth(
    local_runner: UserEnv,
) -> None:
    gate = local_runner.home / "gate"
    finishes_while_down = _run(
        local_runner,
        "--",
        "bash",
        "-c",
        f"while [ ! -e {gate} ]; do sleep 0.05; done; echo done; exit 4",
    )
    keeps_running = _run(
        local_runner, "--", "bash", "-c", "for i in $(seq 1 100); do echo tick $i; sleep 0.1; done"
    )
    shim_dies = _run(local_runner, "--", "sleep", "60")
    killed_pid = local_runner.runner_pid()
    assert killed_pid is not None
    os.kill(killed_pid, signal.SIGKILL)
    wait_for(lambda: not alive(killed_pid))
    gate.touch()
    wait_for(lambda: local_runner.job_dir(finishes_while_down).joinpath("status.json").exists())
    os.kill(_shim(local_runner, shim_dies)["shim_pid"], signal.SIGKILL)
    os.kill(_shim(local_runner, shim_dies)["job_pid"], signal.SIGKILL)

    jobs = _jobs(local_runner)  # starts a fresh runner, which re-adopts
    assert local_runner.runner_pid() != killed_pid
    assert jobs[finishes_while_down]["state"] == "failed"
    assert jobs[finishes_while_down]["exit_code"] == 4
    assert jobs[keeps_running]["state"] == "running"
    lost = wait_for(
        lambda: _jobs(local_runner)[shim_dies]["state"] == "lost" and _jobs(local_runner)[shim_dies]
    )
    assert "died without an exit status" in lost["reason"]
    # The re-adopted job is still followed to its end, with every byte.
    follow = local_runner.tether("logs", "-f", str(keeps_running), timeout=60)
    assert follow.returncode == 0
    assert follow.stdout == b"".join(b"tick %d\n" % i for i in range(1, 101))
    assert _jobs(local_runner)[keeps_running]["state"] == "succeeded"


def _connect(env: UserEnv) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(str(env.socket))
    return sock


def _recv(sock: socket.socket, decoder: FrameDecoder):  # type: ignore[no-untyped-def]
    while True:
        message = decoder.next_message()
        if message is not None:
            return message
        data = sock.recv(65536)
        if not data:
            return None
        decoder.feed(data)


def test_bad_frame_is_answered_and_dropped_while_another_follow_continues(
    local_runner: UserEnv,
) -> None:
    job_id = _run(
        local_runner, "--", "bash", "-c", "for i in $(seq 1 30); do echo line $i; sleep 0.05; done"
    )
    good = _connect(local_runner)
    good_decoder = FrameDecoder()
    good.sendall(encode(Hello(protocol=PROTOCOL_VERSION, client_version="test")))
    assert isinstance(_recv(good, good_decoder), Welcome)
    good.sendall(encode(FollowLog(id=1, job_id=job_id, offset=0)))

    bad = _connect(local_runner)
    bad_decoder = FrameDecoder()
    bad.sendall(encode(Hello(protocol=PROTOCOL_VERSION, client_version="test")))
    assert isinstance(_recv(bad, bad_decoder), Welcome)
    bad.sendall(struct.pack(">I", 1 << 30))  # a 1 GiB frame: refused before any allocation
    reply = _recv(bad, bad_decoder)
    assert isinstance(reply, Error) and reply.code is ErrorCode.FRAME_TOO_LARGE
    assert _recv(bad, bad_decoder) is None  # and disconnected

    garbage = _connect(local_runner)
    garbage.sendall(struct.pack(">I", 3) + b"\xc1\xc1\xc1")
    reply = _recv(garbage, FrameDecoder())
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_FRAME

    data = b""
    while True:
        message = _recv(good, good_decoder)
        if isinstance(message, LogChunk):
            data += message.data
        else:
            assert isinstance(message, LogEnd)
            break
    assert data == b"".join(b"line %d\n" % i for i in range(1, 31))


def test_requests_before_hello_and_wrong_protocol_are_refused(local_runner: UserEnv) -> None:
    early = _connect(local_runner)
    early.sendall(encode(FollowLog(id=3, job_id=1, offset=0)))
    reply = _recv(early, FrameDecoder())
    assert isinstance(reply, Error) and reply.code is ErrorCode.NOT_READY and reply.id == 3
    future = _connect(local_runner)
    future.sendall(encode(Hello(protocol=PROTOCOL_VERSION + 1, client_version="9.9.9")))
    reply = _recv(future, FrameDecoder())
    assert isinstance(reply, Error) and reply.code is ErrorCode.INCOMPATIBLE
    assert "9.9.9" in reply.message and f"protocol {PROTOCOL_VERSION}" in reply.message


def test_a_peer_of_another_uid_is_refused(local_runner: UserEnv) -> None:
    # Open the path up so only SO_PEERCRED stands in the way, then connect as nobody.
    os.chmod(local_runner.socket.parent, 0o755)
    os.chmod(local_runner.socket, 0o666)
    probe = (
        "import os, socket, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from protocol.codec import FrameDecoder\n"
        # Models are built on first use; nobody cannot read the rest of root's python.
        "from protocol.messages import Error; Error.model_rebuild(force=True)\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
        "d = FrameDecoder(); d.feed(s.recv(65536)); print(next(iter(d)).code.value)\n"
    )
    out = subprocess.run(
        [PYTHON, "-c", probe, str(local_runner.socket), str(REPO)], capture_output=True, timeout=30
    )
    os.chmod(local_runner.socket.parent, 0o700)
    assert out.stdout.decode().strip() == "forbidden", out.stderr.decode()


def test_socket_path_is_the_same_under_cron_and_login_environments(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    query = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); "
        "from protocol.socket_path import socket_path; print(socket_path())"
    )
    cron = subprocess.run(
        ["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", PYTHON, "-c", query],
        capture_output=True,
        check=True,
    ).stdout
    login = subprocess.run(
        [PYTHON, "-c", query],
        capture_output=True,
        check=True,
        env={
            **os.environ,
            "HOME": str(home),
            "XDG_RUNTIME_DIR": "/run/user/0",
            "XDG_STATE_HOME": str(tmp_path / "x"),
        },
    ).stdout
    assert cron == login


def test_deep_home_falls_back_to_a_short_deterministic_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = socket_path(deep)
    assert len(os.fsencode(str(path))) <= MAX_SOCKET_PATH_BYTES
    assert path == socket_path(deep)
    assert str(path).startswith(f"/tmp/tether-{os.getuid()}-")
    env = make_user_env(deep)
    try:
        assert env.runner("serve", "--daemon").returncode == 0
        job = int(env.tether("run", "--", "echo", "deep", check=True).stdout)
        assert env.tether("logs", "-f", str(job), check=True).stdout == b"deep\n"
    finally:
        env.stop_runner()


def test_runner_status_and_stop_verbs(local_runner: UserEnv) -> None:
    status = json.loads(local_runner.runner("status", "--json").stdout)
    assert status["running"] is True and status["pid"] == local_runner.runner_pid()
    stop = local_runner.runner("stop")
    assert stop.returncode == 0 and b"stopped" in stop.stdout
    after = local_runner.runner("status")
    assert after.returncode == 3 and b"not running" in after.stdout
    again = local_runner.runner("serve", "--daemon")
    assert again.returncode == 0 and b"started" in again.stdout


def test_status_verb_reports_version_pid_and_counts(local_runner: UserEnv) -> None:
    job = _run(local_runner, "--", "true")
    local_runner.tether("logs", "-f", str(job), check=True)
    status = json.loads(local_runner.tether("status", "--json", check=True).stdout)
    assert status["pid"] == local_runner.runner_pid()
    assert status["job_counts"]["succeeded"] == 1
    assert status["runner_version"]
    human = local_runner.tether("status", check=True).stdout.decode()
    assert "1 succeeded" in human


def test_bridge_speaks_the_protocol_on_stdin_stdout(local_runner: UserEnv) -> None:
    proc = subprocess.Popen(
        [PYTHON, "-m", "runner", "bridge"],
        env=local_runner.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(encode(Hello(protocol=PROTOCOL_VERSION, client_version="t")))
    proc.stdin.flush()
    decoder = FrameDecoder()
    deadline = time.monotonic() + 20
    message = None
    while message is None and time.monotonic() < deadline:
        decoder.feed(os.read(proc.stdout.fileno(), 65536))
        message = decoder.next_message()
    assert isinstance(message, Welcome)
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0


def test_a_reader_that_stops_reading_never_stalls_the_job(local_runner: UserEnv) -> None:
    size = 40 << 20
    writer = f"import sys\nsys.stdout.buffer.write(b'z' * {size})\n"
    job_id = _run(local_runner, "--", "bash", "-c", 'sleep 0.5; exec "$0" -c "$1"', PYTHON, writer)
    stalled = _connect(local_runner)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    decoder = FrameDecoder()
    stalled.sendall(encode(Hello(protocol=PROTOCOL_VERSION, client_version="t")))
    assert isinstance(_recv(stalled, decoder), Welcome)
    stalled.sendall(encode(FollowLog(id=1, job_id=job_id, offset=0)))
    # Read nothing while the job writes everything: it must finish on its own.
    wait_for(lambda: local_runner.job_dir(job_id).joinpath("status.json").exists(), timeout=60)
    runner = psutil.Process(local_runner.runner_pid())
    assert runner.memory_info().rss < 200 << 20  # a few chunks in flight, not the log
    received = 0
    while True:
        message = _recv(stalled, decoder)
        if isinstance(message, LogChunk):
            assert message.offset == received
            received += len(message.data)
        else:
            assert isinstance(message, LogEnd)
            break
    assert received == size
